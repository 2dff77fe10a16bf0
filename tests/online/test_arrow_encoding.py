"""The Arrow fast path of `encode_batch` (arrow_encoding.py) against the row path it must agree with.

The same data goes to both paths, as a RecordBatch/Table and as `batch.to_pylist()`. The texts may differ
(Arrow prints some floats differently), but they must decode to identical values and types, with
identical keys, feature_ts, same-key reduction and errors. Pure: no server.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feature_store.online.base import TS_COLUMN, EncodedBatch, encode_batch
from feature_store.online.encoding import (
    InvalidRowError,
    decode_row,
    encode_key,
    encode_row,
    to_micros,
)

TABLE = "ft"
KEY_NAMES = ("id", "k1", "k2")

# ---------------------------------------------------------------------------------------------------
# Value strategies. Temporal columns are drawn as their storage integers (so the full range, and the
# sub-microsecond part of nanoseconds, are reachable) and cast to the Arrow type.

US_MIN, US_MAX = to_micros(datetime.min), to_micros(datetime.max)  # what to_pylist can turn into datetime
NS_MIN, NS_MAX = -(2**63) + 1, 2**63 - 1  # -2**63 is NaT
DAY_MIN = date.min.toordinal() - date(1970, 1, 1).toordinal()
DAY_MAX = date.max.toordinal() - date(1970, 1, 1).toordinal()


def unit_ints(unit: str) -> st.SearchStrategy[int]:
    """Storage integers of a timestamp[unit] that to_pylist turns into a datetime (or pandas.Timestamp).

    Nanoseconds before 1970 with a sub-µs part are left out here: they are a known disagreement between
    the paths, covered on their own by `test_pre_epoch_nanoseconds_floor_like_the_row_path`."""
    if unit == "ns":
        return st.one_of(st.integers(0, NS_MAX), st.integers(NS_MIN // 1000 + 1, 0).map(lambda u: u * 1000))
    per = {"s": 1_000_000, "ms": 1000, "us": 1}[unit]
    return st.integers(-(-US_MIN // per), US_MAX // per)


chars = st.characters(blacklist_categories=("Cs",))  # Arrow strings are UTF-8: no lone surrogates
TRICKY_TEXT = [
    "",
    '"',
    "\\",
    '\\"',
    "'",
    "\x00",
    "\n\r\t",
    "\x01\x1f\x7f",
    "\u2028\u2029",
    "é",
    "日本",
    "😀",
    ":{",
    '{"t":1}',
    '{"d":5}',
    "null",
    "NaN",
    "1",
    "[0,{}]",
    ",",
    "\ufeff",
]
texts = st.one_of(st.sampled_from(TRICKY_TEXT), st.text(chars, max_size=12))

SPECIAL_FLOATS = [
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    1e16,
    -1e16,
    1e-7,
    1e-5,
    2.5e-5,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    3.0,
    -3.0,
    1e20,
    1e21,
    1e22,
    2.0**53,
    2.0**53 + 2,
    2.0**63,
    0.1,
    123456789.0,
    1.5e-7,
    1.23e302,
]
floats64 = st.one_of(
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(),
    st.integers(-(2**60), 2**60).map(float),  # integral floats must stay floats
)
SPECIAL_FLOATS32 = [math.nan, math.inf, -math.inf, -0.0, 3.0, 3.4028234663852886e38, 1.401298464324817e-45]
floats32 = st.one_of(st.sampled_from(SPECIAL_FLOATS32), st.floats(width=32))

# kind -> (Arrow type, strategy of storage values, Arrow type of the storage values or None)
KINDS: dict[str, tuple[pa.DataType, st.SearchStrategy, pa.DataType | None]] = {
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1), None),
    "int32": (pa.int32(), st.integers(-(2**31), 2**31 - 1), None),
    "bool": (pa.bool_(), st.booleans(), None),
    "float64": (pa.float64(), floats64, None),
    "float32": (pa.float32(), floats32, None),
    "string": (pa.string(), texts, None),
    "large_string": (pa.large_string(), texts, None),
    "ts_us_utc": (pa.timestamp("us", "UTC"), unit_ints("us"), pa.int64()),
    "ts_us": (pa.timestamp("us"), unit_ints("us"), pa.int64()),
    "ts_ms": (pa.timestamp("ms"), unit_ints("ms"), pa.int64()),
    "ts_s_utc": (pa.timestamp("s", "UTC"), unit_ints("s"), pa.int64()),
    "ts_ns": (pa.timestamp("ns"), unit_ints("ns"), pa.int64()),
    "ts_ns_utc": (pa.timestamp("ns", "UTC"), unit_ints("ns"), pa.int64()),
    "date32": (pa.date32(), st.integers(DAY_MIN, DAY_MAX), pa.int32()),
    "date64": (pa.date64(), st.integers(DAY_MIN, DAY_MAX).map(lambda d: d * 86_400_000), pa.int64()),
}
FEATURE_KINDS = sorted(KINDS)
NON_FLOAT_KINDS = [k for k in FEATURE_KINDS if not k.startswith("float")]
KEY_KINDS = ["int64", "int32", "string", "large_string"]
TS_KINDS = ["ts_us_utc", "ts_us", "ts_ms", "ts_s_utc", "ts_ns", "ts_ns_utc"]


def column(kind: str, values: list) -> pa.Array:
    arrow_type, _, storage = KINDS[kind]
    if storage is None:
        return pa.array(values, arrow_type)
    return pa.array(values, storage).cast(arrow_type)


def column_values(draw, strategy: st.SearchStrategy, n: int, *, nulls: bool, pooled: bool) -> list:
    """n values; `pooled` draws mostly from a few (so keys and timestamps repeat)."""
    if pooled:
        pool = draw(st.lists(strategy, min_size=1, max_size=3))
        strategy = (
            st.one_of(st.sampled_from(pool), strategy) if draw(st.booleans()) else st.sampled_from(pool)
        )
    if nulls:
        strategy = st.one_of(strategy, st.none())
    return draw(st.lists(strategy, min_size=n, max_size=n))


feature_names = st.one_of(
    st.sampled_from(["x", "a b", '"q"', "back\\slash", "é", "\x00", ":{"]),
    st.text(chars, min_size=1, max_size=6),
)


@st.composite
def batches(draw, kinds: list[str] = FEATURE_KINDS, min_rows: int = 0):
    """(RecordBatch, key columns, ts column): random keys (often repeated), timestamps (often equal),
    and feature columns of every supported type with nulls anywhere, in a random column order."""
    n = draw(st.integers(min_rows, 12))
    key_kinds = draw(st.lists(st.sampled_from(KEY_KINDS), min_size=1, max_size=3))
    key_columns = list(KEY_NAMES[: len(key_kinds)])
    ts_column = draw(st.sampled_from([TS_COLUMN, TS_COLUMN, "event_ts"]))
    columns: dict[str, pa.Array] = {}
    for name, kind in zip(key_columns, key_kinds, strict=True):
        strategy = KINDS[kind][1]
        columns[name] = column(
            kind, column_values(draw, strategy, n, nulls=False, pooled=draw(st.booleans()))
        )
    ts_kind = draw(st.sampled_from(TS_KINDS))
    ts_unit = KINDS[ts_kind][0].unit
    ts_values = column_values(draw, unit_ints(ts_unit), n, nulls=False, pooled=True)
    columns[ts_column] = column(ts_kind, ts_values)
    taken = {*key_columns, ts_column, TS_COLUMN}
    names = draw(st.lists(feature_names.filter(lambda s: s not in taken), max_size=6, unique=True))
    for name in names:
        kind = draw(st.sampled_from(kinds))
        strategy = KINDS[kind][1]
        columns[name] = column(kind, column_values(draw, strategy, n, nulls=True, pooled=draw(st.booleans())))
    order = draw(st.permutations(list(columns)))
    batch = pa.record_batch([columns[c] for c in order], names=order)
    return batch, key_columns, ts_column


# ---------------------------------------------------------------------------------------------------
# Comparison.


def same(a, b) -> bool:
    """Equal with the same type; NaN equals NaN and -0.0 differs from 0.0."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is datetime:
        return a == b and a.tzinfo == b.tzinfo
    return a == b


