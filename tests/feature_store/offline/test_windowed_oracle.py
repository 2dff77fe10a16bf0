"""Every aggregation, filter and window of a declared WindowedTable against a brute-force pandas oracle
that scans the raw events of each key and snapshot day (DESIGN.md's time semantics, verbatim).

Hypothesis draws events at the day edges for a few keys over ten days, so windows come out empty, keys
go quiet and come back, and several events share a time; the snapshots of a whole range are computed
in one run (the backfill's fan-out path) and, for one day, in the daily path."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from feature_store.declarations import (
    HLL_RELATIVE_STANDARD_ERROR,
    Column,
    Entity,
    Feature,
    Source,
    TableDocs,
    WindowedTable,
)
from feature_store.offline.windowed import compute_daily_tiles, compute_snapshots

EPOCH = date(2025, 1, 1)
DAYS = 10
ORDERS = Source(
    name="orders",
    table="raw.orders",
    columns=(
        Column("store_id", "bigint"),
        Column("region", "string"),
        Column("channel", "string"),
        Column("amount", "double"),
        Column("discount", "double"),  # nullable
        Column("product", "string"),
        Column("ordered_at", "timestamp"),
    ),
    event_time="ordered_at",
    landing_dir="orders",
    required=("store_id", "region", "amount", "ordered_at"),
)
STORE = Entity("store", {"store_id": "bigint", "region": "string"})  # integer composite key
WEB = "channel = 'web'"
TABLE = WindowedTable(
    "fs.store_orders",
    STORE,
    ORDERS,
    (
        Feature("orders", "count", windows=(1, 3)),
        Feature("web_orders", "count", windows=(2,), where=WEB),
        Feature("spend", "sum", "amount", windows=(1, 3)),
        Feature("avg_spend", "avg", "amount", windows=(3,)),
        Feature("avg_discount", "avg", "discount", windows=(3,)),  # counts non-null discounts only
        Feature("min_spend", "min", "amount", windows=(2,)),
        Feature("max_web_spend", "max", "amount", windows=(3,), where=WEB),
        Feature("spend_var", "variance", "amount", windows=(3,)),
        Feature("spend_sd", "stddev", "amount", windows=(1, 3)),
        Feature("web_spend_sd", "stddev", "amount", windows=(3,), where=WEB),
        Feature("products", "approx_count_distinct", "product", windows=(3,)),
        Feature("last_channel", "last", "channel", windows=(3,)),
        Feature("last_web_discount", "last", "discount", windows=(2,), where=WEB),
    ),
    TableDocs("Store orders"),
    event_noun="order",
)
KEYS = list(STORE.key_names)


def _last(window: pd.DataFrame, column: str):
    present = window[window[column].notna()]
    if present.empty:
        return None
    latest = present[present.ordered_at == present.ordered_at.max()]
    return latest[column].max()  # ties at the same time: the largest value


def _value(feature: Feature, window: pd.DataFrame):
    if feature.where:
        window = window[window.channel == "web"]
    if feature.aggregation == "count":
        return len(window)
    values = window[feature.column].dropna()
    match feature.aggregation:
        case "sum":
            return float(values.sum())
        case "avg":
            return float(values.mean()) if len(values) else None
        case "min":
            return values.min() if len(values) else None
        case "max":
            return values.max() if len(values) else None
        case "variance":
            return float(values.var(ddof=1)) if len(values) >= 2 else None
        case "stddev":
            return float(values.std(ddof=1)) if len(values) >= 2 else None
        case "approx_count_distinct":
            return values.nunique()
        case "last":
            return _last(window, feature.column)


def oracle(events: pd.DataFrame, first: date, last: date) -> dict[tuple, dict]:
    expected = {}
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        for key, group in events.groupby(KEYS):
            members = group[(group.ordered_at >= end - timedelta(days=TABLE.lookback_days + 1))
                            & (group.ordered_at < end)]  # fmt: skip
            if members.empty:
                continue
            row = {}
            for feature in TABLE.features:
                for n in feature.windows:
                    window = group[(group.ordered_at >= end - timedelta(days=n)) & (group.ordered_at < end)]
                    row[feature.output(n)] = _value(feature, window)
            last_ts = members.ordered_at.max()
            row["last_order_ts"] = last_ts.to_pydatetime().replace(tzinfo=None)
            row["days_since_last_order"] = (end - last_ts).total_seconds() / 86400
            row["feature_ts"] = end.replace(tzinfo=None)
            expected[(*key, day)] = row
    return expected


def spark_snapshots(spark, events: pd.DataFrame, first: date, last: date) -> dict[tuple, dict]:
    schema = ", ".join(f"{c.name} {c.dtype}" for c in ORDERS.columns)
    records = [
        (r.store_id, r.region, r.channel, r.amount, None if pd.isna(r.discount) else r.discount, r.product,
         r.ordered_at.to_pydatetime())
        for r in events.itertuples(index=False)
    ]  # fmt: skip
    df = spark.createDataFrame(records, schema).withColumn("date", F.to_date("ordered_at"))
    snapshots = compute_snapshots(compute_daily_tiles(df, TABLE), TABLE, first, last)
    assert [f.name for f in snapshots.schema.fields] == [c.name for c in TABLE.schema()]
    return {(r["store_id"], r["region"], r["date"]): r.asDict() for r in snapshots.collect()}


def assert_same(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected), f"keys differ: {set(actual) ^ set(expected)}"
    distinct = {
        f.output(n) for f in TABLE.features if f.aggregation == "approx_count_distinct" for n in f.windows
    }
    for key, want in expected.items():
        got = actual[key]
        for column, value in want.items():
            if column in distinct:  # within the sketch's error (3 standard errors), exact when tiny
                assert abs(got[column] - value) <= max(1e-9, 3 * HLL_RELATIVE_STANDARD_ERROR * value), (
                    key,
                    column,
                    got[column],
                    value,
                )
            elif isinstance(value, float):
                assert got[column] is not None and math.isclose(got[column], value, rel_tol=1e-9, abs_tol=1e-12), (
                    key, column, got[column], value)  # fmt: skip
            else:
                assert got[column] == value, (key, column, got[column], value)


day_offsets = st.one_of(
    st.just(timedelta(0)),
    st.just(timedelta(days=1) - timedelta(microseconds=1)),
    st.sampled_from([timedelta(hours=12)]),  # a shared time: ties for `last`
    st.integers(0, 86_399).map(lambda s: timedelta(seconds=s)),
)
events_strategy = st.lists(
    st.tuples(
        st.sampled_from([(1, "eu"), (1, "us"), (2, "eu")]),
        st.integers(0, DAYS - 1),
        day_offsets,
        st.sampled_from(["web", "store"]),
        st.integers(0, 100_000).map(lambda cents: cents / 100),  # amounts in cents up to 1,000
        st.one_of(st.none(), st.integers(0, 500).map(lambda cents: cents / 100)),
        st.sampled_from(["p1", "p2", "p3", "p4"]),
    ),
    min_size=1,
    max_size=40,
)


def as_frame(drawn) -> pd.DataFrame:
    rows = [
        {"store_id": key[0], "region": key[1], "channel": channel, "amount": amount, "discount": discount,
         "product": product,
         "ordered_at": datetime(EPOCH.year, EPOCH.month, EPOCH.day, tzinfo=UTC) + timedelta(days=day) + offset}
        for key, day, offset, channel, amount, discount, product in drawn
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=events_strategy, first_offset=st.integers(0, DAYS - 1), span=st.integers(0, 4))
def test_range_of_snapshots_matches_the_oracle(spark, drawn, first_offset, span):
    events = as_frame(drawn)
    first = EPOCH + timedelta(days=first_offset)
    last = first + timedelta(days=span)
    assert_same(spark_snapshots(spark, events, first, last), oracle(events, first, last))


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=events_strategy, day_offset=st.integers(0, DAYS - 1))
def test_one_day_matches_the_oracle(spark, drawn, day_offset):
    events = as_frame(drawn)
    day = EPOCH + timedelta(days=day_offset)
    assert_same(spark_snapshots(spark, events, day, day), oracle(events, day, day))


def test_many_distinct_values_stay_within_the_sketch_error(spark):
    """Beyond the sketch's exact range: 20,000 distinct products over three days' tiles."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    events = pd.DataFrame({
        "store_id": 1, "region": "eu", "channel": "web", "amount": 1.0, "discount": None,
        "product": [f"p{i}" for i in range(20_000)],
        "ordered_at": [start + timedelta(days=i % 3, seconds=i % 80_000) for i in range(20_000)],
    })  # fmt: skip
    day = date(2025, 1, 3)
    (row,) = spark_snapshots(spark, events, day, day).values()
    assert abs(row["products_3d"] - 20_000) <= 3 * HLL_RELATIVE_STANDARD_ERROR * 20_000, row["products_3d"]
