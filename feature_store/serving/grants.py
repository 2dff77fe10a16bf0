"""Grants as the serving endpoint sees them: every grant held in memory, re-read every `refresh_seconds`,
so a request costs a set lookup rather than a database round trip. A GRANT or REVOKE reaches a running
server within that interval. If a re-read fails the last grants stay in force (and the failure is
logged); the server does not start without reading them once.

Denials are audited like the client's, by a writer thread, so a flood of refused requests never makes
the event loop wait on the database; the writer drains its queue when the server stops.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from feature_store.governance import AccessConfig, AccessControl, AuditEntry, Grant, Privilege, Securable

log = logging.getLogger("feature_store.serving")
MAX_DECISIONS = 10_000


class ServingGrants:
    def __init__(
        self,
        access: AccessControl,
        refresh_seconds: float = 5.0,
        load_config: Callable[[], AccessConfig] | None = None,
    ) -> None:
        self.access, self.refresh_seconds = access, refresh_seconds
        self._load_config = load_config  # membership changes are picked up with the grants
        self._grants: list[Grant] = []
        self._missing: dict[tuple[str, tuple[str, ...]], list[Securable]] = {}
        self._read_at = float("-inf")
        self._audit: queue.Queue[list[AuditEntry] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_audit, name="audit-writer", daemon=True)

    def start(self) -> None:
        self.refresh()
        self._writer.start()

    def refresh(self) -> None:
        if self._load_config is not None:
            self.access.config = self._load_config()
        self._grants = self.access.store.grants()
        self._missing.clear()
        self._read_at = time.monotonic()

    def require_select(self, principal: str, tables: Sequence[str], operation: str) -> None:
        """PermissionDenied unless principal holds SELECT on every table. Decisions are kept until the
        next re-read, so a request costs one dict lookup; each denied request is still audited."""
        if time.monotonic() - self._read_at > self.refresh_seconds:
            try:
                self.refresh()
            except Exception as exc:  # keep deciding with the last grants read
                self._read_at = time.monotonic()  # and retry after the interval, not on every request
                log.warning(
                    "could not re-read grants, keeping the last ones: %s: %s", type(exc).__name__, exc
                )
        key = (principal, tuple(tables))
        missing = self._missing.get(key)
        if missing is None:
            if len(self._missing) > MAX_DECISIONS:  # table names come from requests: bound the memory
                self._missing.clear()
            securables = [Securable.table(t) for t in tables]
            missing = self._missing[key] = self.access.missing(
                principal, Privilege.SELECT, securables, self._grants
            )
        if missing:
            self.access.deny(principal, Privilege.SELECT, missing, operation, self._audit.put)

    def stop(self) -> None:
        if self._writer.is_alive():
            self._audit.put(None)
            self._writer.join(timeout=10)

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
