"""Grants without Spark: the access configuration, the grant store (persistence, idempotence, the audit
log, concurrent writers; on SQLite and on PostgreSQL) and access decisions against a brute-force oracle
over random memberships and GRANT/REVOKE histories.
The client's and the endpoint's enforcement are tested in tests/feature_store/client/test_client_grants.py and
tests/serving."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feature_store.governance import (
    AccessConfig,
    AccessConfigError,
    AccessControl,
    ConfigFile,
    GovernanceUnavailable,
    GrantStore,
    PermissionDenied,
    Privilege,
    Securable,
)
from feature_store.offline.delta_tables import TableNotFound

SELECT, MODIFY, ALL = Privilege.SELECT, Privilege.MODIFY, Privilege.ALL_PRIVILEGES
TABLE = "feature_store.customer_features"

ACCESS_TOML = """
admins = ["platform"]
users = ["dave"]

[groups]
platform = ["root"]
data-scientists = ["alice", "bob", "ml-interns"]
ml-interns = ["erin"]
feature-engineers = ["carol"]
"""


@pytest.fixture
def access(tmp_path: Path, governance_uri: str) -> Iterator[AccessControl]:
    path = tmp_path / "access.toml"
    path.write_text(ACCESS_TOML)
    control = AccessControl(AccessConfig.load(path), GrantStore(governance_uri))
    yield control
    control.store.close()


def run(access: AccessControl, text: str, actor: str = "root"):
    return access.execute(text, actor, table_exists=lambda name: True)


# ----------------------------------------------------------------------------- configuration


def test_membership_is_transitive_and_admins_may_be_groups(access: AccessControl) -> None:
    config = access.config
    assert config.identities("erin") == {"erin", "ml-interns", "data-scientists"}
    assert config.is_admin("root") and not config.is_admin("alice")
    assert config.is_known("dave") and config.is_known("ml-interns") and not config.is_known("data-scientist")


def test_membership_cycles_terminate() -> None:
    config = AccessConfig.from_mapping({"groups": {"a": ["b", "u"], "b": ["a"]}}, "test")
    assert config.identities("u") == {"u", "a", "b"}


def test_without_a_file_a_local_install_has_the_os_user_as_admin_and_azure_has_none(tmp_path: Path) -> None:
    import getpass

    assert AccessConfig.load(tmp_path / "missing.toml").admins == {getpass.getuser()}
    assert AccessConfig.load(tmp_path / "missing.toml", profile="azure").admins == frozenset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("admins = 'root'", "admins must be a list of names"),
        ("admin = ['root']", "unknown keys ['admin']"),
        ("[groups]\nds = ['has/slash']", "groups.ds: 'has/slash' is not a principal name"),
        ("groups = 3", "[groups] must be a table"),
        ("admins = [", "not valid TOML"),
    ],
)
def test_malformed_configuration_names_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "access.toml"
    path.write_text(text)
    with pytest.raises(AccessConfigError) as raised:
        AccessConfig.load(path)
    assert message in str(raised.value) and str(path) in str(raised.value)


# ----------------------------------------------------------------------------- grants and decisions


def test_default_deny_then_grant_to_a_group_reaches_nested_members(access: AccessControl) -> None:
    assert not access.allowed("erin", SELECT, TABLE)
    with pytest.raises(PermissionDenied) as raised:
        access.require("erin", "read_table", [TABLE])
    denied = raised.value
    assert (denied.principal, denied.privilege, denied.table, denied.operation) == (
        "erin", SELECT, TABLE, "read_table",
    )  # fmt: skip
    assert "'erin' lacks SELECT on TABLE feature_store.customer_features (needed by read_table)" in str(
        denied
    )

    result = run(access, f"GRANT SELECT ON TABLE {TABLE} TO `data-scientists`")
    assert [(g.principal, g.privilege) for g in result.changed] == [("data-scientists", SELECT)]
    assert access.allowed("erin", SELECT, TABLE) and access.allowed("alice", SELECT, TABLE)
    assert not access.allowed("alice", MODIFY, TABLE)  # SELECT is not MODIFY
    assert not access.allowed("carol", SELECT, TABLE)
    assert access.allowed("root", ALL, TABLE)  # admin without any grant


def test_all_privileges_implies_select_and_modify_and_schema_grants_cover_tables(
    access: AccessControl,
) -> None:
    run(access, f"GRANT ALL PRIVILEGES ON TABLE {TABLE} TO feature-engineers")
    assert all(access.allowed("carol", p, TABLE) for p in Privilege)
    run(access, "GRANT MODIFY ON SCHEMA feature_store TO dave")
    assert access.allowed("dave", MODIFY, "feature_store.not_created_yet")
    assert not access.allowed("dave", MODIFY, "other_schema.t")
    assert not access.allowed("dave", SELECT, TABLE)


def test_grants_persist_and_repeats_are_idempotent(access: AccessControl, governance_uri: str) -> None:
    first = run(access, f"GRANT SELECT, MODIFY ON {TABLE} TO dave, alice")
    assert len(first.changed) == 4
    assert run(access, f"GRANT SELECT ON {TABLE} TO dave").changed == []
    reopened = AccessControl(access.config, GrantStore(governance_uri))  # as a new process would
    assert reopened.allowed("dave", MODIFY, TABLE)
    shown = run(reopened, f"SHOW GRANTS dave ON {TABLE}")
    assert sorted((g.principal, g.privilege, g.granted_by) for g in shown) == [
        ("dave", MODIFY, "root"), ("dave", SELECT, "root"),
    ]  # fmt: skip
    reopened.store.close()


def test_concurrent_identical_grants_make_one_change(access: AccessControl) -> None:
    """Writers racing on the same grant: one inserts it, the others find it there (no error, one row)."""
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: run(access, f"GRANT SELECT ON {TABLE} TO dave"), range(8)))
    assert sum(len(r.changed) for r in results) == 1
    assert [(g.principal, g.privilege) for g in access.store.grants()] == [("dave", SELECT)]
    assert len(access.audit_log(action="GRANT")) == 8


def test_revoke_says_who_keeps_access_through_another_path(access: AccessControl) -> None:
    run(access, f"GRANT SELECT ON {TABLE} TO alice, data-scientists")
    result = run(access, f"REVOKE SELECT ON {TABLE} FROM alice")
    assert [(g.principal, g.privilege) for g in result.changed] == [("alice", SELECT)]
    assert access.allowed("alice", SELECT, TABLE)
    assert "alice still holds SELECT on TABLE feature_store.customer_features through SELECT on TABLE " \
           "feature_store.customer_features to data-scientists" in str(result)  # fmt: skip
    run(access, f"REVOKE SELECT ON {TABLE} FROM data-scientists")
    assert not access.allowed("alice", SELECT, TABLE)
    assert run(access, f"REVOKE SELECT ON {TABLE} FROM dave").changed == []  # nothing to revoke: no error


def test_revoke_all_privileges_takes_every_privilege(access: AccessControl) -> None:
    run(access, f"GRANT SELECT, MODIFY, ALL PRIVILEGES ON {TABLE} TO carol")
    assert {g.privilege for g in run(access, f"REVOKE ALL PRIVILEGES ON {TABLE} FROM carol").changed} == set(
        Privilege
    )
    assert not access.allowed("carol", SELECT, TABLE)


def test_granting_needs_all_privileges_and_modify_cannot_escalate(access: AccessControl) -> None:
    run(access, f"GRANT MODIFY ON {TABLE} TO carol")
    with pytest.raises(
        PermissionDenied, match="'carol' lacks ALL PRIVILEGES on TABLE .* \\(needed by GRANT\\)"
    ):
        run(access, f"GRANT SELECT ON {TABLE} TO carol", actor="carol")
    run(access, f"GRANT ALL PRIVILEGES ON {TABLE} TO carol")
    run(access, f"GRANT SELECT ON {TABLE} TO dave", actor="carol")  # a holder of ALL may grant
    assert access.allowed("dave", SELECT, TABLE)


def test_unknown_principals_and_missing_tables_are_refused(access: AccessControl) -> None:
    with pytest.raises(ValueError, match=r"unknown principal\(s\) \['data-scientist'\]"):
        run(access, f"GRANT SELECT ON {TABLE} TO data-scientist")
    with pytest.raises(TableNotFound, match="TABLE feature_store.nope does not exist"):
        access.execute("GRANT SELECT ON feature_store.nope TO alice", "root", table_exists=lambda name: False)
    assert access.store.grants() == []


def test_audit_log_records_grants_revokes_drops_and_denials(access: AccessControl) -> None:
    run(access, f"GRANT SELECT ON {TABLE} TO `data-scientists`")
    run(access, f"REVOKE SELECT ON {TABLE} FROM `data-scientists`")
    with pytest.raises(PermissionDenied):
        access.require("bob", "create_training_set", [TABLE, "feature_store.product_features"])
    access.forget_table(TABLE, "root", "drop_table")
    log = access.audit_log()
    assert [(e.action, e.actor) for e in log] == [
        ("DROP", "root"), ("DENY", "bob"), ("DENY", "bob"), ("REVOKE", "root"), ("GRANT", "root"),
    ]  # fmt: skip
    grant = log[-1]
    assert (grant.privileges, grant.securable, grant.principals) == (
        "SELECT", f"TABLE {TABLE}", "data-scientists",
    )  # fmt: skip
    assert "GRANT SELECT ON" in grant.detail and "SELECT to data-scientists" in grant.detail
    denials = access.audit_log(actor="bob", action="deny")
    assert {e.securable for e in denials} == {f"TABLE {TABLE}", "TABLE feature_store.product_features"}
    assert all(e.operation == "create_training_set" and "lacks SELECT" in e.detail for e in denials)


# ----------------------------------------------------------------------------- the oracle

USERS = ["u0", "u1", "u2", "u3"]
GROUPS = ["g0", "g1", "g2"]
SECURABLES = [
    Securable("TABLE", "s.t0"), Securable("TABLE", "s.t1"), Securable("TABLE", "r.t0"),
    Securable("SCHEMA", "s"), Securable("SCHEMA", "r"),
]  # fmt: skip
TABLES = [s.name for s in SECURABLES if s.kind == "TABLE"]

_change = st.tuples(
    st.sampled_from(["GRANT", "REVOKE"]),
    st.lists(st.sampled_from(list(Privilege)), min_size=1, max_size=3, unique=True),
    st.sampled_from(SECURABLES),
    st.lists(st.sampled_from(USERS + GROUPS), min_size=1, max_size=3, unique=True),
    st.sampled_from(["boss", *USERS]),  # who runs it: the admin, or a user who may or may not hold ALL
)


def _oracle_closure(principal: str, groups: dict[str, list[str]]) -> set[str]:
    """Fixed point by repeated full passes (not the implementation's worklist)."""
    closure = {principal}
    changed = True
    while changed:
        changed = False
        for group, members in groups.items():
            if group not in closure and closure.intersection(members):
                closure.add(group)
                changed = True
    return closure


@settings(max_examples=60, deadline=None)
@given(
    memberships=st.fixed_dictionaries(
        {g: st.lists(st.sampled_from(USERS + GROUPS), max_size=3, unique=True) for g in GROUPS}
    ),
    admins=st.lists(st.sampled_from(USERS + GROUPS), max_size=1),
    history=st.lists(_change, max_size=12),
)
def test_decisions_match_a_brute_force_oracle(memberships, admins, history) -> None:
    config = AccessConfig.from_mapping(
        {"admins": ["boss", *admins], "users": USERS, "groups": memberships}, "drawn"
    )
    access = AccessControl(config, GrantStore("sqlite://"))  # in memory: one database per example
    model: set[tuple[str, Privilege, Securable]] = set()

    def oracle_holds(principal: str, privilege: Privilege, table: str) -> bool:
        closure = _oracle_closure(principal, memberships)
        on = {Securable("TABLE", table), Securable("SCHEMA", table.split(".")[0])}
        held = {p for (who, p, s) in model if who in closure and s in on}
        return bool(closure & {"boss", *admins}) or privilege in held or ALL in held

    for action, privileges, securable, principals, actor in history:
        keyword = "TO" if action == "GRANT" else "FROM"
        statement = f"{action} {', '.join(privileges)} ON {securable} {keyword} {', '.join(principals)}"
        # Managing a schema's grants needs ALL on the schema itself: ask about a table name in it
        # that no table grant can cover.
        probe = securable.name if securable.kind == "TABLE" else f"{securable.name}.no_such_table"
        if not oracle_holds(actor, ALL, probe):
            with pytest.raises(PermissionDenied):
                run(access, statement, actor)
            continue
        run(access, statement, actor)
        for principal in principals:
            if action == "GRANT":
                model |= {(principal, p, securable) for p in privileges}
            elif ALL in privileges:
                model = {g for g in model if (g[0], g[2]) != (principal, securable)}
            else:
                model -= {(principal, p, securable) for p in privileges}

    assert {(g.principal, g.privilege, g.securable) for g in access.store.grants()} == model
    for principal in USERS:
        for table in TABLES:
            for privilege in Privilege:
                expected = oracle_holds(principal, privilege, table)
                assert access.allowed(principal, privilege, table) == expected, (principal, privilege, table)


def test_revoke_reaches_principals_no_longer_configured(access: AccessControl, tmp_path: Path) -> None:
    run(access, f"GRANT SELECT ON {TABLE} TO dave")
    access._config = AccessConfig.from_mapping(
        {"admins": ["platform"], "groups": {"platform": ["root"]}}, "t"
    )
    assert access.allowed("dave", SELECT, TABLE)  # a direct grant outlives the configuration entry...
    run(access, f"REVOKE SELECT ON {TABLE} FROM dave")  # ...so it must stay revocable
    assert not access.allowed("dave", SELECT, TABLE)


def test_show_grants_on_a_table_includes_its_schema_grants(access: AccessControl) -> None:
    run(access, "GRANT SELECT ON SCHEMA feature_store TO dave")
    run(access, f"GRANT MODIFY ON TABLE {TABLE} TO carol")
    shown = {(g.principal, g.privilege, str(g.securable)) for g in run(access, f"SHOW GRANTS ON {TABLE}")}
    assert shown == {("dave", SELECT, "SCHEMA feature_store"), ("carol", MODIFY, f"TABLE {TABLE}")}


def test_the_version_moves_with_every_change_and_only_then(access: AccessControl) -> None:
    start = access.store.version()
    run(access, f"GRANT SELECT ON {TABLE} TO dave")
    assert access.store.version() == start + 1
    run(access, f"GRANT SELECT ON {TABLE} TO dave")  # no change
    with pytest.raises(PermissionDenied):
        access.require("bob", "read_table", [TABLE])  # audited, but not a change
    assert access.store.version() == start + 1
    access.forget_table(TABLE, "root", "drop_table")
    assert access.store.version() == start + 2


def test_membership_changes_reach_a_long_lived_control_and_broken_edits_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "access.toml"
    path.write_text('admins = ["root"]\n[groups]\nds = []\n')
    access = AccessControl(ConfigFile(path), GrantStore(f"sqlite:///{tmp_path / 'g.db'}"))
    run(access, f"GRANT SELECT ON {TABLE} TO ds")
    assert not access.allowed("alice", SELECT, TABLE)
    path.write_text('admins = ["root"]\n[groups]\nds = ["alice"]\n')
    assert access.allowed("alice", SELECT, TABLE)
    path.write_text('admins = ["root"]\n[groups]\nds = "alice"')  # malformed: the last good one stays
    assert access.allowed("alice", SELECT, TABLE)
    path.unlink()  # gone: also not a reason to make the OS user admin or to drop memberships
    assert access.allowed("alice", SELECT, TABLE) and access.config.admins == {"root"}


def test_an_unusable_grants_database_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    with pytest.raises(
        GovernanceUnavailable, match="grants database sqlite:///.*db .*FEATURE_STORE_GOVERNANCE_URI"
    ):
        GrantStore(f"sqlite:///{tmp_path / 'db'}")
