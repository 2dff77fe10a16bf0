"""The serving endpoint's view of the grants, without HTTP: decisions from memory, changes picked up by
the refresh (grants and memberships), the last grants kept when the database is unreachable, and every
denial written to the audit log by the time the server stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from feature_store.governance import AccessControl, ConfigFile, GrantStore, PermissionDenied
from feature_store.serving.grants import ServingGrants

TABLES = ["fs.customers", "fs.products"]


@pytest.fixture
def setup(tmp_path: Path):
    path = tmp_path / "access.toml"
    path.write_text('admins = ["admin"]\nusers = ["svc"]\n[groups]\nreaders = []\n')
    access = AccessControl(ConfigFile(path), GrantStore(f"sqlite:///{tmp_path / 'gov.db'}"))
    grants = ServingGrants(access, refresh_seconds=0)
    grants.start()
    yield access, grants, path
    grants.stop()


def run(access: AccessControl, text: str) -> None:
    access.execute(text, "admin", lambda name: True)


def test_changes_reach_the_server_at_the_next_refresh(setup) -> None:
    access, grants, path = setup
    with pytest.raises(PermissionDenied, match="'svc' lacks SELECT on TABLE fs.customers, TABLE fs.products"):
        grants.require_select("svc", TABLES, "serving m")
    run(access, "GRANT SELECT ON SCHEMA fs TO readers")
    grants.refresh()
    with pytest.raises(PermissionDenied):  # svc is not a reader yet: memberships come from the file
        grants.require_select("svc", TABLES, "serving m")
    path.write_text('admins = ["admin"]\nusers = ["svc"]\n[groups]\nreaders = ["svc"]\n')
    grants.require_select("svc", TABLES, "serving m")  # memberships apply without waiting for a refresh
    path.write_text("admins = [")  # a broken edit keeps the last good configuration in force
    grants.require_select("svc", TABLES, "serving m")
    run(access, "REVOKE SELECT ON SCHEMA fs FROM readers")
    grants.require_select("svc", TABLES, "serving m")  # decided from memory until the next refresh
    grants.refresh()
    with pytest.raises(PermissionDenied):
        grants.require_select("svc", TABLES, "serving m")


def test_the_last_grants_stay_in_force_when_the_database_is_gone(setup, tmp_path: Path) -> None:
    access, grants, _ = setup
    run(access, "GRANT SELECT ON TABLE fs.customers TO svc")
    grants.refresh()
    access.store.engine.dispose()
    (tmp_path / "gov.db").unlink()
    (tmp_path / "gov.db").mkdir()  # now unopenable as a database
    with pytest.raises(Exception):  # noqa: B017 (whatever the driver raises)
        grants.refresh()
    grants.require_select("svc", ["fs.customers"], "serving m")


def test_every_denial_is_audited_before_stop_returns(setup) -> None:
    access, grants, _ = setup
    for _ in range(50):
        with pytest.raises(PermissionDenied):
            grants.require_select("svc", TABLES, "serving m")
    grants.stop()
    denials = access.audit_log(limit=1000, actor="svc", action="DENY")
    assert len(denials) == 100  # 50 requests x 2 tables
    assert {e.securable for e in denials} == {"TABLE fs.customers", "TABLE fs.products"}
