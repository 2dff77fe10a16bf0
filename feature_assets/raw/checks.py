"""Checks on raw partitions: rejected rows are kept, but a day with many is worth a look."""

import dagster as dg
from pyspark.sql import functions as F

from feature_assets.partitions import daily_partitions, partition_days
from feature_assets.raw.assets import raw_asset_key
from feature_store.ingest import REJECTED_ROWS_TABLE
from feature_store.specs import RawSource
from feature_store.tables import RAW_SOURCES
from resources import DeltaLakeResource, SparkResource


class RejectedRowsConfig(dg.Config):
    max_rejected_share: float = 0.01


def build_rejected_rows_check(source: RawSource) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_asset_key(source),
        name="rejected_rows_within_limit",
        description="At most max_rejected_share of a day's rows are rejected, and no file was quarantined.",
        partitions_def=daily_partitions,
    )
    def rejected_rows_within_limit(
        context: dg.AssetCheckExecutionContext,
        config: RejectedRowsConfig,
        spark: SparkResource,
        delta: DeltaLakeResource,
    ) -> dg.AssetCheckResult:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        accepted = tables.read_days(source.table, day_list[0], day_list[-1]).count()
        rejected = tables.read_days(REJECTED_ROWS_TABLE, day_list[0], day_list[-1]).where(
            F.col("source") == source.name
        )
        reasons = {
            r["reason"]: r["n"] for r in rejected.groupBy("reason").agg(F.count("*").alias("n")).collect()
        }
        unreadable = sorted(r["file"] for r in rejected.where(F.col("raw_record").isNull()).collect())
        n_rejected = sum(reasons.values()) - len(unreadable)
        share = n_rejected / max(accepted + n_rejected, 1)
        return dg.AssetCheckResult(
            passed=share <= config.max_rejected_share and not unreadable,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{n_rejected} of {accepted + n_rejected} rows rejected ({share:.2%}), "
            f"{len(unreadable)} files quarantined",
            metadata={
                "rows_rejected": n_rejected,
                "rejected_share": share,
                "rejection_reasons": dg.MetadataValue.json(reasons),
                "quarantined_files": dg.MetadataValue.json(unreadable),
                "sample_rejected_rows": dg.MetadataValue.json(
                    [r.asDict() for r in rejected.select("file", "reason", "raw_record").limit(10).collect()]
                ),
            },
        )

    return rejected_rows_within_limit


raw_checks = [build_rejected_rows_check(source) for source in RAW_SOURCES]
