"""Point-in-time joins: each input row gets, per lookup, the features of the snapshot with the same key
and the greatest feature_ts <= its event time (DESIGN.md, Time semantics).

Algorithm (one shuffle per timestamped lookup, no per-row fan-out over a key's snapshots): the input
rows (packed in one struct column) and the lookup table's snapshots (features packed in another) are
unioned and partitioned by key; within a key, rows sort by time with a snapshot before an input row at
the same instant (`<=` is inclusive), and `last(snapshot, ignorenulls)` over the rows so far is the
as-of match of every input row. A lookback window then discards matches older than `t - L`. Only the
input rows are kept: output rows == input rows, duplicates included, whatever the number of snapshots.

Equal feature_ts for one key (rows appended twice outside the feature store API) resolve to the row
of the most recently written file, then to the greatest feature values: deterministic for a given table
version. Only the file's modification time (8 bytes) rides along each snapshot row; the values are
compared in place (the file name they replaced was ~60 bytes a row, ~8% of the join).
A lookup without timestamp_lookup_key joins each key's latest snapshot. An input row whose key or event
time is null matches nothing. Unmatched rows get the lookup's default values, else null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feature_store.lookups import FeatureLookup

_INPUT, _SNAP = "__input", "__snapshot"
_T, _KIND, _FTS = "__t", "__kind", "__feature_ts"
_WRITTEN = "__written_at"


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


def _snapshot_columns(snapshots: DataFrame, bound: BoundFeatureLookup) -> DataFrame:
    """Key columns named after the input's lookup keys, time, write time and the packed features."""
    keys = [_col(k).alias(f"__k{i}") for i, k in enumerate(bound.primary_keys)]
    time = _col(bound.timestamp_key) if bound.timestamp_key else F.lit(None).cast("timestamp")
    packed = F.struct(time.alias(_FTS), *(_col(f).alias(f) for f in bound.features))
    return snapshots.where(_all_not_null(bound.primary_keys)).select(
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


def _as_of(
    rows: DataFrame, snapshots: DataFrame, bound: BoundFeatureLookup, input_columns: list[str]
) -> DataFrame:
    lookup = bound.lookup
    snaps = _snapshot_columns(snapshots, bound)
    snapshot_type = snaps.schema[_SNAP].dataType
    key_aliases = [f"__k{i}" for i in range(len(bound.primary_keys))]
    packed_input = F.struct(*(_col(c).alias(c) for c in input_columns))
    inputs = rows.select(
        *(_col(k).alias(a) for k, a in zip(lookup.lookup_keys, key_aliases, strict=True)),
        _col(lookup.timestamp_lookup_key).cast("timestamp").alias(_T),
        F.lit(1).alias(_KIND),
        F.lit(None).cast("timestamp").alias(_WRITTEN),
        F.lit(None).cast(snapshot_type).alias(_SNAP),
        packed_input.alias(_INPUT),
    )
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
    if lookup.lookback_window is not None:
        match = F.when(match[_FTS] >= F.col(_T) - _interval(lookup.lookback_window), match)
    # a null key sorts with other null keys but snapshots never have null keys: no match, as intended
    match = F.when(F.col(_T).isNotNull() & _all_not_null(key_aliases), match)
    joined = inputs.unionByName(snaps).select(_KIND, _INPUT, match.alias("__match"))
    return joined.where(F.col(_KIND) == 1).select(
        *(F.col(_INPUT).getField(c).alias(c) for c in input_columns),
        *_with_defaults(bound, F.col("__match")),
    )


def _latest(
    rows: DataFrame, snapshots: DataFrame, bound: BoundFeatureLookup, input_columns: list[str]
) -> DataFrame:
    snaps = _snapshot_columns(snapshots, bound)
    key_aliases = [f"__k{i}" for i in range(len(bound.primary_keys))]
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


def point_in_time_join(df: DataFrame, lookups: Sequence[tuple[BoundFeatureLookup, DataFrame]]) -> DataFrame:
    """df plus every lookup's output columns; the inputs are validated by the caller (client)."""
    result = df
    for bound, snapshots in lookups:
        columns = result.columns
        if bound.lookup.timestamp_lookup_key is not None and bound.timestamp_key is not None:
            result = _as_of(result, snapshots, bound, columns)
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
