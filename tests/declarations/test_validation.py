"""Declarations are validated when built: each mistake is refused with an error naming the declaration
and the field. Pure Python: no Spark, no Dagster."""

from __future__ import annotations

import subprocess
import sys

import pytest

from feature_store.declarations import (
    Column,
    DeclarationError,
    Entity,
    Feature,
    FeatureFunction,
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
        Column("order_id", "string"),
        Column("customer_id", "string"),
        Column("store_id", "bigint"),
        Column("channel", "string"),
        Column("amount", "double"),
        Column("ordered_at", "timestamp"),
    ),
    event_time="ordered_at",
    required=("order_id", "customer_id", "amount", "ordered_at"),
    non_negative=("amount",),
)
CUSTOMER = Entity("customer", {"customer_id": "string"})
DOCS = TableDocs("Customer orders")


def windowed(
    *features: Feature, entity: Entity = CUSTOMER, name: str = "fs.customer_orders"
) -> WindowedTable:
    return WindowedTable(name, entity, ORDERS, features, DOCS, event_noun="order")


def transform(name: str, inputs: tuple[str, ...]) -> TransformTable:
    return TransformTable(name, CUSTOMER, inputs, (Column(f"{name.split('.')[1]}_x", "double"),), DOCS,
                          sql="select customer_id, 1.0 as x from orders")  # fmt: skip


def amount_ratio(amount: float, average: float) -> float:
    return amount / average


def refused(match: str):
    return pytest.raises(DeclarationError, match=match)


def test_a_valid_table_lists_its_features_and_shares_tile_components():
    table = windowed(
        Feature("orders", "count", windows=(7, 30)),
        Feature("spend", "sum", "amount", windows=(7, 30)),
        Feature("avg_spend", "avg", "amount", windows=(30,)),
        Feature("max_web_spend", "max", "amount", windows=(30,), where="channel = 'web'"),
        Feature("spend_sd", "stddev", "amount", windows=(30,)),
        Feature("stores", "approx_count_distinct", "store_id", windows=(30,)),
        Feature("last_channel", "last", "channel", windows=(30,)),
    )
    names = [c.name for c in table.feature_columns()]
    assert names[:5] == ["orders_7d", "spend_7d", "orders_30d", "spend_30d", "avg_spend_30d"]
    assert names[-2:] == ["last_order_ts", "days_since_last_order"]
    types = {c.name: c.dtype for c in table.feature_columns()}
    assert (types["orders_7d"], types["max_web_spend_30d"], types["stores_30d"], types["last_channel_30d"]) == (
        "bigint", "double", "bigint", "string")  # fmt: skip
    tiles = table.tile_components()
    # sum(amount) serves spend, avg_spend and spend_sd once; amount is required (never null), so their
    # counts are the event count; the filtered max gets its own filter index.
    assert sorted(tiles.values()) == sorted([
        "t__count", "t__sum__amount", "t__max__amount__f1", "t__m2__amount",
        "t__hll__store_id", "t__last_ts__channel", "t__last_value__channel",
    ])  # fmt: skip
    assert table.lookback_days == 30 and table.tiles_table == "fs.customer_orders_daily_tiles"
    assert [c.name for c in table.schema()][:3] == ["customer_id", "feature_ts", "date"]


def test_unknown_column():
    with refused(r"fs.customer_orders.features\[0\].column: unknown column 'amout' of source 'orders'"):
        windowed(Feature("spend", "sum", "amout"))


def test_aggregation_needs_a_number():
    with refused(r"features\[0\].column: column 'channel' of source 'orders' is string, expected double"):
        windowed(Feature("spend", "avg", "channel"))


def test_duplicate_feature_name():
    with refused(r"features\[1\].name: duplicate feature name 'spend_7d' \(also from features\[0\]\)"):
        windowed(Feature("spend", "sum", "amount"), Feature("spend", "max", "amount"))


def test_feature_name_taken_by_the_engine():
    with refused(r"fs.t.columns\[0\].name: 'feature_ts' is a column the engine writes"):
        TransformTable(
            "fs.t", CUSTOMER, ("orders",), (Column("feature_ts", "timestamp"),), DOCS, sql="select 1"
        )
    with refused(r"fs.t.columns\[0\].name: 'customer_id' is a column the engine writes"):
        TransformTable(
            "fs.t", CUSTOMER, ("orders",), (Column("customer_id", "string"),), DOCS, sql="select 1"
        )


def test_key_type_mismatch():
    store = Entity("store", {"store_id": "string"})
    with refused(
        r"entity 'store' key 'store_id': key type mismatch: the entity says string, source 'orders' has bigint"
    ):
        windowed(Feature("orders", "count"), entity=store)


