"""`featurestore republish` rebuilds a wiped Redis from Delta (issue 15, recovery): every table of the
feature repo by default, each key's latest row, and the online-vs-offline check passes again."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import redis

from feature_store.cli.main import main
from feature_store.client.core import FeatureStoreClient
from feature_store.online.sync import check_online_matches_offline
from feature_store.runtime.settings import Settings
from tests.repos.stores import STORE_ORDERS, STORE_SHARES

REDIS_DB = 9  # a database of its own: the test flushes it
DAY1, DAY2 = date(2025, 3, 1), date(2025, 3, 2)
SCHEMA = (
    "store_id bigint, region string, feature_ts timestamp, orders_7d bigint, revenue_7d double, date date"
)


def snapshot_rows(day: date, values: dict[tuple[int, str], tuple[int, float]]) -> list[tuple]:
    feature_ts = datetime(day.year, day.month, day.day + 1)
    return [(store, region, feature_ts, n, revenue, day) for (store, region), (n, revenue) in values.items()]


@pytest.fixture
def deployment(spark, home, redis_server, monkeypatch) -> FeatureStoreClient:
    for name, value in {
        "FEATURE_STORE_HOME": str(home),
        "FEATURE_STORE_REPO": "tests.repos.stores",
        "FEATURE_STORE_ONLINE_STORE": "redis",
        "FEATURE_STORE_REDIS_HOST": redis_server.host,
        "FEATURE_STORE_REDIS_PORT": str(redis_server.port),
        "FEATURE_STORE_REDIS_DB": str(REDIS_DB),
    }.items():
        monkeypatch.setenv(name, value)
    redis.Redis(redis_server.host, redis_server.port, db=REDIS_DB).flushdb()
    client = FeatureStoreClient(spark=spark, settings=Settings.from_env())
    day1 = {(1, "north"): (3, 30.0), (2, "north"): (1, 5.5), (1, "south"): (0, 0.0)}
    day2 = {(1, "north"): (4, 41.0), (2, "south"): (2, 7.25)}  # (2, north) and (1, south) went quiet
    for table in (STORE_ORDERS, STORE_SHARES):
        rows = snapshot_rows(DAY1, day1) + snapshot_rows(DAY2, day2)
        client.create_table(table.name, ["store_id", "region"], spark.createDataFrame(rows, SCHEMA),
                            timestamp_keys="feature_ts", partition_columns="date")  # fmt: skip
    yield client
    client.close()


def check(client: FeatureStoreClient, table: str, day: date):
    return check_online_matches_offline(
        client.tables, client.online_store, table, ["store_id", "region"], "feature_ts", day
    )


def test_a_wiped_redis_is_rebuilt_from_delta_and_passes_the_consistency_check(
    deployment, redis_server, capsys
):
    assert main(["republish", "--verify"]) == 0
    first = capsys.readouterr()
    assert "[1/2] stores.store_order_features: 4 keys, 4 written" in first.out
    assert "[2/2] stores.store_share_features: 4 keys" in first.out and first.out.count("verified: ") == 2
    assert "republished 2 of 2 table(s) to redis" in first.err

    redis.Redis(redis_server.host, redis_server.port, db=REDIS_DB).flushdb()
    lost = check(deployment, STORE_ORDERS.name, DAY2)
    assert not lost.passed and "2 missing online" in lost.summary

    assert main(["republish"]) == 0
    capsys.readouterr()
    for table in (STORE_ORDERS.name, STORE_SHARES.name):
        assert check(deployment, table, DAY2).passed
    # Each key's latest row: day 2's where the key was active then, day 1's for keys that went quiet.
    rows = deployment.online_store.read_table(
        STORE_ORDERS.name, [(1, "north"), (2, "north"), (9, "east")]
    ).rows
    assert (rows[0]["orders_7d"], rows[0]["revenue_7d"]) == (4, 41.0)
    assert (rows[1]["orders_7d"], rows[1]["revenue_7d"]) == (1, 5.5)
    assert rows[2] is None


def test_republish_never_replaces_a_newer_online_row_unless_told_to_overwrite(deployment, capsys):
    """A daily sync may have published day 3 already: republishing days 1-2 leaves it, --overwrite not."""
    assert main(["republish", STORE_ORDERS.name]) == 0
    newer = {
        "store_id": 1,
        "region": "north",
        "feature_ts": datetime(2025, 3, 4),
        "orders_7d": 9,
        "revenue_7d": 99.0,
    }
    deployment.online_store.write_batch(STORE_ORDERS.name, ["store_id", "region"], [newer], "feature_ts")

    assert main(["republish", STORE_ORDERS.name]) == 0
    assert "4 keys, 3 written, 1 already newer online" in capsys.readouterr().out
    assert deployment.online_store.read_table(STORE_ORDERS.name, [(1, "north")]).rows[0]["orders_7d"] == 9

    assert main(["republish", "--overwrite", STORE_ORDERS.name]) == 0
    assert "4 keys, 4 written, 0 already newer online" in capsys.readouterr().out
    assert deployment.online_store.read_table(STORE_ORDERS.name, [(1, "north")]).rows[0]["orders_7d"] == 4


def test_a_table_that_fails_is_named_the_others_still_publish_and_the_exit_code_says_so(deployment, capsys):
    assert main(["republish", "stores.not_a_table", STORE_SHARES.name]) == 1
    out, err = capsys.readouterr()
    assert "[1/2] stores.not_a_table: FAILED" in err and "not_a_table" in err
    assert "[2/2] stores.store_share_features: 4 keys, 4 written" in out
    assert "republished 1 of 2 table(s) to redis in" in err and "failed: stores.not_a_table" in err
