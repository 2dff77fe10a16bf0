"""The row and key encoding shared by every online store (pure: no server)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feature_store.online.encoding import (
    INT_MAX,
    INT_MIN,
    InvalidRowError,
    OnlineStoreError,
    decode_row,
    decode_rows,
    encode_key,
    encode_row,
    row_ts,
    to_micros,
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=INT_MIN - 2, max_value=INT_MIN + 2),
    st.integers(min_value=INT_MAX - 2, max_value=INT_MAX + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
)
names = st.text(min_size=1).filter(lambda n: n not in ("id", "feature_ts"))


def same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, float) and a == 0:
        return type(b) is float and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(row=st.dictionaries(names, values, max_size=12), ts=st.datetimes(timezones=st.just(UTC)))
def test_rows_round_trip_with_their_types(row, ts):
    text = encode_row({**row, "id": 1}, to_micros(ts), frozenset({"id", "feature_ts"}), 10**7, "t")
    assert row_ts(text) == to_micros(ts) and row_ts(text.encode()) == to_micros(ts)
    for raw in (text, text.encode()):
        decoded = decode_row(raw)
        assert decoded.pop("feature_ts") == ts
        assert decoded.keys() == row.keys()
        assert all(same(row[k], decoded[k]) for k in row), (row, decoded)


def same_row(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.none() | st.dictionaries(names, values, max_size=5), max_size=6),
    as_bytes=st.sampled_from(["str", "bytes", "mixed"]),
)
def test_a_batch_decodes_as_each_row_does(rows, as_bytes):
    texts = [
        None if row is None else encode_row(row, n, frozenset({"feature_ts"}), 10**7, "t")
        for n, row in enumerate(rows)
    ]
    # Redis returns bytes, SQLite str; a batch that mixes them must decode too.
    encode = {"str": lambda n: False, "bytes": lambda n: True, "mixed": lambda n: n % 2 == 1}[as_bytes]
    texts = [t.encode() if t is not None and encode(n) else t for n, t in enumerate(texts)]
    decoded = decode_rows(texts)
    assert len(decoded) == len(texts)
    assert all(
        same_row(got, None if t is None else decode_row(t)) for got, t in zip(decoded, texts, strict=True)
    )


def test_a_batch_names_a_value_that_is_not_a_row():
    good = encode_row({"x": 1}, 0, frozenset(), 100, "t").encode()
    for bad in (b'{"x":1}', b"[1,2]", b"not json", b"[1,{}],[2,{}]"):
        with pytest.raises(OnlineStoreError, match="stored value is not a feature row"):
            decode_rows([good, None, bad])


key_parts = st.one_of(st.integers(), st.text())


@settings(max_examples=300, deadline=None)
@given(a=st.lists(key_parts, min_size=1, max_size=3), b=st.lists(key_parts, min_size=1, max_size=3))
def test_key_encoding_is_injective_and_typed(a, b):
    assert (encode_key(tuple(a)) == encode_key(tuple(b))) == (
        [(type(x), x) for x in a] == [(type(x), x) for x in b]
    )


def test_bare_values_and_one_tuples_are_the_same_key():
    assert encode_key(42) == encode_key((42,)) == encode_key([42]) == "42"
    assert encode_key("a") == encode_key(("a",)) == '"a"'
    assert encode_key(("DE", 7)) == '"DE",7'


def test_numpy_scalars_are_accepted():
    np = pytest.importorskip("numpy")
    assert encode_key(np.int64(5)) == "5"
    text = encode_row(
        {"x": np.float64(0.5), "n": np.int32(3), "b": np.bool_(True)}, 0, frozenset(), 1000, "t"
    )
    assert decode_row(text) == {"x": 0.5, "n": 3, "b": True, "feature_ts": datetime(1970, 1, 1, tzinfo=UTC)}


def test_pandas_nat_is_a_missing_value():
    pd = pytest.importorskip("pandas")
    text = encode_row({"x": pd.NaT, "y": pd.Timestamp("2025-01-01 12:00")}, 0, frozenset(), 1000, "t")
    decoded = decode_row(text)
    assert decoded["x"] is None and decoded["y"] == datetime(2025, 1, 1, 12, tzinfo=UTC)


def test_rejections_name_where_and_what():
    with pytest.raises(InvalidRowError, match=r"table 'ft', key 3, column 'x': unsupported value type bytes"):
        encode_row({"x": b"1"}, 0, frozenset(), 1000, "table 'ft', key 3")
    with pytest.raises(InvalidRowError, match="over the limit of 20"):
        encode_row({"x": "a" * 20}, 0, frozenset(), 20, "table 'ft', key 3")
    with pytest.raises(InvalidRowError, match="key parts must be int or str"):
        encode_key((1, None))
    with pytest.raises(InvalidRowError, match="type bool"):
        encode_key(True)
