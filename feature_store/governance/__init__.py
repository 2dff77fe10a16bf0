"""Grants on feature tables: statements, principals, persisted grants with an audit log, decisions."""

from feature_store.governance.access import REQUIRED, AccessControl, GrantResult, PermissionDenied, holds
from feature_store.governance.config import AccessConfig, AccessConfigError, ConfigFile
from feature_store.governance.statements import (
    GrantChange,
    GrantSyntaxError,
    Privilege,
    Securable,
    ShowGrants,
    parse_statement,
    split_statements,
)
from feature_store.governance.store import AuditEntry, GovernanceUnavailable, Grant, GrantStore

__all__ = [
    "REQUIRED",
    "AccessConfig",
    "AccessConfigError",
    "AccessControl",
    "AuditEntry",
    "ConfigFile",
    "GovernanceUnavailable",
    "Grant",
    "GrantChange",
    "GrantResult",
    "GrantStore",
    "GrantSyntaxError",
    "PermissionDenied",
    "Privilege",
    "Securable",
    "ShowGrants",
    "holds",
    "parse_statement",
    "split_statements",
]
