"""Asset checks on every snapshot partition. The blocking ones stop a run before anything
downstream (online sync, training sets) reads a poisoned day."""

from collections.abc import Callable, Iterator
from datetime import date

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from feature_assets.lib.check_results import partition_results
from feature_assets.partitions import daily_partitions, partition_days
from feature_store.declarations import WindowedTable
from feature_store.offline import quality
from feature_store.offline.feature_tables import previous_day_rows
from resources import DeltaLakeResource, SparkResource


class RowCountConfig(dg.Config):
    max_day_over_day_ratio: float = 3.0


def daily_outcomes(
    df: DataFrame, day_list: list[date], rule: Callable[[DataFrame], quality.Outcome]
) -> dict[date, quality.Outcome]:
    """The rule's outcome for each day, for rules that count offending rows (a range passes only when
    each of its days does). One pass over the range decides: when it passes, every day passes with the
    same zero counts; only a failing range is evaluated again day by day, so each day's result names its
    own offending rows."""
    overall = rule(df)
    if overall.passed or len(day_list) == 1:
        return dict.fromkeys(day_list, overall)
    return {day: rule(df.where(F.col("date") == F.lit(day))) for day in day_list}


def build_snapshot_checks(spec: WindowedTable, key: dg.AssetKey) -> list[dg.AssetChecksDefinition]:
    never_negative = spec.non_negative_features()

    def snapshot_check(
        name: str, description: str, blocking: bool, rule: Callable[[DataFrame], quality.Outcome]
    ) -> dg.AssetChecksDefinition:
        @dg.asset_check(
            asset=key, name=name, description=description, blocking=blocking, partitions_def=daily_partitions
        )
        def check(
            context: dg.AssetCheckExecutionContext, spark: SparkResource, delta: DeltaLakeResource
        ) -> Iterator:
            day_list = partition_days(context)
            df = delta.tables(spark.get_session()).read_days(spec.name, day_list[0], day_list[-1])
            severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN
            yield from partition_results(context, daily_outcomes(df, day_list, rule), severity)

        return check

    @dg.asset_check(
        asset=key,
        name="row_count_in_range",
        description="Every day has rows, within a configurable ratio of the day before.",
        blocking=True,
        partitions_def=daily_partitions,
    )
    def row_count_in_range(
        context: dg.AssetCheckExecutionContext,
        config: RowCountConfig,
        spark: SparkResource,
        delta: DeltaLakeResource,
    ) -> Iterator:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        counts = tables.rows_per_day(spec.name, day_list[0], day_list[-1])
        before = previous_day_rows(tables, spec.name, day_list[0])
        outcomes = {}
        for day in day_list:  # each day against the last day before it that had rows, as over a range
            n = counts[day.isoformat()]
            outcomes[day] = quality.row_count_in_range(
                {day.isoformat(): n}, before, config.max_day_over_day_ratio
            )
            before = n or before
        yield from partition_results(context, outcomes, dg.AssetCheckSeverity.ERROR)

    checks = [
        snapshot_check(
            "keys_not_null_and_unique",
            f"Each {'/'.join(spec.keys)} appears once per day and is never null.",
            True,
            lambda df: quality.keys_not_null_and_unique(df, spec.keys),
        ),
        snapshot_check(
            "feature_ts_is_partition_end",
            f"{spec.timestamp_key} equals the end of the snapshot day (D+1 00:00 UTC), so nothing leaks.",
            True,
            lambda df: quality.feature_ts_is_day_end(df, spec.timestamp_key, spec.keys),
        ),
        row_count_in_range,
    ]
    if never_negative:  # a transform table promises nothing about its values' signs
        checks.insert(1, snapshot_check(
            "counts_and_sums_non_negative",
            "Features that cannot be negative (counts, spreads, aggregates of non-negative columns) are >= 0.",
            True,
            lambda df: quality.non_negative(df, never_negative, spec.keys),
        ))  # fmt: skip
    return checks
