"""Point-in-time joins (feature_store.training.pit_join) against a brute-force oracle that, for every input row and
every lookup, scans every snapshot row (DESIGN.md, Time semantics).

The join reads `_metadata` (the file write time breaks ties) from the snapshots, so each example writes its snapshot
tables as parquet and reads them back; `BoundFeatureLookup`s are built by hand, as the client would.
Times come from a grid of 10 instants 30 minutes apart and lookback windows are multiples of 30 minutes,
so events exactly at a feature_ts and at the lookback edge `t - L` are frequent.

Both algorithms run every example: `narrow` (the input broadcast, snapshots fetched by row id) and
`union` (the fallback for inputs too large to broadcast), forced with `labels_broadcast_max_bytes`.
"""

from __future__ import annotations

import itertools
import math
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from feature_store.training.lookups import FeatureLookup
from feature_store.training.pit_join import BoundFeatureLookup, point_in_time_join

# Naive datetimes: Python converts them to and from Spark with the same (local) zone, and no DST change
# falls inside the grid, so they round-trip unchanged.
T0 = datetime(2025, 1, 1)
GRID = [T0 + timedelta(minutes=30 * i) for i in range(10)]
STEP = timedelta(minutes=30)

INPUT_DDL = "cid int, ref bigint, country string, store int, event_ts timestamp, label double"
INPUT_COLUMNS = ["cid", "ref", "country", "store", "event_ts", "label"]
# Table a: one bigint key (the input's `cid` is int: integer keys of any width join).
A_DDL = "customer_id bigint, ts timestamp, spend double, visits bigint, fts timestamp"
A_KEYS, A_FEATURES = ("customer_id",), ("spend", "visits", "fts")
# Table b: composite key (string, int).
B_KEYS, B_FEATURES = ("country", "store_id"), ("sales", "fts")
SNAP_DDL = (
    "tbl string, customer_id bigint, country string, store_id int, ts timestamp, spend double, visits bigint, "
    "sales double, fts timestamp"
)
SNAP_COLUMNS = ["tbl", "customer_id", "country", "store_id", "ts", "spend", "visits", "sales", "fts"]

_paths = itertools.count()
# labels_broadcast_max_bytes forcing each algorithm (an estimate is never negative)
ALGORITHMS = {"narrow": 1 << 62, "union": -1}
algorithms = pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))


# ----------------------------------------------------------------------------- oracle


def oracle(
    inputs: Sequence[tuple],
    lookups: Sequence[tuple[BoundFeatureLookup, list[dict]]],
) -> list[tuple]:
    """Per input row and lookup: scan every snapshot row, keep those with equal keys (and, point in
    time, feature_ts in [t - L, t]), take the greatest feature_ts; none: default, else null."""
    out = []
    for row in inputs:
        record = dict(zip(INPUT_COLUMNS, row, strict=True))
        values = list(row)
        for bound, snapshots in lookups:
            lookup = bound.lookup
            keys = [record[k] for k in lookup.lookup_keys]
            t = record[lookup.timestamp_lookup_key] if lookup.timestamp_lookup_key else None
            best = None
            point_in_time = lookup.timestamp_lookup_key is not None
            if all(k is not None for k in keys) and not (point_in_time and t is None):
                for snap in snapshots:
                    if [snap[k] for k in bound.primary_keys] != keys:
                        continue
                    fts = snap[bound.timestamp_key]
                    if point_in_time:
                        if fts > t:
                            continue
                        if lookup.lookback_window is not None and fts < t - lookup.lookback_window:
                            continue
                    if best is None or fts > best[bound.timestamp_key]:
                        best = snap
            defaults = lookup.default_values or {}
            for feature in bound.features:
                values.append(best[feature] if best is not None else defaults.get(feature))
        out.append(tuple(values))
    return out


def _norm(value):
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def multiset(rows) -> Counter:
    return Counter(tuple(_norm(v) for v in row) for row in rows)


