"""Drift reports through Dagster on generated data with drift injected from a known day: the check
passes on a day before it and fails after it; the report and the scores are in the metadata."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from examples.churn.generate import generate
from examples.churn.repo import CUSTOMER_FEATURES
from feature_assets.definitions import all_assets, all_checks
from feature_store.monitoring.drift import numeric_features

pytestmark = pytest.mark.slow

# 110 days: the 90-day windows are full (and the population settled) before the reference window starts,
# so the only change between the reference and the days after DRIFT_FROM is the injected one.
FIRST, LAST = date(2025, 1, 1), date(2025, 4, 20)
DRIFT_FROM = date(2025, 4, 13)
REFERENCE = (date(2025, 3, 30), date(2025, 4, 11))
FEATURES = ["raw_transactions", "customer_daily_tiles", "customer_features"]


def drift_run(resources, day: date, report_dir: Path) -> dg.ExecuteInProcessResult:
    config = {"reference_first": str(REFERENCE[0]), "reference_last": str(REFERENCE[1]), "report_dir": str(report_dir),
              "sample_size": 4000, "seed": 3, "warn_share": 0.3, "error_share": 0.5}  # fmt: skip
    return dg.materialize(
        [*all_assets, *all_checks], selection=["customer_features_drift"], resources=resources,
        partition_key=str(day), run_config={"ops": {"customer_features_drift": {"config": config}}},
    )  # fmt: skip


def drift_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    """The drift check's evaluation (the asset's freshness check runs in the same run)."""
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "drift_within_limits"]
    return check


def test_drift_check_passes_before_the_injected_drift_and_fails_after(home, resources):
    generate(home / "landing", FIRST, LAST, customers=400, products=30, transactions_per_day=400, seed=11,
             drift_from=DRIFT_FROM)  # fmt: skip
    assert dg.materialize(
        [*all_assets, *all_checks], selection=FEATURES, resources=resources,
        tags={"dagster/asset_partition_range_start": str(FIRST), "dagster/asset_partition_range_end": str(LAST)},
    ).success  # fmt: skip

    before = drift_run(resources, DRIFT_FROM - timedelta(days=1), home / "reports")
    check = drift_check(before)
    assert check.passed, check.description

    after = drift_run(resources, LAST, home / "reports")
    check = drift_check(after)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR, check.description
    (event,) = after.asset_materializations_for_node("customer_features_drift")
    meta = event.metadata
    assert meta["drifted_share"].value > 0.5
    report = Path(meta["report"].value)
    assert report.exists() and report.stat().st_size > 10_000 and report.parent == home / "reports"
    scores = {k.removeprefix("drift_score/") for k in meta if k.startswith("drift_score/")}
    assert scores == set(numeric_features(CUSTOMER_FEATURES))
    assert meta["reference_window"].value.startswith(f"{REFERENCE[0]}..{REFERENCE[1]}")
    assert meta["sample_size"].value == 4000 and meta["seed"].value == 3
