"""One contract, three stores: every test runs against SQLite, Redis and the Cosmos DB server."""

from __future__ import annotations

import math
import random
import threading
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feature_store.online import InvalidRowError, ReadRequest, WriteResult

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)
SERVER_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def features(result_row: dict | None) -> dict | None:
    return None if result_row is None else {k: v for k, v in result_row.items() if k != "feature_ts"}


def test_round_trips_every_supported_type(store, new_table):
    table = new_table()
    values = {
        "int": 7,
        "negative": -(2**63),
        "huge": 2**80,  # beyond int64 and double precision: still exact
        "float": 0.1,
        "neg_zero": -0.0,
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "tiny": 5e-324,
        "str": 'ünïcode ✓ "quoted" \\ :{not a tag}',
        "empty": "",
        "surrogate": "\ud800",
        "true": True,
        "false": False,
        "none": None,
        "utc": datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        "other_zone": datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        "naive_is_utc": datetime(2024, 6, 1, 12, 0),
        "pre_epoch": datetime(1901, 1, 1, tzinfo=UTC),
        "date": date(2024, 2, 29),
    }
    result = store.write_batch(table, ["id"], [{"id": 1, "feature_ts": day(1), **values}])
    assert result == WriteResult(1, 0)
    row = store.read([ReadRequest(table, [1])])[0].rows[0]
    assert row["feature_ts"] == day(1) and row["feature_ts"].tzinfo is not None
    for name in ("int", "negative", "huge", "float", "tiny", "str", "empty", "surrogate", "none", "date"):
        assert row[name] == values[name] and type(row[name]) is type(values[name]), name
    assert math.copysign(1.0, row["neg_zero"]) == -1.0
    assert math.isnan(row["nan"]) and row["inf"] == math.inf and row["ninf"] == -math.inf
    assert row["true"] is True and row["false"] is False
    assert row["utc"] == values["utc"] and row["utc"].utcoffset() == timedelta(0)
    assert row["other_zone"] == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert row["naive_is_utc"] == datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert row["pre_epoch"] == values["pre_epoch"]
    assert set(row) == {*values, "feature_ts"}  # key columns are not stored as features


# A batch: (key, day, value) rows; several batches applied in order.
batches_strategy = st.lists(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(-3, 3)), min_size=1, max_size=8),
    min_size=1,
    max_size=6,
)


@SERVER_SETTINGS
@given(batches=batches_strategy)
def test_writes_are_monotonic_like_a_dict_model(store, new_table, batches):
    table = new_table()
    model: dict[int, tuple[int, int]] = {}  # key -> (day, value)
    for batch in batches:
        # The contract: same-key rows reduce to the newest (last of equals), which lands if >= stored.
        newest: dict[int, tuple[int, int]] = {}
        for key, d, value in batch:
            if key not in newest or d >= newest[key][0]:
                newest[key] = (d, value)
        landed = {k: dv for k, dv in newest.items() if k not in model or dv[0] >= model[k][0]}
        model.update(landed)
        rows = [{"id": k, "feature_ts": day(d), "value": v} for k, d, v in batch]
        assert store.write_batch(table, ["id"], rows) == WriteResult(len(landed), len(batch) - len(landed))
        got = store.read([ReadRequest(table, list(range(5)))])[0].rows
        for key in range(5):
            expected = (
                None if key not in model else {"value": model[key][1], "feature_ts": day(model[key][0])}
            )
            assert got[key] == expected, (key, batch)


def test_rewriting_a_batch_is_idempotent(store, new_table):
    table = new_table()
    rows = [{"id": i, "feature_ts": day(3), "x": i * 1.5, "s": f"v{i}"} for i in range(50)]
    assert store.write_batch(table, ["id"], rows) == WriteResult(50, 0)
    before = store.read([ReadRequest(table, list(range(50)))])[0].rows
    assert store.write_batch(table, ["id"], rows) == WriteResult(50, 0)  # equal feature_ts overwrites
    assert store.read([ReadRequest(table, list(range(50)))])[0].rows == before
    older = [{**r, "feature_ts": day(2), "x": -1.0} for r in rows]
    assert store.write_batch(table, ["id"], older) == WriteResult(0, 50)
    assert store.read([ReadRequest(table, list(range(50)))])[0].rows == before


