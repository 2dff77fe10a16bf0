"""Asset checks on every snapshot partition. The blocking ones stop a run before anything
downstream (online sync, training sets) reads a poisoned day."""

from collections.abc import Callable

import dagster as dg
from pyspark.sql import DataFrame

from feature_assets.partitions import daily_partitions, partition_days
from feature_store import quality
from feature_store.feature_tables import previous_day_rows
from feature_store.specs import WindowedFeatureTable
from resources import DeltaLakeResource, SparkResource


class RowCountConfig(dg.Config):
    max_day_over_day_ratio: float = 3.0


def outcome_result(
    outcome: quality.Outcome, severity: dg.AssetCheckSeverity, check_name: str | None = None
) -> dg.AssetCheckResult:
    metadata = {
        key: value if isinstance(value, int | float | str) else dg.MetadataValue.json(value)
        for key, value in outcome.details.items()
        if value is not None
    }
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.summary,
        metadata=metadata,
    )


def build_snapshot_checks(spec: WindowedFeatureTable, key: dg.AssetKey) -> list[dg.AssetChecksDefinition]:
    counts_and_sums = [
        spec.window_feature(agg, n)
        for n in spec.windows
        for agg in ("count", "sum")
        if agg in spec.feature_names
    ]

    def snapshot_check(
        name: str, description: str, blocking: bool, rule: Callable[[DataFrame], quality.Outcome]
    ) -> dg.AssetChecksDefinition:
        @dg.asset_check(
            asset=key, name=name, description=description, blocking=blocking, partitions_def=daily_partitions
        )
        def check(
            context: dg.AssetCheckExecutionContext, spark: SparkResource, delta: DeltaLakeResource
        ) -> dg.AssetCheckResult:
            day_list = partition_days(context)
            df = delta.tables(spark.get_session()).read_days(spec.name, day_list[0], day_list[-1])
            severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN
            return outcome_result(rule(df), severity)

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
    ) -> dg.AssetCheckResult:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        counts = quality.rows_per_day(tables.read_days(spec.name, day_list[0], day_list[-1]), day_list)
        previous = previous_day_rows(tables, spec.name, day_list[0])
        outcome = quality.row_count_in_range(counts, previous, config.max_day_over_day_ratio)
        return outcome_result(outcome, dg.AssetCheckSeverity.ERROR)

    return [
        snapshot_check(
            "keys_not_null_and_unique",
            f"Each {'/'.join(spec.keys)} appears once per day and is never null.",
            True,
            lambda df: quality.keys_not_null_and_unique(df, spec.keys),
        ),
        snapshot_check(
            "counts_and_sums_non_negative",
            "Window counts and sums are >= 0.",
            True,
            lambda df: quality.non_negative(df, counts_and_sums, spec.keys),
        ),
        snapshot_check(
            "feature_ts_is_partition_end",
            f"{spec.timestamp_key} equals the end of the snapshot day (D+1 00:00 UTC), so nothing leaks.",
            True,
            lambda df: quality.feature_ts_is_day_end(df, spec.timestamp_key, spec.keys),
        ),
        row_count_in_range,
    ]
