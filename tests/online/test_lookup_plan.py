"""OnlineLookupPlan.execute against a real (embedded SQLite) store: outputs, renames, defaults, misses."""

from datetime import UTC, datetime

import pytest

from feature_store.online.lookup import BoundLookup, LookupInputError, OnlineLookupPlan
from feature_store.online.sqlite_store import SqliteOnlineStore

TS = datetime(2025, 3, 2, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    store = SqliteOnlineStore(tmp_path / "online.db")
    store.write_batch(
        "fs.customers", ["customer_id"], [{"customer_id": 1, "feature_ts": TS, "spend": 9.5, "visits": 3}]
    )
    # A row published before `visits` was added to the table: it has only `spend`.
    store.write_batch("fs.customers", ["customer_id"], [{"customer_id": 2, "feature_ts": TS, "spend": 1.0}])
    store.write_batch(
        "fs.orders", ["country", "order_id"], [{"country": "DE", "order_id": 7, "feature_ts": TS, "n": 4}]
    )
    yield store
    store.close()


def plan() -> OnlineLookupPlan:
    return OnlineLookupPlan(
        [
            BoundLookup(
                "fs.customers",
                ("cid",),
                (int,),
                (("spend", "customer_spend"), ("visits", "visits")),
                (0.0, None),
            ),
            BoundLookup("fs.orders", ("country", "oid"), (str, int), (("n", "order_n"),), (-1,)),
        ]
    )


def test_rows_come_out_renamed_with_defaults_for_misses_and_old_rows(store):
    result = plan().execute(
        store,
        [
            {"cid": 1, "country": "DE", "oid": 7},
            {"cid": 2.0, "country": "DE", "oid": 8},  # an integral float is an int key; order 8 is missing
            {"cid": None, "country": "FR", "oid": 7},  # a null key is a miss without a read
        ],
    )
    assert result.rows == [
        {"customer_spend": 9.5, "visits": 3, "order_n": 4},
        {"customer_spend": 1.0, "visits": None, "order_n": -1},
        {"customer_spend": 0.0, "visits": None, "order_n": -1},
    ]
    assert result.missing == [[], ["fs.orders"], ["fs.customers", "fs.orders"]]
    assert result.feature_ts[0] == {"fs.customers": TS, "fs.orders": TS}
    assert result.feature_ts[2] == {"fs.customers": None, "fs.orders": None}


def test_bad_entity_rows_are_named(store):
    with pytest.raises(LookupInputError, match="entity row 1 has no column 'oid', a lookup key of fs.orders"):
        plan().execute(store, [{"cid": 1, "country": "DE", "oid": 7}, {"cid": 1, "country": "DE"}])
    with pytest.raises(LookupInputError, match="entity row 0: key column 'cid' must be an integer, got str"):
        plan().execute(store, [{"cid": "1", "country": "DE", "oid": 7}])
    with pytest.raises(LookupInputError, match="entity row 0 must be a mapping"):
        plan().execute(store, [[1, "DE", 7]])
