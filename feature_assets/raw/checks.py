"""Checks on raw partitions: rejected rows are kept, but a day with many is worth a look."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from feature_assets.lib.check_results import partition_results
from feature_assets.partitions import daily_partitions, partition_days
from feature_assets.raw.assets import raw_asset_key
from feature_assets.repo import LANDED_SOURCES
from feature_store.declarations import Source
from feature_store.offline.ingest import REJECTED_ROWS_TABLE
from feature_store.offline.quality import SAMPLE, Outcome
from resources import DeltaLakeResource, SparkResource


class RejectedRowsConfig(dg.Config):
    max_rejected_share: float = 0.01


def _count_by_day(df: DataFrame) -> dict[date, int]:
    return {r["date"]: r["n"] for r in df.groupBy("date").agg(F.count("*").alias("n")).collect()}


def _day_outcome(
    accepted: int, reasons: dict[str, int], unreadable: list[str], sample: list[dict], max_share: float
) -> Outcome:
    """A quarantined (unreadable) file is one rejected entry without a raw record, not a row."""
    n_rejected = sum(reasons.values()) - len(unreadable)
    share = n_rejected / max(accepted + n_rejected, 1)
    return Outcome(
        passed=share <= max_share and not unreadable,
        summary=f"{n_rejected} of {accepted + n_rejected} rows rejected ({share:.2%}), "
        f"{len(unreadable)} files quarantined",
        details={
            "rows_rejected": n_rejected,
            "rejected_share": share,
            "rejection_reasons": reasons,
            "quarantined_files": unreadable,
            "sample_rejected_rows": sample,
        },
    )


def build_rejected_rows_check(source: Source) -> dg.AssetChecksDefinition:
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
    ) -> Iterator:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        accepted = _count_by_day(tables.read_days(source.table, day_list[0], day_list[-1]))
        rejected = tables.read_days(REJECTED_ROWS_TABLE, day_list[0], day_list[-1]).where(
            F.col("source") == source.name
        )
        reasons: dict[date, dict[str, int]] = {}
        for r in rejected.groupBy("date", "reason").agg(F.count("*").alias("n")).collect():
            reasons.setdefault(r["date"], {})[r["reason"]] = r["n"]
        unreadable: dict[date, list[str]] = {}
        for r in rejected.where(F.col("raw_record").isNull()).select("date", "file").collect():
            unreadable.setdefault(r["date"], []).append(r["file"])
        samples: dict[date, list[dict]] = {}
        if reasons:  # a sample of each day that has rejected rows, in one pass
            ranked = rejected.withColumn(
                "_n", F.row_number().over(Window.partitionBy("date").orderBy("file"))
            )
            for r in (
                ranked.where(F.col("_n") <= SAMPLE).select("date", "file", "reason", "raw_record").collect()
            ):
                samples.setdefault(r["date"], []).append({k: r[k] for k in ("file", "reason", "raw_record")})
        outcomes = {
            day: _day_outcome(
                accepted.get(day, 0),
                reasons.get(day, {}),
                sorted(unreadable.get(day, [])),
                samples.get(day, []),
                config.max_rejected_share,
            )  # fmt: skip
            for day in day_list
        }
        yield from partition_results(context, outcomes, dg.AssetCheckSeverity.WARN)

    return rejected_rows_within_limit


raw_checks = [build_rejected_rows_check(source) for source in LANDED_SOURCES]