def test_missing_keys_and_tables_are_reported(store, new_table):
    table = new_table()
    store.write_batch(table, ["id"], [{"id": 1, "feature_ts": day(1), "x": 1}])
    result = store.read([ReadRequest(table, [1, 2, 1, 3])])[0]
    assert [features(r) for r in result.rows] == [{"x": 1}, None, {"x": 1}, None]
    assert result.missing == [2, 3]
    assert result.rows[0] is not result.rows[2]  # duplicates are independent dicts
    never_written = store.read([ReadRequest(new_table(), [1])])[0]
    assert never_written.rows == [None] and never_written.missing == [1]
    assert store.read([]) == []
    assert store.read([ReadRequest(table, [])])[0].rows == []


def test_composite_keys_are_typed_and_ordered(store, new_table):
    table = new_table()
    rows = [
        {"country": "DE", "store": 1, "feature_ts": day(1), "x": "DE/1"},
        {"country": "DE", "store": "1", "feature_ts": day(1), "x": "DE/'1'"},
        {"country": "1", "store": "DE", "feature_ts": day(1), "x": "1/DE"},
        {"country": 'a",1', "store": 2, "feature_ts": day(1), "x": "tricky"},
        {"country": "/?#\\ %2F ü", "store": -5, "feature_ts": day(1), "x": "url-hostile"},  # Cosmos ids, URLs
    ]
    assert store.write_batch(table, ["country", "store"], rows).written == 5
    keys = [("DE", 1), ("DE", "1"), ("1", "DE"), ('a",1', 2), ("a", "1,2"), ["DE", 1], ("/?#\\ %2F ü", -5)]
    got = [features(r) for r in store.read([ReadRequest(table, keys)])[0].rows]
    assert got == [
        {"x": "DE/1"},
        {"x": "DE/'1'"},
        {"x": "1/DE"},
        {"x": "tricky"},
        None,
        {"x": "DE/1"},
        {"x": "url-hostile"},
    ]


def _count_round_trips(store, monkeypatch) -> list[int]:
    """Count calls that reach the backend: redis socket sends, Cosmos SDK calls, SQLite statements."""
    calls = [0]
    kind = type(store).__name__
    if kind == "RedisOnlineStore":
        import redis.connection

        original = redis.connection.AbstractConnection.send_packed_command

        def counted(self, *args, **kwargs):
            calls[0] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    elif kind == "CosmosOnlineStore":
        container = store._c
        for name in ("read_items", "query_items"):
            original_call = getattr(container, name)

            def counted_call(*args, _original=original_call, **kwargs):
                calls[0] += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(container, name, counted_call)
        for name in ("read_item", "read"):
            monkeypatch.setattr(container, name, lambda *a, **k: pytest.fail("extra round trip"))
    return calls


def test_multi_table_read_is_one_round_trip(store, new_table, monkeypatch):
    customers, products = new_table(), new_table()
    store.write_batch(
        customers, ["customer_id"], [{"customer_id": i, "feature_ts": day(1), "c": i} for i in range(10)]
    )
    store.write_batch(products, ["sku"], [{"sku": f"p{i}", "feature_ts": day(2), "p": -i} for i in range(10)])
    store.read(
        [ReadRequest(customers, [0]), ReadRequest(products, ["p0"])]
    )  # warm caches (Cosmos routing map)
    calls = _count_round_trips(store, monkeypatch)
    results = store.read([ReadRequest(products, ["p3", "p99"]), ReadRequest(customers, [5, 6, 42])])
    assert [r.table for r in results] == [products, customers]
    assert [features(r) for r in results[0].rows] == [{"p": -3}, None]
    assert [features(r) for r in results[1].rows] == [{"c": 5}, {"c": 6}, None]
    if type(store).__name__ != "SqliteOnlineStore":
        assert calls[0] == 1
    many = store.read(
        [ReadRequest(customers, list(range(12))), ReadRequest(products, [f"p{i}" for i in range(12)])]
    )
    assert [len(r.missing) for r in many] == [2, 2]  # past ReadMany's threshold on Cosmos: one query
    if type(store).__name__ != "SqliteOnlineStore":
        assert calls[0] == 2


