"""Feature tables a repo declares: windowed aggregations of a source, or transforms of other data.

Both are daily-partitioned snapshot tables keyed by their entity's keys, with `feature_ts = D+1 00:00
UTC` for day D (DESIGN.md, time semantics) and a `date` partition column; the engine enforces those,
whatever the declaration computes.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from feature_store.declarations.errors import require
from feature_store.declarations.features import Feature, TileComponentSpec
from feature_store.declarations.sources import (
    SPARK_TYPES,
    Column,
    Entity,
    Source,
    SparkType,
    check_identifier,
    check_table_name,
)

RESERVED_COLUMNS = ("feature_ts", "date")


@dataclass(frozen=True)
class TableDocs:
    """What the catalog, the Dagster UI and grants show for a table."""

    description: str
    owners: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


class SnapshotTable:
    """What every feature table declaration shares: a two-part `name`, an `entity` whose keys key it,
    and `docs`; rows stamped with `feature_ts` and partitioned by `date`."""

    name: str
    entity: Entity
    docs: TableDocs

    @property
    def keys(self) -> tuple[str, ...]:
        return self.entity.key_names

    @property
    def short_name(self) -> str:
        return self.name.split(".")[-1]

    @property
    def description(self) -> str:
        return self.docs.description

    @property
    def owners(self) -> tuple[str, ...]:
        return self.docs.owners

    @property
    def tags(self) -> Mapping[str, str]:
        return self.docs.tags

    @property
    def timestamp_key(self) -> str:
        return "feature_ts"

    def non_negative_features(self) -> list[str]:
        """Features the engine can promise are never negative (none, unless the kind of table knows)."""
        return []

    def definition(self) -> str:
        """Everything that decides the table's values (not its docs), as text."""
        raise NotImplementedError

    @property
    def code_version(self) -> str:
        """Changes exactly when the values would: the Dagster UI then shows the materialized days as
        unsynced until a backfill recomputes them with the new declaration."""
        return fingerprint(self.definition())


@dataclass(frozen=True)
class WindowedTable(SnapshotTable):
    """Per-key aggregates of `source` over trailing day windows, one snapshot per day, computed from
    daily tiles (feature_store/offline/windowed.py). Besides the declared features, every snapshot has the
    latest event time within the longest window (`last_<event_noun>_ts`) and the days since it."""

    name: str  # two-part catalog name, e.g. "feature_store.customer_features"
    entity: Entity
    source: Source
    features: tuple[Feature, ...]
    docs: TableDocs
    event_noun: str = "event"  # in descriptions: "Number of {event_noun}s in the 7 days ..."
    activity_name: str | None = None  # in column names: last_<activity_name>_ts (default: event_noun)

    def __post_init__(self) -> None:
        where = self.name
        check_table_name(self.name, where, "name")
        check_identifier(self.activity_name or self.event_noun, where, "activity_name")
        require(bool(self.features), where, "features", "a windowed table needs at least one feature")
        self.entity.check_keys_in(self.source, where)
        seen: dict[str, int] = {}
        for i, feature in enumerate(self.features):
            feature.check(where, f"features[{i}]", self.source)
            for output in feature.outputs():
                require(output not in seen, where, f"features[{i}].name",
                        f"duplicate feature name {output!r} (also from features[{seen.get(output)}])")  # fmt: skip
                require(output not in (*self.entity.key_names, *RESERVED_COLUMNS, *self.activity_columns),
                        where, f"features[{i}].name", f"{output!r} is a column the engine writes")  # fmt: skip
                seen[output] = i

    def non_negative_features(self) -> list[str]:
        """Features that can never be negative: counts, spreads, and any aggregate but a spread of a
        column the source guarantees non-negative."""
        always = ("count", "approx_count_distinct", "variance", "stddev")
        return [
            f.output(n)
            for f in self.features
            for n in sorted(f.windows)
            if f.aggregation in always or f.column in self.source.non_negative
        ]

    @property
    def tiles_table(self) -> str:
        schema, table = self.name.split(".")
        return f"{schema}.{table.removesuffix('_features')}_daily_tiles"

    def windows(self) -> list[int]:
        return sorted({n for f in self.features for n in f.windows})

    @property
    def lookback_days(self) -> int:
        """Days of tiles before D a snapshot reads: the longest window, plus one day on which a key
        that went quiet still gets a row (so point-in-time lookups see its windows empty)."""
        return max(self.windows())

    @property
    def activity_columns(self) -> tuple[str, str]:
        activity = self.activity_name or self.event_noun
        return (f"last_{activity}_ts", f"days_since_last_{activity}")

    def component(self, component: TileComponentSpec) -> TileComponentSpec:
        """The tile component that serves `component`: a count of a column the source requires (never
        null) is the count of events."""
        if component.component == "count" and component.column in self.source.required:
            return TileComponentSpec("count", None, component.where)
        return component

    def tile_components(self) -> dict[TileComponentSpec, str]:
        """Every tile column the features need, once each, with its column name."""
        filters = {w: i + 1 for i, w in enumerate(dict.fromkeys(f.where for f in self.features if f.where))}
        components = dict.fromkeys(self.component(c) for f in self.features for c in f.components())
        return {c: c.name(filters.get(c.where, 0)) for c in components}

    def feature_columns(self) -> list[Column]:
        # Window by window (then in declaration order), as the tables have always been laid out.
        columns = [
            Column(f.output(n), f.dtype(self.source), f.doc(n, self.event_noun))
            for n in self.windows() for f in self.features if n in f.windows
        ]  # fmt: skip
        last_ts, days_since = self.activity_columns
        columns.append(Column(last_ts, "timestamp",
                              f"Time of the latest {self.event_noun} before feature_ts within {self.lookback_days + 1} days"))  # fmt: skip
        columns.append(Column(days_since, "double", f"Days from the latest {self.event_noun} to feature_ts"))
        return columns

    def definition(self) -> str:
        features = [(f.name, f.aggregation, f.column, f.windows, f.where) for f in self.features]
        return repr((self.entity.keys, self.source.table, self.source.event_time, features))

    def schema(self) -> list[Column]:
        """Every column of the snapshot table, in order (keys described as the source describes them)."""
        keys = [Column(k, dtype, self.source.column(k).description) for k, dtype in self.entity.keys]  # type: ignore[arg-type]
        return [*keys, *snapshot_time_columns(), *self.feature_columns()]


