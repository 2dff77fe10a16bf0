"""Tiled window aggregation for any declared WindowedTable (feature_store/declarations).

A tile is one key's partial aggregate for one day: one column per tile component the table's features
need (feature_store/declarations/features.py lists them), plus the key's latest event time that day.
A snapshot for day D combines the tiles of D-L..D (L = the longest window): window N merges the tiles
with D - date < N. Computing D costs one day of raw events (its tile) plus tiles, never a whole window
of raw events, and every window of every feature shares one pass.

Membership: a key has a row in snapshot D if it had an event in D-L..D. The extra day D-L, outside
every window, gives a key that just went quiet one row with empty windows, so a point-in-time lookup
sees its activity drop instead of its last active snapshot. Time semantics: DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from feature_store.declarations.features import HLL_LG_CONFIG_K, Feature, TileComponentSpec
from feature_store.declarations.sources import Column as DeclaredColumn
from feature_store.declarations.tables import WindowedTable

LAST_EVENT_TS = "t__last_event_ts"
SECONDS_PER_DAY = 86400.0


def tile_columns(table: WindowedTable) -> list[str]:
    return ["date", *table.keys, *table.tile_components().values(), LAST_EVENT_TS]


_COMPONENT_DOCS = {
    "count": "Number of events", "sum": "Sum of {column}", "m2": "Sum of squared deviations of {column} from the day's mean",
    "min": "Smallest {column}", "max": "Largest {column}", "hll": "HLL sketch of the distinct {column} values",
    "last_ts": "Time of the latest event with {column}", "last_value": "{column} of the latest event",
}  # fmt: skip


def tile_schema(table: WindowedTable) -> list[DeclaredColumn]:
    """The tiles table's columns, typed and described, in tile_columns order."""
    fixed = {"count": "bigint", "sum": "double", "m2": "double", "hll": "binary", "last_ts": "timestamp"}
    columns = [DeclaredColumn("date", "date", "Day the events happened (UTC)")]
    columns += [DeclaredColumn(k, dtype, f"{table.entity.name} key") for k, dtype in table.entity.keys]  # type: ignore[arg-type]
    for spec, name in table.tile_components().items():
        dtype = fixed.get(spec.component) or table.source.column(spec.column).dtype
        doc = _COMPONENT_DOCS[spec.component].format(column=spec.column) + " that day"
        columns.append(DeclaredColumn(name, dtype, doc + (f" where {spec.where}" if spec.where else "")))  # type: ignore[arg-type]
    columns.append(DeclaredColumn(LAST_EVENT_TS, "timestamp", "Latest event time that day"))
    return columns


# --------------------------------------------------------------------------------------------- tiles


def _tile_aggregate(spec: TileComponentSpec, event_time: str) -> Column:
    """One day's aggregate of one component over the events its filter keeps."""
    keep = F.expr(spec.where) if spec.where else F.lit(True)
    value = F.col(spec.column) if spec.column else None
    if spec.component == "count":
        return F.count(F.when(keep, F.lit(1) if value is None else value))
    picked = F.when(keep, value)
    if spec.component == "sum":
        return F.sum(picked.cast("double"))
    if spec.component == "m2":  # the day's sum of squared deviations from its own mean
        return F.coalesce(F.var_pop(picked.cast("double")) * F.count(picked), F.lit(0.0))
    if spec.component == "min":
        return F.min(picked)
    if spec.component == "max":
        return F.max(picked)
    if spec.component == "hll":
        return F.hll_sketch_agg(picked, HLL_LG_CONFIG_K)
    # The latest non-null value and its time; among events at that same time, the largest value.
    present = keep & value.isNotNull()
    if spec.component == "last_ts":
        return F.max(F.when(present, F.col(event_time)))
    return F.max_by(F.when(present, value), F.when(present, F.struct(F.col(event_time), value)))