def same_row(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


def by_key(encoded: EncodedBatch) -> dict[str, tuple[int, str]]:
    assert len(set(encoded.keys)) == len(encoded.keys), "keys of an EncodedBatch must be unique"
    assert len(encoded.keys) == len(encoded.values) == len(encoded.ts)
    return dict(zip(encoded.keys, zip(encoded.ts, encoded.values, strict=True), strict=True))


def oracle(rows: list[dict], key_columns: list[str], ts_column: str) -> dict[str, tuple[int, dict]]:
    """Per encoded key: feature_ts and decoded features of the row with the greatest feature_ts, the
    last of equals (straight from the definition in base.py)."""
    chosen: dict[str, tuple[int, dict]] = {}
    skip = frozenset((*key_columns, ts_column))
    for row in rows:
        key = encode_key(tuple(row[c] for c in key_columns))
        micros = to_micros(row[ts_column])
        if key not in chosen or micros >= chosen[key][0]:
            chosen[key] = (micros, decode_row(encode_row(row, micros, skip, 10**9, "oracle")))
    return chosen


def assert_agree(fast: EncodedBatch, slow: EncodedBatch, batch, key_columns, ts_column) -> None:
    assert fast.table == slow.table == TABLE
    assert fast.rows_in == slow.rows_in == batch.num_rows  # WriteResult: written + skipped == rows_in
    fast_rows, slow_rows = by_key(fast), by_key(slow)
    assert fast_rows.keys() == slow_rows.keys()
    expected = oracle(batch.to_pylist(), key_columns, ts_column)
    assert expected.keys() == fast_rows.keys()
    for key, (ts, text) in slow_rows.items():
        fast_ts, fast_text = fast_rows[key]
        assert fast_ts == ts == expected[key][0], (key, fast_ts, ts, expected[key][0])
        got, want = decode_row(fast_text), decode_row(text)
        assert same_row(got, want), (key, fast_text, text)
        assert same_row(got, expected[key][1]), (key, fast_text, expected[key][1])


def both(batch, key_columns, ts_column, max_row_bytes=64 * 1024):
    """Outcome of the Arrow path and of the row path: an EncodedBatch or the InvalidRowError."""
    out = []
    for rows in (batch, batch.to_pylist()):
        try:
            out.append(encode_batch(TABLE, key_columns, rows, ts_column, max_row_bytes))
        except InvalidRowError as exc:
            out.append(exc)
    return out


# ---------------------------------------------------------------------------------------------------
# Properties.


@settings(max_examples=200, deadline=None)
@given(case=batches(), cuts=st.lists(st.integers(0, 12), max_size=3))
def test_arrow_path_decodes_like_the_row_path(case, cuts):
    batch, key_columns, ts_column = case
    fast = encode_batch(TABLE, key_columns, batch, ts_column)
    slow = encode_batch(TABLE, key_columns, batch.to_pylist(), ts_column)
    assert_agree(fast, slow, batch, key_columns, ts_column)
    # The same rows as a Table of several chunks take the same path to the same result.
    bounds = sorted({0, batch.num_rows, *(min(c, batch.num_rows) for c in cuts)})
    chunks = [batch.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)] or [batch]
    assert encode_batch(TABLE, key_columns, pa.Table.from_batches(chunks), ts_column) == fast