TransformFunction = Callable[..., Any]  # (spark, inputs: dict[str, DataFrame], day: date) -> DataFrame


@dataclass(frozen=True)
class TransformTable(SnapshotTable):
    """A daily snapshot computed by the user's SQL or DataFrame function over `inputs` (names of
    sources and other feature tables; each becomes lineage in the asset graph).

    SQL: each input is a temporary view named after its short name, holding only the rows the day may
    use (a source's events before D+1 00:00, a table's snapshot of D); `{day}` in the text is D
    (`DATE'2025-01-31'`). A function gets (spark, {short name: DataFrame}, day) likewise. The result
    must have the entity's keys and the declared `columns`; the engine adds `feature_ts` and `date`.
    """

    name: str
    entity: Entity
    inputs: tuple[str, ...]
    columns: tuple[Column, ...]
    docs: TableDocs
    sql: str | None = None
    function: TransformFunction | None = None

    def __post_init__(self) -> None:
        where = self.name
        check_table_name(self.name, where, "name")
        require((self.sql is None) != (self.function is None), where, "sql",
                "give exactly one of sql= and function=")  # fmt: skip
        require(bool(self.inputs), where, "inputs", "a transform needs at least one input")
        require(
            len(set(self.inputs)) == len(self.inputs), where, "inputs", f"duplicate input in {self.inputs}"
        )
        require(self.name not in self.inputs, where, "inputs", "a table cannot read itself")
        require(bool(self.columns), where, "columns", "declare the feature columns the transform returns")
        seen: set[str] = set()
        for i, column in enumerate(self.columns):
            check_identifier(column.name, where, f"columns[{i}].name")
            require(
                column.name not in seen,
                where,
                f"columns[{i}].name",
                f"duplicate feature name {column.name!r}",
            )
            require(column.name not in (*self.entity.key_names, *RESERVED_COLUMNS), where, f"columns[{i}].name",
                    f"{column.name!r} is a column the engine writes")  # fmt: skip
            require(column.dtype in SPARK_TYPES, where, f"columns[{i}].dtype",
                    f"{column.dtype!r} is not one of {', '.join(SPARK_TYPES)}")  # fmt: skip
            seen.add(column.name)

    def feature_columns(self) -> list[Column]:
        return list(self.columns)

    def definition(self) -> str:
        if self.sql is not None:
            code = self.sql
        else:
            try:
                code = inspect.getsource(self.function)  # type: ignore[arg-type]
            except (OSError, TypeError):  # defined where its source can't be read (a REPL)
                code = getattr(self.function, "__qualname__", repr(self.function))
        columns = [(c.name, c.dtype) for c in self.columns]
        return repr((self.entity.keys, self.inputs, columns, code))

    def schema(self) -> list[Column]:
        return [*key_columns(self.entity), *snapshot_time_columns(), *self.columns]


FeatureTableDeclaration = WindowedTable | TransformTable


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def key_columns(entity: Entity) -> list[Column]:
    return [Column(k, dtype, f"{entity.name} key") for k, dtype in entity.keys]  # type: ignore[arg-type]


def snapshot_time_columns() -> list[Column]:
    ts: SparkType = "timestamp"
    return [
        Column("feature_ts", ts, "When these values became knowable: end of the snapshot day"),
        Column("date", "date", "Snapshot day (partition column)"),
    ]