def compute_daily_tiles(events: DataFrame, table: WindowedTable) -> DataFrame:
    """One row per (day, key) with every tile component and the latest event time of the day.

    `events` holds validated raw rows with a `date` column equal to their event time's UTC day. The
    rows are distributed by day before aggregating, so each day's tiles come out of one task and a
    write partitioned by date gets one file per day whatever the range; a distribution by day already
    keeps each (day, key) together, so the aggregation needs no second shuffle.
    """
    event_time = table.source.event_time
    aggregates = [
        _tile_aggregate(spec, event_time).alias(name) for spec, name in table.tile_components().items()
    ]
    return (
        events.repartition("date")
        .groupBy("date", *table.keys)
        .agg(*aggregates, F.max(event_time).alias(LAST_EVENT_TS))
        .select(*tile_columns(table))
    )


def tile_range_for(table: WindowedTable, first: date, last: date) -> tuple[date, date]:
    """The tile days the snapshots first..last read."""
    return first - timedelta(days=table.lookback_days), last


# ------------------------------------------------------------------------------------------ snapshots


def _window_merge(spec: TileComponentSpec, tile: str, in_window: Column) -> Column:
    """The component over the tiles inside one window."""
    picked = F.when(in_window, F.col(tile))
    if spec.component in ("count", "sum"):
        return F.sum(picked)
    if spec.component == "min":
        return F.min(picked)
    if spec.component == "max":
        return F.max(picked)
    if spec.component == "hll":
        return F.hll_union_agg(picked, True)
    raise AssertionError(f"{spec.component} is merged with its companions (compute_snapshots)")


def _merged_last(value_tile: str, ts_tile: str, in_window: Column) -> Column:
    return F.max_by(
        F.when(in_window, F.col(value_tile)), F.when(in_window, F.struct(F.col(ts_tile), F.col(value_tile)))
    )


def _variance_companions(
    table: WindowedTable, m2: TileComponentSpec, components: dict[TileComponentSpec, str]
) -> tuple[str, str]:
    """The count and sum tiles that go with an M2 tile."""
    count = table.component(TileComponentSpec("count", m2.column, m2.where))
    return components[count], components[TileComponentSpec("sum", m2.column, m2.where)]


def _window_mean(m2_tile: str, n: int) -> str:
    return f"__mean_{m2_tile}__{n}"


def _with_window_means(
    fanned: DataFrame, table: WindowedTable, components: dict[TileComponentSpec, str]
) -> DataFrame:
    """For each M2 tile and window: the window's mean beside every tile row of the same key and snapshot
    (a window function over the same grouping the merge aggregates by, so no extra shuffle)."""
    per_snapshot = Window.partitionBy(*table.keys, "snapshot_date")
    for spec, tile in components.items():
        if spec.component != "m2":
            continue
        count_tile, sum_tile = _variance_companions(table, spec, components)
        for n in table.windows():
            in_window = F.col("k") < n
            count = F.sum(F.when(in_window, F.col(count_tile))).over(per_snapshot)
            total = F.sum(F.when(in_window, F.col(sum_tile))).over(per_snapshot)
            fanned = fanned.withColumn(_window_mean(tile, n), total / count)
    return fanned


def _merged_m2(m2_tile: str, count_tile: str, sum_tile: str, n: int, in_window: Column) -> Column:
    """Chan et al.'s parallel merge: the days' M2 plus each day's count times its mean's squared
    distance from the window's mean (feature_store/declarations/features.py says why not x^2 sums)."""
    count = F.col(count_tile)
    spread = F.when(count > 0, count * F.pow(F.col(sum_tile) / count - F.col(_window_mean(m2_tile, n)), 2))
    return F.sum(F.when(in_window, F.col(m2_tile) + F.coalesce(spread, F.lit(0.0))))


