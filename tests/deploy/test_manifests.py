"""deploy/ against the code it deploys: every environment variable it sets is declared in
feature_store/runtime/variables.py (or is one of a short list of external ones), the serving probes hit routes
the app serves, every COPY source in the Dockerfiles exists, the Dockerfiles pass hadolint, the Helm
values agree with deploy/dagster/dagster.yaml, and docs/deploy-azure.md uses every file in deploy/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from feature_store.runtime import variables as V

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILES = sorted((DEPLOY / "docker").glob("Dockerfile.*"))
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
INSTANCE = DEPLOY / "dagster" / "dagster.yaml"
DOCS = REPO / "docs" / "deploy-azure.md"

# Variables deploy/ names that the feature store does not read, so variables.py does not declare them.
EXTERNAL = {
    # Dagster's instance config (deploy/dagster/dagster.yaml) and the Helm chart.
    "DAGSTER_PG_HOST": "Dagster storage host",
    "DAGSTER_PG_USERNAME": "Dagster storage user",
    "DAGSTER_PG_PASSWORD": "Dagster storage password (the chart's postgresql-password secret)",
    "DAGSTER_PG_DB": "Dagster storage database",
    "DAGSTER_COMPUTE_LOGS_ACCOUNT": "compute log storage account",
    "DAGSTER_COMPUTE_LOGS_CONTAINER": "compute log container",
    "DAGSTER_K8S_JOB_NAMESPACE": "namespace of run pods",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "ConfigMap holding dagster.yaml for run pods",
    # The MLflow tracking server's backend (deploy/k8s/mlflow.yaml passes it to `mlflow server`).
    "MLFLOW_BACKEND_STORE_URI": "MLflow server database URL",
    # Python and pip in the images.
    "PYTHONDONTWRITEBYTECODE": "python",
    "PYTHONUNBUFFERED": "python",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip",
}


def logical_lines(dockerfile: Path) -> list[str]:
    """Instructions with their continuation lines joined, comments dropped."""
    joined, current = [], ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    return joined


def dockerfile_env_names(dockerfile: Path) -> set[str]:
    names = set()
    for line in logical_lines(dockerfile):
        if line.startswith("ENV "):
            names |= set(re.findall(r"([A-Z_][A-Z0-9_]*)=", line[4:]))
    return names


def manifest_env_names() -> set[str]:
    names = set()
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "featurestore-config":
                names |= set(doc["data"])
            for container in _containers(doc):
                names |= {e["name"] for e in container.get("env", [])}
    return names


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", [])


def instance_env_names() -> set[str]:
    text = INSTANCE.read_text()
    return set(re.findall(r"env:\s*([A-Z_][A-Z0-9_]*)", text))


def docs_secret_names() -> set[str]:
    """The keys of the Secrets docs/deploy-azure.md creates (`--from-literal=NAME=...`)."""
    return set(re.findall(r"--from-literal=([A-Z_][A-Z0-9_]*)=", DOCS.read_text()))


def test_every_variable_deploy_sets_is_declared_or_known_external() -> None:
    named = manifest_env_names() | instance_env_names() | docs_secret_names()
    for dockerfile in DOCKERFILES:
        named |= dockerfile_env_names(dockerfile)
    assert named, "found no variables: the parsing is broken"
    unknown = sorted(
        n for n in named if n not in V.REGISTRY and n not in EXTERNAL and n != "postgresql-password"
    )
    assert not unknown, f"not declared in feature_store/runtime/variables.py: {unknown}"


def test_the_shared_config_holds_no_secret() -> None:
    secrets = {n for n in manifest_env_names() if n in V.REGISTRY and V.REGISTRY[n].secret}
    assert not secrets, f"secret settings belong in a Secret, not a ConfigMap or plain env: {sorted(secrets)}"


def test_the_azure_profile_settings_it_requires_are_in_the_shared_config() -> None:
    config = manifest_env_names()
    required = {v.name for v in V.REGISTRY.values() if v.default_for("azure") is V.REQUIRED and not v.secret}
    assert required <= config, (
        f"missing from deploy/k8s/featurestore-config.yaml: {sorted(required - config)}"
    )


def test_serving_probes_are_routes_the_app_serves_without_a_token(tmp_path: Path, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from feature_store.online.specs import SqliteStoreSpec
    from feature_store.runtime.settings import Settings
    from feature_store.serving.app import create_app
    from feature_store.serving.auth import TokenAuthenticator
    from feature_store.serving.grants import ServingGrants
    from feature_store.serving.models import ModelWatcher

    monkeypatch.setenv("FEATURE_STORE_HOME", str(tmp_path))
    settings = Settings.from_env()
    app = create_app(
        ModelWatcher([]), SqliteStoreSpec(str(tmp_path / "online.db")), TokenAuthenticator({}),
        ServingGrants(settings.access_control()),
    )  # fmt: skip
    served = {route.path for route in app.routes if "GET" in getattr(route, "methods", ())}
    (deployment,) = [
        d
        for d in yaml.safe_load_all((DEPLOY / "k8s" / "serving.yaml").read_text())
        if d["kind"] == "Deployment"
    ]
    (container,) = _containers(deployment)
    probes = {
        kind: container[kind]["httpGet"]["path"]
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert probes["livenessProbe"] == "/healthz" and probes["readinessProbe"] == "/readyz"
    assert set(probes.values()) <= served
    # Without the lifespan (store not opened) the process is alive but not ready: exactly what the two
    # probes must tell apart. Neither needs a token.
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_serving_flags_in_the_manifest_are_flags_of_featurestore_serve() -> None:
    import argparse

    from feature_store.serving.cli import add_serve

    parser = argparse.ArgumentParser()
    add_serve(parser.add_subparsers())
    (deployment,) = [
        d
        for d in yaml.safe_load_all((DEPLOY / "k8s" / "serving.yaml").read_text())
        if d["kind"] == "Deployment"
    ]
    (container,) = _containers(deployment)
    entrypoint = ["--host", "0.0.0.0", "--port", "8080"]  # Dockerfile.serving's ENTRYPOINT
    args = parser.parse_args(["serve", *entrypoint, *container["args"]])  # exits (SystemExit) on a bad flag
    assert args.port == container["ports"][0]["containerPort"]
    assert (
        'ENTRYPOINT ["featurestore", "serve", "--host", "0.0.0.0", "--port", "8080"]'
        in (DEPLOY / "docker" / "Dockerfile.serving").read_text()
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copy_source_exists_and_is_not_dockerignored(dockerfile: Path) -> None:
    ignored = {
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }  # fmt: skip
    sources = []
    for line in logical_lines(dockerfile):
        if line.startswith("COPY ") and "--from=" not in line:
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            sources += parts[:-1]
    assert sources, "no COPY found"
    for source in sources:
        assert (REPO / source).exists(), f"{dockerfile.name}: COPY source {source} does not exist"
        assert source.rstrip("/").split("/")[0] not in ignored, f"{source} is excluded by .dockerignore"


def test_the_image_commands_exist() -> None:
    """The commands the images run are installed by them: entry points of this project or dagster."""
    from importlib.metadata import entry_points

    scripts = {ep.name for ep in entry_points(group="console_scripts")}
    assert {"featurestore", "dagster"} <= scripts
    code_location = (DEPLOY / "docker" / "Dockerfile.code-location").read_text()
    assert "RUN featurestore fetch-jars" in code_location
    assert (
        '"dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "feature_assets.definitions"'
        in code_location
    )
    cli = subprocess.run(
        [sys.executable, "-c", "import sys; from feature_store.cli.main import main; sys.argv[0] = 'featurestore'; main()", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0
    if "fetch-jars" not in cli.stdout:
        pytest.fail(
            "`featurestore fetch-jars` (which Dockerfile.code-location runs) is not a CLI command yet"
        )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint") or str(REPO / ".venv" / "bin" / "hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def test_helm_values_render_the_same_instance_settings_as_deploy_dagster_yaml() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    instance = yaml.safe_load(INSTANCE.read_text())

    monitoring = {_snake(k): v for k, v in values["dagsterDaemon"]["runMonitoring"].items()}
    assert monitoring == instance["run_monitoring"]

    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert {_snake(k): v for k, v in concurrency["pools"].items()} == instance["concurrency"]["pools"]
    runs = concurrency["runs"]
    assert runs["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]

    assert values["computeLogManager"]["type"] == instance["compute_logs"]["class"]
    blob = values["computeLogManager"]["config"]["azureBlobComputeLogManager"]
    assert blob["defaultAzureCredential"] == instance["compute_logs"]["config"]["default_azure_credential"]
    assert blob["prefix"] == instance["compute_logs"]["config"]["prefix"]

    assert values["runLauncher"]["type"] == instance["run_launcher"]["class"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["labels"] == instance["run_launcher"]["config"]["labels"]
    assert [s["name"] for s in launcher["envSecrets"]] == [
        s for s in instance["run_launcher"]["config"]["env_secrets"] if s != "dagster-postgresql-secret"
    ]
    assert values["telemetry"]["enabled"] is instance["telemetry"]["enabled"] is False
    for kind in ("schedule", "sensor"):
        assert values["retention"][kind]["purgeAfterDays"] == instance["retention"][kind]["purge_after_days"]
    assert values["postgresql"]["enabled"] is False
    assert (
        values["postgresql"]["postgresqlParams"] == instance["storage"]["postgres"]["postgres_db"]["params"]
    )


def test_helm_user_deployment_runs_the_code_location_with_workload_identity() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["codeServerArgs"] == ["-m", "feature_assets.definitions"]
    assert deployment["port"] == 4000
    assert "EXPOSE 4000" in (DEPLOY / "docker" / "Dockerfile.code-location").read_text()
    assert deployment["labels"]["azure.workload.identity/use"] == "true"
    annotations = values["serviceAccount"]["annotations"]
    assert "azure.workload.identity/client-id" in annotations
    assert values["global"]["serviceAccountName"] == values["serviceAccount"]["name"]
    assert (
        values["global"]["serviceAccountName"]
        == yaml.safe_load(INSTANCE.read_text())["run_launcher"]["config"]["service_account_name"]
    )


def test_the_deployment_guide_uses_every_file_in_deploy() -> None:
    text = DOCS.read_text()
    files = [p.relative_to(REPO).as_posix() for p in DEPLOY.rglob("*") if p.is_file()]
    assert files
    missing = [f for f in files if f not in text]
    assert not missing, f"docs/deploy-azure.md never mentions {missing}"