# ----------------------------------------------------------------------------- Spark side


def bind(lookup: FeatureLookup, keys: tuple[str, ...], features: tuple[str, ...]) -> BoundFeatureLookup:
    return BoundFeatureLookup(lookup, lookup.table_name, keys, "ts", features)


def write_snapshots(spark: SparkSession, tables: dict[str, list[dict]], path: Path) -> dict[str, DataFrame]:
    """Every table's rows in one parquet file (one write per example), told apart by `tbl`, read back:
    point_in_time_join needs the file `_metadata` columns. A table's rows have nulls in the other's columns."""
    records = [
        (name, *(row.get(c) for c in SNAP_COLUMNS[1:])) for name, rows in tables.items() for row in rows
    ]
    spark.createDataFrame(records, SNAP_DDL).coalesce(1).write.parquet(str(path))
    data = spark.read.schema(SNAP_DDL).parquet(str(path))
    return {name: data.where(F.col("tbl") == name) for name in tables}


def join(df: DataFrame, lookups: Sequence[tuple[BoundFeatureLookup, DataFrame]], algorithm: str) -> DataFrame:
    return point_in_time_join(df, lookups, labels_broadcast_max_bytes=ALGORITHMS[algorithm])


def run_join(
    spark, inputs, lookups: Sequence[tuple[BoundFeatureLookup, list[dict]]], path: Path, algorithm: str
):
    """lookups: [(bound, snapshot rows of its table)]; lookups into one table share one DataFrame."""
    snapshots = write_snapshots(spark, {bound.table: rows for bound, rows in lookups}, path)
    df = spark.createDataFrame(inputs, INPUT_DDL)
    result = join(df, [(bound, snapshots[bound.table]) for bound, _ in lookups], algorithm)
    return result.columns, [tuple(r) for r in result.collect()]


def assert_no_leakage(columns, rows, bound: BoundFeatureLookup, fts_output: str) -> None:
    """Every joined feature_ts is <= the row's event time, and inside the lookback window."""
    i_t = columns.index(bound.lookup.timestamp_lookup_key)
    i_f = columns.index(fts_output)
    for row in rows:
        fts, t = row[i_f], row[i_t]
        if fts is None:
            continue
        assert t is not None and fts <= t, f"{fts_output}={fts} leaks past event time {t}: {row}"
        if bound.lookup.lookback_window is not None:
            assert fts >= t - bound.lookup.lookback_window, f"{fts_output}={fts} older than lookback: {row}"


# ----------------------------------------------------------------------------- strategies

times = st.one_of(st.none(), st.sampled_from(GRID))
lookbacks = st.sampled_from([None, STEP, 2 * STEP, 3 * STEP])
spends = st.one_of(st.none(), st.just(math.nan), st.integers(-5, 50).map(float))
visits = st.one_of(st.none(), st.integers(0, 99))


@st.composite
def a_snapshots(draw) -> list[dict]:
    cells = draw(st.lists(st.tuples(st.integers(1, 4), st.sampled_from(GRID)), unique=True, max_size=12))
    return [
        {"customer_id": k, "ts": ts, "spend": draw(spends), "visits": draw(visits), "fts": ts}
        for k, ts in cells
    ]


@st.composite
def b_snapshots(draw) -> list[dict]:
    cells = draw(
        st.lists(
            st.tuples(st.sampled_from(["DE", "FR"]), st.integers(1, 2), st.sampled_from(GRID)),
            unique=True,
            max_size=12,
        )
    )
    return [{"country": c, "store_id": s, "ts": ts, "sales": draw(spends), "fts": ts} for c, s, ts in cells]


