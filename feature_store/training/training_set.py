"""Training sets: an input DataFrame (keys, event times, label) joined point-in-time to feature tables.

Everything that can be checked from schemas and the catalog is checked before any Spark job, with an
error naming the column, table or feature; only "df is empty" needs one (a `LIMIT 1`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from feature_store.declarations.functions import FeatureFunction
from feature_store.training.lookups import FeatureLookup, resolve_lookup
from feature_store.training.pit_join import BoundFeatureLookup, feature_spec, point_in_time_join


class TrainingSetError(ValueError):
    """The training set can't be built as asked; the message names the column, table or feature."""


_INTEGRAL = frozenset({"tinyint", "smallint", "int", "bigint"})


def _kind(simple_type: str) -> str:
    """Key types that join: any integer with any integer, string with string."""
    return "integer" if simple_type in _INTEGRAL else simple_type


def bind_lookups(
    df: DataFrame,
    feature_lookups: Sequence[FeatureLookup],
    describe: Callable[[str], Any],
    record_feature_ts: Mapping[str, str] | None = None,
) -> list[BoundFeatureLookup]:
    """Resolve each lookup against its table (`describe(name)` -> FeatureTable) and df's schema."""
    fields = {f.name: f.dataType for f in df.schema.fields}
    bound: list[BoundFeatureLookup] = []
    outputs: dict[str, str] = {}
    for lookup in feature_lookups:
        if not isinstance(lookup, FeatureLookup):
            raise TrainingSetError(
                f"feature_lookups must hold FeatureLookup or FeatureFunction objects, got {type(lookup).__name__}"
            )
        table = describe(lookup.table_name)
        where = f"FeatureLookup({table.name})"
        names = resolve_lookup(lookup, table.name, table.primary_keys, table.feature_names, TrainingSetError)
        for column, key in zip(lookup.lookup_keys, table.primary_keys, strict=True):
            if column not in fields:
                raise TrainingSetError(f"{where}: df has no column {column!r} (lookup key for {key!r})")
            want, got = table.key_types.get(key), fields[column]
            if want is not None and _kind(got.simpleString()) != _kind(want):
                raise TrainingSetError(
                    f"{where}: df column {column!r} is {got.simpleString()}, but key {key!r} is {want}"
                )
        ts = lookup.timestamp_lookup_key
        if ts is not None:
            if ts not in fields:
                raise TrainingSetError(f"{where}: df has no column {ts!r} (timestamp_lookup_key)")
            if not isinstance(fields[ts], T.TimestampType | T.TimestampNTZType | T.DateType):
                raise TrainingSetError(
                    f"{where}: timestamp_lookup_key {ts!r} must be a timestamp or date, is {fields[ts].simpleString()}"
                )
        ts_output = (record_feature_ts or {}).get(table.name)
        item = BoundFeatureLookup(
            lookup,
            table.name,
            tuple(table.primary_keys),
            (table.timestamp_keys or [None])[0],
            tuple(names),
            ts_output,
            tuple(table.key_types.get(k, "") for k in table.primary_keys),
        )
        for output in [*item.output_columns, *([ts_output] if ts_output else [])]:
            if output in fields:
                raise TrainingSetError(
                    f"{where}: output column {output!r} already exists in df; rename it with rename_outputs"
                )
            if output in outputs:
                raise TrainingSetError(
                    f"{where}: output column {output!r} also comes from {outputs[output]}; rename one with rename_outputs"
                )
            outputs[output] = table.name
        bound.append(item)
    return bound


@dataclass
class TrainingSet:
    """A lazily computed point-in-time training set; `load_df()` returns it as a Spark DataFrame."""

    df: DataFrame
    lookups: list[BoundFeatureLookup]
    label: str | None
    exclude_columns: list[str] = field(default_factory=list)
    # table name -> its rows, read once when the lookups were checked against the same schema
    _snapshots: Mapping[str, DataFrame] = field(default_factory=dict, repr=False)
    _joined: DataFrame | None = field(default=None, repr=False)
    functions: list[FeatureFunction] = field(default_factory=list)

    def load_df(self) -> DataFrame:
        if self._joined is None:
            if self.lookups and not self._snapshots:
                raise TrainingSetError(
                    "this TrainingSet only describes lookups; build one with create_training_set"
                )
            snapshots = [(b, self._snapshots[b.table]) for b in self.lookups]
            looked_up = point_in_time_join(self.df, snapshots) if snapshots else self.df
            joined = with_functions(looked_up, self.functions)
            self._joined = joined.drop(*self.exclude_columns) if self.exclude_columns else joined
        return self._joined

    @property
    def feature_names(self) -> list[str]:
        return [*(c for b in self.lookups for c in b.output_columns), *(f.name for f in self.functions)]

    def feature_spec(self) -> list[dict[str, Any]]:
        return feature_spec(self.lookups)

    def function_spec(self) -> list[dict[str, Any]]:
        return [f.to_spec() for f in self.functions]


