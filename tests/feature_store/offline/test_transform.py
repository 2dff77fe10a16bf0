"""Transform tables: the user's SQL or DataFrame function computes a day; the engine stamps feature_ts
and date, types the columns, and refuses results that break the table's contract."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from feature_store.declarations import Column, Entity, TableDocs, TransformTable
from feature_store.offline.transform import TransformOutputError, compute_transform

DAY = date(2025, 1, 31)
STORE = Entity("store", {"store_id": "bigint", "region": "string"})
COLUMNS = (Column("spend_per_order_7d", "double"), Column("busy", "boolean"))
DOCS = TableDocs("Derived store features")


def table(**code) -> TransformTable:
    return TransformTable("fs.store_derived", STORE, ("store_orders",), COLUMNS, DOCS, **code)


@pytest.fixture
def snapshot(spark):
    rows = [(1, "eu", 120.0, 4), (1, "us", 0.0, 0), (2, "eu", 30.0, 1)]
    return spark.createDataFrame(rows, "store_id bigint, region string, spend_7d double, orders_7d bigint")


def per_order(spark, inputs, day):
    s = inputs["store_orders"]
    return s.select("store_id", "region", (F.col("spend_7d") / F.when(F.col("orders_7d") > 0, F.col("orders_7d")))
                    .alias("spend_per_order_7d"), (F.col("orders_7d") >= 2).alias("busy"))  # fmt: skip


SQL = """
select store_id, region, spend_7d / nullif(orders_7d, 0) as spend_per_order_7d, orders_7d >= 2 as busy,
       {day} as ignored
from store_orders
"""


@pytest.mark.parametrize("code", [{"sql": SQL}, {"function": per_order}], ids=["sql", "function"])
def test_sql_and_function_give_the_same_stamped_snapshot(spark, snapshot, code):
    out = compute_transform(spark, table(**code), {"store_orders": snapshot}, DAY)
    assert out.columns == ["store_id", "region", "feature_ts", "date", "spend_per_order_7d", "busy"]
    assert dict(out.dtypes)["store_id"] == "bigint"
    rows = sorted(tuple(r) for r in out.collect())
    assert rows == [
        (1, "eu", datetime(2025, 2, 1), DAY, 30.0, True),
        (1, "us", datetime(2025, 2, 1), DAY, None, False),
        (2, "eu", datetime(2025, 2, 1), DAY, 30.0, False),
    ]


def test_a_missing_column_is_named(spark, snapshot):
    sql = "select store_id, region, 1.0 as spend_per_order_7d from store_orders"
    with pytest.raises(
        TransformOutputError, match=r"fs.store_derived: the transform's result has no column\(s\) busy"
    ):
        compute_transform(spark, table(sql=sql), {"store_orders": snapshot}, DAY)


def test_several_rows_for_one_key_are_refused(spark, snapshot):
    sql = "select store_id, 'eu' as region, 1.0 as spend_per_order_7d, true as busy from store_orders"
    with pytest.raises(TransformOutputError, match=r"several rows for one key .*\(1, 'eu'\) x2"):
        compute_transform(spark, table(sql=sql), {"store_orders": snapshot}, DAY)


def test_a_null_key_is_refused(spark, snapshot):
    sql = "select store_id, if(region = 'us', null, region) as region, 1.0 as spend_per_order_7d, true as busy from store_orders"
    with pytest.raises(TransformOutputError, match=r"rows with a null key \(store_id, region\)"):
        compute_transform(spark, table(sql=sql), {"store_orders": snapshot}, DAY)


def test_a_function_must_return_a_dataframe(spark, snapshot):
    def not_a_frame(spark, inputs, day):
        return inputs["store_orders"].collect()

    with pytest.raises(TransformOutputError, match=r"the function returned list, not a DataFrame"):
        compute_transform(spark, table(function=not_a_frame), {"store_orders": snapshot}, DAY)
