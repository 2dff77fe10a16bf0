"""A second feature repo, unlike the churn example: an integer composite key, filtered and spread
aggregations, and a transform table built on a windowed one."""

from feature_store.declarations import (
    Column,
    Entity,
    Feature,
    Repo,
    Source,
    TableDocs,
    TransformTable,
    WindowedTable,
)

ORDERS = Source(
    name="orders",
    table="raw.orders",
    landing_dir="orders",
    columns=(
        Column("order_id", "string", "Unique id of the order"),
        Column("store_id", "bigint", "Store that sold"),
        Column("region", "string", "Sales region of the store"),
        Column("channel", "string", "web or store"),
        Column("amount", "double", "Order total"),
        Column("ordered_at", "timestamp", "When the order was placed (UTC)"),
    ),
    event_time="ordered_at",
    required=("order_id", "store_id", "region", "amount", "ordered_at"),
    non_negative=("amount",),
    description="Orders, one row each.",
)
STORE = Entity("store", {"store_id": "bigint", "region": "string"}, "A store in a region")

STORE_ORDERS = WindowedTable(
    name="stores.store_order_features",
    entity=STORE,
    source=ORDERS,
    features=(
        Feature("orders", "count", windows=(1, 7)),
        Feature("revenue", "sum", "amount", windows=(1, 7)),
        Feature("web_revenue_max", "max", "amount", windows=(7,), where="channel = 'web'"),
        Feature("revenue_sd", "stddev", "amount", windows=(7,)),
        Feature("channels", "approx_count_distinct", "channel", windows=(7,)),
    ),
    docs=TableDocs("Store orders over 1 and 7 days", owners=("team:retail",), tags={"domain": "store"}),
    event_noun="order",
)


def web_share(spark, inputs, day):
    from pyspark.sql import functions as F

    s = inputs["store_order_features"]
    return s.select(
        "store_id", "region", (F.col("web_revenue_max_7d") / F.col("revenue_7d")).alias("web_peak_share_7d")
    )


STORE_SHARES = TransformTable(
    name="stores.store_share_features",
    entity=STORE,
    inputs=("stores.store_order_features",),
    columns=(Column("web_peak_share_7d", "double", "Largest web order over 7 days as a share of revenue"),),
    docs=TableDocs("Derived store ratios", owners=("team:retail",)),
    function=web_share,
)

repo = Repo("stores", sources=(ORDERS,), entities=(STORE,), tables=(STORE_ORDERS, STORE_SHARES))