def with_functions(df: DataFrame, functions: Sequence[FeatureFunction]) -> DataFrame:
    """df plus one column per on-demand feature, computed row by row by the same `FeatureFunction.__call__`
    the serving endpoint uses (a Python UDF: the user's code runs as written, on the executors)."""
    from pyspark.sql import functions as F

    for function in functions:
        sources = list(dict.fromkeys(function.inputs.values()))

        def compute(*values: Any, _function: FeatureFunction = function, _sources: list[str] = sources) -> Any:
            return _function(dict(zip(_sources, values, strict=True)))

        udf = F.udf(compute, returnType=function.dtype)
        df = df.withColumn(function.name, udf(*(F.col(c) for c in sources)))
    return df


def split_functions(
    items: Sequence[FeatureLookup | FeatureFunction],
) -> tuple[list[FeatureLookup], list[FeatureFunction]]:
    """A `feature_lookups` list (Databricks mixes on-demand functions into it): lookups, functions."""
    return (
        [item for item in items if not isinstance(item, FeatureFunction)],
        [item for item in items if isinstance(item, FeatureFunction)],
    )


def check_functions(
    functions: Sequence[FeatureFunction], columns: Sequence[str], outputs: Sequence[str]
) -> None:
    """Every input is a df column, a looked-up feature or an earlier function's output; no output
    collides with another column."""
    available = set(columns) | set(outputs)
    for function in functions:
        where = f"FeatureFunction({function.name})"
        for parameter, source in function.inputs.items():
            if source not in available:
                raise TrainingSetError(
                    f"{where}: input {parameter!r} reads {source!r}, which is neither a df column nor a "
                    f"looked-up feature (available: {', '.join(sorted(available))})"
                )
        if function.name in available:
            raise TrainingSetError(f"{where}: output column {function.name!r} already exists")
        available.add(function.name)


def create_training_set(
    df: DataFrame,
    feature_lookups: Sequence[FeatureLookup],
    label: str | None,
    exclude_columns: Sequence[str] | None,
    open_table: Callable[[str], tuple[Any, DataFrame]],
    record_feature_ts: Mapping[str, str] | None = None,
) -> TrainingSet:
    """`open_table(name)` -> (FeatureTable, its rows): one catalog read and one Delta log replay per
    table, however many lookups use it (these fixed costs are a large part of a small training set)."""
    if not isinstance(df, DataFrame):
        raise TrainingSetError(f"df must be a Spark DataFrame, got {type(df).__name__}")
    if label is not None and label not in df.columns:
        raise TrainingSetError(f"label column {label!r} is not in df (columns: {', '.join(df.columns)})")
    exclude = [exclude_columns] if isinstance(exclude_columns, str) else list(exclude_columns or [])
    unknown = [c for c in exclude if c not in df.columns]
    if unknown:
        raise TrainingSetError(f"exclude_columns {unknown} are not in df (columns: {', '.join(df.columns)})")
    if label is not None and label in exclude:
        raise TrainingSetError(f"label column {label!r} can't also be excluded")
    opened: dict[str, tuple[Any, DataFrame]] = {}

    def describe(name: str) -> Any:
        if name not in opened:
            opened[name] = open_table(name)
        return opened[name][0]

    if isinstance(feature_lookups, FeatureLookup | FeatureFunction) or not feature_lookups:
        raise TrainingSetError("feature_lookups must be a non-empty list of FeatureLookup and FeatureFunction")
    lookups, functions = split_functions(feature_lookups)
    bound = bind_lookups(df, lookups, describe, record_feature_ts)
    check_functions(functions, df.columns, [c for b in bound for c in b.output_columns])
    if df.isEmpty():
        raise TrainingSetError("df has no rows: a training set needs at least one row")
    snapshots = {table.name: rows for table, rows in opened.values()}
    return TrainingSet(df, bound, label, exclude, _snapshots=snapshots, functions=functions)