@settings(max_examples=150, deadline=None)
@given(
    case=batches(kinds=NON_FLOAT_KINDS, min_rows=1),
    fault=st.sampled_from(["null_key", "null_ts", "unsupported", "oversized", "fits"]),
    where=st.integers(0, 11),
    data=st.data(),
)
def test_invalid_batches_fail_on_both_paths(case, fault, where, data):
    """A null key or timestamp, an unsupported column or an oversized row fails both paths; a limit
    exactly at the longest row fails neither (without floats the texts are the same length)."""
    batch, key_columns, ts_column = case
    row = where % batch.num_rows
    limit = 64 * 1024
    if fault in ("null_key", "null_ts"):
        name = data.draw(st.sampled_from(key_columns)) if fault == "null_key" else ts_column
        i = batch.schema.get_field_index(name)
        values = batch.column(i).to_pylist()
        values[row] = None
        batch = batch.set_column(i, name, pa.array(values, batch.column(i).type))
    elif fault == "unsupported":
        bad = data.draw(
            st.sampled_from(
                [
                    pa.array([[1, 2]] * batch.num_rows, pa.list_(pa.int64())),
                    pa.array([b"\x00"] * batch.num_rows, pa.binary()),
                    pa.array([Decimal("1.5")] * batch.num_rows, pa.decimal128(5, 2)),
                    pa.array([{"a": 1}] * batch.num_rows, pa.struct([("a", pa.int64())])),
                ]
            )
        )
        batch = batch.append_column("bad", bad)
    else:
        skip = frozenset((*key_columns, ts_column))
        longest = max(len(encode_row(r, to_micros(r[ts_column]), skip, 10**9, "")) for r in batch.to_pylist())
        limit = longest - 1 if fault == "oversized" else longest
    fast, slow = both(batch, key_columns, ts_column, limit)
    if fault == "fits":
        assert isinstance(fast, EncodedBatch) and isinstance(slow, EncodedBatch), (fast, slow)
        assert_agree(fast, slow, batch, key_columns, ts_column)
    else:
        assert isinstance(fast, InvalidRowError) and isinstance(slow, InvalidRowError), (fast, slow)
        assert f"table {TABLE!r}" in str(fast)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3), st.integers(NS_MIN, NS_MAX), st.one_of(st.none(), st.integers(NS_MIN, NS_MAX))
        ),
        min_size=1,
        max_size=8,
    ),
    tz=st.sampled_from([None, "UTC"]),
)
def test_pre_epoch_nanoseconds_floor_like_the_row_path(rows, tz):
    """Any nanosecond timestamp, including those before 1970 with a sub-µs part (e.g. -1 ns), must become
    the same µs on both paths, as feature_ts and as a feature value."""
    ids, stamps, values = zip(*rows, strict=True)
    batch = pa.record_batch(
        {
            "id": pa.array(ids, pa.int64()),
            TS_COLUMN: pa.array(stamps, pa.int64()).cast(pa.timestamp("ns", tz)),
            "x": pa.array(values, pa.int64()).cast(pa.timestamp("ns", tz)),
        }
    )
    fast = encode_batch(TABLE, ["id"], batch)
    slow = encode_batch(TABLE, ["id"], batch.to_pylist())
    assert_agree(fast, slow, batch, ["id"], TS_COLUMN)