def test_entity_key_missing_from_the_source():
    with refused(r"unknown column 'account_id' of source 'orders'"):
        windowed(Feature("orders", "count"), entity=Entity("account", {"account_id": "string"}))


@pytest.mark.parametrize("window", [0, -7])
def test_window_must_be_positive(window):
    with refused(rf"features\[0\].windows: a window is a positive number of days, got {window}"):
        windowed(Feature("orders", "count", windows=(7, window)))


def test_unknown_aggregation():
    with refused(r"features\[0\].aggregation: unknown aggregation 'median'"):
        windowed(Feature("spend", "median", "amount"))  # type: ignore[arg-type]


def test_count_takes_no_column_and_the_rest_need_one():
    with refused(r"features\[0\].column: count takes no column"):
        windowed(Feature("orders", "count", "amount"))
    with refused(r"features\[0\].column: max needs a column"):
        windowed(Feature("spend", "max"))


def test_cycle_between_transform_tables():
    a, b, c = (
        transform("fs.a", ("fs.c",)),
        transform("fs.b", ("fs.a",)),
        transform("fs.c", ("fs.b", "orders")),
    )
    with refused(r"fs\.\w\.inputs: a cycle between transform tables: fs.a -> fs.c -> fs.b -> fs.a"):
        Repo("r", sources=(ORDERS,), entities=(CUSTOMER,), tables=(a, b, c))


def test_transform_reading_itself():
    with refused(r"fs.a.inputs: a table cannot read itself"):
        transform("fs.a", ("fs.a",))


def test_unknown_transform_input():
    with refused(r"fs.a.inputs\[0\]: unknown input 'payments' \(sources: orders; tables: fs.a\)"):
        Repo("r", sources=(ORDERS,), entities=(CUSTOMER,), tables=(transform("fs.a", ("payments",)),))


def test_transform_needs_exactly_one_of_sql_and_function():
    with refused(r"fs.t.sql: give exactly one of sql= and function="):
        TransformTable("fs.t", CUSTOMER, ("orders",), (Column("x", "double"),), DOCS)


def test_table_entity_must_be_in_the_repo():
    table = windowed(Feature("orders", "count"))
    with refused(r"fs.customer_orders.entity: entity 'customer' is not in the repo's entities"):
        Repo("r", sources=(ORDERS,), tables=(table,))


def test_duplicate_names_across_a_repo():
    one, two = windowed(Feature("orders", "count")), windowed(Feature("spend", "sum", "amount"))
    with refused(r"repo 'r'.tables: duplicate name 'fs.customer_orders'"):
        Repo("r", sources=(ORDERS,), entities=(CUSTOMER,), tables=(one, two))


def test_on_demand_function_must_be_importable_and_fed():
    with refused(r"function 'ratio'.function: .* is not importable by name: use a module-level def"):
        FeatureFunction("ratio", lambda amount: amount, "double", {"amount": "amount"})
    with refused(r"function 'ratio'.inputs: no input given for parameter\(s\) average"):
        FeatureFunction("ratio", amount_ratio, "double", {"amount": "amount"})
    with refused(r"function 'ratio'.inputs: avg is not a parameter of amount_ratio"):
        FeatureFunction("ratio", amount_ratio, "double", {"amount": "amount", "average": "a", "avg": "b"})


def test_on_demand_function_runs_per_row_and_passes_nulls_through():
    ratio = FeatureFunction("ratio", amount_ratio, "double", {"amount": "amount", "average": "avg_spend_30d"})
    assert ratio({"amount": 30.0, "avg_spend_30d": 10.0}) == 3.0
    assert ratio({"amount": 30.0, "avg_spend_30d": None}) is None
    assert ratio.reference == f"{__name__}:amount_ratio"


def test_function_name_clashing_with_a_feature():
    table = windowed(Feature("spend", "sum", "amount"))
    clash = FeatureFunction("spend_7d", amount_ratio, "double", {"amount": "amount", "average": "spend_7d"})
    with refused(r"repo 'r'.functions: duplicate feature or function name 'spend_7d'"):
        Repo("r", sources=(ORDERS,), entities=(CUSTOMER,), tables=(table,), functions=(clash,))


def test_source_validation():
    with refused(
        r"source 'orders'.event_time: column 'amount' of source 'orders' is double, expected timestamp"
    ):
        Source("orders", "raw.orders", ORDERS.columns, event_time="amount")
    with refused(r"source 'orders'.table: 'orders' is not a two-part name"):
        Source("orders", "orders", ORDERS.columns, event_time="ordered_at")
    with refused(r"source 'orders'.non_negative: column 'channel' of source 'orders' is string"):
        Source("orders", "raw.orders", ORDERS.columns, event_time="ordered_at", non_negative=("channel",))


def test_declarations_import_without_spark_or_dagster():
    code = "import sys, feature_store.declarations; print(sorted({'pyspark', 'dagster'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
