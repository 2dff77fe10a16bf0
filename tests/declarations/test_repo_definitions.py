"""The code location generates its assets, checks and sensors from the repo FEATURE_STORE_REPO names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feature_store.declarations import DeclarationError, load_repo

ROOT = Path(__file__).resolve().parents[2]
LIST_DEFINITIONS = """
import json
import feature_assets.definitions as d
print(json.dumps({
    "assets": sorted(k.to_user_string() for a in d.all_assets for k in a.keys),
    "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for c in d.all_checks for k in c.check_keys),
    "sensors": sorted(s.name for s in d.defs.sensors),
}))
"""


def definitions_of(repo_module: str) -> dict:
    env = {**os.environ, "FEATURE_STORE_REPO": repo_module}
    done = subprocess.run([sys.executable, "-c", LIST_DEFINITIONS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_repo_gets_its_own_assets_checks_and_sensors():
    defs = definitions_of("tests.repos.stores")
    for key in ("raw_orders", "store_order_daily_tiles", "store_order_features", "store_order_features_online",
                "store_order_features_drift"):  # fmt: skip
        assert key in defs["assets"], defs["assets"]
    assert not any(
        "customer" in a or "transactions" in a for a in defs["assets"] if not a.startswith("churn")
    )
    assert "store_order_features:keys_not_null_and_unique" in defs["checks"]
    assert "orders_landing_sensor" in defs["sensors"]


def test_an_unknown_repo_module_is_a_clear_error():
    with pytest.raises(DeclarationError, match=r"repo module 'no.such.repo'.import: cannot import it"):
        load_repo("no.such.repo")
    with pytest.raises(
        DeclarationError, match=r"repo module 'json'.repo: has no module-level `repo = Repo\(...\)`"
    ):
        load_repo("json")
