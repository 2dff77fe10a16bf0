"""Windowed aggregation features, and the daily tile components each is merged from.

A tile is one key's partial aggregate for one day (feature_store/offline/windowed.py). Every aggregation is
declared here by the tile components it needs and how a window merges them, so the engine builds
tiles for a whole table in one pass and shares a component between features that need the same one
(`avg` and `sum` of one column and filter share `sum`).

| aggregation | tile components | window value (from the tiles of the window's days) | empty window |
|---|---|---|---|
| count | count | sum of counts | 0 |
| sum | sum | sum of sums | 0.0 |
| avg | sum, count | sum / count | null |
| min / max | min / max | min of mins / max of maxes | null |
| variance / stddev | count, sum, M2 (the day's sum of squared deviations from its mean) | sample variance (n - 1) / its square root | null (n < 2) |
| approx_count_distinct | HLL sketch | estimate of the union of the sketches | 0 |
| last | latest event time, value at it | the value at the latest event time | null |
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from feature_store.declarations.errors import require
from feature_store.declarations.sources import NUMERIC_TYPES, SparkType, check_identifier

Aggregation = Literal[
    "count", "sum", "avg", "min", "max", "variance", "stddev", "approx_count_distinct", "last"
]
TileComponent = Literal["count", "sum", "m2", "min", "max", "hll", "last_ts", "last_value"]

COMPONENTS: MappingProxyType[str, tuple[TileComponent, ...]] = MappingProxyType({
    "count": ("count",),
    "sum": ("sum",),
    "avg": ("sum", "count"),
    "min": ("min",),
    "max": ("max",),
    "variance": ("count", "sum", "m2"),
    "stddev": ("count", "sum", "m2"),
    "approx_count_distinct": ("hll",),
    "last": ("last_ts", "last_value"),
})  # fmt: skip
AGGREGATIONS: tuple[str, ...] = tuple(COMPONENTS)
_NEEDS_NUMBER = ("sum", "avg", "variance", "stddev")
_DOCS = MappingProxyType({
    "count": "Number of {events} in the {n} days up to feature_ts",
    "sum": "Sum of {column} over {events} in the {n} days up to feature_ts",
    "avg": "Mean {column} over {events} in the {n} days up to feature_ts (null without any)",
    "min": "Smallest {column} over {events} in the {n} days up to feature_ts (null without any)",
    "max": "Largest {column} over {events} in the {n} days up to feature_ts (null without any)",
    "variance": "Sample variance of {column} over {events} in the {n} days up to feature_ts (null below 2)",
    "stddev": "Sample standard deviation of {column} over {events} in the {n} days up to feature_ts (null below 2)",
    "approx_count_distinct": "Approximate number of distinct {column} values (HLL sketch) over {events} in the {n} days up to feature_ts",
    "last": "{column} of the latest of the {events} in the {n} days up to feature_ts (null without any)",
})  # fmt: skip
# HyperLogLog sketches (Spark's hll_sketch_agg, Apache DataSketches): lgConfigK 12 gives a relative
# standard error of about 1.6% (1.04 / sqrt(2^12)); merged across days without losing accuracy.
HLL_LG_CONFIG_K = 12
HLL_RELATIVE_STANDARD_ERROR = 1.04 / (2 ** (HLL_LG_CONFIG_K / 2))


@dataclass(frozen=True)
class Feature:
    """One aggregation over trailing day windows: a column per window, named `<name>_<n>d`.

    Feature("max_web_spend", "max", column="amount", windows=(30,), where="channel = 'web'")
    `column` is required except for `count`; `where` is a Spark SQL condition on the source's columns
    that picks the events the feature aggregates (the key still gets a row on days it has other events).
    """

    name: str
    aggregation: Aggregation
    column: str | None = None
    windows: tuple[int, ...] = (7,)
    where: str | None = None
    description: str | None = None

    def check(self, declaration: str, field: str, source) -> None:
        """Validate against `source` (a declarations.Source); errors name `declaration`.`field`."""
        check_identifier(self.name, declaration, f"{field}.name")
        require(self.aggregation in COMPONENTS, declaration, f"{field}.aggregation",
                f"unknown aggregation {self.aggregation!r} (one of {', '.join(AGGREGATIONS)})")  # fmt: skip
        require(bool(self.windows), declaration, f"{field}.windows", "at least one window is needed")
        for n in self.windows:
            require(isinstance(n, int) and not isinstance(n, bool) and n > 0, declaration, f"{field}.windows",
                    f"a window is a positive number of days, got {n!r}")  # fmt: skip
        require(len(set(self.windows)) == len(self.windows), declaration, f"{field}.windows",
                f"duplicate window in {self.windows}")  # fmt: skip
        if self.aggregation == "count":
            require(self.column is None, declaration, f"{field}.column", "count takes no column")
        else:
            require(
                self.column is not None, declaration, f"{field}.column", f"{self.aggregation} needs a column"
            )
            types = NUMERIC_TYPES if self.aggregation in _NEEDS_NUMBER else None
            source.check_column(self.column, f"{field}.column", types, declaration=declaration)
        if self.where is not None:
            require(bool(self.where.strip()), declaration, f"{field}.where", "an empty filter")

    def output(self, n: int) -> str:
        return f"{self.name}_{n}d"

    def outputs(self) -> list[str]:
        return [self.output(n) for n in sorted(self.windows)]

    def dtype(self, source) -> SparkType:
        if self.aggregation in ("count", "approx_count_distinct"):
            return "bigint"
        if self.aggregation in ("min", "max", "last"):
            return source.column(self.column).dtype
        return "double"

    def doc(self, n: int, event_noun: str) -> str:
        if self.description:
            return self.description.format(n=n)
        events = f"{event_noun}s" + (f" where {self.where}" if self.where else "")
        return _DOCS[self.aggregation].format(n=n, column=self.column, events=events)

    def components(self) -> list[TileComponentSpec]:
        return [TileComponentSpec(c, self.column, self.where) for c in COMPONENTS[self.aggregation]]


@dataclass(frozen=True)
class TileComponentSpec:
    """One column of a table's daily tiles: a component over a column (None for `count`) and filter."""

    component: TileComponent
    column: str | None
    where: str | None

    def name(self, index: int) -> str:
        """Tile column name: the component, the column, and the filter's index within its table (0:
        none), so two features over one column and filter share it, and names stay short."""
        return "__".join(
            p for p in ("t", self.component, self.column or "", f"f{index}" if index else "") if p
        )
