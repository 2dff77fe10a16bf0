"""Feature tables in Delta -> the online store, and the check that the two agree.

Used by the `*_online` assets (a day or a backfilled range) and `FeatureStoreClient.publish_table`
(a whole table: each key's latest row). Rows are written from the executors (online/publish.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feature_store.offline.delta_tables import DeltaTables
from feature_store.offline.quality import Outcome
from feature_store.online.base import TS_COLUMN, OnlineStore
from feature_store.online.catalog import PublishedTable, now_utc, record_published
from feature_store.online.encoding import to_micros
from feature_store.online.lookup import OnlineLookupPlan, bind_lookup
from feature_store.online.publish import PublishResult, latest_per_key, publish_dataframe
from feature_store.online.specs import OnlineStoreSpec
from feature_store.training.lookups import FeatureLookup, resolve_lookup

MAX_REPORTED_DIFFERENCES = 20


def publish_rows(
    tables: DeltaTables,
    table: str,
    key_columns: Sequence[str],
    ts_column: str | None,
    spec: OnlineStoreSpec,
    days: tuple[date, date] | None = None,
    exclude: Sequence[str] = ("date",),
    filter_condition: str | None = None,
    features: Sequence[str] | None = None,
) -> PublishResult:
    """Publish the table's rows of `days` (all days if None), each key's latest row once. A table without
    a timestamp key (ts_column None) is stamped with the publish time: each publish replaces it."""
    df = tables.read_days(table, *days) if days else tables.read(table)
    if filter_condition:
        df = df.where(filter_condition)
    if ts_column is None:
        ts_column = TS_COLUMN
        df = df.withColumn(TS_COLUMN, F.current_timestamp())
    columns = [*key_columns, ts_column]
    columns += (
        list(features) if features is not None else [c for c in df.columns if c not in {*columns, *exclude}]
    )
    df = df.select(*columns)
    schema = df.schema
    if days is None or days[0] != days[1]:
        df = latest_per_key(df, list(key_columns), ts_column)  # a snapshot day has one row per key already
    result = publish_dataframe(df, spec, table, list(key_columns), ts_column)
    described = PublishedTable(
        name=table,
        primary_keys=tuple(key_columns),
        key_types=tuple(schema[k].dataType.simpleString() for k in key_columns),
        features=tuple((c, schema[c].dataType.simpleString()) for c in columns[len(key_columns) + 1 :]),
        timestamp_key=ts_column,
        published_at=now_utc(),
        rows_published=result.rows,
    )
    with spec.open() as store:  # after the rows: a reader that finds the descriptor finds rows too
        record_published(store, described)
    return result


def _micros_columns(df: DataFrame) -> DataFrame:
    """Timestamps as µs since epoch, so comparisons never depend on the driver's time zone."""
    return df.select(
        *(
            F.unix_micros(F.col(f.name)).alias(f.name)
            if isinstance(f.dataType, T.TimestampType | T.TimestampNTZType)
            else F.col(f.name)
            for f in df.schema.fields
        )
    )


def _same(online: Any, offline: Any) -> bool:
    if (
        isinstance(online, float)
        and isinstance(offline, float)
        and math.isnan(online)
        and math.isnan(offline)
    ):
        return True
    return online == offline and type(online) is type(offline) or (online is None and offline is None)


def check_online_matches_offline(
    tables: DeltaTables,
    store: OnlineStore,
    table: str,
    key_columns: Sequence[str],
    ts_column: str,
    day: date,
    sample_size: int = 1000,
    seed: int = 0,
    exclude: Sequence[str] = ("date",),
) -> Outcome:
    """For a random sample of the keys of snapshot `day`: the online row exists, is not older than
    that day's row, and equals, feature by feature, the offline row with the same key and feature_ts."""
    keys = list(key_columns)
    sample = [
        tuple(r)
        for r in tables.read_days(table, day, day)
        .select(*keys)
        .orderBy(F.rand(seed))
        .limit(sample_size)
        .collect()
    ]
    if not sample:
        return Outcome(True, f"{table} has no rows on {day}: nothing to compare", {"sampled": 0})
    store_keys = [k[0] if len(keys) == 1 else k for k in sample]
    stored = store.read_table(table, store_keys).rows
    day_ts = tables.read_days(table, day, day).select(F.unix_micros(F.max(ts_column))).first()[0]

    missing = [k for k, row in zip(store_keys, stored, strict=True) if row is None]
    stale = [
        k
        for k, row in zip(store_keys, stored, strict=True)
        if row is not None and to_micros(row[TS_COLUMN]) < day_ts
    ]
    found = {
        k: row
        for k, row in zip(sample, stored, strict=True)
        if row is not None and to_micros(row[TS_COLUMN]) >= day_ts
    }
    differences: list[dict[str, Any]] = []
    if found:
        spark = tables.spark
        wanted = spark.createDataFrame(
            [(*k, to_micros(row[TS_COLUMN])) for k, row in found.items()], [*keys, "__ts"]
        )
        offline = _micros_columns(tables.read(table).drop(*exclude))
        expected = (
            offline.join(F.broadcast(wanted), [*keys]).where(F.col(ts_column) == F.col("__ts")).drop("__ts")
        )
        by_key = {tuple(r[k] for k in keys): r.asDict() for r in expected.collect()}
        for key, online in found.items():
            offline_row = by_key.get(key)
            if offline_row is None:
                differences.append({"key": list(key), "problem": "no offline row with the online feature_ts"})
                continue
            for column, want in offline_row.items():
                if column in keys or column == ts_column:
                    continue
                got = online.get(column)
                got = to_micros(got) if isinstance(got, datetime) else got
                if not _same(got, want):
                    differences.append({"key": list(key), "column": column, "online": got, "offline": want})
    failed = len(missing) + len(stale) + len(differences)
    summary = (
        f"{len(sample)} sampled keys of {day}: online equals offline"
        if not failed
        else f"{len(sample)} sampled keys of {day}: {len(missing)} missing online, {len(stale)} older than {day}, "
        f"{len(differences)} differing values"
    )
    return Outcome(
        not failed,
        summary,
        {
            "sampled": len(sample),
            "seed": seed,
            "missing_keys": [_plain_key(k) for k in missing[:MAX_REPORTED_DIFFERENCES]],
            "stale_keys": [_plain_key(k) for k in stale[:MAX_REPORTED_DIFFERENCES]],
            "differences": differences[:MAX_REPORTED_DIFFERENCES],
        },
    )


def _plain_key(key: Any) -> Any:
    return list(key) if isinstance(key, tuple) else key


def plan_online_lookup(lookups: Sequence[FeatureLookup], describe: Callable[[str], Any]) -> OnlineLookupPlan:
    """Resolve lookups against their tables' catalog entries (`describe(name)` -> FeatureTable); every
    mistake (wrong key count, unknown feature, a default or rename for a feature not looked up) is
    reported here, once, instead of per request."""
    bound = []
    for lookup in lookups:
        if not isinstance(lookup, FeatureLookup):
            raise TypeError(f"expected FeatureLookup objects, got {type(lookup).__name__}")
        table = describe(lookup.table_name)
        names = resolve_lookup(lookup, table.name, table.primary_keys, table.feature_names)
        key_types = [table.key_types[k] for k in table.primary_keys]
        bound.append(bind_lookup(lookup, table.name, table.primary_keys, key_types, names))
    return OnlineLookupPlan(bound)