def known_or(existing: list, other: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a value some snapshot has (so rows match), else `other`: null or a value none has."""
    if not existing:
        return other
    return st.one_of(st.sampled_from(existing), st.sampled_from(existing), other)


@st.composite
def input_rows(draw, a_rows: list[dict], b_rows: list[dict]) -> list[tuple]:
    """Keys 0 and 5 / "US" and store 3 never have snapshots; event times are mostly snapshot times;
    some rows are duplicated verbatim."""
    a_keys = sorted({r["customer_id"] for r in a_rows})
    b_keys = sorted({(r["country"], r["store_id"]) for r in b_rows})
    snap_times = sorted({r["ts"] for r in a_rows + b_rows})
    row = st.tuples(
        known_or(a_keys, st.one_of(st.none(), st.integers(0, 5))),
        known_or(a_keys, st.one_of(st.none(), st.integers(0, 5))),
        known_or(
            b_keys, st.tuples(st.sampled_from(["DE", "FR", "US", None]), st.sampled_from([1, 2, 3, None]))
        ),
        known_or(snap_times, st.one_of(st.none(), st.sampled_from(GRID))),
        st.integers(0, 3).map(float),
    )
    rows = [(cid, ref, *store, t, label) for cid, ref, store, t, label in draw(st.lists(row, max_size=12))]
    if rows:
        rows += draw(st.lists(st.sampled_from(rows), max_size=3))
    return draw(st.permutations(rows))


@st.composite
def scenarios(draw) -> tuple[list[dict], list[dict], list[tuple]]:
    a_rows, b_rows = draw(a_snapshots()), draw(b_snapshots())
    return a_rows, b_rows, draw(input_rows(a_rows, b_rows))


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@algorithms
@SETTINGS
@given(
    scenario=scenarios(),
    a_lookback=lookbacks,
    b_lookback=lookbacks,
    a_defaults=st.sampled_from([None, {"spend": -1.0}, {"spend": -1.0, "visits": 0}]),
    ref_defaults=st.sampled_from([None, {"visits": -7}]),
    b_defaults=st.sampled_from([None, {"sales": 0.0}]),
    rename_spend=st.booleans(),
    order=st.permutations([0, 1, 2]),
)
def test_point_in_time_join_matches_oracle(
    spark, tmp_path, algorithm, scenario, a_lookback, b_lookback, a_defaults, ref_defaults, b_defaults,
    rename_spend, order,
):  # fmt: skip
    """Three lookups in a drawn order: table a point in time on `cid`, table a latest on `ref` (same
    table, other key, renamed), table b point in time on the composite (country, store)."""
    a_rows, b_rows, inputs = scenario
    a_renames = {"fts": "a_fts", **({"spend": "a_spend"} if rename_spend else {})}
    lookups = [
        (
            bind(
                FeatureLookup(
                    "fs.a", "cid", feature_names=list(A_FEATURES), rename_outputs=a_renames,
                    timestamp_lookup_key="event_ts", lookback_window=a_lookback, default_values=a_defaults,
                ),
                A_KEYS, A_FEATURES,
            ),
            a_rows,
        ),
        (
            bind(
                FeatureLookup(
                    "fs.a", "ref", rename_outputs={"spend": "ref_spend", "visits": "ref_visits", "fts": "ref_fts"},
                    default_values=ref_defaults,
                ),
                A_KEYS, A_FEATURES,
            ),
            a_rows,
        ),
        (
            bind(
                FeatureLookup(
                    "fs.b", ["country", "store"], rename_outputs={"fts": "b_fts"},
                    timestamp_lookup_key="event_ts", lookback_window=b_lookback, default_values=b_defaults,
                ),
                B_KEYS, B_FEATURES,
            ),
            b_rows,
        ),
    ]  # fmt: skip
    lookups = [lookups[i] for i in order]
    path = tmp_path / f"example{next(_paths)}"
    try:
        columns, got = run_join(spark, inputs, lookups, path, algorithm)
    finally:
        shutil.rmtree(path, ignore_errors=True)

    bounds = [b for b, _ in lookups]
    assert columns == INPUT_COLUMNS + [c for b in bounds for c in b.output_columns]
    assert len(got) == len(inputs)
    expected = oracle(inputs, lookups)
    assert multiset(got) == multiset(expected)
    for b in bounds:
        if b.lookup.timestamp_lookup_key is not None:
            assert_no_leakage(columns, got, b, b.output("fts"))


# ----------------------------------------------------------------------------- pinned examples


def at(i: int, minutes: int = 0) -> datetime:
    return GRID[i] + timedelta(minutes=minutes)


@algorithms
def test_edges_pinned_by_hand(spark, tmp_path, algorithm):
    """The edges, with hand-written expectations (independent of the oracle)."""
    a_rows = [
        {"customer_id": 1, "ts": at(2), "spend": 10.0, "visits": 1, "fts": at(2)},
        {"customer_id": 1, "ts": at(4), "spend": None, "visits": 2, "fts": at(4)},  # matched null stays null
        {"customer_id": 1, "ts": at(6), "spend": 30.0, "visits": 3, "fts": at(6)},
        {"customer_id": 2, "ts": at(1), "spend": 5.0, "visits": 9, "fts": at(1)},
    ]
    b_rows = [
        {"country": "DE", "store_id": 1, "ts": at(3), "sales": 100.0, "fts": at(3)},
        {"country": "DE", "store_id": 2, "ts": at(3), "sales": 200.0, "fts": at(3)},
        {"country": "FR", "store_id": 1, "ts": at(0), "sales": 300.0, "fts": at(0)},
    ]
    pit = bind(
        FeatureLookup(
            "fs.a", "cid", rename_outputs={"fts": "a_fts"}, timestamp_lookup_key="event_ts",
            lookback_window=2 * STEP, default_values={"spend": -1.0},
        ),
        A_KEYS, A_FEATURES,
    )  # fmt: skip
    latest = bind(
        FeatureLookup("fs.a", "ref", feature_names="visits", rename_outputs={"visits": "ref_visits"}),
        A_KEYS, ("visits",),
    )  # fmt: skip
    composite = bind(
        FeatureLookup("fs.b", ["country", "store"], feature_names=["sales"], timestamp_lookup_key="event_ts"),
        B_KEYS, ("sales",),
    )  # fmt: skip
    inputs = [
        (1, 2, "DE", 1, at(2), 0.0),  # exactly at a feature_ts: inclusive
        (1, 2, "DE", 1, at(2), 0.0),  # duplicate input row: stays duplicated
        (1, 1, "DE", 2, at(3), 1.0),  # between snapshots: the earlier one
        (1, 1, "DE", 1, at(5, 29), 0.0),  # 1 (null spend) at(4), within 2 steps
        (1, 1, "FR", 1, at(4), 1.0),  # exactly at a feature_ts whose spend is null: null, not the default
        (1, None, "FR", 1, at(8), 0.0),  # at(6) is exactly t - L: inclusive
        (1, None, "FR", 2, at(9), 0.0),  # at(6) < t - L = at(7): outside the window -> default
        (1, 1, "FR", 1, at(1), 0.0),  # before the first snapshot of key 1 -> default
        (None, 3, "DE", None, at(5), 0.0),  # null keys: nothing matches
        (2, 2, None, 1, None, 0.0),  # null event time: point-in-time lookups match nothing
        (3, 2, "US", 9, at(9), 0.0),  # unknown keys
    ]
    columns, got = run_join(
        spark,
        inputs,
        [(pit, a_rows), (latest, a_rows), (composite, b_rows)],
        tmp_path / "snapshots",
        algorithm,
    )
    assert columns == [*INPUT_COLUMNS, "spend", "visits", "a_fts", "ref_visits", "sales"]
    expected = [
        (*inputs[0], 10.0, 1, at(2), 9, None),
        (*inputs[1], 10.0, 1, at(2), 9, None),
        (*inputs[2], 10.0, 1, at(2), 3, 200.0),
        (*inputs[3], None, 2, at(4), 3, 100.0),
        (*inputs[4], None, 2, at(4), 3, 300.0),
        (*inputs[5], 30.0, 3, at(6), None, 300.0),
        (*inputs[6], -1.0, None, None, None, None),
        (*inputs[7], -1.0, None, None, 3, 300.0),
        (*inputs[8], -1.0, None, None, None, None),
        (*inputs[9], -1.0, None, None, 9, None),
        (*inputs[10], -1.0, None, None, 9, None),
    ]
    assert multiset(got) == multiset(expected)


@algorithms
def test_equal_feature_ts_resolves_to_most_recently_written_file(spark, tmp_path, algorithm):
    """Two files with the same (key, feature_ts) (a rewritten partition, outside create_table): the row
    of the later-written file wins, both point in time and latest."""
    path = str(tmp_path / "ties")
    rows = [(1, at(2), 1.0, 1, at(2)), (1, at(4), 2.0, 2, at(4))]
    spark.createDataFrame(rows, A_DDL).coalesce(1).write.parquet(path)
    time.sleep(1.1)  # file modification times in distinct seconds, whatever the file system's resolution
    rewritten = [(1, at(2), 10.0, 10, at(2)), (1, at(4), 20.0, 20, at(4))]
    spark.createDataFrame(rewritten, A_DDL).coalesce(1).write.mode("append").parquet(path)
    snapshots = spark.read.parquet(path)
    pit = bind(
        FeatureLookup("fs.a", "cid", feature_names=["spend"], timestamp_lookup_key="event_ts"),
        A_KEYS,
        ("spend",),
    )
    latest = bind(
        FeatureLookup("fs.a", "ref", feature_names=["spend"], rename_outputs={"spend": "latest_spend"}),
        A_KEYS, ("spend",),
    )  # fmt: skip
    df = spark.createDataFrame([(1, 1, None, None, at(3), 0.0)], INPUT_DDL)
    got = [tuple(r) for r in join(df, [(pit, snapshots), (latest, snapshots)], algorithm).collect()]
    assert got == [(1, 1, None, None, at(3), 0.0, 10.0, 20.0)]


@algorithms
@pytest.mark.parametrize("file_order", [[10.0, 30.0, 20.0], [30.0, 20.0, 10.0]])
def test_equal_feature_ts_in_one_file_resolves_to_greatest_values(spark, tmp_path, file_order, algorithm):
    """Rows with the same (key, feature_ts) in one file (written in one go outside create_table) have
    the same write time: the greatest feature values win, whatever their order in the file."""
    path = str(tmp_path / "ties")
    rows = [(1, at(2), spend, int(spend), at(2)) for spend in file_order]
    spark.createDataFrame(rows, A_DDL).coalesce(1).write.parquet(path)
    snapshots = spark.read.parquet(path)
    pit = bind(
        FeatureLookup("fs.a", "cid", feature_names=["spend", "visits"], timestamp_lookup_key="event_ts"),
        A_KEYS,
        ("spend", "visits"),
    )
    latest = bind(
        FeatureLookup("fs.a", "ref", feature_names=["spend"], rename_outputs={"spend": "latest_spend"}),
        A_KEYS, ("spend",),
    )  # fmt: skip
    df = spark.createDataFrame([(1, 1, None, None, at(3), 0.0)], INPUT_DDL)
    got = [tuple(r) for r in join(df, [(pit, snapshots), (latest, snapshots)], algorithm).collect()]
    assert got == [(1, 1, None, None, at(3), 0.0, 30.0, 30, 30.0)]


@algorithms
@pytest.mark.parametrize("lookback", [timedelta(days=40), timedelta(seconds=90), timedelta(microseconds=1)])
def test_lookback_windows_of_any_size(spark, tmp_path, lookback, algorithm):
    """Lookback windows longer than a month, not whole minutes, one microsecond: bounds stay inclusive."""
    snaps = [(1, T0, 1.0, 1, T0)]
    path = str(tmp_path / "snap")
    spark.createDataFrame(snaps, A_DDL).coalesce(1).write.parquet(path)
    bound = bind(
        FeatureLookup("fs.a", "cid", feature_names=["spend"], timestamp_lookup_key="event_ts", lookback_window=lookback),
        A_KEYS, ("spend",),
    )  # fmt: skip
    inputs = [
        (1, None, None, None, T0 + lookback, 0.0),  # exactly t - L == feature_ts
        (1, None, None, None, T0 + lookback + timedelta(microseconds=1), 1.0),  # one microsecond too late
    ]
    df = spark.createDataFrame(inputs, INPUT_DDL)
    got = sorted(tuple(r) for r in join(df, [(bound, spark.read.parquet(path))], algorithm).collect())
    assert got == [(*inputs[0], 1.0), (*inputs[1], None)]


@algorithms
@pytest.mark.parametrize("timestamp_lookup_key", ["event.ts", None], ids=["point in time", "latest"])
def test_column_names_with_dots(spark, tmp_path, timestamp_lookup_key, algorithm):
    """Column names with dots, in the input (key, event time, passed-through column) and in the table
    (key, timestamp key, feature), are names like any other."""
    path = str(tmp_path / "snap")
    spark.createDataFrame(
        [(1, T0, 1.0), (1, at(2), 2.0)], "`customer.id` bigint, `snap.ts` timestamp, `spend.7d` double"
    ).coalesce(1).write.parquet(path)
    bound = BoundFeatureLookup(
        FeatureLookup("fs.a", "user.id", timestamp_lookup_key=timestamp_lookup_key),
        "fs.a",
        ("customer.id",),
        "snap.ts",
        ("spend.7d",),
    )
    df = spark.createDataFrame(
        [(1, at(1), "x")], "`user.id` bigint, `event.ts` timestamp, `note.text` string"
    )
    result = join(df, [(bound, spark.read.parquet(path))], algorithm)
    assert result.columns == ["user.id", "event.ts", "note.text", "spend.7d"]
    assert [tuple(r) for r in result.collect()] == [(1, at(1), "x", 1.0 if timestamp_lookup_key else 2.0)]


@algorithms
@pytest.mark.parametrize("bounds_from", ["caller", "cache"])
def test_event_time_bounds_prune_without_changing_the_result(spark, tmp_path, algorithm, bounds_from):
    """Snapshots after the latest event time, or before the earliest minus the lookback, are pruned
    when the bounds are known (passed, or read from a cached input): the matches at both edges stay."""
    path = str(tmp_path / "snap")
    spark.createDataFrame([(1, g, float(i), i, g) for i, g in enumerate(GRID)], A_DDL).coalesce(
        1
    ).write.parquet(path)
    bound = bind(
        FeatureLookup(
            "fs.a", "cid", feature_names=["spend"], timestamp_lookup_key="event_ts", lookback_window=STEP
        ),
        A_KEYS, ("spend",),
    )  # fmt: skip
    inputs = [
        (1, None, None, None, at(3), 0.0),
        (1, None, None, None, at(5, 10), 1.0),
        (1, None, None, None, None, 0.0),
    ]
    df = spark.createDataFrame(inputs, INPUT_DDL)
    bounds = None
    if bounds_from == "cache":
        df = df.cache()
    else:
        bounds = {"event_ts": (at(3), at(5, 10))}
    result = point_in_time_join(
        df, [(bound, spark.read.parquet(path))],
        labels_broadcast_max_bytes=ALGORITHMS[algorithm], event_time_bounds=bounds,
    )  # fmt: skip
    got = sorted((tuple(r) for r in result.collect()), key=str)
    df.unpersist()
    assert got == sorted([(*inputs[0], 3.0), (*inputs[1], 5.0), (*inputs[2], None)], key=str)
