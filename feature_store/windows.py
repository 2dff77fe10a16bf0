"""Tiled window aggregation.

A tile is one key's partial aggregate for one day: (date, key, event_count, value_sum,
last_event_ts). A snapshot for day D combines the tiles of D-L..D (L = the longest window):
window N sums the tiles with D - date < N. Computing D therefore costs one day of raw events
(its tile) plus tiles, never a whole window of raw events, and every window shares one pass.

Membership: a key has a row in snapshot D if it had an event in D-L..D. The extra day D-L,
outside every window, gives a key that just went quiet one row with zero counts, so a
point-in-time lookup sees its activity drop to zero instead of its last non-zero snapshot.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from feature_store.specs import WindowedFeatureTable

TILE_COUNT = "event_count"
TILE_SUM = "value_sum"
TILE_LAST_TS = "last_event_ts"
SECONDS_PER_DAY = 86400.0


def tile_columns(spec: WindowedFeatureTable) -> list[str]:
    return ["date", *spec.keys, TILE_COUNT, TILE_SUM, TILE_LAST_TS]


def compute_daily_tiles(events: DataFrame, spec: WindowedFeatureTable) -> DataFrame:
    """One row per (day, key) with the day's count, sum and latest event time.

    `events` holds validated raw rows with a `date` column equal to their event time's UTC day.

    The rows are distributed by day before aggregating, so each day's tiles come out of one task
    and a write partitioned by date gets one file per day whatever the range (a hash on
    (date, key) would give every day one file per shuffle partition, and a snapshot opens L + 1
    days of them). The aggregation needs no second shuffle: a distribution by day already keeps
    each (day, key) together.
    """
    source = spec.source
    return (
        events.repartition("date")
        .groupBy("date", *spec.keys)
        .agg(
            F.count(F.lit(1)).alias(TILE_COUNT),
            F.sum(F.col(spec.value_column).cast("double")).alias(TILE_SUM),
            F.max(source.event_time).alias(TILE_LAST_TS),
        )
        .select(*tile_columns(spec))
    )


def tile_range_for(spec: WindowedFeatureTable, first: date, last: date) -> tuple[date, date]:
    """The tile days the snapshots first..last read."""
    return first - timedelta(days=spec.lookback_days), last


def compute_snapshots(tiles: DataFrame, spec: WindowedFeatureTable, first: date, last: date) -> DataFrame:
    """Snapshots for every day first..last from tiles covering tile_range_for(spec, first, last).

    Each tile contributes to the snapshots D = tile date + k, for the k in 0..L that land inside
    first..last; one aggregation then builds every window of every snapshot at once. For a
    single day (the daily run) each tile has exactly one k = D - date, so no fan-out is built.
    """
    lookback = spec.lookback_days
    first_lit, last_lit = F.lit(first).cast("date"), F.lit(last).cast("date")
    in_range = tiles.where((F.col("date") >= F.date_sub(first_lit, lookback)) & (F.col("date") <= last_lit))
    if first == last:
        k = F.datediff(last_lit, F.col("date"))
    else:
        k_from = F.greatest(F.lit(0), F.datediff(first_lit, F.col("date")))
        k_to = F.least(F.lit(lookback), F.datediff(last_lit, F.col("date")))
        k = F.explode(F.sequence(k_from, k_to))
    fanned = in_range.withColumn("k", k).withColumn("snapshot_date", F.date_add(F.col("date"), F.col("k")))

    aggregates: list[Column] = []
    for n in sorted(spec.windows):
        in_window = F.col("k") < n
        aggregates.append(F.sum(F.when(in_window, F.col(TILE_COUNT)).otherwise(0)).alias(f"__count_{n}"))
        aggregates.append(F.sum(F.when(in_window, F.col(TILE_SUM)).otherwise(0.0)).alias(f"__sum_{n}"))
    aggregates.append(F.max(TILE_LAST_TS).alias(spec.last_event_feature))
    grouped = fanned.groupBy(*spec.keys, "snapshot_date").agg(*aggregates)

    feature_ts = F.to_utc_timestamp(F.date_add(F.col("snapshot_date"), 1).cast("timestamp"), "UTC")
    outputs: dict[str, Column] = {}
    for n in sorted(spec.windows):
        count, total = F.col(f"__count_{n}").cast("bigint"), F.col(f"__sum_{n}")
        by_aggregation = {
            "count": count,
            "sum": total,
            "avg": F.when(count > 0, total / count),
        }
        for aggregation in spec.feature_names:
            outputs[spec.window_feature(aggregation, n)] = by_aggregation[aggregation]
    outputs[spec.last_event_feature] = F.col(spec.last_event_feature)
    outputs[spec.days_since_feature] = (
        F.unix_micros(F.col(spec.timestamp_key)) - F.unix_micros(F.col(spec.last_event_feature))
    ) / (SECONDS_PER_DAY * 1e6)

    with_ts = grouped.withColumn(spec.timestamp_key, feature_ts).withColumnRenamed("snapshot_date", "date")
    return with_ts.select(
        *spec.keys,
        spec.timestamp_key,
        "date",
        *(outputs[c.name].cast(c.dtype).alias(c.name) for c in spec.features()),
    )