# ---------------------------------------------------------------------------------------------------
# Examples.


def test_special_floats_keep_value_and_type():
    n = len(SPECIAL_FLOATS)
    batch = pa.record_batch(
        {
            "id": pa.array(range(n), pa.int64()),
            TS_COLUMN: pa.array([0] * n, pa.timestamp("us", "UTC")),
            "f64": pa.array(SPECIAL_FLOATS, pa.float64()),
            "f32": pa.array((SPECIAL_FLOATS32 * n)[:n], pa.float32()),
        }
    )
    fast = encode_batch(TABLE, ["id"], batch)
    slow = encode_batch(TABLE, ["id"], batch.to_pylist())
    assert_agree(fast, slow, batch, ["id"], TS_COLUMN)
    decoded = [decode_row(v) for v in fast.values]
    assert [type(r["f64"]) for r in decoded] == [float] * n
    assert decoded[SPECIAL_FLOATS.index(3.0)]["f64"] == 3.0
    assert decoded[SPECIAL_FLOATS.index(1e16)]["f64"] == 1e16


def test_duplicate_keys_keep_the_newest_and_the_last_of_equals():
    ts = pa.array([5, 9, 9, 1, 7, 7], pa.timestamp("us"))
    batch = pa.record_batch(
        {
            "cc": pa.array(["DE", "DE", "DE", "FR", "FR", "FR"]),
            "n": pa.array([1, 1, 1, 2, 2, 2], pa.int32()),
            TS_COLUMN: ts,
            "v": pa.array([0, 1, 2, 3, 4, 5]),
        }
    )
    fast = encode_batch(TABLE, ["cc", "n"], batch)
    assert fast.rows_in == 6
    rows = {k: decode_row(v)["v"] for k, v in zip(fast.keys, fast.values, strict=True)}
    assert rows == {'"DE",1': 2, '"FR",2': 5}
    assert dict(zip(fast.keys, fast.ts, strict=True)) == {'"DE",1': 9, '"FR",2': 7}
    assert_agree(fast, encode_batch(TABLE, ["cc", "n"], batch.to_pylist()), batch, ["cc", "n"], TS_COLUMN)


