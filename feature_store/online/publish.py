"""Publish a Spark DataFrame to an online store from the executors.

Each Spark task opens its own store from a picklable spec (`specs.py`), writes its Arrow batches with
`OnlineStore.write_batch` (validated, monotonic by feature_ts) and returns three counts; the driver
sums one row per task and never sees a feature row.

Before any task starts, the driver rejects what can't be stored (unsupported column types, rows whose
strings alone exceed the store's row limit, an embedded store the executors can't reach), so bad input
fails with nothing written. If the store goes away mid-publish the run fails with `PublishError`: rows
already written are correct (every write is monotonic), and publishing again completes the job.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feature_store.online.base import DEFAULT_MAX_ROW_BYTES, InvalidRowError, OnlineStoreError
from feature_store.online.specs import OnlineStoreSpec
from feature_store.runtime.spark import is_remote_session

# Spark types whose values the row encoding stores and reads back with the same type.
_SUPPORTED = (
    T.BooleanType, T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType,
    T.StringType, T.TimestampType, T.TimestampNTZType, T.DateType, T.NullType,
)  # fmt: skip
_COUNTS_SCHEMA = "rows long, written long, skipped_older long"
_REMOTE_ERROR = re.compile(r"(?:[\w.]+\.)?((?:OnlineStore|InvalidRow)Error): (.+)")


class PublishError(OnlineStoreError):
    """Publishing failed part-way; what was written is consistent, and re-publishing completes it."""


@dataclass(frozen=True)
class PublishResult:
    table: str
    store: str
    rows: int
    written: int
    skipped_older: int  # the store already held a newer (or equal-and-later) row for the key
    seconds: float
    tasks: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def latest_per_key(df: DataFrame, key_columns: list[str], ts_column: str) -> DataFrame:
    """One row per key: the one with the greatest ts_column (one shuffle). Publishing a range of days
    then writes each key once instead of once per day."""
    order = Window.partitionBy(*key_columns).orderBy(F.col(ts_column).desc())
    return df.withColumn("__rank", F.row_number().over(order)).where("__rank = 1").drop("__rank")


def check_publishable(df: DataFrame, table: str, key_columns: list[str], ts_column: str) -> None:
    """Raise InvalidRowError, naming the column, for anything the online row encoding can't store."""
    fields = {f.name: f for f in df.schema.fields}
    for name in [*key_columns, ts_column]:
        if name not in fields:
            raise InvalidRowError(
                f"table {table!r}: column {name!r} is missing (columns: {', '.join(fields)})"
            )
    if not isinstance(fields[ts_column].dataType, T.TimestampType | T.TimestampNTZType):
        raise InvalidRowError(
            f"table {table!r}: {ts_column!r} must be a timestamp, is {fields[ts_column].dataType.simpleString()}"
        )
    for name in key_columns:
        if not isinstance(fields[name].dataType, T.IntegralType | T.StringType):
            raise InvalidRowError(
                f"table {table!r}: key column {name!r} must be an integer or string, "
                f"is {fields[name].dataType.simpleString()}"
            )
    for f in df.schema.fields:
        if not isinstance(f.dataType, _SUPPORTED):
            raise InvalidRowError(
                f"table {table!r}: column {f.name!r} has type {f.dataType.simpleString()}, which the online "
                "store can't hold; supported: boolean, integers, float, double, string, timestamp, date "
                "(cast decimals to double; drop or serialize arrays, maps and structs)"
            )


def _oversized_rows(df: DataFrame, key_columns: list[str], limit: int) -> list[dict]:
    """Rows whose string values alone exceed the limit (a lower bound of their encoded size)."""
    strings = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
    if not strings:
        return []
    size: Column = sum((F.coalesce(F.octet_length(F.col(c)), F.lit(0)) for c in strings), F.lit(0))
    return [
        r.asDict()
        for r in df.where(size > limit).select(*key_columns, size.alias("bytes")).limit(5).collect()
    ]


def publish_dataframe(
    df: DataFrame,
    spec: OnlineStoreSpec,
    table: str,
    key_columns: list[str],
    ts_column: str = "feature_ts",
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> PublishResult:
    """Write every row of df to `table` in the store, monotonically by ts_column (module doc)."""
    check_publishable(df, table, key_columns, ts_column)
    master = _master(df.sparkSession)
    if spec.local_only and not master.startswith("local"):
        raise OnlineStoreError(
            f"{spec.describe()} is a file on the driver's machine; executors of {master} can't write it. "
            "Publish to redis or cosmos from a cluster or a Spark Connect server."
        )
    oversized = _oversized_rows(df, key_columns, max_row_bytes)
    if oversized:
        raise InvalidRowError(
            f"table {table!r}: rows exceed the online store's {max_row_bytes}-byte row limit, e.g. {oversized}; "
            "nothing was written"
        )
    # Spread the writes over the cluster's cores: one task per core, each batch of rows by key. (The
    # old check of the input's partition count needed the RDD API, which Spark Connect lacks.)
    df = df.repartition(_parallelism(df.sparkSession), *key_columns)

    def write_partition(batches):
        import pyarrow as pa

        rows = written = skipped = 0
        with spec.open() as store:
            for batch in batches:
                try:
                    result = store.write_batch(table, key_columns, batch, ts_column)
                except InvalidRowError:
                    raise
                except Exception as exc:
                    raise OnlineStoreError(
                        f"{spec.describe()}, table {table!r}: write failed after {written + skipped} rows of "
                        f"this task: {type(exc).__name__}: {exc}"
                    ) from exc
                rows += batch.num_rows
                written += result.written
                skipped += result.skipped_older
        yield pa.RecordBatch.from_pydict({"rows": [rows], "written": [written], "skipped_older": [skipped]})

    started = time.monotonic()
    try:
        counts = df.mapInArrow(write_partition, _COUNTS_SCHEMA).collect()  # one row per task
    except Exception as exc:
        raise _publish_error(exc, spec, table) from exc
    return PublishResult(
        table=table,
        store=spec.describe(),
        rows=sum(c["rows"] for c in counts),
        written=sum(c["written"] for c in counts),
        skipped_older=sum(c["skipped_older"] for c in counts),
        seconds=time.monotonic() - started,
        tasks=len(counts),
    )


def _master(spark: SparkSession) -> str:
    """The master URL; a Connect session reports "connect" (its master lives on the server, whose
    executors are not this process, so a local-only store is rejected as on a cluster)."""
    if is_remote_session(spark):
        return "connect"
    return spark.conf.get("spark.master", "local")


def _parallelism(spark: SparkSession) -> int:
    """spark.default.parallelism when set, else the shuffle partitions: both readable on Connect."""
    value = spark.conf.get("spark.default.parallelism", None) or spark.conf.get(
        "spark.sql.shuffle.partitions"
    )
    return max(1, int(value))


def _publish_error(exc: Exception, spec: OnlineStoreSpec, table: str) -> Exception:
    """The executor's own message instead of a JVM stack trace."""
    found = _REMOTE_ERROR.findall(str(exc))
    if not found:
        return PublishError(f"publishing {table!r} to {spec.describe()} failed: {type(exc).__name__}: {exc}")
    kind, message = found[-1]
    if kind == "InvalidRowError":
        return InvalidRowError(message)
    return PublishError(
        f"publishing {table!r} to {spec.describe()} failed: {message}. Rows already written are consistent "
        "(writes are monotonic); publish again once the store is reachable to complete it."
    )
