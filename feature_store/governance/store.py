"""Where grants and the audit log persist: two tables in a SQL database reached through SQLAlchemy.

The default is SQLite under the data dir (FEATURE_STORE_HOME/governance/governance.db); a deployment
with several hosts (Dagster, serving replicas, notebooks) points FEATURE_STORE_GOVERNANCE_URI at one
shared database, e.g. the Azure Database for PostgreSQL its MLflow tracking server uses. The audit
log is append-only: nothing here updates or deletes its rows, and every grant and revoke writes its
audit row in the same transaction as the change, so there is no change without its record.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote_plus

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from feature_store.governance.statements import GrantChange, Privilege, Securable
from feature_store.runtime.redaction import MASK, redact_text

_metadata = sa.MetaData()
_grants = sa.Table(
    "feature_store_grants",
    _metadata,
    # Key order = lookup order: the client asks by securable name and principal.
    sa.Column("securable", sa.String(256), primary_key=True),
    sa.Column("principal", sa.String(256), primary_key=True),
    sa.Column("privilege", sa.String(32), primary_key=True),
    sa.Column("securable_kind", sa.String(16), primary_key=True),
    sa.Column("granted_by", sa.String(256), nullable=False),
    sa.Column("granted_at", sa.String(32), nullable=False),  # ISO-8601 UTC: exact on every backend
)
_audit = sa.Table(
    "feature_store_audit_log",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),  # who acted, or who was denied
    sa.Column("action", sa.String(16), nullable=False),  # GRANT | REVOKE | DENY | DROP
    sa.Column("privileges", sa.String(64), nullable=False),
    sa.Column("securable", sa.String(300), nullable=False),  # "TABLE schema.table" / "SCHEMA schema"
    sa.Column("principals", sa.Text, nullable=False),  # grantees of a GRANT/REVOKE
    sa.Column("operation", sa.String(64), nullable=False),  # the client call or endpoint
    sa.Column("detail", sa.Text, nullable=False),  # the statement, or what changed, or the denial
)


_COVERING_QUERY = sa.select(_grants).where(
    _grants.c.securable.in_(sa.bindparam("names", expanding=True)),
    _grants.c.principal.in_(sa.bindparam("principals", expanding=True)),
)


# One row, incremented by every transaction that changes the grants: the serving endpoint polls it to
# know when to re-read them. A counter, not the newest audit id: ids are handed out at insert, not at
# commit, so on a shared database a change could commit after a reader had seen a larger id.
_version = sa.Table(
    "feature_store_grants_version",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)
_BUMP = _version.update().where(_version.c.id == 1).values(version=_version.c.version + 1)
_VERSION_QUERY = sa.select(_version.c.version).where(_version.c.id == 1)


class GovernanceUnavailable(RuntimeError):
    """The grants database can't be reached or used. Names it without its password or query (where
    drivers take credentials too), and carries only the driver's first line with those masked: the
    driver's exception is not chained, as its text may quote the URL or connection parameters."""


_SECRET_QUERY_WORDS = ("pass", "secret", "token", "key")


def _shown_and_hidden(url: sa.URL) -> tuple[str, list[str]]:
    """The URL as errors show it, and the values no error may contain (password, secret-looking query
    values, also as they appear percent-encoded in the URL)."""
    hidden = [url.password] if url.password else []
    for name, value in url.query.items():
        if any(word in name.lower() for word in _SECRET_QUERY_WORDS):
            hidden.extend([value] if isinstance(value, str) else value)
    hidden += [quote_plus(value) for value in hidden]
    return url.set(query={}).render_as_string(hide_password=True), [h for h in hidden if h]


@contextmanager
def _database(shown: str, hidden: Collection[str]) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        for value in sorted(hidden, key=len, reverse=True):
            reason = reason.replace(value, MASK)
        raise GovernanceUnavailable(
            f"the grants database {shown} (FEATURE_STORE_GOVERNANCE_URI) failed: {type(exc).__name__}: "
            f"{redact_text(reason)}"
        ) from None


class Grant(NamedTuple):
    principal: str
    privilege: Privilege
    securable: Securable
    granted_by: str
    granted_at: str


class AuditEntry(NamedTuple):
    at: str
    actor: str
    action: str
    privileges: str
    securable: str
    principals: str
    operation: str
    detail: str


def _grant(row: sa.Row) -> Grant:
    return Grant(row.principal, Privilege(row.privilege), Securable(row.securable_kind, row.securable),
                 row.granted_by, row.granted_at)  # fmt: skip


