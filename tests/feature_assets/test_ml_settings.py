"""The ML assets' client keeps grants and the audit log in the data dir of the run's tables, never in
the environment's default `.featurestore/` (issue 15: test_ml_assets.py wrote into the repo's)."""

from pathlib import Path

import pytest

from feature_assets.lib.client import run_settings
from resources import DeltaLakeResource


def test_grants_and_audit_follow_the_runs_delta_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    repo = tmp_path / "repo"  # stands for the checkout: `.featurestore` resolves against the working dir
    repo.mkdir()
    monkeypatch.chdir(repo)
    monkeypatch.delenv("FEATURE_STORE_HOME")
    run_home = tmp_path / "run"

    settings = run_settings(DeltaLakeResource(root=str(run_home / "delta")))

    assert settings.delta_root == str(run_home / "delta")
    assert settings.home == run_home.resolve()
    assert settings.access_config_path == run_home.resolve() / "access.toml"
    assert str(run_home.resolve() / "governance") in settings.governance_db_uri
    assert settings.access_control().audit_log() == []  # opens (creates) the grant store
    assert (run_home / "governance" / "governance.db").exists()
    assert not (repo / ".featurestore").exists()


def test_explicit_governance_uri_still_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    uri = f"sqlite:///{tmp_path / 'shared' / 'grants.db'}"
    monkeypatch.setenv("FEATURE_STORE_GOVERNANCE_URI", uri)
    assert run_settings(DeltaLakeResource(root=str(tmp_path / "other" / "delta"))).governance_db_uri == uri


def test_each_test_has_its_own_data_dir(tmp_path: Path):
    """The autouse fixture of tests/conftest.py: Settings.from_env() lands under this test's tmp dir."""
    from feature_store.runtime.settings import Settings

    settings = Settings.from_env()
    assert settings.home == tmp_path.resolve()
    assert settings.governance_db_uri.endswith(str(tmp_path.resolve() / "governance" / "governance.db"))