def test_table_of_several_chunks():
    def chunk(ids, stamps, values):
        return pa.record_batch(
            {
                "id": pa.array(ids, pa.int64()),
                TS_COLUMN: pa.array(stamps, pa.timestamp("us", "UTC")),
                "s": pa.array(values),
                "d": pa.array([date(2024, 2, 29)] * len(ids)),
            }
        )

    table = pa.Table.from_batches(
        [chunk([1, 2], [10, 10], ["a", None]), chunk([2, 3], [10, 5], ["b", "c\n"]), chunk([1], [3], ["old"])]
    )
    assert table.column("id").num_chunks == 3
    fast = encode_batch(TABLE, ["id"], table)
    slow = encode_batch(TABLE, ["id"], table.to_pylist())
    assert_agree(fast, slow, table, ["id"], TS_COLUMN)
    rows = {k: decode_row(v)["s"] for k, v in zip(fast.keys, fast.values, strict=True)}
    assert rows == {"1": "a", "2": "b", "3": "c\n"}
    # Columns chunked differently from each other.
    mixed = pa.table(
        {
            "id": pa.chunked_array([[1], [2, 3]], pa.int64()),
            TS_COLUMN: pa.chunked_array([[1, 2], [3]], pa.timestamp("ns")),
            "x": pa.chunked_array([[0.5], [None], [3.0]], pa.float64()),
        }
    )
    assert_agree(
        encode_batch(TABLE, ["id"], mixed),
        encode_batch(TABLE, ["id"], mixed.to_pylist()),
        mixed,
        ["id"],
        TS_COLUMN,
    )
    empty = table.slice(0, 0)
    assert encode_batch(TABLE, ["id"], empty) == EncodedBatch(TABLE, [], [], [], 0)


