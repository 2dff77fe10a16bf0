"""The azure profile end to end (tests/azure/conftest.py has the servers): the whole graph materialized by
a process that has only the deployment's environment, then every store it wrote is checked, then every
place a secret could leak is searched for the planted values.

Storage runs against Azurite's Blob API: Delta through WASB (hadoop-azure 3.4.2's emulator mode; ABFS
can't reach Azurite), landing files read by Spark in place, drift reports and MLflow artifacts as blobs.
ABFS itself is covered by tests/azure_storage (the settings of each auth mode, the filesystem class)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import pytest
import redis
import sqlalchemy as sa

from examples.churn.generate import generate
from feature_store.governance import GrantStore
from tests.azure.conftest import FIRST, LAST, AzureDeployment, upload_landing
from tests.services import REPO

pytestmark = pytest.mark.slow

GRAPH_TIMEOUT_SECONDS = 1500


@dataclass(frozen=True)
class GraphRun:
    summary: dict
    output: str  # stdout and stderr of the process


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(deployment: AzureDeployment, args: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=REPO, env=deployment.process_env(**env), capture_output=True, text=True, timeout=timeout,
        start_new_session=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def graph_run(azure_deployment: AzureDeployment, tmp_path_factory: pytest.TempPathFactory) -> GraphRun:
    local = tmp_path_factory.mktemp("generated")
    generate(local, FIRST, LAST, customers=200, products=20, transactions_per_day=150, seed=5,
             label_fraction=0.3)  # fmt: skip
    assert upload_landing(azure_deployment, local) > 0
    done = run(azure_deployment, [sys.executable, "-m", "tests.azure.graph_run", str(FIRST), str(LAST)],
               GRAPH_TIMEOUT_SECONDS)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return GraphRun(json.loads(done.stdout.strip().splitlines()[-1]), output)


def test_the_whole_graph_runs_on_azure_storage(graph_run: GraphRun, azure_deployment: AzureDeployment) -> None:
    summary = graph_run.summary
    assert summary["succeeded"], graph_run.output[-6000:]
    assert all(rows > 0 for rows in summary["tables"].values()), summary["tables"]
    with azure_deployment.blob_service() as service:
        def blobs(role: str) -> list[str]:
            return [b.name for b in service.get_container_client(azure_deployment.containers[role]).list_blobs()]

        delta = blobs("delta")
        for table in summary["tables"]:
            schema, name = table.split(".")
            assert any(b.startswith(f"delta/{schema}/{name}/_delta_log/") for b in delta), table
        assert any(b.endswith("MLmodel") for b in blobs("mlflow")), "MLflow artifacts are not in Blob"
        reports = blobs("reports")
        assert any(b.startswith("drift/customer_features_drift_") for b in reports), reports
    assert summary["drift_report"].startswith(azure_deployment.blob_url)
    # Landing files were read in place: nothing was staged on the driver's disk.
    assert not (azure_deployment.home / "staging").exists()
    assert not list(azure_deployment.home.rglob("*.parquet"))


def test_runs_and_events_are_in_postgres(graph_run: GraphRun, azure_deployment: AzureDeployment) -> None:
    from feature_assets.definitions import all_assets

    with environment(azure_deployment.env), dg.DagsterInstance.from_config(str(azure_deployment.dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        for run_id in graph_run.summary["pipeline_runs"]:
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        failed_id = graph_run.summary["failed_run"]["id"]
        assert instance.get_run_by_id(failed_id).status == dg.DagsterRunStatus.FAILURE
        failures = instance.all_logs(failed_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        assert failures, "the run with the wrong Redis password recorded no step failure"
        error = failures[0].dagster_event.step_failure_data.error.to_string()
        assert "password" in error.lower() or "auth" in error.lower(), error[:2000]
        for asset in all_assets:
            assert instance.get_latest_materialization_event(asset.key) is not None, asset.key


def test_online_stores_mlflow_and_grants(graph_run: GraphRun, azure_deployment: AzureDeployment) -> None:
    summary = graph_run.summary
    assert summary["redis_txn_count_7d"] == summary["cosmos_txn_count_7d"] == summary["expected_txn_count_7d"]
    tls_redis = redis.Redis(
        "127.0.0.1", azure_deployment.redis_port, ssl=True, ssl_ca_certs=str(azure_deployment.tls.ca),
        password=azure_deployment.planted["FEATURE_STORE_REDIS_PASSWORD"],
    )  # fmt: skip
    assert tls_redis.dbsize() > 0
    with pytest.raises(redis.ConnectionError):  # TLS only: a plain connection is refused
        redis.Redis("127.0.0.1", azure_deployment.redis_port, socket_timeout=2).ping()
    assert azure_deployment.vault.served("cosmos-write-authorization-key") >= 1
    assert azure_deployment.vault.served("cosmos-read-authorization-key") >= 1

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=azure_deployment.databases["mlflow"])
    assert client.get_model_version_by_alias("churn_model", "champion").version
    grants = GrantStore(azure_deployment.databases["grants"])
    try:
        assert any(g.principal == "data-scientists" and g.privilege == "SELECT" for g in grants.grants())
    finally:
        grants.close()


def _database_text(url: str) -> str:
    """Every row of every table, as text: what a secret search must cover in a database."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
            return "\n".join(
                f"{table}: {row}" for table in tables
                for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))
            )  # fmt: skip
    finally:
        engine.dispose()


