"""Raw sources: each day's landing files become validated rows in a raw Delta table."""

from collections import Counter

import dagster as dg

from feature_assets.lib.metadata import column_schema, table_metadata
from feature_assets.lib.policies import DAILY_FRESHNESS, LATE_PARTITIONS_TAG, SPARK_POOL
from feature_assets.partitions import daily_partitions, partition_days
from feature_assets.repo import LANDED_SOURCES
from feature_store.declarations import Source
from feature_store.offline.ingest import REJECTED_ROWS_TABLE, ingest_days
from feature_store.runtime.progress import run_in_chunks
from resources import DeltaLakeResource, LandingZoneResource, SparkResource

RAW_GROUP = "raw"


def raw_asset_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(f"raw_{source.name}")


def build_raw_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        pool=SPARK_POOL,
        key=raw_asset_key(source),
        partitions_def=daily_partitions,
        # A range backfill is one run that ingests a month at a time in one Spark session.
        backfill_policy=dg.BackfillPolicy.single_run(),
        freshness_policy=DAILY_FRESHNESS,
        group_name=RAW_GROUP,
        kinds={"spark", "delta"},
        description=source.description,
        metadata={**table_metadata(source.table), **column_schema(source.columns)},
        code_version="1",
        owners=["team:data-platform"],
        tags={"layer": "raw", **({LATE_PARTITIONS_TAG: "true"} if source.complete_after_days else {})},
    )
    def raw_asset(
        context: dg.AssetExecutionContext,
        spark: SparkResource,
        delta: DeltaLakeResource,
        landing: LandingZoneResource,
    ) -> dg.MaterializeResult:
        session = spark.get_session()
        tables = delta.tables(session)
        zone = landing.get_landing_zone()
        day_list = partition_days(context)
        chunks = run_in_chunks(
            source.table,
            day_list[0],
            day_list[-1],
            lambda first, last: ingest_days(
                session, tables, zone, source, first, last, log=context.log.warning
            ),
            lambda ingested: sum(r.accepted for r in ingested),
            context.log.info,
        )
        results = [r for chunk in chunks for r in chunk]
        for r in results:
            context.log.info(
                f"{source.name} {r.day}: {r.rows_in} rows in = {r.accepted} accepted + {r.rejected} rejected"
                f" ({len(r.quarantined_files)} files quarantined)"
            )
        rows_in = sum(r.rows_in for r in results)
        accepted = sum(r.accepted for r in results)
        rejected = sum(r.rejected for r in results)
        reasons = sum((Counter(r.rejection_reasons) for r in results), Counter())
        quarantined = [f for r in results for f in r.quarantined_files]
        return dg.MaterializeResult(
            metadata={
                "rows_in": rows_in,
                "rows_accepted": accepted,
                "rows_rejected": rejected,
                "rows_balanced": rows_in == accepted + rejected,
                "dagster/row_count": accepted,
                "rejection_reasons": dg.MetadataValue.json(dict(reasons)),
                "quarantined_files": dg.MetadataValue.json(quarantined),
                "rejected_rows_table": tables.path(REJECTED_ROWS_TABLE),
                "days": len(results),
                "table_version": tables.version(source.table),
            }
        )

    return raw_asset


raw_assets = [build_raw_asset(source) for source in LANDED_SOURCES]
