"""Who the principals are: admins, groups and their members, from a TOML file.

    # <FEATURE_STORE_HOME>/access.toml, or the file FEATURE_STORE_ACCESS_CONFIG names
    admins = ["platform-admins"]          # users or groups that may do everything, grants or not
    users = ["dave"]                      # users in no group who may still receive grants

    [groups]                              # group -> members (users, or other groups)
    platform-admins = ["root"]
    data-scientists = ["alice", "bob"]
    feature-engineers = ["carol", "dagster"]

Membership is configuration, not a statement: the identity provider (Entra ID, SCIM) owns it, and a
deployment renders this file from there. Without a file, a local install has one admin, the OS user
running it (so a laptop works as before); the azure profile has none, so nothing is readable until the
file exists. `ConfigFile` re-reads the file when it changes, so long-lived clients and servers follow
membership changes; a file that turns malformed or disappears leaves the last good one in force.
"""

from __future__ import annotations

import getpass
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feature_store.governance.statements import PRINCIPAL

log = logging.getLogger("feature_store.governance")


def os_user() -> str:
    """The OS user's name; containers without a passwd entry get their uid rather than a KeyError."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


class AccessConfigError(ValueError):
    """The access configuration is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class AccessConfig:
    admins: frozenset[str] = frozenset()
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)  # group -> direct members
    users: frozenset[str] = frozenset()
    source: str = "built-in default"

    @classmethod
    def load(cls, path: Path, profile: str = "local") -> AccessConfig:
        if not path.exists():
            if profile == "local":
                return cls(admins=frozenset({os_user()}), source=f"default (no {path}): the OS user is admin")
            return cls(source=f"default (no {path}): no admins")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise AccessConfigError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_mapping(raw, str(path))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], source: str) -> AccessConfig:
        unknown = sorted(set(raw) - {"admins", "users", "groups"})
        if unknown:
            raise AccessConfigError(f"{source}: unknown keys {unknown}; expected admins, users and [groups]")
        groups_raw = raw.get("groups", {})
        if not isinstance(groups_raw, Mapping):
            raise AccessConfigError(f"{source}: [groups] must be a table of group = [members]")
        groups = {
            _principal(group, source, "group name"): frozenset(_names(members, source, f"groups.{group}"))
            for group, members in groups_raw.items()
        }
        return cls(
            admins=frozenset(_names(raw.get("admins", []), source, "admins")),
            groups=groups,
            users=frozenset(_names(raw.get("users", []), source, "users")),
            source=source,
        )

    def identities(self, principal: str) -> frozenset[str]:
        """The principal and every group it belongs to, directly or through other groups."""
        found, frontier = {principal}, [principal]
        while frontier:
            member = frontier.pop()
            for group, members in self.groups.items():
                if member in members and group not in found:
                    found.add(group)
                    frontier.append(group)
        return frozenset(found)

    def is_admin(self, principal: str) -> bool:
        return not self.admins.isdisjoint(self.identities(principal))

    def is_known(self, principal: str) -> bool:
        """Configured as a group, a group member, a user or an admin: grants to anyone else are typos."""
        members = {m for ms in self.groups.values() for m in ms}
        return principal in {*self.groups, *members, *self.users, *self.admins}

    def kind(self, principal: str) -> str:
        return "group" if principal in self.groups else "user"


def _names(value: Any, source: str, where: str) -> list[str]:
    if not isinstance(value, list):
        raise AccessConfigError(f"{source}: {where} must be a list of names, got {type(value).__name__}")
    return [_principal(v, source, where) for v in value]


def _principal(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not PRINCIPAL.fullmatch(value):
        raise AccessConfigError(
            f"{source}: {where}: {value!r} is not a principal name (letters, digits and _ . @ + -)"
        )
    return value


class ConfigFile:
    """access.toml, re-read when its modification time or size changes (one stat per check)."""

    def __init__(self, path: Path, profile: str = "local") -> None:
        self.path, self.profile = path, profile
        self._stamp = self._stat()
        self._config = AccessConfig.load(path, profile)  # a malformed file at start is an error

    def get(self) -> AccessConfig:
        stamp = self._stat()
        if stamp == self._stamp:
            return self._config
        self._stamp = stamp  # whatever happens below, don't retry until the file changes again
        if stamp is None:
            log.error("%s disappeared; keeping the access configuration read before", self.path)
            return self._config
        try:
            self._config = AccessConfig.load(self.path, self.profile)
        except (AccessConfigError, OSError) as exc:
            log.error("keeping the previous access configuration: %s", exc)
        return self._config

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size
