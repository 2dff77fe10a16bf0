"""Access decisions: who holds which privilege on which feature table, and the statements that change it.

The rule (one function, `holds`, used by the client and the serving endpoint alike):
- an admin (access.toml) may do everything;
- anyone else holds a privilege on a table if it, or a group it belongs to, was granted that privilege
  or ALL PRIVILEGES on the table or on the table's schema;
- nothing else: no grant, no access (default deny).

What each operation needs is `REQUIRED` below. GRANT and REVOKE need ALL PRIVILEGES on the securable,
so holding MODIFY never lets anyone hand out access; publish_table needs SELECT as well as MODIFY,
since it copies the rows to a store the caller may name. Catalog metadata (list_tables, get_table, describe)
stays visible to everyone, so people can find a table and ask for access to its rows.

This is enforcement at the feature store's API: the client, the CLI and the serving endpoint. It does
not stop a process that reads the Delta files or the online store directly; that is the storage's job
(ADLS ACLs or RBAC on the container, Unity Catalog, Redis ACLs, Cosmos DB RBAC), see docs/design.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from feature_store.governance.config import AccessConfig, ConfigFile
from feature_store.governance.statements import (
    GrantChange,
    Privilege,
    Securable,
    ShowGrants,
    Statement,
    parse_statement,
)
from feature_store.governance.store import AuditEntry, Grant, GrantStore, now
from feature_store.offline.names import TableNotFound

SELECT, MODIFY, ALL = Privilege.SELECT, Privilege.MODIFY, Privilege.ALL_PRIVILEGES

REQUIRED: dict[str, tuple[Privilege, ...]] = {  # every one of them, on every table the call touches
    "read_table": (SELECT,),
    "create_training_set": (SELECT,),
    "score_batch": (SELECT,),
    "get_online_features": (SELECT,),
    "serving": (SELECT,),
    "create_table": (MODIFY,),
    "write_table": (MODIFY,),
    "publish_table": (SELECT, MODIFY),
    "set_feature_table_tag": (MODIFY,),
    "delete_feature_table_tag": (MODIFY,),
    "drop_table": (ALL,),
    "GRANT": (ALL,),
    "REVOKE": (ALL,),
}


class PermissionDenied(PermissionError):
    """The acting principal lacks a privilege; names the principal, the privilege and the table(s)."""

    def __init__(self, principal: str, privilege: Privilege, securables: Sequence[Securable], operation: str):
        self.principal, self.privilege, self.operation = principal, privilege, operation
        self.securables = tuple(securables)
        names = ", ".join(str(s) for s in self.securables)
        grant = f"GRANT {privilege} ON {self.securables[0]} TO `{principal}`"
        super().__init__(
            f"{principal!r} lacks {privilege} on {names} (needed by {operation}); an admin or a holder of "
            f"ALL PRIVILEGES there can run: {grant}"
        )

    @property
    def table(self) -> str:
        return self.securables[0].name


def holds(
    config: AccessConfig, grants: Iterable[Grant], principal: str, privilege: Privilege, securable: Securable
) -> bool:
    """Does principal hold privilege on securable, given the grants on it and on its schema?"""
    identities = config.identities(principal)
    if not config.admins.isdisjoint(identities):
        return True
    on = covering([securable])
    held = {g.privilege for g in grants if g.principal in identities and g.securable in on}
    return privilege.satisfied_by(held)


def covering(securables: Iterable[Securable]) -> set[Securable]:
    """The securables whose grants decide access to these: each one and its schema."""
    return {c for s in securables for c in (s, Securable("SCHEMA", s.name.split(".")[0]))}


@dataclass(frozen=True)
class GrantResult:
    statement: GrantChange
    changed: list[Grant]
    notes: list[str] = field(default_factory=list)  # e.g. who still holds a revoked privilege, and how

    def __str__(self) -> str:
        verb = "granted" if self.statement.action == "GRANT" else "revoked"
        done = (
            "; ".join(f"{verb} {g.privilege} on {g.securable} {'to' if verb == 'granted' else 'from'} {g.principal}"
                      for g in self.changed)
            or f"nothing to change: {self.statement.text}"
        )  # fmt: skip
        return "\n".join([done, *self.notes])


class AccessControl:
    def __init__(self, config: AccessConfig | ConfigFile, store: GrantStore) -> None:
        self._config, self.store = config, store

    @property
    def config(self) -> AccessConfig:
        """The principals: fixed, or access.toml as it is now (re-read when it changes)."""
        return self._config.get() if isinstance(self._config, ConfigFile) else self._config

    # ----------------------------------------------------------------------------- decisions

    def require(self, principal: str, operation: str, tables: Sequence[str] | Sequence[Securable]) -> None:
        """Raise PermissionDenied (and audit it) unless principal holds what operation needs on every table."""
        securables = [t if isinstance(t, Securable) else Securable.table(t) for t in tables]
        config = self.config
        if not securables or config.is_admin(principal):
            return
        grants = self._grants_reaching(principal, securables, config)
        for privilege in REQUIRED[operation]:
            missing = self.missing(principal, privilege, securables, grants, config)
            if missing:
                self.deny(principal, privilege, missing, operation, self.store.record)

    def missing(
        self,
        principal: str,
        privilege: Privilege,
        securables: Sequence[Securable],
        grants: Iterable[Grant],
        config: AccessConfig | None = None,
    ) -> list[Securable]:
        """The securables on which principal lacks privilege, given (at least) the grants covering them."""
        grants, config = list(grants), config or self.config
        return [s for s in securables if not holds(config, grants, principal, privilege, s)]

    @staticmethod
    def deny(
        principal: str,
        privilege: Privilege,
        missing: Sequence[Securable],
        operation: str,
        record: Callable[[list[AuditEntry]], None],
    ) -> NoReturn:
        """Audit the denial (one entry per table) and raise it."""
        denied = PermissionDenied(principal, privilege, missing, operation)
        record([
            AuditEntry(now(), principal, "DENY", str(privilege), str(s), "", operation, str(denied))
            for s in missing
        ])  # fmt: skip
        raise denied

    def allowed(self, principal: str, privilege: Privilege, table: str) -> bool:
        securable, config = Securable.table(table), self.config
        grants = self._grants_reaching(principal, [securable], config)
        return holds(config, grants, principal, privilege, securable)

    def _grants_reaching(
        self, principal: str, securables: Sequence[Securable], config: AccessConfig
    ) -> list[Grant]:
        """The stored grants that can decide principal's access to these: on them or their schemas, to
        the principal or its groups."""
        return self.store.grants(covering(securables), config.identities(principal))

    # ----------------------------------------------------------------------------- statements

    def execute(
        self, text: str, actor: str, table_exists: Callable[[str], bool]
    ) -> GrantResult | list[Grant]:
        """Run one GRANT, REVOKE or SHOW GRANTS as actor. Grants on a table need it to exist; grantees
        must be configured principals (a typo would otherwise grant to nobody, silently)."""
        statement: Statement = parse_statement(text)
        securable = statement.securable
        if securable.kind == "TABLE" and not table_exists(securable.name):
            raise TableNotFound(f"{securable} does not exist, in: {statement.text}")
        if isinstance(statement, ShowGrants):  # with the schema's grants: they reach the table too
            principals = None if statement.principal is None else [statement.principal]
            return self.store.grants(covering([securable]), principals)
        unknown = [p for p in statement.principals if not self.config.is_known(p)]
        if unknown and statement.action == "GRANT":  # REVOKE must still reach someone since removed
            raise ValueError(
                f"unknown principal(s) {unknown}: not an admin, group, group member or user in the access "
                f"configuration ({self.config.source}), in: {statement.text}"
            )
        self.require(actor, statement.action, [securable])
        changed = self.store.apply(statement, actor)
        notes = self._still_held(statement) if statement.action == "REVOKE" else []
        return GrantResult(statement, changed, notes)

    def _still_held(self, revoke: GrantChange) -> list[str]:
        """After a REVOKE: grantees who keep a revoked privilege through a group, the schema, ALL
        PRIVILEGES or being admin; revoking one path is not revoking access, and the result says so."""
        notes, config = [], self.config
        for principal in revoke.principals:
            grants = self._grants_reaching(principal, [revoke.securable], config)
            for privilege in revoke.privileges:
                if holds(config, grants, principal, privilege, revoke.securable):
                    via = [
                        f"{g.privilege} on {g.securable} to {g.principal}"
                        for g in grants
                        if privilege.satisfied_by({g.privilege})
                    ]
                    notes.append(
                        f"note: {principal} still holds {privilege} on {revoke.securable} "
                        f"through {', '.join(via) or 'being an admin'}"
                    )
        return notes

    def forget_table(self, table: str, actor: str, operation: str) -> None:
        """Remove every grant on a table that is being dropped, or created under a name whose grants a
        failed drop left behind: a table never inherits the grants of an earlier one of its name."""
        self.store.drop(Securable.table(table), actor, operation)

    def audit_log(
        self, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        return self.store.audit_log(limit, actor, action)
