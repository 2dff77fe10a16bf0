"""Grants as the serving endpoint sees them: every grant held in memory, indexed by table, re-read by a
background thread every `refresh_seconds`, so a request costs a dict lookup and never waits on the
database. A GRANT or REVOKE reaches a running server within that interval. If a re-read fails the
last grants stay in force (and the failure is logged); the server does not start without reading them.

Denials are audited like the client's, by a writer thread, so a flood of refused requests never makes
the event loop wait on the database; the writer drains its queue when the server stops.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from feature_store.governance import AccessConfig, AccessControl, AuditEntry, Grant, Privilege, Securable

log = logging.getLogger("feature_store.serving")
MAX_DECISIONS = 10_000  # table names come from requests: bound the decision cache


@dataclass
class _Snapshot:
    """One read of the grants; replaced whole by each refresh, so a request sees one read or the next."""

    by_securable: dict[Securable, list[Grant]]
    missing: dict[tuple[str, tuple[str, ...]], list[Securable]] = field(default_factory=dict)

    def covering(self, securables: Sequence[Securable]) -> list[Grant]:
        names = {s for t in securables for s in (t, Securable("SCHEMA", t.name.split(".")[0]))}
        return [g for s in names for g in self.by_securable.get(s, ())]


class ServingGrants:
    def __init__(
        self,
        access: AccessControl,
        refresh_seconds: float = 5.0,
        load_config: Callable[[], AccessConfig] | None = None,
    ) -> None:
        self.access, self.refresh_seconds = access, refresh_seconds
        self._load_config = load_config  # membership changes are picked up with the grants
        self._snapshot = _Snapshot({})
        self._read_change = -1
        self._stop = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_forever, name="grants-refresh", daemon=True)
        self._audit: queue.Queue[list[AuditEntry] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_audit, name="audit-writer", daemon=True)

    def start(self) -> None:
        self.refresh()  # raises: no serving without grants
        self._writer.start()
        if self.refresh_seconds > 0:
            self._refresher.start()

    def refresh(self) -> None:
        """Re-read memberships, and the grants if any changed since the last read (a cheap query)."""
        if self._load_config is not None:
            config = self._load_config()
            if config != self.access.config:
                self.access.config = config
                self._snapshot = _Snapshot(self._snapshot.by_securable)  # decisions depended on it
        change = self.access.store.last_change()
        if change == self._read_change:
            return
        by_securable: dict[Securable, list[Grant]] = defaultdict(list)
        for grant in self.access.store.grants():
            by_securable[grant.securable].append(grant)
        self._snapshot, self._read_change = _Snapshot(dict(by_securable)), change

    def require_select(self, principal: str, tables: Sequence[str], operation: str) -> None:
        """PermissionDenied unless principal holds SELECT on every table. Decisions are kept until the
        next re-read; each denied request is still audited."""
        snapshot, key = self._snapshot, (principal, tuple(tables))
        missing = snapshot.missing.get(key)
        if missing is None:
            if len(snapshot.missing) > MAX_DECISIONS:
                snapshot.missing.clear()
            securables = [Securable.table(t) for t in tables]
            missing = self.access.missing(
                principal, Privilege.SELECT, securables, snapshot.covering(securables)
            )
            snapshot.missing[key] = missing
        if missing:
            self.access.deny(principal, Privilege.SELECT, missing, operation, self._audit.put)

    def stop(self) -> None:
        self._stop.set()
        if self._refresher.is_alive():
            self._refresher.join(timeout=10)
        if self._writer.is_alive():
            self._audit.put(None)
            self._writer.join(timeout=10)

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
