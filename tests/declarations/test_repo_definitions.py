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


@pytest.mark.slow
def test_second_repo_graph_materializes(tmp_path):
    """Raw, tiles, windowed snapshots, the transform built on them and both online syncs, generated from
    tests/repos/stores.py and materialized over two days in one range run."""
    out = tmp_path / "observed.json"
    env = {**os.environ, "FEATURE_STORE_REPO": "tests.repos.stores", "FEATURE_STORE_START_DATE": "2025-01-01"}
    done = subprocess.run([sys.executable, "-m", "tests.repos.materialize_stores", str(tmp_path / "home"), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    observed = json.loads(out.read_text())
    assert observed["success"]
    failed = [k for k, passed in observed["checks"].items() if not passed and "freshness" not in k]
    assert not failed, failed
    columns = observed["columns"]
    assert columns[:4] == ["store_id", "region", "feature_ts", "date"]
    by_key = {(r[0], r[1], r[3]): dict(zip(columns, r, strict=True)) for r in observed["features"]}
    day2 = by_key[("1", "eu", "2025-01-02")]
    # Store 1/eu over 2025-01-01..02: orders 10 (web), 30, 20 (web); on the 2nd alone: 20 (web).
    assert (day2["orders_1d"], day2["orders_7d"], day2["revenue_7d"], day2["web_revenue_max_7d"]) == (
        "1",
        "3",
        "60.0",
        "20.0",
    )
    assert float(day2["revenue_sd_7d"]) == pytest.approx(10.0) and day2["channels_7d"] == "2"
    assert (
        by_key[("1", "us", "2025-01-02")]["orders_7d"] == "1"
    )  # a composite key: another region, another row
    shares = {(r[0], r[1], r[3]): r[4] for r in observed["shares"]}
    assert float(shares[("1", "eu", "2025-01-02")]) == pytest.approx(20.0 / 60.0)
    assert shares[("1", "us", "2025-01-02")] == "None"  # no web order: max is null
    assert float(observed["online"][0]["web_peak_share_7d"]) == pytest.approx(20.0 / 60.0)