def _feature_value(
    feature: Feature, n: int, merged: Callable[[TileComponentSpec], Column], table: WindowedTable
) -> Column:
    """Feature `feature` for window `n` from its merged components (empty windows: module doc table)."""

    def part(component: str) -> Column:
        return merged(table.component(TileComponentSpec(component, feature.column, feature.where)))  # type: ignore[arg-type]

    aggregation = feature.aggregation
    if aggregation == "count":
        return F.coalesce(part("count"), F.lit(0))
    if aggregation == "sum":
        return F.coalesce(part("sum"), F.lit(0.0))
    if aggregation == "avg":
        return F.when(part("count") > 0, part("sum") / part("count"))
    if aggregation in ("min", "max", "last"):
        return part("last_value" if aggregation == "last" else aggregation)
    if aggregation == "approx_count_distinct":
        return F.coalesce(F.hll_sketch_estimate(part("hll")), F.lit(0))
    count = part("count")
    variance = part("m2") / (count - 1)
    return F.when(count >= 2, variance if aggregation == "variance" else F.sqrt(variance))


def compute_snapshots(tiles: DataFrame, table: WindowedTable, first: date, last: date) -> DataFrame:
    """Snapshots for every day first..last from tiles covering tile_range_for(table, first, last).

    Each tile contributes to the snapshots D = tile date + k, for the k in 0..L that land inside
    first..last; one aggregation then merges every component of every window of every snapshot. For a
    single day (the daily run) each tile has exactly one k = D - date, so no fan-out is built.
    """
    lookback = table.lookback_days
    first_lit, last_lit = F.lit(first).cast("date"), F.lit(last).cast("date")
    in_range = tiles.where((F.col("date") >= F.date_sub(first_lit, lookback)) & (F.col("date") <= last_lit))
    if first == last:
        k = F.datediff(last_lit, F.col("date"))
    else:
        k_from = F.greatest(F.lit(0), F.datediff(first_lit, F.col("date")))
        k_to = F.least(F.lit(lookback), F.datediff(last_lit, F.col("date")))
        k = F.explode(F.sequence(k_from, k_to))
    fanned = in_range.withColumn("k", k).withColumn("snapshot_date", F.date_add(F.col("date"), F.col("k")))

    components = table.tile_components()
    fanned = _with_window_means(fanned, table, components)
    merged_names: dict[tuple[TileComponentSpec, int], str] = {}
    aggregates: list[Column] = []
    for n in table.windows():
        in_window = F.col("k") < n
        for spec, tile in components.items():
            if spec.component == "last_ts":
                continue  # merged together with its last_value
            name = merged_names[(spec, n)] = f"__{tile}__{n}"
            if spec.component == "last_value":
                ts_tile = components[TileComponentSpec("last_ts", spec.column, spec.where)]
                aggregates.append(_merged_last(tile, ts_tile, in_window).alias(name))
            elif spec.component == "m2":
                count_tile, sum_tile = _variance_companions(table, spec, components)
                aggregates.append(_merged_m2(tile, count_tile, sum_tile, n, in_window).alias(name))
            else:
                aggregates.append(_window_merge(spec, tile, in_window).alias(name))
    last_ts, days_since = table.activity_columns
    aggregates.append(F.max(LAST_EVENT_TS).alias(last_ts))
    grouped = fanned.groupBy(*table.keys, "snapshot_date").agg(*aggregates)

    outputs: dict[str, Column] = {}
    for feature in table.features:
        for n in feature.windows:
            outputs[feature.output(n)] = _feature_value(
                feature, n, lambda spec, n=n: F.col(merged_names[(spec, n)]), table
            )
    feature_ts = F.to_utc_timestamp(F.date_add(F.col("snapshot_date"), 1).cast("timestamp"), "UTC")
    outputs[last_ts] = F.col(last_ts)
    outputs[days_since] = (F.unix_micros(F.col("feature_ts")) - F.unix_micros(F.col(last_ts))) / (
        SECONDS_PER_DAY * 1e6
    )
    with_ts = grouped.withColumn("feature_ts", feature_ts).withColumnRenamed("snapshot_date", "date")
    return with_ts.select(
        *table.keys,
        "feature_ts",
        "date",
        *(outputs[c.name].cast(c.dtype).alias(c.name) for c in table.feature_columns()),
    )