def _on(securable: Securable) -> sa.ColumnElement[bool]:
    return (_grants.c.securable_kind == securable.kind) & (_grants.c.securable == securable.name)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class GrantStore:
    def __init__(self, uri: str) -> None:
        try:
            url = sa.make_url(uri)
        except (SQLAlchemyError, ValueError):  # e.g. no scheme, or a port that is not a number
            raise GovernanceUnavailable(
                "FEATURE_STORE_GOVERNANCE_URI is not a valid SQLAlchemy URL "
                "(dialect+driver://user:password@host:port/database)"
            ) from None
        self.uri, self._hidden = _shown_and_hidden(url)
        with self._guard():
            if url.drivername == "sqlite" and url.database:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
                # Writers wait for each other instead of failing with "database is locked".
                self.engine = sa.create_engine(url, connect_args={"timeout": 30})
            else:
                self.engine = sa.create_engine(url, pool_pre_ping=True)
            _metadata.create_all(self.engine)  # idempotent
            try:
                with self.engine.begin() as connection:
                    if connection.execute(_VERSION_QUERY).first() is None:
                        connection.execute(_version.insert().values(id=1, version=0))
            except IntegrityError:  # another process created the row first
                pass

    def _guard(self) -> AbstractContextManager[None]:
        return _database(self.uri, self._hidden)

    def grants(
        self, securables: Collection[Securable] | None = None, principals: Collection[str] | None = None
    ) -> list[Grant]:
        """Grants on these securables (all if None) to these principals (all if None)."""
        if securables is not None and principals is not None:  # the client's check, on every call
            query = _COVERING_QUERY  # prepared once: ~0.1 ms a check on SQLite instead of ~1 (benchmarks/grants.py)
            params = {"names": sorted({s.name for s in securables}), "principals": sorted(principals)}
        else:
            query, params = sa.select(_grants), {}
            if securables is not None:
                query = query.where(_grants.c.securable.in_(sorted({s.name for s in securables})))
            if principals is not None:
                query = query.where(_grants.c.principal.in_(sorted(principals)))
        with self._guard(), self.engine.connect() as connection:
            rows = connection.execute(query, params).all()
        found = [_grant(r) for r in rows]
        return [g for g in found if securables is None or g.securable in securables]

    def version(self) -> int:
        """A number that grows with every change of the grants: cheaper to poll than the grants."""
        with self._guard(), self.engine.connect() as connection:
            return connection.execute(_VERSION_QUERY).scalar() or 0

    def apply(self, change: GrantChange, actor: str, operation: str = "sql") -> list[Grant]:
        """Carry out a GRANT or REVOKE with its audit row, in one transaction; returns the grants that
        were added or removed (an idempotent repeat returns [])."""
        with self._guard():
            for attempt in range(2):
                try:
                    with self.engine.begin() as connection:
                        changed = self._apply(connection, change, actor)
                        if changed:
                            connection.execute(_BUMP)
                        summary = ", ".join(f"{g.privilege} to {g.principal}" for g in changed) or "no change"
                        connection.execute(_audit.insert().values(self._audit_row(
                            actor, change.action, ", ".join(change.privileges), str(change.securable),
                            ", ".join(change.principals), operation, f"{change.text} -- {summary}",
                        )))  # fmt: skip
                    return changed
                except IntegrityError:  # a concurrent GRANT inserted the same row first: re-read, retry
                    if attempt:
                        raise
        raise AssertionError("unreachable")

    def _apply(self, connection: sa.Connection, change: GrantChange, actor: str) -> list[Grant]:
        on = _on(change.securable)
        held = {
            (r.principal, r.privilege): r
            for r in connection.execute(
                sa.select(_grants).where(on & _grants.c.principal.in_(change.principals))
            ).all()
        }
        if change.action == "GRANT":
            at = now()
            added = [
                Grant(p, privilege, change.securable, actor, at)
                for p in change.principals
                for privilege in change.privileges
                if (p, privilege.value) not in held
            ]
            if added:
                connection.execute(_grants.insert(), [
                    {"securable_kind": g.securable.kind, "securable": g.securable.name, "principal": g.principal,
                     "privilege": g.privilege.value, "granted_by": actor, "granted_at": at}
                    for g in added
                ])  # fmt: skip
            return added
        # REVOKE ALL PRIVILEGES takes every privilege the principal holds here; others only themselves.
        revoke_all = Privilege.ALL_PRIVILEGES in change.privileges
        removed = [
            _grant(r)
            for (principal, privilege), r in held.items()
            if revoke_all or Privilege(privilege) in change.privileges
        ]
        for grant in removed:
            connection.execute(
                _grants.delete().where(
                    on
                    & (_grants.c.principal == grant.principal)
                    & (_grants.c.privilege == grant.privilege.value)
                )
            )
        return removed

    def drop(self, securable: Securable, actor: str, operation: str) -> list[Grant]:
        """Remove every grant on a table; audited when it is a drop or when grants were removed."""
        with self._guard(), self.engine.begin() as connection:
            on = _on(securable)
            rows = connection.execute(sa.select(_grants).where(on)).all()
            if rows:
                connection.execute(_grants.delete().where(on))
                connection.execute(_BUMP)
            if rows or operation == "drop_table":
                detail = ", ".join(f"{r.privilege} of {r.principal}" for r in rows) or "no grants"
                connection.execute(_audit.insert().values(self._audit_row(
                    actor, "DROP", "ALL PRIVILEGES", str(securable), "", operation, f"removed {detail}"
                )))  # fmt: skip
        return [_grant(r) for r in rows]

    def record(self, entries: Iterable[AuditEntry]) -> None:
        rows = [entry._asdict() for entry in entries]
        if rows:
            with self._guard(), self.engine.begin() as connection:
                connection.execute(_audit.insert(), rows)

    def audit_log(
        self, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """The newest entries first."""
        query = sa.select(*(getattr(_audit.c, f) for f in AuditEntry._fields)).order_by(_audit.c.id.desc())
        if actor is not None:
            query = query.where(_audit.c.actor == actor)
        if action is not None:
            query = query.where(_audit.c.action == action.upper())
        with self._guard(), self.engine.connect() as connection:
            return [AuditEntry(*row) for row in connection.execute(query.limit(limit)).all()]

    @staticmethod
    def _audit_row(*values: str) -> dict[str, str]:
        return AuditEntry(now(), *values)._asdict()

    def close(self) -> None:
        self.engine.dispose()
