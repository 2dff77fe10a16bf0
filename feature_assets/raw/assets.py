"""Raw sources: each day's landing files become validated rows in a raw Delta table."""

import dagster as dg

from feature_assets.lib.metadata import column_schema, table_metadata
from feature_assets.partitions import daily_partitions, partition_days
from feature_store.ingest import REJECTED_ROWS_TABLE, IngestError, ingest_day
from feature_store.specs import RawSource
from feature_store.tables import RAW_SOURCES
from resources import DeltaLakeResource, LandingZoneResource, SparkResource

RAW_GROUP = "raw"


def raw_asset_key(source: RawSource) -> dg.AssetKey:
    return dg.AssetKey(f"raw_{source.name}")


def build_raw_asset(source: RawSource) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(source),
        partitions_def=daily_partitions,
        # A range backfill is one run that ingests day by day in one Spark session.
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=RAW_GROUP,
        kinds={"spark", "delta"},
        description=source.description,
        metadata={**table_metadata(source.table), **column_schema(source.columns)},
        code_version="1",
        owners=["team:data-platform"],
        tags={"layer": "raw"},
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
        results = []
        for day in partition_days(context):
            if not zone.stage(source.landing_dir, day):
                raise IngestError(
                    f"no landing files for {source.name} on {day} under {zone.location}/{source.landing_dir}/"
                    f"date={day}; land them first (the sensor requests a day only once it has files)"
                )
            result = ingest_day(session, tables, zone, source, day, log=context.log.warning)
            context.log.info(
                f"{source.name} {day}: {result.rows_in} rows in = {result.accepted} accepted "
                f"+ {result.rejected} rejected ({len(result.quarantined_files)} files quarantined)"
            )
            results.append(result)
        rows_in = sum(r.rows_in for r in results)
        accepted = sum(r.accepted for r in results)
        rejected = sum(r.rejected for r in results)
        reasons: dict[str, int] = {}
        for r in results:
            for reason, n in r.rejection_reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        quarantined = [f for r in results for f in r.quarantined_files]
        return dg.MaterializeResult(
            metadata={
                "rows_in": rows_in,
                "rows_accepted": accepted,
                "rows_rejected": rejected,
                "rows_balanced": rows_in == accepted + rejected,
                "dagster/row_count": accepted,
                "rejection_reasons": dg.MetadataValue.json(reasons),
                "quarantined_files": dg.MetadataValue.json(quarantined),
                "rejected_rows_table": tables.path(REJECTED_ROWS_TABLE),
                "days": len(results),
                "table_version": tables.version(source.table),
            }
        )

    return raw_asset


raw_assets = [build_raw_asset(source) for source in RAW_SOURCES]
