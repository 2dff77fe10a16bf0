"""Compute and store a windowed feature table for a range of days: tiles, then snapshots.

These are the two steps each feature table's assets call. A range is one Spark job per step and
per chunk of up to a month (feature_store/runtime/progress.py), so a year of backfill costs a few
jobs and reports its progress; writing any range gives the same rows as writing its days one by one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import functions as F

from feature_store.declarations import Repo, TransformTable, WindowedTable
from feature_store.offline.delta_tables import DeltaTables
from feature_store.offline.quality import missing_days
from feature_store.offline.transform import compute_transform, read_inputs
from feature_store.offline.windowed import compute_daily_tiles, compute_snapshots, tile_range_for, tile_schema
from feature_store.runtime.progress import run_in_chunks
from feature_store.runtime.timeutil import days

TABLE_PROPERTIES_PREFIX = "featurestore."
# The Dagster run tag naming the columns a run may drop or retype (DeltaTables.evolve), or "*".
ALLOW_SCHEMA_CHANGE_TAG = "featurestore/allow_schema_change"


@dataclass
class WriteResult:
    table: str
    rows_by_day: dict[str, int]
    version: int
    missing_input_days: list[str] = field(default_factory=list)
    schema_changes: list[str] = field(default_factory=list)  # e.g. ["+avg_spend_60d"] (DeltaTables.evolve)

    @property
    def rows(self) -> int:
        return sum(self.rows_by_day.values())

    def then(self, later: WriteResult) -> WriteResult:
        """This write followed by `later`'s (the next chunk of the same table)."""
        return WriteResult(
            self.table,
            {**self.rows_by_day, **later.rows_by_day},
            later.version,
            sorted(set(self.missing_input_days) | set(later.missing_input_days)),
            self.schema_changes + later.schema_changes,
        )


Report = Callable[[str], None]


def in_chunks(
    table: str,
    first: date,
    last: date,
    write: Callable[[date, date], WriteResult],
    report: Report | None,
) -> WriteResult:
    """`write` over first..last one chunk at a time (run_in_chunks), as one result."""
    results = run_in_chunks(table, first, last, write, lambda written: written.rows, report)
    return functools.reduce(WriteResult.then, results)


def catalog_properties(spec: WindowedTable | TransformTable) -> dict[str, str]:
    """What the table says about itself in its Delta properties, read back by the client's catalog."""
    props = {
        f"{TABLE_PROPERTIES_PREFIX}primary_keys": ",".join(spec.keys),
        f"{TABLE_PROPERTIES_PREFIX}timestamp_keys": spec.timestamp_key,
        f"{TABLE_PROPERTIES_PREFIX}owners": ",".join(spec.owners),
        f"{TABLE_PROPERTIES_PREFIX}source": spec.source.table
        if isinstance(spec, WindowedTable)
        else ",".join(spec.inputs),
    }
    props.update({f"{TABLE_PROPERTIES_PREFIX}tag.{k}": v for k, v in spec.tags.items()})
    return props


def write_tiles(
    tables: DeltaTables,
    spec: WindowedTable,
    first: date,
    last: date,
    allow_changes: Sequence[str] = (),
    report: Report | None = None,
) -> WriteResult:
    """Tiles first..last. A declaration that changed adds, drops or retypes tile columns (`allow_changes`:
    DeltaTables.evolve); the days not rewritten keep null in a new column until they are backfilled."""
    return in_chunks(
        spec.tiles_table,
        first,
        last,
        lambda a, b: _write_tile_days(tables, spec, a, b, allow_changes),
        report,
    )


def _write_tile_days(
    tables: DeltaTables, spec: WindowedTable, first: date, last: date, allow_changes: Sequence[str]
) -> WriteResult:
    events = tables.read_days(spec.source.table, first, last)
    tiles = compute_daily_tiles(events, spec)
    changes = tables.ensure(
        spec.tiles_table,
        tile_schema(spec),
        ["date"],
        comment=f"Daily per-key partial aggregates for {spec.name}",
        evolve=True,
        allow_changes=allow_changes,
    )
    version = tables.replace_days(spec.tiles_table, tiles, first, last)
    rows = tables.rows_per_day(spec.tiles_table, first, last)
    return WriteResult(spec.tiles_table, rows, version, schema_changes=changes)


def write_snapshots(
    tables: DeltaTables,
    spec: WindowedTable,
    first: date,
    last: date,
    allow_changes: Sequence[str] = (),
    report: Report | None = None,
) -> WriteResult:
    """Snapshots first..last. A tile day missing after the first day the tiles table has is a
    gap in history and reported in missing_input_days; days before it are simply before history."""
    return in_chunks(
        spec.name, first, last, lambda a, b: _write_snapshot_days(tables, spec, a, b, allow_changes), report
    )


def _write_snapshot_days(
    tables: DeltaTables, spec: WindowedTable, first: date, last: date, allow_changes: Sequence[str]
) -> WriteResult:
    tile_first, tile_last = tile_range_for(spec, first, last)
    history_start = tables.read(spec.tiles_table).agg(F.min("date")).first()[0] or tile_first
    tiles = tables.read_days(spec.tiles_table, tile_first, tile_last)
    present = [r["date"] for r in tiles.select("date").distinct().collect()]
    expected = list(days(max(tile_first, history_start), tile_last))
    snapshots = compute_snapshots(tiles, spec, first, last)
    changes = ensure_snapshot_table(tables, spec, allow_changes)
    version = tables.replace_days(spec.name, snapshots, first, last)
    rows = tables.rows_per_day(spec.name, first, last)
    return WriteResult(spec.name, rows, version, missing_days(present, expected), changes)


def ensure_snapshot_table(
    tables: DeltaTables, spec: WindowedTable | TransformTable, allow_changes: Sequence[str]
) -> list[str]:
    return tables.ensure(
        spec.name,
        spec.schema(),
        ["date"],
        properties=catalog_properties(spec),
        comment=spec.description,
        evolve=True,
        allow_changes=allow_changes,
    )


def previous_day_rows(tables: DeltaTables, table: str, day: date) -> int | None:
    """Rows of the day before `day`, or None if that day was never written."""
    before = day - timedelta(days=1)
    return tables.rows_per_day(table, before, before)[before.isoformat()] or None


def write_transform(
    tables: DeltaTables,
    repo: Repo,
    spec: TransformTable,
    first: date,
    last: date,
    allow_changes: Sequence[str] = (),
    report: Report | None = None,
) -> WriteResult:
    """The transform's snapshots first..last, day by day (each day sees only what it may use)."""
    changes = ensure_snapshot_table(tables, spec, allow_changes)

    def write_day(day: date, _: date) -> int:
        rows = compute_transform(tables.spark, spec, read_inputs(tables, repo, spec, day), day)
        return tables.replace_days(spec.name, rows, day, day)

    versions = run_in_chunks(spec.name, first, last, write_day, lambda _: None, report, size=1)
    return WriteResult(
        spec.name, tables.rows_per_day(spec.name, first, last), versions[-1], schema_changes=changes
    )
