"""The variable registry is the one reference of configuration: every variable the code names is declared,
docs/configuration.md is generated from it, the azure profile names what is missing, and `featurestore
config` / `featurestore doctor` never print a secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feature_store.cli.config import reference_markdown
from feature_store.cli.main import main
from feature_store.runtime import variables as V
from feature_store.runtime.redaction import redact_text, redact_uri
from feature_store.runtime.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[3]
# Names that look like ours but are not variables this project reads.
# Not after a dot: `V.AZURE_CLIENT_ID` is the declaration's Python name.
VARIABLE = re.compile(r"(?<![\w.])(FEATURE_STORE_[A-Z0-9_]*[A-Z0-9]|AZURE_[A-Z0-9_]*[A-Z0-9]|MLFLOW_TRACKING_URI|SPARK_REMOTE)\b")
NOT_VARIABLES = {
    "FEATURE_STORE_SERVICES_DIR",  # tests/ and .ci/run only: where the dev servers live
}


def _code_files() -> list[Path]:
    roots = ["feature_store", "feature_assets", "examples", "resources", "scripts", "deploy"]
    files = [p for root in roots for p in (REPO / root).rglob("*") if p.is_file()]
    declarations = REPO / "feature_store" / "runtime" / "variables.py"  # its Python names are not variable names
    return [
        p for p in files
        if p.suffix in (".py", ".yaml", ".yml", ".sh", "") and "__pycache__" not in p.parts and p != declarations
    ]  # fmt: skip


def test_every_variable_named_in_the_code_is_declared() -> None:
    named: dict[str, set[str]] = {}
    for path in _code_files():
        for match in VARIABLE.finditer(path.read_text(errors="replace")):
            named.setdefault(match.group(1), set()).add(str(path.relative_to(REPO)))
    undeclared = {n: sorted(p) for n, p in named.items() if n not in V.REGISTRY and n not in NOT_VARIABLES}
    assert not undeclared, f"declare these in feature_store/runtime/variables.py: {undeclared}"


def test_the_committed_reference_is_the_generated_one() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == reference_markdown(), (
        "docs/configuration.md is stale: run `featurestore config --reference > docs/configuration.md`"
    )


def test_every_secret_is_marked_and_every_variable_described() -> None:
    for v in V.REGISTRY.values():
        assert v.description, v.name
        if v.name.endswith(("PASSWORD", "SECRET", "_KEY", "TOKEN", "TOKENS", "_SAS", "CONNECTION_STRING")):
            assert v.secret, f"{v.name} looks like a secret but is not marked secret=True"


def test_azure_profile_names_every_missing_variable_and_never_falls_back() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"FEATURE_STORE_PROFILE": "azure", "FEATURE_STORE_HOME": "/tmp/x"})
    message = str(err.value)
    for name in ("FEATURE_STORE_DELTA_ROOT", "MLFLOW_TRACKING_URI", "FEATURE_STORE_GOVERNANCE_URI",
                 "FEATURE_STORE_SPARK_MASTER or SPARK_REMOTE", "AZURE_BLOB_ACCOUNT_URL",
                 "FEATURE_STORE_REPORTS_ROOT"):  # fmt: skip
        assert name in message
    env = {
        "FEATURE_STORE_PROFILE": "azure",
        "FEATURE_STORE_DELTA_ROOT": "abfss://delta@acct.dfs.core.windows.net/delta/",
        "MLFLOW_TRACKING_URI": "postgresql://mlflow:pw@db/mlflow",
        "FEATURE_STORE_GOVERNANCE_URI": "postgresql+psycopg://fs:pw@db/fs",
        "AZURE_BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net",
        "FEATURE_STORE_SPARK_MASTER": "spark://spark:7077",
        "FEATURE_STORE_MLFLOW_ARTIFACT_ROOT": "wasbs://mlflow@acct.blob.core.windows.net/artifacts",
        "FEATURE_STORE_REPORTS_ROOT": "https://acct.blob.core.windows.net/reports",
    }
    settings = Settings.from_env(env)
    assert settings.delta_root == "abfss://delta@acct.dfs.core.windows.net/delta"
    assert settings.spark_master == "spark://spark:7077"
    assert settings.mlflow_tracking_uri == env["MLFLOW_TRACKING_URI"]
    assert settings.governance_db_uri == env["FEATURE_STORE_GOVERNANCE_URI"]
    assert settings.online_store == "redis"
    assert settings.mlflow_artifact_root == env["FEATURE_STORE_MLFLOW_ARTIFACT_ROOT"]
    assert settings.reports_root == env["FEATURE_STORE_REPORTS_ROOT"]
    del env["FEATURE_STORE_MLFLOW_ARTIFACT_ROOT"]
    with pytest.raises(SettingsError, match="FEATURE_STORE_MLFLOW_ARTIFACT_ROOT: MLFLOW_TRACKING_URI is a database"):
        Settings.from_env(env)
    assert "pw" not in repr(settings)


def test_local_profile_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"FEATURE_STORE_HOME": str(tmp_path)})
    assert settings.delta_root == str(tmp_path / "delta")
    assert settings.landing_root == str(tmp_path / "landing")
    assert settings.spark_master == "local[*]"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert settings.governance_db_uri == f"sqlite:///{tmp_path / 'governance' / 'governance.db'}"


def test_malformed_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="FEATURE_STORE_REDIS_PORT='sixty' is not an integer"):
        V.REDIS_PORT.integer({"FEATURE_STORE_REDIS_PORT": "sixty"})
    with pytest.raises(SettingsError, match="FEATURE_STORE_REDIS_SSL='maybe' is not a boolean"):
        V.REDIS_SSL.flag({"FEATURE_STORE_REDIS_SSL": "maybe"})


def test_redaction() -> None:
    assert redact_uri("postgresql+psycopg://fs:s3cr%40t@db:5432/fs") == "postgresql+psycopg://fs:***@db:5432/fs"
    assert redact_uri("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    env = {"FEATURE_STORE_REDIS_PASSWORD": "redis-password-123", "FEATURE_STORE_REDIS_HOST": "cache.example"}
    assert redact_text("auth failed for redis-password-123 at cache.example", env) == (
        "auth failed for *** at cache.example"
    )


def _plant_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    planted = {v.name: f"planted-secret-{i}-{v.name.lower()}" for i, v in enumerate(V.REGISTRY.values()) if v.secret}
    planted["FEATURE_STORE_GOVERNANCE_URI"] = "postgresql+psycopg://fs:planted-db-password@127.0.0.1:9/fs"
    monkeypatch.setenv("FEATURE_STORE_HOME", str(tmp_path))
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    return planted


def _assert_no_secret(text: str, planted: dict[str, str]) -> None:
    for name, value in planted.items():
        assert value not in text, f"{name} leaked"
    assert "planted-db-password" not in text


def test_config_prints_effective_values_with_secrets_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = _plant_secrets(monkeypatch, tmp_path)
    monkeypatch.setenv("FEATURE_STORE_REDIS_PORT", "6380")
    assert main(["config", "--all"]) == 0
    out = capsys.readouterr().out
    _assert_no_secret(out, planted)
    assert re.search(r"FEATURE_STORE_REDIS_PORT\s+6380\s+\(environment\)", out)
    assert re.search(rf"FEATURE_STORE_DELTA_ROOT\s+{re.escape(str(tmp_path))}/delta\s+\(default\)", out)
    assert re.search(r"FEATURE_STORE_REDIS_PASSWORD\s+\*\*\*\s+\(environment\)", out)
    for name in V.REGISTRY:
        assert name in out


def test_doctor_reports_an_unreachable_database_without_its_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = _plant_secrets(monkeypatch, tmp_path)
    assert main(["doctor", "--only", "grants database"]) == 1
    out = capsys.readouterr()
    _assert_no_secret(out.out + out.err, planted)
    assert re.match(r"FAIL grants database +GovernanceUnavailable: .*127\.0\.0\.1:9", out.out), out.out


def test_doctor_reports_an_unreachable_tracking_database_without_mlflows_retries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MLflow's store sleeps ~100 s between retries of a refused connection; the doctor asks once."""
    import mlflow.store.db.utils

    def no_retry(seconds: float) -> None:
        raise AssertionError(f"the doctor waited on MLflow's retry loop ({seconds:.1f} s)")

    planted = _plant_secrets(monkeypatch, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql+psycopg://fs:planted-db-password@127.0.0.1:9/mlflow")
    monkeypatch.setattr(mlflow.store.db.utils.time, "sleep", no_retry)
    assert main(["doctor", "--only", "mlflow"]) == 1
    out = capsys.readouterr()
    _assert_no_secret(out.out + out.err, planted)
    assert re.match(r'FAIL mlflow +OperationalError: .*"127\.0\.0\.1", port 9 failed', out.out), out.out


@pytest.mark.slow
def test_doctor_passes_on_a_fresh_local_deployment(
    spark, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEATURE_STORE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("FEATURE_STORE_GOVERNANCE_URI", raising=False)
    (tmp_path / "dagster").mkdir(exist_ok=True)
    assert main(["doctor"]) == 0, capsys.readouterr()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * len(lines)
    assert len(lines) >= 7