def test_doctor_checks_every_component(graph_run: GraphRun, azure_deployment: AzureDeployment) -> None:
    done = run(azure_deployment, [sys.executable, "-m", "feature_store.cli.main", "doctor"], 600)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert all(line.startswith("ok ") for line in lines), lines
    checked = [line[5:] for line in lines]
    for name in ("spark", "delta", "landing", "online store", "mlflow", "grants database", "key vault",
                 "dagster storage"):  # fmt: skip
        assert any(c.startswith(name + " ") for c in checked), (name, lines)
    assert any("PostgresRunStorage" in line for line in lines), lines


def test_doctor_names_what_is_wrong_and_shows_no_secret(azure_deployment: AzureDeployment) -> None:
    planted = azure_deployment.planted
    wrong = {
        "FEATURE_STORE_REDIS_PASSWORD": planted["WRONG_REDIS_PASSWORD"],
        "FEATURE_STORE_GOVERNANCE_URI": f"postgresql+psycopg://fs:{planted['GRANTS_DB_PASSWORD']}@127.0.0.1:9/x",
        "MLFLOW_TRACKING_URI": f"postgresql+psycopg://fs:{planted['MLFLOW_DB_PASSWORD']}@127.0.0.1:9/x",
        "IDENTITY_HEADER": "not-the-platform-header",
        "AZURE_BLOB_ACCOUNT_KEY": "d3Jvbmcta2V5LWZvci10aGUtYWNjb3VudA==",
    }
    checks = ["online store", "grants database", "mlflow", "key vault", "landing"]
    done = run(azure_deployment, [sys.executable, "-m", "feature_store.cli.main", "doctor",
                                  *(a for c in checks for a in ("--only", c))], 300, **wrong)  # fmt: skip
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["FAIL"] * len(checks), lines
    assert "127.0.0.1:9" in done.stdout  # names where it looked
    _assert_nothing_leaked(done.stdout + done.stderr, {**planted, "wrong blob key": wrong["AZURE_BLOB_ACCOUNT_KEY"]})


def _assert_nothing_leaked(text: str, planted: dict[str, str]) -> None:
    leaked = [name for name, value in planted.items() if value in text]
    assert not leaked, f"secrets leaked: {leaked}"


def test_no_secret_in_output_events_metadata_or_stores(graph_run: GraphRun, azure_deployment: AzureDeployment) -> None:
    """Logs (the process's stdout/stderr and Dagster's compute logs), errors (the failed run's), Dagster's
    event log and run records (metadata, run config), MLflow's and the grants database's rows."""
    places = {
        "process output": graph_run.output,
        "compute logs": "\n".join(p.read_text(errors="replace")
                                  for p in azure_deployment.dagster_home.rglob("*") if p.is_file()),
        **{f"{role} database": _database_text(url) for role, url in azure_deployment.databases.items()},
    }  # fmt: skip
    for place, text in places.items():
        leaked = [name for name, value in azure_deployment.planted.items() if value in text]
        assert not leaked, f"{place} holds {leaked}"
    # The identity endpoint's tokens are bearer secrets too.
    tokens = [t.token for t in azure_deployment.identity.issued]
    assert tokens, "Key Vault was read with managed-identity tokens"
    for place, text in places.items():
        assert not any(token in text for token in tokens), f"{place} holds a bearer token"
