"""The online-sync assets through Dagster on the embedded store: a range publish, a backfill of an older
day that keeps newer values, and the consistency check passing, then failing on a tampered value."""

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from feature_assets.definitions import all_assets, all_checks
from feature_assets.jobs import all_checks_job
from feature_store.offline.delta_tables import DeltaTables
from feature_store.online.specs import SqliteStoreSpec
from tests.landing_files import land_three_days

pytestmark = pytest.mark.slow

CHAIN = dg.AssetSelection.assets(
    "raw_transactions", "customer_daily_tiles", "customer_features", "customer_features_online"
)
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
TABLE = "feature_store.customer_features"


def online_events(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        m.partition: m.metadata for m in result.asset_materializations_for_node("customer_features_online")
    }


def consistency(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "online_matches_offline"
    ]
    return evaluation


def test_online_sync_range_backfill_and_consistency_check(spark, home, resources):
    land_three_days(home)
    ranged = dg.materialize(
        [*all_assets, *all_checks],
        selection=CHAIN,
        resources=resources,
        tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]},
    )
    assert ranged.success
    metadata = online_events(ranged)
    assert sorted(metadata) == DAYS
    tables = DeltaTables(spark, str(home / "delta"))
    snapshots = tables.read(TABLE)
    keys = snapshots.select("customer_id").distinct().count()
    published = metadata[DAYS[-1]]
    assert published["rows_written"].value == keys  # each key once: its latest day in the range
    assert published["rows_skipped_as_older"].value == 0
    assert published["online_store"].value.startswith("sqlite ")
    check = consistency(ranged)
    assert check.passed, check.description
    assert check.partition == DAYS[-1]  # recorded for the day it checked, not without a partition

    store = SqliteStoreSpec(str(home / "online.db")).open()
    day3 = {
        r["customer_id"]: r for r in tables.read_days(TABLE, date(2025, 1, 3), date(2025, 1, 3)).collect()
    }
    first = dg.materialize(
        [*all_assets], selection=["customer_features_online"], resources=resources, partition_key=DAYS[0]
    )
    older = online_events(first)[DAYS[0]]
    # Every key of day 1 is also in day 3 (windows keep it), so the backfill lands nothing.
    assert older["rows_written"].value == 0 and older["rows_skipped_as_older"].value > 0
    online = store.read_table(TABLE, list(day3)).rows
    assert all(r["feature_ts"] == datetime(2025, 1, 4, tzinfo=UTC) for r in online)

    victim = sorted(day3)[0]
    tampered = {**day3[victim].asDict(), "txn_count_7d": 999}
    tampered.pop("date")
    store.write_batch(TABLE, ["customer_id"], [tampered])  # same feature_ts: lands
    defs = dg.Definitions(
        assets=all_assets, asset_checks=all_checks, jobs=[all_checks_job], resources=resources
    )
    checked = defs.resolve_job_def("all_checks_job").execute_in_process(
        tags={"dagster/partition": DAYS[-1]}, raise_on_error=False
    )
    failed = consistency(checked)
    assert not failed.passed
    differences = failed.metadata["differences"].value
    assert {
        "key": [victim],
        "column": "txn_count_7d",
        "online": 999,
        "offline": day3[victim]["txn_count_7d"],
    } in differences
    store.close()