def test_expiry_is_relative_to_feature_ts_and_retroactive(store, new_table):
    table, other = new_table(), new_table()
    now = datetime.now(UTC)
    rows = [{"id": 1, "feature_ts": now, "x": 1}, {"id": 2, "feature_ts": now - timedelta(hours=1), "x": 2}]
    store.write_batch(table, ["id"], rows)
    store.write_batch(other, ["id"], rows)
    assert store.get_expiry(table) is None
    store.set_expiry(table, 1.5)
    assert store.get_expiry(table) == 1.5
    assert [features(r) for r in store.read_table(table, [1, 2]).rows] == [{"x": 1}, None]
    assert store.read_table(other, [1, 2]).missing == []  # expiry is per table
    time.sleep(max(0.0, (now + timedelta(seconds=1.6) - datetime.now(UTC)).total_seconds()))
    assert store.read_table(table, [1, 2]).missing == [1, 2]
    store.set_expiry(table, None)  # nothing was written under the TTL, so nothing was collected
    assert [features(r) for r in store.read_table(table, [1, 2]).rows] == [{"x": 1}, {"x": 2}]
    with pytest.raises(ValueError):
        store.set_expiry(table, 0)
    # Writes while a TTL is set: fresh rows read back, stale ones never appear.
    store.set_expiry(table, 3600)
    fresh = datetime.now(UTC)
    assert store.write_batch(table, ["id"], [{"id": 3, "feature_ts": fresh, "x": 3}]).written == 1
    store.write_batch(table, ["id"], [{"id": 4, "feature_ts": fresh - timedelta(hours=2), "x": 4}])
    assert [features(r) for r in store.read_table(table, [3, 4]).rows] == [{"x": 3}, None]


@pytest.mark.slow
def test_large_batch_round_trips(store, new_table):
    table = new_table()
    # The Cosmos emulator answers `id IN (...)` by scanning the container once per query, O(items x ids):
    # 20k rows take minutes there without exercising more of our code than 5k (5 parallel 1000-id queries).
    n = 5_000 if type(store).__name__ == "CosmosOnlineStore" else 20_000
    rows = [
        {"id": i, "feature_ts": day(i % 7), **{f"f{j}": i * j + 0.5 for j in range(8)}, "tag": f"k{i % 97}"}
        for i in range(n)
    ]
    started = time.perf_counter()
    assert store.write_batch(table, ["id"], rows) == WriteResult(n, 0)
    result = store.read([ReadRequest(table, list(range(n)))])[0]
    assert result.missing == []
    for i in (0, 1, n // 2, n - 1):
        assert result.rows[i] == {
            **{f"f{j}": i * j + 0.5 for j in range(8)},
            "tag": f"k{i % 97}",
            "feature_ts": day(i % 7),
        }
    print(f"{type(store).__name__}: {n} rows written and read in {time.perf_counter() - started:.1f}s")


BAD_VALUES = [b"bytes", [1, 2], {"a": 1}, Decimal("1.5"), {1, 2}, object(), 1 + 2j]


@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda v: type(v).__name__)
def test_bad_values_are_rejected_before_any_write(store, new_table, bad):
    table = new_table()
    rows = [{"id": i, "feature_ts": day(1), "x": i} for i in range(5)] + [
        {"id": 99, "feature_ts": day(1), "x": bad}
    ]
    with pytest.raises(InvalidRowError) as err:
        store.write_batch(table, ["id"], rows)
    message = str(err.value)
    assert table in message and "99" in message and "'x'" in message and type(bad).__name__ in message
    assert store.read_table(table, [*range(5), 99]).missing == [*range(5), 99]


