"""Tiled windows against a brute-force oracle that scans raw events per key and day."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from examples.churn.repo import CUSTOMER_FEATURES
from feature_store.offline.windowed import compute_daily_tiles, compute_snapshots

EPOCH = date(2025, 1, 1)
SMALL_WINDOWS = dataclasses.replace(
    CUSTOMER_FEATURES, features=tuple(dataclasses.replace(f, windows=(1, 3, 7)) for f in CUSTOMER_FEATURES.features)
)


def oracle(events: pd.DataFrame, spec, first: date, last: date) -> dict[tuple[str, date], dict]:
    """Snapshot rows per (key, day), straight from the definition in DESIGN.md."""
    expected = {}
    day = first
    while day <= last:
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        member_start = end - timedelta(days=spec.lookback_days + 1)
        for key, group in events.groupby("customer_id"):
            members = group[(group.transaction_ts >= member_start) & (group.transaction_ts < end)]
            if members.empty:
                continue
            row = {}
            for n in spec.windows():
                window = group[
                    (group.transaction_ts >= end - timedelta(days=n)) & (group.transaction_ts < end)
                ]
                count, total = len(window), float(window.amount.sum())
                row[f"txn_count_{n}d"] = count
                row[f"total_spend_{n}d"] = total
                row[f"avg_spend_{n}d"] = total / count if count else None
            last_ts = members.transaction_ts.max()
            row["last_txn_ts"] = last_ts.to_pydatetime().replace(tzinfo=None)
            row["days_since_last_txn"] = (end - last_ts).total_seconds() / 86400
            row["feature_ts"] = end.replace(tzinfo=None)
            expected[(key, day)] = row
        day += timedelta(days=1)
    return expected


def spark_snapshots(
    spark, events: pd.DataFrame, spec, first: date, last: date
) -> dict[tuple[str, date], dict]:
    schema = "customer_id string, amount double, transaction_ts timestamp"
    records = [
        (r.customer_id, r.amount, r.transaction_ts.to_pydatetime()) for r in events.itertuples(index=False)
    ]
    df = spark.createDataFrame(records, schema)
    df = df.withColumn("date", F.to_date("transaction_ts"))
    snapshots = compute_snapshots(compute_daily_tiles(df, spec), spec, first, last)
    return {(r["customer_id"], r["date"]): r.asDict() for r in snapshots.collect()}


def assert_same(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected), f"keys differ: {set(actual) ^ set(expected)}"
    for key, want in expected.items():
        got = actual[key]
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] is not None and math.isclose(
                    got[column], value, rel_tol=1e-9, abs_tol=1e-9
                ), (key, column, got[column], value)
            else:
                assert got[column] == value, (key, column, got[column], value)


# Offsets inside a day that hit the edges: exactly midnight, the last microsecond, and anything.
day_offsets = st.one_of(
    st.just(timedelta(0)),
    st.just(timedelta(days=1) - timedelta(microseconds=1)),
    st.integers(0, 86_399).map(lambda s: timedelta(seconds=s)),
)


def events_strategy(max_day: int):
    event = st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, max_day),
        day_offsets,
        st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 2)),
    )
    return st.lists(event, max_size=25)


def to_frame(raw) -> pd.DataFrame:
    rows = [
        {
            "customer_id": k,
            "amount": amount,
            "transaction_ts": pd.Timestamp(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=d) + offset),
        }
        for k, d, offset, amount in raw
    ]
    return pd.DataFrame(rows, columns=["customer_id", "amount", "transaction_ts"])


SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(raw=events_strategy(max_day=14), first=st.integers(0, 12), span=st.integers(0, 4))
def test_small_windows_match_oracle(spark, raw, first, span):
    """Windows 1/3/7 over two weeks: empty days, midnight events, keys entering and leaving."""
    events = to_frame(raw)
    first_day = EPOCH + timedelta(days=first)
    last_day = first_day + timedelta(days=span)
    assert_same(
        spark_snapshots(spark, events, SMALL_WINDOWS, first_day, last_day),
        oracle(events, SMALL_WINDOWS, first_day, last_day),
    )


@SETTINGS
@given(raw=events_strategy(max_day=240), first=st.integers(85, 235))
def test_production_windows_match_oracle(spark, raw, first):
    """The real 7/14/30/90-day spec over eight months: customers returning after > 90 days."""
    events = to_frame(raw)
    first_day = EPOCH + timedelta(days=first)
    last_day = first_day + timedelta(days=3)
    assert_same(
        spark_snapshots(spark, events, CUSTOMER_FEATURES, first_day, last_day),
        oracle(events, CUSTOMER_FEATURES, first_day, last_day),
    )


def test_customer_returning_after_quiet_quarter(spark):
    """Quiet for 100 days: one zero-count row the day it leaves the 90-day window, then none, then back."""
    events = to_frame([("a", 0, timedelta(hours=12), 10.0), ("a", 100, timedelta(hours=1), 5.0)])
    got = spark_snapshots(
        spark, events, CUSTOMER_FEATURES, EPOCH + timedelta(days=89), EPOCH + timedelta(days=100)
    )
    days_present = sorted(d for _, d in got)
    assert days_present == [
        EPOCH + timedelta(days=89),
        EPOCH + timedelta(days=90),
        EPOCH + timedelta(days=100),
    ]
    tombstone = got[("a", EPOCH + timedelta(days=90))]
    assert tombstone["txn_count_90d"] == 0 and tombstone["avg_spend_90d"] is None
    back = got[("a", EPOCH + timedelta(days=100))]
    assert back["txn_count_7d"] == 1 and back["days_since_last_txn"] == 23 / 24
