"""The feature assets through Dagster: single partitions, range backfills, re-runs, checks."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import functions as F

from feature_assets.definitions import all_assets, all_checks
from feature_assets.jobs import all_checks_job
from feature_store.offline.delta_tables import DeltaTables
from tests.landing_files import land_three_days
from tests.local_resources import resources_for

CHAIN = dg.AssetSelection.assets("raw_transactions", "customer_daily_tiles", "customer_features")
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
RANGE_TAGS = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}


def snapshot_rows(spark, home: Path) -> list:
    return sorted(DeltaTables(spark, str(home / "delta")).read("feature_store.customer_features").collect())


@pytest.mark.slow
def test_range_backfill_equals_one_by_one_and_reruns_are_identical(spark, tmp_path, monkeypatch):
    by_range, by_day = tmp_path / "range", tmp_path / "days"
    land_three_days(by_range)
    land_three_days(by_day)
    monkeypatch.setenv("FEATURE_STORE_RANGE_CHUNK_DAYS", "2")  # the range runs as chunks 01..02 and 03
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*all_assets, *all_checks],
        selection=CHAIN,
        resources=resources_for(by_range),
        tags=RANGE_TAGS,
        instance=instance,
    )
    assert result.success
    materialized = result.asset_materializations_for_node("customer_features")
    assert sorted(m.partition for m in materialized) == DAYS  # one run recorded every day of the range
    progress = [e.user_message for e in instance.all_logs(result.run_id) if " days (" in e.user_message]
    for table in (
        "raw.transactions",
        "feature_store.customer_daily_tiles",
        "feature_store.customer_features",
    ):
        lines = [line for line in progress if line.startswith(f"{table}: ")]
        assert [line.split(", ")[0] for line in lines] == [
            f"{table}: 2/3 days (67%)",
            f"{table}: 3/3 days (100%)",
        ]
        assert " rows/s, ETA " in lines[0] and "done in " in lines[1]
    monkeypatch.delenv("FEATURE_STORE_RANGE_CHUNK_DAYS")
    for day in DAYS:
        assert dg.materialize(
            [*all_assets], selection=CHAIN, resources=resources_for(by_day), partition_key=day
        ).success
    range_rows = snapshot_rows(spark, by_range)
    assert range_rows == snapshot_rows(spark, by_day)
    assert len(range_rows) > 0

    again = dg.materialize(
        [*all_assets], selection=CHAIN, resources=resources_for(by_range), partition_key=DAYS[1]
    )
    assert again.success
    assert snapshot_rows(spark, by_range) == range_rows


def run_checks(home: Path, day: str) -> dict[str, dg.AssetCheckEvaluation]:
    defs = dg.Definitions(
        assets=all_assets, asset_checks=all_checks, jobs=[all_checks_job], resources=resources_for(home)
    )
    result = defs.resolve_job_def("all_checks_job").execute_in_process(
        tags={"dagster/partition": day}, raise_on_error=False
    )
    return {f"{e.asset_key.to_user_string()}.{e.check_name}": e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def materialized_day(spark, tmp_path) -> Path:
    land_three_days(tmp_path)
    assert dg.materialize(
        [*all_assets], selection=CHAIN, resources=resources_for(tmp_path), partition_key=DAYS[0]
    ).success
    return tmp_path


def test_checks_pass_on_good_data_and_fail_on_crafted_bad_rows(spark, materialized_day):
    checks = run_checks(materialized_day, DAYS[0])
    for name in [
        "keys_not_null_and_unique",
        "counts_and_sums_non_negative",
        "feature_ts_is_partition_end",
        "row_count_in_range",
    ]:
        assert checks[f"customer_features.{name}"].passed, checks[f"customer_features.{name}"].description

    tables = DeltaTables(spark, str(materialized_day / "delta"))
    good = tables.read("feature_store.customer_features")
    first = good.orderBy("customer_id").limit(1)
    bad = (
        good.unionByName(first)  # a duplicated key
        .unionByName(first.withColumn("customer_id", F.lit(None).cast("string")))
        .unionByName(
            first.withColumn("customer_id", F.lit("NEG")).withColumn("txn_count_7d", F.lit(-1).cast("bigint"))
        )
        .unionByName(
            first.withColumn("customer_id", F.lit("LATE")).withColumn(
                "feature_ts", F.col("feature_ts") + F.expr("INTERVAL 1 HOUR")
            )
        )
    )
    tables.replace_days(
        "feature_store.customer_features", bad.localCheckpoint(), date(2025, 1, 1), date(2025, 1, 1)
    )

    checks = run_checks(materialized_day, DAYS[0])
    keys = checks["customer_features.keys_not_null_and_unique"]
    assert not keys.passed and keys.severity == dg.AssetCheckSeverity.ERROR
    assert keys.metadata["null_key_rows"].value == 1 and keys.metadata["duplicated_keys"].value == 1
    negative = checks["customer_features.counts_and_sums_non_negative"]
    assert not negative.passed and negative.metadata["sample"].value[0]["customer_id"] == "NEG"
    late = checks["customer_features.feature_ts_is_partition_end"]
    assert not late.passed and late.metadata["sample"].value[0]["customer_id"] == "LATE"


def test_row_count_check_fails_on_an_empty_day_and_a_jump(spark, materialized_day):
    tables = DeltaTables(spark, str(materialized_day / "delta"))
    day1 = tables.read("feature_store.customer_features").localCheckpoint()
    # Day 2 with 10x the rows of day 1: same keys, suffixed, re-dated.
    day2 = None
    for i in range(10):
        copy = (
            day1.withColumn("customer_id", F.concat("customer_id", F.lit(f"-{i}")))
            .withColumn("date", F.lit(date(2025, 1, 2)))
            .withColumn("feature_ts", F.lit("2025-01-03").cast("timestamp"))
        )
        day2 = copy if day2 is None else day2.unionByName(copy)
    tables.replace_days("feature_store.customer_features", day2, date(2025, 1, 2), date(2025, 1, 2))
    jump = run_checks(materialized_day, DAYS[1])["customer_features.row_count_in_range"]
    assert not jump.passed and "more than 3.0x apart" in jump.description
    empty = run_checks(materialized_day, DAYS[2])["customer_features.row_count_in_range"]
    assert not empty.passed and "2025-01-03: no rows" in empty.description


def test_failing_blocking_check_fails_the_run(spark, materialized_day):
    """Poisoned tiles (a negative sum) make customer_features fail a blocking check: the run fails,
    so nothing selected after it would read the day."""
    tables = DeltaTables(spark, str(materialized_day / "delta"))
    tiles = tables.read("feature_store.customer_daily_tiles").localCheckpoint()
    tables.replace_days(
        "feature_store.customer_daily_tiles",
        tiles.withColumn("t__sum__amount", -F.col("t__sum__amount") - 1),
        date(2025, 1, 1),
        date(2025, 1, 1),
    )
    selection = dg.AssetSelection.assets("customer_features") | dg.AssetSelection.checks_for_assets(
        "customer_features"
    )
    result = dg.materialize(
        [*all_assets, *all_checks],
        resources=resources_for(materialized_day),
        partition_key=DAYS[0],
        selection=selection,
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["counts_and_sums_non_negative"].passed
    assert not result.success


@pytest.mark.slow
def test_partition_range_backfill_from_the_dagster_cli(spark, tmp_path):
    """What the README tells users to run, in a fresh process on the local profile."""
    import os
    import subprocess
    import sys

    land_three_days(tmp_path)
    (tmp_path / "dagster").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "FEATURE_STORE_HOME": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "FEATURE_STORE_SPARK_MASTER": "local[1]",
        "FEATURE_STORE_RANGE_CHUNK_DAYS": "2",
    }
    dagster = Path(sys.executable).parent / "dagster"
    completed = subprocess.run(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "feature_assets.definitions",
            "--select",
            "raw_transactions,customer_daily_tiles,customer_features",
            "--partition-range",
            f"{DAYS[0]}...{DAYS[-1]}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    # The console shows each chunk's progress as the range runs.
    assert "feature_store.customer_features: 2/3 days (67%)" in completed.stderr
    assert "feature_store.customer_features: 3/3 days (100%)" in completed.stderr
    rows = DeltaTables(spark, str(tmp_path / "delta")).read("feature_store.customer_features")
    assert sorted(r["date"].isoformat() for r in rows.select("date").distinct().collect()) == DAYS


def test_raw_check_warns_with_the_rejected_rows(spark, tmp_path):
    from tests.landing_files import txn, write_landing

    landing = tmp_path / "landing"
    write_landing(
        landing,
        "transactions",
        DAYS[0],
        [txn("t1", "c1", "p1", 1.0, "2025-01-01 10:00"), txn("t2", None, "p1", 1.0, "2025-01-01 11:00")],
    )
    result = dg.materialize(
        [*all_assets, *all_checks],
        resources=resources_for(tmp_path),
        partition_key=DAYS[0],
        selection=dg.AssetSelection.assets("raw_transactions")
        | dg.AssetSelection.checks_for_assets("raw_transactions"),
    )
    [check] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "rejected_rows_within_limit"
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["rejection_reasons"].value == {"null customer_id": 1}
    assert '"transaction_id":"t2"' in check.metadata["sample_rejected_rows"].value[0]["raw_record"]
