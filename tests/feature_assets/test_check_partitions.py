"""A range run records each check's result per day (issue 15): before, one result without a partition
left every day's planned check SKIPPED, so a check's Partitions tab showed nothing but skips."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import functions as F

from examples.churn.repo import CUSTOMER_FEATURES
from feature_assets.definitions import all_assets, all_checks
from feature_store.offline.delta_tables import DeltaTables
from tests.feature_assets.test_feature_assets import CHAIN, DAYS, RANGE_TAGS, resources_for
from tests.landing_files import land_three_days

pytestmark = pytest.mark.slow
FEATURES = dg.AssetKey("customer_features")
BLOCKING = ["keys_not_null_and_unique", "counts_and_sums_non_negative", "feature_ts_is_partition_end",
            "row_count_in_range"]  # fmt: skip


def statuses(instance: dg.DagsterInstance, asset: dg.AssetKey, check: str) -> dict[str, str]:
    infos = instance.event_log_storage.get_asset_check_partition_info([dg.AssetCheckKey(asset, check)])
    return {info.partition_key: info.latest_execution_status.value for info in infos}


def latest_metadata(instance: dg.DagsterInstance, asset: dg.AssetKey, check: str, day: str) -> dict:
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(asset, check), limit=50
    )
    for record in history:
        evaluation = record.event.dagster_event.event_specific_data
        if evaluation.partition == day:
            return evaluation.metadata
    raise AssertionError(f"no evaluation of {check} for {day}")


def test_range_run_records_each_days_check_result(spark, tmp_path: Path):
    land_three_days(tmp_path)
    resources = resources_for(tmp_path)
    with dg.instance_for_test() as instance:
        # The asset selection includes the checks of the selected assets.
        result = dg.materialize([*all_assets, *all_checks], selection=CHAIN, resources=resources,
                                tags=RANGE_TAGS, instance=instance)  # fmt: skip
        assert result.success
        for check in BLOCKING:
            assert statuses(instance, FEATURES, check) == dict.fromkeys(DAYS, "SUCCEEDED"), check
        assert statuses(
            instance, dg.AssetKey("raw_transactions"), "rejected_rows_within_limit"
        ) == dict.fromkeys(DAYS, "SUCCEEDED")
        counts = latest_metadata(instance, FEATURES, "row_count_in_range", DAYS[1])["rows_by_day"].value
        assert list(counts) == [DAYS[1]]  # each day's own metadata

        # A negative sum on the second day only: the range's check fails for that day, passes the others.
        tables = DeltaTables(spark, str(tmp_path / "delta"))
        second = date.fromisoformat(DAYS[1])
        day2 = tables.read_days(CUSTOMER_FEATURES.name, second, second).cache()
        column = "total_spend_7d"
        poisoned = day2.withColumn(column, F.lit(-1).cast(day2.schema[column].dataType))
        tables.replace_days(CUSTOMER_FEATURES.name, poisoned, second, second)
        checks = dg.materialize([*all_assets, *all_checks],
                                selection=dg.AssetSelection.checks(dg.AssetCheckKey(FEATURES, BLOCKING[1])),
                                resources=resources, tags=RANGE_TAGS, instance=instance, raise_on_error=False)  # fmt: skip
        assert not checks.success  # a blocking check failed
        assert statuses(instance, FEATURES, BLOCKING[1]) == {
            DAYS[0]: "SUCCEEDED", DAYS[1]: "FAILED", DAYS[2]: "SUCCEEDED"
        }  # fmt: skip
        failed = latest_metadata(instance, FEATURES, BLOCKING[1], DAYS[1])
        assert failed["negative_rows"].value == day2.count() > 0