def test_oversized_rows_and_bad_keys_are_rejected_before_any_write(store_factory, new_table):
    store = store_factory(max_row_bytes=1024)
    table = new_table()
    ok = [{"id": i, "feature_ts": day(1), "x": "a" * 100} for i in range(3)]
    cases = {
        "over the limit": {"id": 7, "feature_ts": day(1), "x": "a" * 2000},
        "missing key column 'id'": {"feature_ts": day(1), "x": 1},
        "key parts must be int or str": {"id": 1.5, "feature_ts": day(1), "x": 1},
        "must be a datetime": {"id": 8, "feature_ts": "2025-01-01", "x": 1},
        "'feature_ts' must be a datetime": {"id": 10, "feature_ts": None, "x": 1},
        "must be a non-empty str": {"id": 9, "feature_ts": day(1), 3: 1},
    }
    for expected, bad_row in cases.items():
        with pytest.raises(InvalidRowError, match=expected) as err:
            store.write_batch(table, ["id"], [*ok, bad_row])
        assert table in str(err.value)
    with pytest.raises(InvalidRowError, match="reserved"):
        store.write_batch(
            table, ["id"], [{"id": 1, "event_ts": day(1), "feature_ts": 3}], ts_column="event_ts"
        )
    with pytest.raises(InvalidRowError, match="table name"):
        store.write_batch("bad/name", ["id"], ok)
    assert store.read_table(table, [0, 1, 2, 7, 8, 9]).missing == [0, 1, 2, 7, 8, 9]


def test_drop_table_removes_rows_and_expiry_only_there(store, new_table):
    table, other = new_table(), new_table()
    for t in (table, other):
        store.write_batch(t, ["id"], [{"id": i, "feature_ts": day(1), "x": i} for i in range(30)])
    store.set_expiry(table, 10**9)
    store.drop_table(table)
    assert store.read_table(table, list(range(30))).missing == list(range(30))
    assert store.get_expiry(table) is None
    assert store.read_table(other, list(range(30))).missing == []
    store.drop_table(new_table())  # dropping a table that never existed is fine


def test_accepts_arrow_batches_and_a_custom_ts_column(store, new_table):
    table = new_table()
    batch = pa.RecordBatch.from_pylist(
        [{"k": "a", "event_ts": day(2), "v": 1.0}, {"k": "b", "event_ts": day(3), "v": None}],
        schema=pa.schema(
            [("k", pa.string()), ("event_ts", pa.timestamp("us", tz="UTC")), ("v", pa.float64())]
        ),
    )
    assert store.write_batch(table, ["k"], batch, ts_column="event_ts") == WriteResult(2, 0)
    rows = store.read_table(table, ["a", "b"]).rows
    assert rows == [{"v": 1.0, "feature_ts": day(2)}, {"v": None, "feature_ts": day(3)}]


def test_accepts_dataframes_and_iterators(store, new_table):
    pd = pytest.importorskip("pandas")
    table = new_table()
    frame = pd.DataFrame(
        {"id": [1, 2], "feature_ts": pd.to_datetime(["2025-01-02", "2025-01-03"], utc=True), "x": [0.5, 1.5]}
    )
    assert store.write_batch(table, ["id"], frame) == WriteResult(2, 0)
    rows = (r for r in [{"id": 3, "feature_ts": day(4), "x": 2.5}])  # e.g. a Spark partition iterator
    assert store.write_batch(table, ["id"], rows) == WriteResult(1, 0)
    got = store.read_table(table, [1, 2, 3]).rows
    assert got == [
        {"x": 0.5, "feature_ts": day(1)},
        {"x": 1.5, "feature_ts": day(2)},
        {"x": 2.5, "feature_ts": day(4)},
    ]
    assert all(type(r["x"]) is float for r in got)  # numpy float64 stored as a plain float


def test_concurrent_writers_stay_monotonic(store_factory, new_table):
    """Writers with their own connections race on the same keys; the newest day always wins."""
    table = new_table()
    keys, days, writers = range(20), range(6), 4
    plan = [(k, d) for k in keys for d in days]

    stores = [store_factory() for _ in range(writers)]  # opened here: fixtures aren't thread-safe
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        rows = plan[:]
        random.Random(seed).shuffle(rows)
        try:
            for i in range(0, len(rows), 10):
                chunk = [{"id": k, "feature_ts": day(d), "v": k * 100 + d} for k, d in rows[i : i + 10]]
                stores[seed].write_batch(table, ["id"], chunk)
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = store_factory().read_table(table, list(keys)).rows
    assert rows == [{"v": k * 100 + 5, "feature_ts": day(5)} for k in keys]


def test_ping(store):
    assert store.ping() is True
