"""`featurestore init DIR`: the scaffolded repo loads as a Dagster code location from its own
pyproject.toml, and its own tests pass (they materialize its whole generated graph)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from feature_store.cli.main import main
from feature_store.cli.scaffold import ScaffoldError, package_name, scaffold

BIN = Path(sys.executable).parent


def user_env(home: Path) -> dict[str, str]:
    """A user's shell: no FEATURE_STORE_* settings of the test run, a data dir of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURE_STORE_")}
    return {
        **env,
        "FEATURE_STORE_HOME": str(home),
        "FEATURE_STORE_IVY_DIR": os.environ.get("FEATURE_STORE_IVY_DIR", ""),
    }


def test_package_names_and_refusals(tmp_path: Path) -> None:
    assert package_name(Path("My-Features")) == "my_features"
    with pytest.raises(ScaffoldError, match="does not make a Python package name"):
        package_name(Path("2fast"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="is not empty"):
        scaffold(tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"  # nothing overwritten
    assert main(["init", str(tmp_path / "taken")]) == 1


@pytest.mark.slow
def test_the_scaffold_loads_in_dagster_and_passes_its_own_tests(tmp_path: Path) -> None:
    target = tmp_path / "team-features"
    assert main(["init", str(target)]) == 0
    env = user_env(tmp_path / "home")

    # `dagster dev` finds the code location through [tool.dagster] in the scaffold's pyproject.toml
    validated = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate"],
        cwd=target, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert validated.returncode == 0, validated.stderr[-3000:]
    assert "Validation successful for code location team_features" in validated.stdout + validated.stderr
    # ... and the definitions generate the assets of the repo named by [tool.featurestore]
    listed = subprocess.run(
        [str(BIN / "dagster"), "asset", "list", "-m", "feature_assets.definitions"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assets = set(listed.stdout.split())
    assert {"raw_page_views", "user_activity_daily_tiles", "user_activity", "user_engagement",
            "user_activity_online", "user_engagement_drift"} <= assets  # fmt: skip
    assert "customer_features" not in assets and "churn_model" not in assets  # the user's repo, not churn

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert "2 passed" in tests.stdout
