"""Point-in-time joins: each input row gets, per lookup, the features of the snapshot with the same key
and the greatest feature_ts <= its event time (DESIGN.md, Time semantics).

Two algorithms, one result (tests/feature_store/training/test_pit_join_oracle.py checks both against a brute-force
oracle). Which one runs is decided from the input's estimated size (the optimizer's statistics: no job)
against `labels_broadcast_max_bytes` (default LABELS_BROADCAST_MAX_BYTES, off: see there why):

- Narrow: the snapshots' key, time and write time (no values) are unioned with the input rows (each
  with a row id from `monotonically_increasing_id`; the input is read once) and partitioned by key;
  within a key, rows sort by time with a snapshot before an input row at the same instant (`<=` is
  inclusive), then by write time, and `last(...)` over the rows so far names each input row's as-of
  match by (key, feature_ts, write time). The input rows with that name are broadcast, and one scan
  of the wide snapshot rows (plus one synthetic row for the rows that matched nothing) fetches the
  features by a hash join on the name: the wide snapshot rows are never shuffled or sorted. The
  joined rows (one per input row, more only for ties) are shuffled by row id to keep one per input
  row: the greatest values among twins with equal (key, feature_ts, write time).
- Union (the default, and the fallback for inputs too large to broadcast): the same sort with the
  wide rows packed in struct columns, so the match comes out of the window itself; one shuffle of
  everything, no broadcast.

A lookback window discards matches older than `t - L`. Only the input rows are kept: output rows ==
input rows, duplicates included, whatever the number of snapshots.

Equal feature_ts for one key (rows appended twice outside the feature store API) resolve to the row
of the most recently written file, then to the greatest feature values: deterministic for a given table
version. Only the file's modification time (8 bytes) rides along each snapshot row; the values are
compared in place.
A lookup without timestamp_lookup_key joins each key's latest snapshot. An input row whose key or event
time is null matches nothing. Unmatched rows get the lookup's default values, else null.

Snapshots newer than the latest event time, or (with a lookback) older than the earliest event time
minus the lookback, can't match; they are pruned before the shuffle when those bounds cost no job on
the input: passed by the caller (`event_time_bounds`) or read from a cached input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feature_store.training.lookups import FeatureLookup

_INPUT, _SNAP = "__input", "__snapshot"
_T, _KIND, _FTS = "__t", "__kind", "__feature_ts"
_WRITTEN, _ID, _MATCH = "__written_at", "__row_id", "__match"
_NO_MATCH = -1  # the fetch name of input rows that matched nothing (the synthetic row has it too)
# Inputs estimated at most this many bytes take the narrow algorithm; -1: never (estimates are >= 0).
# Off by default: on the benchmark's feast shape (200k labels, 1.5M snapshots) it measured slower than
# the union algorithm on this 2-core machine (benchmarks/README.md, PIT section): the second scan of
# the wide snapshots costs about what the wide shuffle it saves did. A call can opt in per input size.
LABELS_BROADCAST_MAX_BYTES = -1


@dataclass(frozen=True)
class BoundFeatureLookup:
    """A FeatureLookup resolved against its table: what to read and what the output columns are."""

    lookup: FeatureLookup
    table: str
    primary_keys: tuple[str, ...]
    timestamp_key: str | None  # the table's; None: a table without time (always its latest/only row)
    features: tuple[str, ...]  # names in the table
    ts_output: str | None = None  # also output the matched snapshot's feature_ts under this name
    key_types: tuple[str, ...] = ()  # Spark types of primary_keys: serving checks request keys without Spark

    def output(self, feature: str) -> str:
        return self.lookup.output_name(feature)

    @property
    def output_columns(self) -> list[str]:
        """Feature columns this lookup adds (the recorded feature_ts, if any, is not a feature)."""
        return [self.output(f) for f in self.features]


def _col(name: str) -> Column:
    """A column by its exact name: a dot in a name is not a struct field access."""
    return F.col("`" + name.replace("`", "``") + "`")


def _key_aliases(bound: BoundFeatureLookup) -> list[str]:
    return [f"__k{i}" for i in range(len(bound.primary_keys))]


def _snapshot_columns(
    snapshots: DataFrame, bound: BoundFeatureLookup, time_bounds: tuple[datetime, datetime] | None = None
) -> DataFrame:
    """Key columns named __k0.., time, write time and the packed features; with the input's event-time
    bounds, only the snapshots that can match one of its rows."""
    keys = [_col(k).alias(a) for k, a in zip(bound.primary_keys, _key_aliases(bound), strict=True)]
    time = _col(bound.timestamp_key) if bound.timestamp_key else F.lit(None).cast("timestamp")
    packed = F.struct(time.alias(_FTS), *(_col(f).alias(f) for f in bound.features))
    kept = snapshots.where(_all_not_null(bound.primary_keys))
    if time_bounds is not None and bound.timestamp_key:
        earliest, latest = time_bounds
        kept = kept.where(time.cast("timestamp") <= F.lit(latest))
        if bound.lookup.lookback_window is not None:  # without one, any older snapshot may be the match
            kept = kept.where(time.cast("timestamp") >= F.lit(earliest - bound.lookup.lookback_window))
    return kept.select(
        *keys,
        time.alias(_T),
        F.col("_metadata.file_modification_time").alias(_WRITTEN),
        packed.alias(_SNAP),
    )


def _tie_break(snapshot_type: T.DataType) -> list[Column]:
    """Among one key's snapshots with equal time the greatest of these wins: the later-written file,
    then the greater values (to_json for maps, which don't compare)."""
    return [F.col(_WRITTEN), F.col(_SNAP) if _orderable(snapshot_type) else F.to_json(_SNAP)]


def _orderable(data_type: T.DataType) -> bool:
    if isinstance(data_type, T.MapType | T.VariantType):
        return False
    if isinstance(data_type, T.StructType):
        return all(_orderable(f.dataType) for f in data_type.fields)
    if isinstance(data_type, T.ArrayType):
        return _orderable(data_type.elementType)
    return True


def _with_defaults(bound: BoundFeatureLookup, matched: Column) -> list[Column]:
    defaults = bound.lookup.default_values or {}
    out = []
    for feature in bound.features:
        value = matched[feature]
        if feature in defaults:
            value = F.when(matched.isNull(), F.lit(defaults[feature])).otherwise(value)
        out.append(value.alias(bound.output(feature)))
    if bound.ts_output:
        out.append(matched[_FTS].alias(bound.ts_output))
    return out


def _input_rows(
    rows: DataFrame, bound: BoundFeatureLookup, input_columns: list[str], **nulls: T.DataType
) -> DataFrame:
    """The input rows as the sort sees them: key aliases, time, kind 1, the row packed in _INPUT, and
    null columns (name=type) standing for the snapshot side's."""
    lookup = bound.lookup
    return rows.select(
        *(_col(k).alias(a) for k, a in zip(lookup.lookup_keys, _key_aliases(bound), strict=True)),
        _col(lookup.timestamp_lookup_key).cast("timestamp").alias(_T),
        F.lit(1).alias(_KIND),
        *(F.lit(None).cast(data_type).alias(name) for name, data_type in nulls.items()),
        F.struct(*(_col(c).alias(c) for c in input_columns)).alias(_INPUT),
    )


def _as_of_match(match: Column, bound: BoundFeatureLookup) -> Column:
    """The running match of an input row, minus what the lookback window, a null key or time rule out."""
    if bound.lookup.lookback_window is not None:
        match = F.when(match[_FTS] >= F.col(_T) - _interval(bound.lookup.lookback_window), match)
    # a null key sorts with other null keys but snapshots never have null keys: no match, as intended
    return F.when(F.col(_T).isNotNull() & _all_not_null(_key_aliases(bound)), match)


def _as_of(
    rows: DataFrame, snaps: DataFrame, bound: BoundFeatureLookup, input_columns: list[str]
) -> DataFrame:
    """The union algorithm; snaps: `_snapshot_columns`."""
    snapshot_type = snaps.schema[_SNAP].dataType
    key_aliases = _key_aliases(bound)
    inputs = _input_rows(rows, bound, input_columns, **{_WRITTEN: T.TimestampType(), _SNAP: snapshot_type})
    snaps = snaps.select(
        *key_aliases, _T, F.lit(0).alias(_KIND), _WRITTEN, _SNAP,
        F.lit(None).cast(inputs.schema[_INPUT].dataType).alias(_INPUT),
    )  # fmt: skip
    order = Window.partitionBy(*key_aliases).orderBy(
        F.col(_T).asc_nulls_first(), _KIND, *(c.asc_nulls_first() for c in _tie_break(snapshot_type))
    )
    match = F.last(_SNAP, ignorenulls=True).over(
        order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    joined = inputs.unionByName(snaps).select(_KIND, _INPUT, _as_of_match(match, bound).alias(_MATCH))
    return joined.where(F.col(_KIND) == 1).select(
        *(F.col(_INPUT).getField(c).alias(c) for c in input_columns),
        *_with_defaults(bound, F.col(_MATCH)),
    )


def _narrow_as_of(
    rows: DataFrame, snaps: DataFrame, bound: BoundFeatureLookup, input_columns: list[str]
) -> DataFrame:
    """The narrow algorithm (module docstring); snaps: `_snapshot_columns`."""
    key_aliases = _key_aliases(bound)
    snapshot_type = snaps.schema[_SNAP].dataType
    # a match is named by its (key, time, write time): the narrow sort can't see the values, so the
    # fetch brings every snapshot of that name (one, unless the table has ties) and the values decide
    name = F.xxhash64(*key_aliases, _T, _WRITTEN)
    inputs = _input_rows(rows, bound, input_columns, **{_WRITTEN: T.TimestampType()}).withColumn(
        _ID,
        F.monotonically_increasing_id(),  # the input side is read once: ids only need to be unique
    )
    narrow = snaps.select(
        *key_aliases, _T, F.lit(0).alias(_KIND), _WRITTEN, F.lit(None).cast("long").alias(_ID),
        F.lit(None).cast(inputs.schema[_INPUT].dataType).alias(_INPUT),
    )  # fmt: skip
    order = Window.partitionBy(*key_aliases).orderBy(
        F.col(_T).asc_nulls_first(), _KIND, F.col(_WRITTEN).asc_nulls_first()
    )
    candidate = F.when(F.col(_KIND) == 0, F.struct(F.col(_T).alias(_FTS), _WRITTEN))
    match = F.last(candidate, ignorenulls=True).over(
        order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    matched = (
        inputs.unionByName(narrow)
        .select(_KIND, _ID, _INPUT, *key_aliases, _as_of_match(match, bound).alias(_MATCH))
        .where(F.col(_KIND) == 1)
        .select(
            _ID,
            _INPUT,
            *(F.col(k).alias("__m" + k) for k in key_aliases),
            F.col(_MATCH)[_FTS].alias("__m" + _T),
            F.col(_MATCH)[_WRITTEN].alias("__m" + _WRITTEN),
            F.when(
                F.col(_MATCH).isNotNull(),
                F.xxhash64(*key_aliases, F.col(_MATCH)[_FTS], F.col(_MATCH)[_WRITTEN]),
            )
            .otherwise(F.lit(_NO_MATCH).cast("long"))
            .alias("__name"),
        )
    )
    nothing = rows.sparkSession.range(1).select(
        *(F.lit(None).cast(snaps.schema[k].dataType).alias(k) for k in key_aliases),
        F.lit(None).cast("timestamp").alias(_T),
        F.lit(None).cast("timestamp").alias(_WRITTEN),
        F.lit(None).cast(snapshot_type).alias(_SNAP),
        F.lit(_NO_MATCH).cast("long").alias("__name"),
        F.lit(False).alias("__real"),
    )
    fetched = snaps.select(
        *key_aliases, _T, _WRITTEN, _SNAP, name.alias("__name"), F.lit(True).alias("__real")
    )
    fetched = fetched.unionByName(nothing)
    build = F.broadcast(matched)
    same = F.lit(True)
    for k in key_aliases:
        same = same & (fetched[k] == build["__m" + k])
    same = same & (fetched[_T] == build["__m" + _T]) & fetched[_WRITTEN].eqNullSafe(build["__m" + _WRITTEN])
    condition = (fetched["__name"] == build["__name"]) & F.when(
        fetched["__real"], build["__m" + _T].isNotNull() & same
    ).otherwise(build["__m" + _T].isNull())
    joined = fetched.join(build, condition).select(_ID, _INPUT, _SNAP)
    # one row per input row, unless its match has twins (equal time and write time): the greatest values
    greatest = _tie_break(snapshot_type)[1].desc_nulls_last()
    best = F.row_number().over(Window.partitionBy(_ID).orderBy(greatest))
    return (
        joined.withColumn("__best", best)
        .where(F.col("__best") == 1)
        .select(
            *(F.col(_INPUT).getField(c).alias(c) for c in input_columns),
            *_with_defaults(bound, F.col(_SNAP)),
        )
    )


def _latest(
    rows: DataFrame, snapshots: DataFrame, bound: BoundFeatureLookup, input_columns: list[str]
) -> DataFrame:
    snaps = _snapshot_columns(snapshots, bound)
    key_aliases = _key_aliases(bound)
    tie_break = _tie_break(snaps.schema[_SNAP].dataType)
    newest_first = [c.desc_nulls_last() for c in (F.col(_T), *tie_break)]
    latest = (
        snaps.withColumn(
            "__rank", F.row_number().over(Window.partitionBy(*key_aliases).orderBy(*newest_first))
        )
        .where("__rank = 1")
        .select(*key_aliases, _SNAP)
    )
    condition = [
        rows[f"`{k}`"] == latest[a] for k, a in zip(bound.lookup.lookup_keys, key_aliases, strict=True)
    ]
    joined = rows.join(latest, condition, "left")
    return joined.select(
        *(rows[f"`{c}`"].alias(c) for c in input_columns), *_with_defaults(bound, F.col(_SNAP))
    )


def _all_not_null(columns: Sequence[str]) -> Column:
    condition = F.lit(True)
    for c in columns:
        condition = condition & _col(c).isNotNull()
    return condition


def _interval(window: timedelta) -> Column:
    micros = window // timedelta(microseconds=1)
    return F.expr(f"make_dt_interval(0, 0, 0, {micros / 1_000_000:.6f})")


_SIZE = re.compile(r"sizeInBytes=([0-9.]+)\s*(B|KiB|MiB|GiB|TiB|PiB|EiB)?")
_UNITS = {None: 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50, "EiB": 2**60}


def estimated_bytes(df: DataFrame) -> int | None:
    """The optimizer's size estimate of df (no job runs); None when unavailable."""
    try:  # classic Spark: the optimized plan's statistics
        return int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    except Exception:  # noqa: BLE001 - Spark Connect has no JVM handle: read the cost explain's text
        pass
    try:
        text = df._explain_string(mode="cost")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        return None
    found = _SIZE.search(text.split("== Optimized Logical Plan ==")[-1])
    return int(float(found.group(1)) * _UNITS[found.group(2)]) if found else None


def _cached_time_bounds(df: DataFrame, columns: set[str]) -> dict[str, tuple[datetime, datetime]]:
    """min/max of each event-time column of a cached df: one job over the cache, none otherwise."""
    if not columns or not df.is_cached:
        return {}
    aggregates = [f(_col(c).cast("timestamp")) for c in sorted(columns) for f in (F.min, F.max)]
    row = df.agg(*aggregates).first()
    values = list(row) if row is not None else []
    return {
        c: (values[2 * i], values[2 * i + 1])
        for i, c in enumerate(sorted(columns))
        if values and values[2 * i] is not None
    }


def point_in_time_join(
    df: DataFrame,
    lookups: Sequence[tuple[BoundFeatureLookup, DataFrame]],
    *,
    labels_broadcast_max_bytes: int | None = None,
    event_time_bounds: Mapping[str, tuple[datetime, datetime]] | None = None,
) -> DataFrame:
    """df plus every lookup's output columns; the inputs are validated by the caller (client).

    labels_broadcast_max_bytes: df's estimated size up to which the narrow algorithm runs (module
    docstring; None: LABELS_BROADCAST_MAX_BYTES); event_time_bounds: df column -> (min, max) of its
    values, if the caller knows them."""
    limit = LABELS_BROADCAST_MAX_BYTES if labels_broadcast_max_bytes is None else labels_broadcast_max_bytes
    estimate = estimated_bytes(df) if limit >= 0 else None
    narrow = estimate is not None and estimate <= limit
    timed = {
        b.lookup.timestamp_lookup_key for b, _ in lookups if b.lookup.timestamp_lookup_key and b.timestamp_key
    }
    bounds = dict(event_time_bounds) if event_time_bounds is not None else _cached_time_bounds(df, timed)
    result = df
    for bound, snapshots in lookups:
        columns = result.columns
        if bound.lookup.timestamp_lookup_key is not None and bound.timestamp_key is not None:
            snaps = _snapshot_columns(snapshots, bound, bounds.get(bound.lookup.timestamp_lookup_key))
            join = _narrow_as_of if narrow else _as_of
            result = join(result, snaps, bound, columns)
        else:
            result = _latest(result, snapshots, bound, columns)
    return result


def feature_spec(lookups: Sequence[BoundFeatureLookup]) -> list[dict[str, Any]]:
    """What a model needs to look its features up again (MLflow artifact, serving)."""
    return [
        {
            "table": b.table,
            "lookup_key": list(b.lookup.lookup_keys),
            "primary_keys": list(b.primary_keys),
            "key_types": list(b.key_types),
            "timestamp_lookup_key": b.lookup.timestamp_lookup_key,
            "lookback_window_seconds": b.lookup.lookback_window.total_seconds()
            if b.lookup.lookback_window
            else None,
            "features": list(b.features),
            "outputs": b.output_columns,
            "default_values": dict(b.lookup.default_values or {}),
        }
        for b in lookups
    ]
