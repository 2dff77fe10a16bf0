"""Declarations: what a raw source and a windowed feature table are, independent of any engine.

A feature table is declared once (keys, windows, aggregations, docs, ownership) and everything
else — the tile and snapshot computations, the Dagster assets and checks, the catalog entry — is
derived from that declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

SparkType = Literal["string", "double", "bigint", "int", "timestamp", "date", "boolean"]
Aggregation = Literal["count", "sum", "avg"]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: SparkType
    description: str


@dataclass(frozen=True)
class RawSource:
    """A daily landed dataset: landing/<landing_dir>/date=YYYY-MM-DD/*.parquet -> a raw Delta table."""

    name: str
    table: str
    landing_dir: str
    columns: tuple[Column, ...]
    required: tuple[str, ...]  # rows with a null here are rejected
    event_time: str  # must fall inside the file's partition day
    description: str
    non_negative: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


AGGREGATION_DOCS = MappingProxyType(
    {
        "count": "Number of {event}s in the {n} days up to feature_ts",
        "sum": "Sum of {value} over the {n} days up to feature_ts",
        "avg": "Mean {value} per {event} over the {n} days up to feature_ts (null without {event}s)",
    }
)
AGGREGATION_TYPES: MappingProxyType[str, SparkType] = MappingProxyType(
    {"count": "bigint", "sum": "double", "avg": "double"}
)


@dataclass(frozen=True)
class WindowedFeatureTable:
    """Daily snapshots of per-key aggregates over trailing windows of an event source.

    `feature_names` maps each aggregation to a name template with `{n}` for the window length,
    e.g. {"count": "txn_count_{n}d"}.
    """

    name: str  # two-part catalog name, e.g. "feature_store.customer_features"
    keys: tuple[str, ...]
    source: RawSource
    value_column: str
    windows: tuple[int, ...]
    feature_names: dict[str, str]
    description: str
    owners: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    event_noun: str = "transaction"
    timestamp_key: str = "feature_ts"
    last_event_feature: str = "last_txn_ts"
    days_since_feature: str = "days_since_last_txn"

    def __post_init__(self) -> None:
        if not self.windows or any(n < 1 for n in self.windows):
            raise ValueError(f"{self.name}: windows must be positive day counts, got {self.windows}")
        unknown = set(self.feature_names) - set(AGGREGATION_DOCS)
        if unknown:
            raise ValueError(f"{self.name}: unknown aggregations {sorted(unknown)}")

    @property
    def short_name(self) -> str:
        return self.name.split(".")[-1]

    @property
    def tiles_table(self) -> str:
        """customer_features -> customer_daily_tiles, in the same schema."""
        schema, table = self.name.split(".")
        return f"{schema}.{table.removesuffix('_features')}_daily_tiles"

    @property
    def lookback_days(self) -> int:
        """Days of tiles before D a snapshot reads: the longest window, plus one day on which a key
        that went quiet still gets a row with zero counts (so point-in-time lookups see it go quiet)."""
        return max(self.windows)

    def window_feature(self, aggregation: str, n: int) -> str:
        return self.feature_names[aggregation].format(n=n)

    def features(self) -> list[Column]:
        cols = [
            Column(
                self.window_feature(agg, n),
                AGGREGATION_TYPES[agg],
                AGGREGATION_DOCS[agg].format(n=n, value=self.value_column, event=self.event_noun),
            )
            for n in sorted(self.windows)
            for agg in self.feature_names
        ]
        cols.append(
            Column(
                self.last_event_feature,
                "timestamp",
                f"Time of the latest {self.event_noun} before feature_ts within {self.lookback_days + 1} days",
            )
        )
        cols.append(
            Column(
                self.days_since_feature,
                "double",
                f"Days from the latest {self.event_noun} to feature_ts",
            )
        )
        return cols

    def schema(self) -> list[Column]:
        """Every column of the snapshot table, in order."""
        key_types = {c.name: c for c in self.source.columns}
        return [
            *(Column(k, key_types[k].dtype, key_types[k].description) for k in self.keys),
            Column(
                self.timestamp_key, "timestamp", "When these values became knowable: end of the snapshot day"
            ),
            Column("date", "date", "Snapshot day (partition column)"),
            *self.features(),
        ]