def base_batch(**extra: pa.Array) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int64()),
            TS_COLUMN: pa.array([datetime(2025, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", "UTC")),
            **extra,
        }
    )


def raises_on_both(batch, key_columns=("id",), ts_column=TS_COLUMN, max_row_bytes=64 * 1024) -> str:
    fast, slow = both(batch, list(key_columns), ts_column, max_row_bytes)
    assert isinstance(slow, InvalidRowError), slow
    assert isinstance(fast, InvalidRowError), fast
    return str(fast)


@pytest.mark.parametrize("key_type", [pa.int64(), pa.int32(), pa.string()])
def test_null_key_names_table_and_key_column(key_type):
    values = [1, None] if pa.types.is_integer(key_type) else ["a", None]
    batch = base_batch().set_column(0, "id", pa.array(values, key_type))
    message = raises_on_both(batch)
    assert "'ft'" in message and "'id'" in message


def test_null_timestamp_names_table_key_and_column():
    batch = base_batch().set_column(1, TS_COLUMN, pa.array([datetime(2025, 1, 1), None], pa.timestamp("us")))
    message = raises_on_both(batch)
    assert "'ft'" in message and "'feature_ts'" in message and "key 2" in message


@pytest.mark.parametrize(
    "bad",
    [
        pa.array([[1], [2]], pa.list_(pa.int64())),
        pa.array([b"a", b"b"], pa.binary()),
        pa.array([Decimal("1.5"), None], pa.decimal128(5, 2)),
        pa.array([{"a": 1}, None], pa.struct([("a", pa.int64())])),
        pa.array([1, 2], pa.time64("us")),
        pa.array([1, 2], pa.duration("us")),
    ],
    ids=lambda a: str(a.type),
)
def test_unsupported_column_type_names_table_and_column(bad):
    message = raises_on_both(base_batch(bad_col=bad))
    assert "'ft'" in message and "'bad_col'" in message


@pytest.mark.parametrize(
    "key",
    [pa.array([1.5, 2.5]), pa.array([True, False]), pa.array([b"a", b"b"], pa.binary())],
    ids=lambda a: str(a.type),
)
def test_unsupported_key_type_names_table_and_key_column(key):
    message = raises_on_both(base_batch().set_column(0, "id", key))
    assert "'ft'" in message and "'id'" in message


def test_oversized_row_names_table_and_key():
    batch = base_batch(s=pa.array(["short", "x" * 200]))
    message = raises_on_both(batch, max_row_bytes=100)
    assert "'ft'" in message and "key 2" in message and "over the limit of 100" in message


def test_schema_errors_name_table_and_column():
    message = raises_on_both(base_batch(), key_columns=("id", "missing"))
    assert "'ft'" in message and "'missing'" in message
    message = raises_on_both(base_batch(), ts_column="event_ts")
    assert "'ft'" in message and "'event_ts'" in message
    not_a_timestamp = base_batch().set_column(1, TS_COLUMN, pa.array([date(2025, 1, 1)] * 2))
    message = raises_on_both(not_a_timestamp)
    assert "'ft'" in message and "'feature_ts'" in message
    reserved = base_batch(event_ts=pa.array([datetime(2025, 1, 1)] * 2, pa.timestamp("us")))
    message = raises_on_both(reserved, ts_column="event_ts")
    assert "'ft'" in message and "'feature_ts'" in message
    empty_name = base_batch(**{"": pa.array([1, 2])})
    message = raises_on_both(empty_name)
    assert "'ft'" in message


def test_pre_epoch_nanosecond_example():
    """-1 ns is 1969-12-31 23:59:59.999999999: the row path floors it to -1 µs."""
    batch = pa.record_batch(
        {
            "id": pa.array([1], pa.int64()),
            TS_COLUMN: pa.array([-1], pa.timestamp("ns")),
            "x": pa.array([-1], pa.timestamp("ns")),
        }
    )
    slow = encode_batch(TABLE, ["id"], batch.to_pylist())
    assert slow.ts == [-1]
    fast = encode_batch(TABLE, ["id"], batch)
    assert fast.ts == slow.ts
    assert decode_row(fast.values[0]) == decode_row(slow.values[0])


def test_all_null_column_of_null_type_is_accepted_like_the_row_path():
    """A column of Arrow type `null` (e.g. Spark's `lit(None)`) holds only missing values, which the row
    path stores as null."""
    batch = base_batch(nothing=pa.array([None, None], pa.null()))
    slow = encode_batch(TABLE, ["id"], batch.to_pylist())
    assert decode_row(slow.values[0])["nothing"] is None
    fast = encode_batch(TABLE, ["id"], batch)
    assert_agree(fast, slow, batch, ["id"], TS_COLUMN)
