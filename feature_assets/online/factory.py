"""One feature table -> its online-sync asset and the check that online equals offline."""

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from feature_assets.features.factory import snapshots_key
from feature_assets.lib.check_results import partition_results
from feature_assets.lib.policies import DAILY_FRESHNESS, SPARK_POOL
from feature_assets.partitions import daily_partitions, partition_days
from feature_store.declarations import WindowedTable
from feature_store.online.sync import check_online_matches_offline, publish_rows
from resources import DeltaLakeResource, OnlineStoreResource, SparkResource

ONLINE_GROUP = "online"


class ConsistencyConfig(dg.Config):
    sample_size: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class OnlineTableDefs:
    asset: dg.AssetsDefinition
    checks: list[dg.AssetChecksDefinition]


def online_key(spec: WindowedTable) -> dg.AssetKey:
    return dg.AssetKey(f"{spec.short_name}_online")


def build_online_table(
    spec: WindowedTable, store_kind: str, condition: dg.AutomationCondition | None = None
) -> OnlineTableDefs:
    @dg.asset(
        pool=SPARK_POOL,
        key=online_key(spec),
        deps=[snapshots_key(spec)],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=condition,
        freshness_policy=DAILY_FRESHNESS,
        group_name=ONLINE_GROUP,
        kinds={"spark", store_kind},
        description=(
            f"The latest {spec.short_name} row per {'/'.join(spec.keys)} in the online store. Publishing a day "
            "writes only rows newer than the stored ones, so backfills never overwrite fresher values."
        ),
        metadata={"online_table": spec.name, "primary_keys": dg.MetadataValue.json(list(spec.keys))},
        code_version="1",
        owners=list(spec.owners),
        tags={**spec.tags, "layer": "online"},
    )
    def online(
        context: dg.AssetExecutionContext,
        spark: SparkResource,
        delta: DeltaLakeResource,
        online_store: OnlineStoreResource,
    ) -> dg.MaterializeResult:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        result = publish_rows(
            tables, spec.name, spec.keys, spec.timestamp_key, online_store.spec(), (day_list[0], day_list[-1])
        )
        context.log.info(
            f"{spec.name} {day_list[0]}..{day_list[-1]} -> {result.store}: {result.written} written, "
            f"{result.skipped_older} kept newer stored rows, {result.rows_per_second:,.0f} rows/s"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "rows_written": result.written,
                "rows_skipped_as_older": result.skipped_older,
                "duration_seconds": round(result.seconds, 2),
                "rows_per_second": round(result.rows_per_second),
                "online_store": result.store,
                "spark_tasks": result.tasks,
            }
        )

    @dg.asset_check(
        asset=online_key(spec),
        name="online_matches_offline",
        description=(
            "For a random sample of the day's keys, the online row exists, is at least as new as the day, "
            "and equals the offline snapshot row with the same feature_ts, feature by feature."
        ),
        blocking=False,
        partitions_def=daily_partitions,
    )
    def online_matches_offline(
        context: dg.AssetCheckExecutionContext,
        config: ConsistencyConfig,
        spark: SparkResource,
        delta: DeltaLakeResource,
        online_store: OnlineStoreResource,
    ) -> Iterator:
        day = partition_days(context)[-1]  # a range run published each key's newest row: check the last day
        with online_store.open() as store:
            outcome = check_online_matches_offline(
                delta.tables(spark.get_session()),
                store,
                spec.name,
                spec.keys,
                spec.timestamp_key,
                day,
                config.sample_size,
                config.seed,
            )
        # Recorded for the day it checked; earlier days of a range stay unchecked (the store only holds
        # each key's newest row), which Dagster shows as skipped.
        yield from partition_results(context, {day: outcome}, dg.AssetCheckSeverity.ERROR)

    return OnlineTableDefs(online, [online_matches_offline])
