"""The production instance (deploy/dagster/dagster.yaml) and the local one (dagster.yaml) are valid
Dagster 1.13 instance configs: checked with Dagster's own schema, and every class they name is imported
and its config checked against that class's own schema (the instance schema takes any mapping there)."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = REPO / "deploy" / "dagster" / "dagster.yaml"
LOCAL = REPO / "dagster.yaml"

# Dagster's own variables, read by the production instance config (not feature-store settings).
PRODUCTION_ENV = {
    "DAGSTER_PG_HOST": "pg.example.postgres.database.azure.com",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "dummy-password",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_COMPUTE_LOGS_ACCOUNT": "examplestorage",
    "DAGSTER_COMPUTE_LOGS_CONTAINER": "dagster-compute-logs",
    "DAGSTER_K8S_JOB_NAMESPACE": "featurestore",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "dagster-instance",
}


def env_names(node: object) -> set[str]:
    """Every `{env: NAME}` in a parsed YAML tree."""
    if isinstance(node, dict):
        found = {node["env"]} if set(node) == {"env"} else set()
        return found.union(*(env_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(env_names(v) for v in node))
    return set()


def validated(path: Path, tmp_path: Path) -> dict:
    from dagster._core.instance.config import dagster_instance_config

    home = tmp_path / path.parent.name
    home.mkdir()
    shutil.copy(path, home / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    return dict(config)


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    return validated(PRODUCTION, tmp_path)


def test_production_names_exactly_the_env_vars_the_test_sets() -> None:
    assert env_names(yaml.safe_load(PRODUCTION.read_text())) == set(PRODUCTION_ENV)


def test_production_storage_is_one_postgres_block_with_its_password_from_the_environment(production) -> None:
    database = production["storage"]["postgres"]["postgres_db"]
    assert database["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert database["hostname"] == {"env": "DAGSTER_PG_HOST"}
    assert database["params"] == {"sslmode": "require"}
    assert not {"run_storage", "event_log_storage", "schedule_storage"} & set(production)


@pytest.mark.parametrize("section", ["compute_logs", "run_launcher", "scheduler"])
def test_each_configured_class_imports_and_accepts_its_config(production, section: str) -> None:
    from dagster._config import process_config

    entry = production[section]
    cls = getattr(importlib.import_module(entry["module"]), entry["class"])
    result = process_config(cls.config_type(), entry.get("config") or {})
    assert result.success, result.errors


def test_production_launcher_can_check_and_resume_run_workers(production) -> None:
    from dagster_k8s import K8sRunLauncher

    # max_resume_run_attempts > 0 is only allowed for a launcher that can resume (Dagster checks it when
    # the instance starts), and monitoring of STARTED runs only works if it can check worker health.
    assert production["run_launcher"]["class"] == K8sRunLauncher.__name__
    assert K8sRunLauncher.supports_resume_run.fget(None)  # type: ignore[attr-defined]
    assert K8sRunLauncher.supports_check_run_worker_health.fget(None)  # type: ignore[attr-defined]
    monitoring = production["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["max_resume_run_attempts"] >= 1
    assert monitoring["start_timeout_seconds"] > 0 and monitoring["cancel_timeout_seconds"] > 0


def test_production_compute_logs_use_the_azure_credential_not_a_key(production) -> None:
    config = production["compute_logs"]["config"]
    assert config["default_azure_credential"] == {}
    assert "access_key_or_sas_token" not in config and "secret_credential" not in config


def test_production_concurrency_limits_runs_and_pools(production) -> None:
    concurrency = production["concurrency"]
    assert concurrency["runs"]["max_concurrent_runs"] > 0
    assert {limit["key"] for limit in concurrency["runs"]["tag_concurrency_limits"]} >= {"dagster/backfill"}
    assert concurrency["pools"]["default_limit"] >= 1
    assert concurrency["pools"]["granularity"] in ("op", "run")
    assert production["telemetry"] == {"enabled": False}


def test_local_instance_loads_with_run_monitoring_the_default_launcher_supports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance

    config = validated(LOCAL, tmp_path)
    assert config["run_monitoring"]["enabled"] is True
    assert config["telemetry"] == {"enabled": False}
    # A real instance from it (SQLite under the temp DAGSTER_HOME): Dagster refuses resume attempts for
    # a launcher that cannot resume, so this also checks max_resume_run_attempts is 0.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / LOCAL.parent.name))
    with DagsterInstance.get() as instance:
        assert instance.run_monitoring_enabled
        assert not instance.run_launcher.supports_resume_run
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_max_runtime_seconds > 0
