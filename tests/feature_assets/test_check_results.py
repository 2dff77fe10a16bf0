"""partition_results on a toy asset (no Spark): a range run records one evaluation per day, with that
day's metadata, and Dagster's partition status of the check shows each day's pass or fail."""

from datetime import date

import dagster as dg

from feature_assets.lib.check_results import partition_results
from feature_assets.partitions import partition_days
from feature_store.offline.quality import Outcome

DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
PARTITIONS = dg.DailyPartitionsDefinition(start_date=DAYS[0], end_date="2025-01-05", timezone="UTC")


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def toy() -> None:
    return None


@dg.asset_check(asset=toy, partitions_def=PARTITIONS)
def second_day_fails(context: dg.AssetCheckExecutionContext):
    outcomes = {
        day: Outcome(day != date(2025, 1, 2), f"checked {day}", {"day": day.isoformat()})
        for day in partition_days(context)
    }
    yield from partition_results(context, outcomes, dg.AssetCheckSeverity.WARN)


def statuses(instance: dg.DagsterInstance) -> dict[str | None, str]:
    key = dg.AssetCheckKey(toy.key, "second_day_fails")
    return {i.partition_key: i.latest_execution_status.value
            for i in instance.event_log_storage.get_asset_check_partition_info([key])}  # fmt: skip


def test_a_range_run_records_each_days_result():
    with dg.instance_for_test() as instance:
        result = dg.materialize([toy, second_day_fails], instance=instance, tags={
            "dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]})  # fmt: skip
        assert result.success
        evaluations = {e.partition: e for e in result.get_asset_check_evaluations()}
        assert sorted(evaluations) == DAYS
        assert {d: e.passed for d, e in evaluations.items()} == {DAYS[0]: True, DAYS[1]: False, DAYS[2]: True}
        assert evaluations[DAYS[2]].metadata["day"].value == DAYS[2]
        assert evaluations[DAYS[0]].target_materialization_data is not None  # the day's materialization
        assert statuses(instance) == {DAYS[0]: "SUCCEEDED", DAYS[1]: "FAILED", DAYS[2]: "SUCCEEDED"}


def test_a_single_partition_run_records_an_ordinary_result():
    with dg.instance_for_test() as instance:
        result = dg.materialize([toy, second_day_fails], instance=instance, partition_key=DAYS[1])
        (evaluation,) = result.get_asset_check_evaluations()
        assert evaluation.partition == DAYS[1] and not evaluation.passed
        assert statuses(instance) == {DAYS[1]: "FAILED"}
