"""Publishing Spark DataFrames from the executors, against every store (the same fixtures as the contract
suite): values round-trip, writes are monotonic across publishes, bad input is refused before any write."""

from __future__ import annotations

import math
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from feature_store.online.base import InvalidRowError
from feature_store.online.publish import publish_dataframe

DAY = datetime(2025, 3, 2, tzinfo=UTC)


def snapshot(spark, n: int, day: datetime, offset: float = 0.0):
    """n keys of one snapshot day with every supported type, some nulls and a NaN."""
    return spark.range(n).select(
        F.col("id").alias("customer_id"),
        F.lit(day).cast("timestamp").alias("feature_ts"),
        (F.col("id") % 7).alias("txn_count_7d"),
        (F.col("id") * 1.5 + offset).alias("amount_sum_7d"),
        F.when(F.col("id") % 5 == 0, None).otherwise(F.col("id") / 3).alias("amount_avg_7d"),
        F.when(F.col("id") == 1, float("nan")).otherwise(F.lit(0.25)).alias("ratio"),
        F.concat(F.lit('seg-é"\\'), F.col("id").cast("string")).alias("segment"),
        (F.col("id") % 2 == 0).alias("is_even"),
        F.lit(day - timedelta(hours=3)).cast("timestamp").alias("last_txn_ts"),
        F.lit(date(2025, 1, 31)).alias("first_seen"),
    )


def test_publish_round_trips_every_type(spark, store, store_spec, new_table):
    table = new_table()
    result = publish_dataframe(snapshot(spark, 50, DAY), store_spec, table, ["customer_id"])
    assert (result.rows, result.written, result.skipped_older) == (50, 50, 0)
    assert result.tasks >= 1
    rows = store.read_table(table, list(range(50))).rows
    assert rows[1]["feature_ts"] == DAY
    assert math.isnan(rows[1]["ratio"])
    assert rows[5]["amount_avg_7d"] is None
    assert rows[6] | {"ratio": None} == {
        "feature_ts": DAY,
        "txn_count_7d": 6,
        "amount_sum_7d": 9.0,
        "amount_avg_7d": 2.0,
        "ratio": None,
        "segment": 'seg-é"\\6',
        "is_even": True,
        "last_txn_ts": DAY - timedelta(hours=3),
        "first_seen": date(2025, 1, 31),
    }
    assert type(rows[6]["txn_count_7d"]) is int and type(rows[6]["amount_sum_7d"]) is float


def test_older_day_is_skipped_and_republish_is_idempotent(spark, store, store_spec, new_table):
    table = new_table()
    newer, older = snapshot(spark, 40, DAY, offset=100.0), snapshot(spark, 60, DAY - timedelta(days=1))
    publish_dataframe(newer, store_spec, table, ["customer_id"])
    backfill = publish_dataframe(older, store_spec, table, ["customer_id"])
    # keys 0..39 hold the newer day; 40..59 only exist in the older day
    assert (backfill.written, backfill.skipped_older) == (20, 40)
    again = publish_dataframe(newer, store_spec, table, ["customer_id"])
    assert (again.written, again.skipped_older) == (40, 0)  # equal feature_ts lands again: idempotent
    rows = store.read_table(table, list(range(60))).rows
    assert [r["feature_ts"] for r in rows] == [DAY] * 40 + [DAY - timedelta(days=1)] * 20
    assert rows[3]["amount_sum_7d"] == 3 * 1.5 + 100.0


def test_concurrent_publishers_of_different_days_end_with_the_newest(spark, store, store_spec, new_table):
    table = new_table()
    days = [DAY - timedelta(days=d) for d in range(4)]
    errors: list[BaseException] = []

    def publish(day: datetime) -> None:
        try:
            publish_dataframe(snapshot(spark, 200, day, offset=day.day), store_spec, table, ["customer_id"])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(d,)) for d in reversed(days)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = store.read_table(table, list(range(200))).rows
    assert all(r["feature_ts"] == DAY for r in rows)
    assert rows[10]["amount_sum_7d"] == 10 * 1.5 + DAY.day


@pytest.mark.parametrize(
    "bad_column, message",
    [
        ("array(1, 2) AS history", "'history' has type array<int>"),
        ("CAST(1 AS DECIMAL(10,2)) AS price", r"'price' has type decimal\(10,2\)"),
        ("map('a', 1) AS attrs", "'attrs' has type map<string,int>"),
    ],
)
def test_unsupported_types_are_refused_before_any_write(
    spark, store, store_spec, new_table, bad_column, message
):
    table = new_table()
    df = snapshot(spark, 10, DAY).selectExpr("*", bad_column)
    with pytest.raises(InvalidRowError, match=message):
        publish_dataframe(df, store_spec, table, ["customer_id"])
    assert store.read_table(table, list(range(10))).missing == list(range(10))


def test_oversized_rows_are_refused_before_any_write(spark, store, store_spec, new_table):
    table = new_table()
    df = snapshot(spark, 10, DAY).withColumn(
        "notes", F.when(F.col("customer_id") == 7, F.repeat(F.lit("x"), 70_000)).otherwise(F.lit("short"))
    )
    with pytest.raises(InvalidRowError, match=r"row limit.*'customer_id': 7"):
        publish_dataframe(df, store_spec, table, ["customer_id"])
    assert store.read_table(table, list(range(10))).missing == list(range(10))


def test_missing_key_and_bad_timestamp_are_named(spark, store_spec, new_table):
    table = new_table()
    df = snapshot(spark, 3, DAY)
    with pytest.raises(InvalidRowError, match="column 'account_id' is missing"):
        publish_dataframe(df, store_spec, table, ["account_id"])
    with pytest.raises(InvalidRowError, match="'feature_ts' must be a timestamp, is string"):
        publish_dataframe(
            df.withColumn("feature_ts", F.lit("2025-01-01")), store_spec, table, ["customer_id"]
        )
    with pytest.raises(InvalidRowError, match="key column 'ratio' must be an integer or string"):
        publish_dataframe(df, store_spec, table, ["ratio"])


def test_composite_keys(spark, store, store_spec, new_table):
    table = new_table()
    df = snapshot(spark, 20, DAY).withColumn(
        "region", F.when(F.col("customer_id") % 2 == 0, "EU").otherwise("US")
    )
    publish_dataframe(df, store_spec, table, ["region", "customer_id"])
    rows = store.read_table(table, [("EU", 4), ("US", 5), ("US", 4)]).rows
    assert rows[0]["txn_count_7d"] == 4 and rows[1]["txn_count_7d"] == 5 and rows[2] is None
