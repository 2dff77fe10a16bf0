"""Grants as the serving endpoint sees them: every grant held in memory, indexed by table, so a request
costs a dict lookup and never waits on the database. A background thread polls the grants' version
counter every `refresh_seconds` and re-reads them after a change; memberships follow access.toml as it
changes. A GRANT or REVOKE therefore reaches a running server within that interval. If the database
can't be read the last grants stay in force (and the failure is logged); the server does not start
without reading them once.

Denials are audited like the client's, by a writer thread, so a flood of refused requests never makes
the event loop wait on the database. Its queue is bounded: what overflows, or arrives after stop, goes
to the log instead. The writer drains the queue when the server stops.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from feature_store.governance import AccessConfig, AccessControl, AuditEntry, Grant, Privilege, Securable
from feature_store.governance.access import covering

log = logging.getLogger("feature_store.serving")
MAX_DECISIONS = 10_000  # table names come from requests: bound the decision cache
MAX_QUEUED_AUDIT = 10_000


@dataclass
class _Snapshot:
    """One read of the grants and the memberships the decisions were made with; replaced whole."""

    by_securable: dict[Securable, list[Grant]]
    config: AccessConfig | None = None
    missing: dict[tuple[str, tuple[str, ...]], list[Securable]] = field(default_factory=dict)

    def reaching(self, securables: Sequence[Securable]) -> list[Grant]:
        return [g for s in covering(securables) for g in self.by_securable.get(s, ())]


class ServingGrants:
    def __init__(self, access: AccessControl, refresh_seconds: float = 5.0) -> None:
        self.access, self.refresh_seconds = access, refresh_seconds
        self._snapshot = _Snapshot({})
        self._version = -1
        self._stop = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_forever, name="grants-refresh", daemon=True)
        self._audit: queue.Queue[list[AuditEntry] | None] = queue.Queue(MAX_QUEUED_AUDIT)
        self._writer = threading.Thread(target=self._write_audit, name="audit-writer", daemon=True)

    def start(self) -> None:
        self.refresh()  # raises: no serving without grants
        self._writer.start()
        if self.refresh_seconds > 0:
            self._refresher.start()

    def refresh(self) -> None:
        """Re-read the grants if their version moved (one small query when it did not)."""
        version = self.access.store.version()
        if version == self._version:
            return
        by_securable: dict[Securable, list[Grant]] = defaultdict(list)
        for grant in self.access.store.grants():
            by_securable[grant.securable].append(grant)
        self._snapshot, self._version = _Snapshot(dict(by_securable)), version

    def require_select(self, principal: str, tables: Sequence[str], operation: str) -> None:
        """PermissionDenied unless principal holds SELECT on every table. Decisions are kept until the
        grants or the memberships change; each denied request is still audited."""
        snapshot, config = self._snapshot, self.access.config
        if snapshot.config is not config:  # access.toml changed (or first use): decide afresh
            snapshot = self._snapshot = _Snapshot(snapshot.by_securable, config)
        key = (principal, tuple(tables))
        missing = snapshot.missing.get(key)
        if missing is None:
            if len(snapshot.missing) > MAX_DECISIONS:
                snapshot.missing.clear()
            securables = [Securable.table(t) for t in tables]
            missing = self.access.missing(
                principal, Privilege.SELECT, securables, snapshot.reaching(securables), config
            )
            snapshot.missing[key] = missing
        if missing:
            self.access.deny(principal, Privilege.SELECT, missing, operation, self._enqueue)

    def stop(self) -> None:
        self._stop.set()
        if self._refresher.is_alive():
            self._refresher.join(timeout=10)
        if self._writer.is_alive():
            self._audit.put(None)
            self._writer.join(timeout=10)

    def _enqueue(self, entries: list[AuditEntry]) -> None:
        try:
            if self._stop.is_set():
                raise queue.Full
            self._audit.put_nowait(entries)
        except queue.Full:  # the database is behind (or gone): the log keeps the record
            log.error("audit queue full or closed; denials: %s", [e._asdict() for e in entries])

    def _refresh_forever(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception as exc:  # keep deciding with the last grants read
                log.warning(
                    "could not re-read grants, keeping the last ones: %s: %s", type(exc).__name__, exc
                )

    def _write_audit(self) -> None:
        while (entries := self._audit.get()) is not None:
            while True:  # batch what else is waiting into one transaction
                try:
                    more = self._audit.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._audit.put(None)
                    break
                entries = [*entries, *more]
            try:
                self.access.store.record(entries)
            except Exception as exc:  # the entries still reach the log, so nothing is lost silently
                log.error("could not write %d audit entries (%s: %s): %s", len(entries), type(exc).__name__,
                          exc, [e._asdict() for e in entries])  # fmt: skip
