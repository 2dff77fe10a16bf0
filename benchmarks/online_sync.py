"""Online sync: one snapshot day from Delta into the online stores, Spark executors vs the driver alone.

Run from the repo root:

    .venv/bin/python benchmarks/online_sync.py --repeats 3       # 1M customers; redis, sqlite and cosmos
    .venv/bin/python benchmarks/online_sync.py --rows 100000 --repeats 1 --stores redis   # a quick run

Data: a seeded synthetic snapshot of `feature_store.customer_features` (the columns of
CUSTOMER_FEATURES.schema(): the key, feature_ts, date and 14 features: count/sum/avg over 7, 14, 30
and 90 days, last_txn_ts, days_since_last_txn; avgs are null where the count is 0), --rows customers
for day D = 2025-12-31 (feature_ts D+1 00:00 UTC) and the same customers for D-1 with other values.
Each day is written once into a Delta table in a temp dir, hash-distributed by key into as many files
as shuffle partitions (what the snapshot's aggregation writes), and read back as the DataFrame to
publish, the way `online_sync.publish_rows` does: `read_days(D, D)` minus the `date` column. The key
is bigint by default (--key-type string: the ids `C0000001`... of examples.churn.generate).

Timed per store, after one warm-up of each variant, --repeats times, round-robin:

- ours, day D into an empty table: `publish_dataframe` (executors write their Arrow batches). Wall time
  of the whole call, which includes its driver-side checks; the `job` part is its Spark job alone.
- ours, day D again: an idempotent re-publish; every row has an equal feature_ts, so all land again.
- ours, day D-1 after day D: every row is older than the stored one, so all are skipped.
- baseline (Feast-style), day D into an empty table: collect the day on the driver (`toArrow`, or
  `toPandas` with --baseline pandas) and write it with the same store's `write_batch` in batches of
  --batch-rows (10,000) from the driver alone.

Every run asserts the written / skipped_older counts and the number of rows the store holds
afterwards (the store's own count). In the warm-up and the first timed run, --check-keys sampled keys
are also read back after the fresh publishes and after the older day, and compared value by value
with their Delta rows of day D (`online_sync.check_online_matches_offline`); a toPandas baseline's
comparison is reported, not asserted (pandas turns null doubles into NaN).

Stores: Redis (a redis-server of our own on a free 127.0.0.1 port, flushed before each fresh publish),
SQLite (a new file in the temp dir for each fresh publish) and Cosmos DB (the @vercel/cosmosdb-server
emulator of our own, a new database for each fresh publish). The emulator scans its whole container per
query, so it gets --cosmos-rows customers (its own Delta table, a subset of day D / D-1) and its numbers
say nothing about Azure Cosmos DB. Target: ours -> Redis >= 100,000 rows/s.

CPU columns: CPU seconds each process group used during the run (from /proc): the Spark JVM, the
Python workers (the executors' Python side), the store server and this driver process.
--profile then splits ours -> Redis into its layers: the Delta scan + Arrow hand-over with no store,
plus the row encoding, and, on one core in the driver, encoding vs the Lua write script vs plain SETs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import Column as SparkColumn  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from examples.churn.repo import CUSTOMER_FEATURES  # noqa: E402
from feature_store.declarations import Column  # noqa: E402
from feature_store.offline.delta_tables import DeltaTables  # noqa: E402
from feature_store.online.base import encode_batch  # noqa: E402
from feature_store.online.publish import PublishResult, publish_dataframe  # noqa: E402
from feature_store.online.redis_store import _WRITE_SCRIPT  # noqa: E402
from feature_store.online.specs import (  # noqa: E402
    CosmosStoreSpec,
    OnlineStoreSpec,
    RedisStoreSpec,
    SqliteStoreSpec,
)
from feature_store.online.sync import check_online_matches_offline  # noqa: E402
from feature_store.runtime.settings import Settings  # noqa: E402
from feature_store.runtime.spark import build_spark_session  # noqa: E402
from scripts import devservices  # noqa: E402

DAY = date(2025, 12, 31)
OLDER = DAY - timedelta(days=1)
TABLE = "bench.customer_features"
COSMOS_TABLE = "bench.customer_features_cosmos"
KEY = CUSTOMER_FEATURES.keys[0]
TS = CUSTOMER_FEATURES.timestamp_key
TARGET_REDIS_ROWS_PER_S = 100_000
STORES = ("redis", "sqlite", "cosmos")
CONTENDER = "ours: publish_dataframe, day D, empty table"
REPUBLISH = "ours: publish_dataframe, day D again (equal feature_ts)"
OLDER_DAY = "ours: publish_dataframe, day D-1 after D (older)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="customers in the snapshot day")
    p.add_argument("--cosmos-rows", type=int, default=20_000, help="customers published to the emulator")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per variant, after one warm-up")
    p.add_argument("--stores", default=",".join(STORES), help="comma-separated: redis,sqlite,cosmos")
    p.add_argument("--key-type", choices=("bigint", "string"), default="bigint")
    p.add_argument(
        "--baseline",
        choices=("arrow", "pandas"),
        default="arrow",
        help="how the baseline collects the day to the driver: toArrow (default) or toPandas",
    )
    p.add_argument("--batch-rows", type=int, default=10_000, help="rows per write_batch in the baseline")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--driver-memory", default="4g")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--check-keys", type=int, default=1000, help="keys compared with Delta per fresh publish")
    p.add_argument("--profile", action="store_true", help="split ours -> redis into its layers")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (Delta tables, SQLite files)")
    args = p.parse_args()
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(args.stores) - set(STORES)
    if unknown:
        p.error(f"unknown stores {sorted(unknown)}; use {','.join(STORES)}")
    if args.repeats < 1 or args.rows < 1 or args.cosmos_rows < 1 or args.batch_rows < 1:
        p.error("--repeats, --rows, --cosmos-rows and --batch-rows must be >= 1")
    args.cosmos_rows = min(args.cosmos_rows, args.rows)
    return args


# ---------------------------------------------------------------------------------------- data


def schema(key_type: str) -> list[Column]:
    cols = CUSTOMER_FEATURES.schema()
    return [dataclasses.replace(c, dtype=key_type) if c.name == KEY else c for c in cols]


def key_width(rows: int) -> int:
    return max(6, len(str(rows)))  # examples.churn.generate's fixed-width ids: C000123


def key_column(ids: SparkColumn, key_type: str, rows: int) -> SparkColumn:
    if key_type == "bigint":
        return ids.cast("bigint")
    return F.concat(F.lit("C"), F.lpad(ids.cast("string"), key_width(rows), "0"))


def snapshot_day(spark: SparkSession, rows: int, day: date, seed: int, key_type: str) -> DataFrame:
    """`rows` customers of snapshot `day`, with plausible values: nested window counts (a quarter of
    the customers quiet over the last 7 days, so their 7-day avg is null), spend = count x a per-customer
    ticket, last_txn_ts inside the shortest non-empty window."""
    feature_ts = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    ts_lit = F.lit(feature_ts).cast("timestamp")

    def u(i: int):
        return F.rand(seed * 1000 + i)

    df = spark.range(1, rows + 1).select(
        F.col("id"),
        F.floor(u(1) * u(1) * 12).alias("c7"),
        F.floor(u(2) * u(2) * 12).alias("d14"),
        F.floor(u(3) * u(3) * 25).alias("d30"),
        F.floor(u(4) * u(4) * 70).alias("d90"),
        (F.lit(5.0) + u(5) * 195).alias("ticket"),
        u(6).alias("jitter"),
        u(7).alias("recency"),
    )
    df = (
        df.withColumn("c14", F.col("c7") + F.col("d14"))
        .withColumn("c30", F.col("c14") + F.col("d30"))
        .withColumn("c90", F.col("c30") + F.col("d90") + 1)  # every customer has an event in D-90..D
    )
    ago_days = (
        F.when(F.col("c7") > 0, F.col("recency") * 7)
        .when(F.col("c14") > 0, 7 + F.col("recency") * 7)
        .when(F.col("c30") > 0, 14 + F.col("recency") * 16)
        .otherwise(30 + F.col("recency") * 61)
    )
    last_ts = F.timestamp_micros(F.unix_micros(ts_lit) - (ago_days * 86_400_000_000).cast("bigint"))
    features = {}
    for n in CUSTOMER_FEATURES.windows():
        count = F.col(f"c{n}")
        total = F.round(count * F.col("ticket") * (0.8 + 0.4 * F.col("jitter") * (n / 90)), 2)
        features[f"txn_count_{n}d"] = count
        features[f"total_spend_{n}d"] = total
        features[f"avg_spend_{n}d"] = F.when(count > 0, total / count)
    features[CUSTOMER_FEATURES.activity_columns[0]] = last_ts
    features[CUSTOMER_FEATURES.activity_columns[1]] = (F.unix_micros(ts_lit) - F.unix_micros(last_ts)) / (
        86_400 * 1e6
    )
    out = {KEY: key_column(F.col("id"), key_type, rows), TS: ts_lit, "date": F.lit(day), **features}
    return df.select(*(out[c.name].cast(c.dtype).alias(c.name) for c in schema(key_type)))


def write_days(spark: SparkSession, tables: DeltaTables, args: argparse.Namespace) -> dict[str, int]:
    """Days D-1 and D of both tables, written once; returns the files per day of the main table."""
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
    cosmos_last = key_of(args.cosmos_rows, args)
    for name in (TABLE, COSMOS_TABLE):
        tables.ensure(name, schema(args.key_type), ["date"])
    for day, seed in ((OLDER, args.seed + 1), (DAY, args.seed)):
        df = snapshot_day(spark, args.rows, day, seed, args.key_type)
        # The snapshot aggregation's output: rows hash-distributed by key, one file per shuffle partition.
        tables.replace_days(TABLE, df.repartition(partitions, KEY), day, day)
        small = tables.read_days(TABLE, day, day).where(F.col(KEY) <= F.lit(cosmos_last))
        tables.replace_days(COSMOS_TABLE, small.repartition(partitions, KEY), day, day)
    files = {}
    for name in (TABLE, COSMOS_TABLE):
        detail = tables.table(name).detail().select("numFiles", "sizeInBytes").first()
        files[name] = {"files": detail["numFiles"], "bytes": detail["sizeInBytes"]}
    return files


def key_of(n: int, args: argparse.Namespace):
    return n if args.key_type == "bigint" else "C" + str(n).rjust(key_width(args.rows), "0")


def day_frame(tables: DeltaTables, table: str, day: date) -> DataFrame:
    """What `online_sync.publish_rows` publishes for one day: its rows minus the partition column."""
    df = tables.read_days(table, day, day)
    return df.select(KEY, TS, *(c for c in df.columns if c not in (KEY, TS, "date")))


# -------------------------------------------------------------------------------------- stores


@dataclasses.dataclass
class Target:
    """One store under test: hands out an empty store (spec) for fresh publishes and counts rows."""

    kind: str
    table: str
    rows: int
    spec: OnlineStoreSpec
    fresh: Callable[[], OnlineStoreSpec]
    stored: Callable[[OnlineStoreSpec], int]
    server_pid: int | None
    cleanup: Callable[[], None] = lambda: None


@contextlib.contextmanager
def redis_target(state: Path, rows: int) -> Iterator[Target]:
    import redis

    with devservices.running("redis", REPO / ".services", state / "redis") as svc:
        client = redis.Redis(svc.host, svc.port)
        spec = RedisStoreSpec(svc.host, svc.port, socket_timeout=60.0)

        def fresh() -> OnlineStoreSpec:
            client.flushdb()  # our own server (started above, on a free port): nothing else lives here
            return spec

        yield Target("redis", TABLE, rows, spec, fresh, lambda _spec: client.dbsize(), svc.pid)
        client.close()


@contextlib.contextmanager
def sqlite_target(state: Path, rows: int) -> Iterator[Target]:
    made: list[Path] = []

    def fresh() -> OnlineStoreSpec:
        for old in made:  # the previous fresh file and its WAL
            for suffix in ("", "-wal", "-shm"):
                Path(f"{old}{suffix}").unlink(missing_ok=True)
        made.clear()
        made.append(state / f"online-{uuid.uuid4().hex[:8]}.db")
        return SqliteStoreSpec(str(made[-1]))

    def stored(spec: OnlineStoreSpec) -> int:
        with contextlib.closing(sqlite3.connect(spec.path)) as conn:
            return conn.execute(f'SELECT count(*) FROM "fs:{TABLE}"').fetchone()[0]

    spec = fresh()
    yield Target("sqlite", TABLE, rows, spec, fresh, stored, None)


@contextlib.contextmanager
def cosmos_target(state: Path, rows: int) -> Iterator[Target]:
    from azure.core.pipeline.transport import RequestsTransport
    from azure.cosmos import CosmosClient

    with devservices.running("cosmos", REPO / ".services", state / "cosmos") as svc:
        client = CosmosClient(
            svc.url,
            credential=devservices.COSMOS_EMULATOR_KEY,
            enable_endpoint_discovery=False,
            transport=RequestsTransport(use_env_settings=False),
        )
        made: list[str] = []

        def make_spec() -> CosmosStoreSpec:
            return CosmosStoreSpec(
                endpoint=svc.url,
                key=devservices.COSMOS_EMULATOR_KEY,
                database=f"online_sync_bench_{uuid.uuid4().hex[:8]}",
                enable_endpoint_discovery=False,
                use_env_proxies=False,
            )

        def drop_all() -> None:
            for name in made:
                with contextlib.suppress(Exception):
                    client.delete_database(name)
            made.clear()

        def fresh() -> OnlineStoreSpec:
            drop_all()
            spec = make_spec()
            made.append(spec.database)
            spec.open().close()  # create the database and container outside the timing
            return spec

        def stored(spec: OnlineStoreSpec) -> int:
            container = client.get_database_client(spec.database).get_container_client(spec.container)
            ids = container.query_items(
                "SELECT c.id FROM c WHERE c.t = @t",
                parameters=[{"name": "@t", "value": COSMOS_TABLE}],
                enable_cross_partition_query=True,
                max_item_count=5000,
            )
            return sum(1 for _ in ids)

        spec = fresh()
        try:
            yield Target("cosmos", COSMOS_TABLE, rows, spec, fresh, stored, svc.pid, drop_all)
        finally:
            drop_all()
            client.close()


# ----------------------------------------------------------------------------------------- CPU


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


class CpuMeter:
    """CPU seconds (user + system, including reaped children) of the process groups of a run."""

    def __init__(self) -> None:
        self.tick = os.sysconf("SC_CLK_TCK")

    def _tree(self) -> dict[int, list[int]]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = _stat(int(entry))
                if st:
                    children.setdefault(int(st[1]), []).append(int(entry))
        return children

    def _descendants(self, root: int, children: dict[int, list[int]]) -> list[int]:
        out, todo = [], [root]
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                out.append(child)
                todo.append(child)
        return out

    def _cpu(self, pid: int, own_only: bool = False) -> float:
        st = _stat(pid)
        if st is None:
            return 0.0
        fields = st[11:13] if own_only else st[11:15]
        return sum(int(x) for x in fields) / self.tick

    def sample(self, server_pid: int | None) -> dict[str, float]:
        children = self._tree()
        me = os.getpid()
        groups = {"jvm": 0.0, "py": 0.0, "store": 0.0, "driver": self._cpu(me, own_only=True)}
        for pid in self._descendants(me, children):
            if pid == server_pid:
                groups["store"] += self._cpu(pid)
            elif _comm(pid) == "java":
                groups["jvm"] += self._cpu(pid, own_only=True)
                # Python workers: everything the JVM forked (the pyspark daemon and its workers), with
                # the CPU of the ones already reaped (their parents' cutime/cstime).
                groups["py"] += self._cpu(pid) - self._cpu(pid, own_only=True)
                groups["py"] += sum(self._cpu(w) for w in self._descendants(pid, children))
        return groups

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: max(0.0, after[k] - before[k]) for k in before}


# ------------------------------------------------------------------------------------ variants


@dataclasses.dataclass
class Run:
    seconds: float
    parts: dict[str, float]
    written: int
    skipped: int
    tasks: int
    cpu: dict[str, float]
    load: float


def check_counts(name: str, target: Target, written: int, skipped: int, want: tuple[int, int]) -> None:
    if (written, skipped) != want:
        raise AssertionError(
            f"{target.kind} / {name}: written={written} skipped_older={skipped}, expected "
            f"written={want[0]} skipped_older={want[1]}"
        )


def publish_run(df: DataFrame, spec: OnlineStoreSpec, table: str) -> tuple[float, PublishResult]:
    started = time.perf_counter()
    result = publish_dataframe(df, spec, table, [KEY], TS)
    return time.perf_counter() - started, result


def driver_write(df: DataFrame, spec: OnlineStoreSpec, table: str, how: str, batch_rows: int):
    """The Feast-style path: the whole day on the driver, then write_batch per batch_rows rows."""
    started = time.perf_counter()
    data = df.toArrow() if how == "arrow" else df.toPandas()
    collected = time.perf_counter()
    written = skipped = 0
    n = data.num_rows if how == "arrow" else len(data)
    with spec.open() as store:
        for i in range(0, n, batch_rows):
            chunk = data.slice(i, batch_rows) if how == "arrow" else data.iloc[i : i + batch_rows]
            result = store.write_batch(table, [KEY], chunk, TS)
            written += result.written
            skipped += result.skipped_older
    done = time.perf_counter()
    del data
    return done - started, {"collect": collected - started, "write": done - collected}, written, skipped


def check_stored(target: Target, spec: OnlineStoreSpec, name: str) -> None:
    """The store holds one row per customer (its own count, not the publish's)."""
    stored = target.stored(spec)
    if stored != target.rows:
        raise AssertionError(f"{target.kind} / {name}: the store holds {stored} rows, expected {target.rows}")


def verify(target: Target, spec: OnlineStoreSpec, tables: DeltaTables, name: str, args) -> str:
    """Sampled keys equal their Delta rows of day D, value by value (and are not older than D)."""
    with spec.open() as store:
        outcome = check_online_matches_offline(
            tables, store, target.table, [KEY], TS, DAY, sample_size=args.check_keys, seed=args.seed
        )
    if not outcome.passed:
        raise AssertionError(
            f"{target.kind} / {name}: {outcome.summary}: {json.dumps(outcome.details, default=str)[:2000]}"
        )
    return outcome.summary


def bench_store(
    target: Target, tables: DeltaTables, cpu: CpuMeter, args: argparse.Namespace
) -> tuple[dict[str, list[Run]], list[str]]:
    day_df = day_frame(tables, target.table, DAY)
    older_df = day_frame(tables, target.table, OLDER)
    n = target.rows
    baseline = f"baseline: driver {'toArrow' if args.baseline == 'arrow' else 'toPandas'} + write_batch x{args.batch_rows:,}, day D, empty table"
    checks: list[str] = []

    def measured(fn: Callable[[], tuple[float, dict[str, float], int, int, int]]) -> Run:
        before = cpu.sample(target.server_pid)
        seconds, parts, written, skipped, tasks = fn()
        return Run(
            seconds, parts, written, skipped, tasks, CpuMeter.delta(before, cpu.sample(target.server_pid)),
            os.getloadavg()[0],
        )  # fmt: skip

    def ours(df: DataFrame, spec: OnlineStoreSpec):
        def fn():
            wall, result = publish_run(df, spec, target.table)
            parts = {"job": result.seconds, "driver checks": wall - result.seconds}
            return wall, parts, result.written, result.skipped_older, result.tasks

        return fn

    def when(timings: dict[str, list[Run]] | None) -> str:
        return "warm-up," if timings is None else "run 1,"

    def contender_sequence(timings: dict[str, list[Run]] | None, verify_rows: bool) -> None:
        spec = target.fresh()
        runs = []
        for name, df, want in (
            (CONTENDER, day_df, (n, 0)),
            (REPUBLISH, day_df, (n, 0)),
            (OLDER_DAY, older_df, (0, n)),
        ):
            run = measured(ours(df, spec))
            check_counts(name, target, run.written, run.skipped, want)
            check_stored(target, spec, name)
            runs.append((name, run))
            if verify_rows and name == CONTENDER:
                checks.append(f"{when(timings)} {name}: {verify(target, spec, tables, name, args)}")
        if verify_rows:  # the older day changed nothing
            checks.append(f"{when(timings)} {OLDER_DAY}: {verify(target, spec, tables, OLDER_DAY, args)}")
        for name, run in runs:
            report(target, name, run, timings)

    def baseline_run(timings: dict[str, list[Run]] | None, verify_rows: bool) -> None:
        spec = target.fresh()

        def fn():
            seconds, parts, written, skipped = driver_write(
                day_df, spec, target.table, args.baseline, args.batch_rows
            )
            return seconds, parts, written, skipped, 1

        run = measured(fn)
        check_counts(baseline, target, run.written, run.skipped, (n, 0))
        check_stored(target, spec, baseline)
        if verify_rows and args.baseline == "arrow":
            checks.append(f"{when(timings)} {baseline}: {verify(target, spec, tables, baseline, args)}")
        elif verify_rows:  # pandas turns null doubles into NaN: report, don't fail
            with spec.open() as store:
                outcome = check_online_matches_offline(
                    tables, store, target.table, [KEY], TS, DAY, sample_size=args.check_keys, seed=args.seed
                )
            checks.append(f"{when(timings)} {baseline}: {outcome.summary}")
        report(target, baseline, run, timings)

    timings: dict[str, list[Run]] = {CONTENDER: [], REPUBLISH: [], OLDER_DAY: [], baseline: []}
    print(f"\n[{target.kind}] {n:,} rows; warm-up (untimed)", flush=True)
    contender_sequence(None, verify_rows=True)
    baseline_run(None, verify_rows=True)
    for r in range(args.repeats):
        print(f"[{target.kind}] run {r + 1}/{args.repeats}", flush=True)
        # Alternate which goes first, so neither always runs right after the other's cleanup.
        if r % 2 == 0:
            contender_sequence(timings, verify_rows=r == 0)
            baseline_run(timings, verify_rows=False)
        else:
            baseline_run(timings, verify_rows=False)
            contender_sequence(timings, verify_rows=False)
    target.cleanup()
    return timings, checks


def report(target: Target, name: str, run: Run, timings: dict[str, list[Run]] | None) -> None:
    if timings is not None:
        timings[name].append(run)
    parts = ", ".join(f"{k} {v:.2f}s" for k, v in run.parts.items())
    cpu = " ".join(f"{k} {v:.1f}" for k, v in run.cpu.items())
    print(
        f"  {'' if timings is not None else '(warm-up) '}{name}: {run.seconds:.2f}s ({parts}), "
        f"{target.rows / run.seconds:,.0f} rows/s, written {run.written:,} skipped_older {run.skipped:,}, "
        f"tasks {run.tasks}, CPU s [{cpu}], load {run.load:.2f}",
        flush=True,
    )


# ------------------------------------------------------------------------------------- profile


def profile_redis(target: Target, tables: DeltaTables, cpu: CpuMeter, args: argparse.Namespace) -> None:
    """Where ours -> Redis spends its time: the same Spark job without the store, then with the encoding
    but no writes; and on one core in the driver, encoding vs the Lua write vs plain pipelined SETs."""
    import pyarrow as pa
    import redis

    from feature_store.online.redis_store import RedisOnlineStore

    df = day_frame(tables, target.table, DAY)
    if df.rdd.getNumPartitions() < df.sparkSession.sparkContext.defaultParallelism:
        df = df.repartition(df.sparkSession.sparkContext.defaultParallelism, KEY)  # as publish_dataframe
    table = target.table

    def scan_only(batches):
        rows = 0
        for batch in batches:
            rows += batch.num_rows
        yield pa.RecordBatch.from_pydict({"rows": [rows]})

    def encode_only(batches):
        rows = 0
        for batch in batches:
            rows += len(encode_batch(table, [KEY], batch, TS).keys)
        yield pa.RecordBatch.from_pydict({"rows": [rows]})

    print(f"\nprofile: ours -> redis, {target.rows:,} rows, median of {args.repeats} (+1 warm-up)")
    layers = {
        "Delta scan + Arrow to Python workers, no store": scan_only,
        "+ encode_batch, no writes": encode_only,
    }
    for name, fn in layers.items():
        times = []
        for i in range(args.repeats + 1):
            before = cpu.sample(None)
            started = time.perf_counter()
            total = sum(r["rows"] for r in df.mapInArrow(fn, "rows long").collect())
            seconds = time.perf_counter() - started
            used = CpuMeter.delta(before, cpu.sample(None))
            assert total == target.rows, (name, total)
            if i:
                times.append(seconds)
            print(
                f"  {'(warm-up) ' if not i else ''}{name}: {seconds:.2f}s, {target.rows / seconds:,.0f} rows/s, "
                f"CPU s [{' '.join(f'{k} {v:.1f}' for k, v in used.items())}], load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        med = statistics.median(times)
        print(f"  => {name}: median {med:.2f}s, {target.rows / med:,.0f} rows/s")

    # One core, in the driver: 100k rows of day D, encoded once, then written to an empty server.
    sample = df.limit(100_000).toArrow().combine_chunks()
    rows = sample.num_rows
    started = time.perf_counter()
    encoded = [encode_batch(table, [KEY], b, TS) for b in sample.to_batches(max_chunksize=10_000)]
    encode_s = time.perf_counter() - started
    avg_bytes = sum(len(v) for b in encoded for v in b.values) / rows
    spec = target.fresh()
    store = spec.open()
    assert isinstance(store, RedisOnlineStore)
    client = redis.Redis(spec.host, spec.port)
    meta = f"fsmeta:{table}"
    scripts = {name: client.script_load(text) for name, text in EXPERIMENT_SCRIPTS.items()}

    def evalsha(sha: str) -> Callable[[], int]:
        def run() -> int:  # RedisOnlineStore._write's chunking and pipelining, another script
            total = 0
            for b in encoded:
                keys = [f"fs:{table}:{k}" for k in b.keys]
                pipe = client.pipeline(transaction=False)
                for i in range(0, len(keys), store.rows_per_script):
                    chunk = keys[i : i + store.rows_per_script]
                    pipe.evalsha(sha, len(chunk) + 1, meta, *chunk, *b.values[i : i + store.rows_per_script])
                total += sum(pipe.execute())
            return total

        return run

    def pipelined_set() -> int:
        for b in encoded:
            pipe = client.pipeline(transaction=False)
            for k, v in zip(b.keys, b.values, strict=True):
                pipe.set(f"fs:{table}:{k}", v)
            pipe.execute()
        return rows

    def mset() -> int:
        for b in encoded:
            client.mset({f"fs:{table}:{k}": v for k, v in zip(b.keys, b.values, strict=True)})
        return rows

    def ours_write() -> int:
        return sum(store._write(b) for b in encoded)

    experiments: list[tuple[str, Callable[[], int], str]] = [
        ("RedisOnlineStore._write (the Lua script: GET + compare + SET), empty table", ours_write, "empty"),
        ("RedisOnlineStore._write, every key exists (equal feature_ts)", ours_write, "full"),
        ("experiment: that script with GETRANGE 0 23 instead of GET, empty table", evalsha(scripts["getrange"]), "empty"),
        ("experiment: that script with GETRANGE 0 23 instead of GET, every key exists", evalsha(scripts["getrange"]), "full"),
        ("experiment: the compare with one MGET + one MSET per script, empty table", evalsha(scripts["mget_mset"]), "empty"),
        ("experiment: the compare with one MGET + one MSET per script, every key exists", evalsha(scripts["mget_mset"]), "full"),
        ("experiment: Lua SET only (no compare), empty table", evalsha(scripts["set_only"]), "empty"),
        ("plain pipelined SET (redis-py, no script, no compare), empty table", pipelined_set, "empty"),
        ("plain MSET of 10,000 keys (no compare), empty table", mset, "empty"),
    ]  # fmt: skip
    print(
        f"\n  one core in the driver, {rows:,} rows of day D in batches of 10,000 (~{avg_bytes:.0f} bytes/row "
        f"encoded), medians of {args.repeats + 2}; CPU s of redis-server / of this process:"
    )
    print(f"  - encode_batch (Arrow -> keys + row texts): {encode_s:.2f}s, {rows / encode_s:,.0f} rows/s")
    for name, fn, state in experiments:
        walls, server, own, loads = [], [], [], []
        for _ in range(args.repeats + 2):
            client.flushdb()
            if state == "full":
                mset()
            before = cpu.sample(target.server_pid)
            started = time.perf_counter()
            written = fn()
            walls.append(time.perf_counter() - started)
            used = CpuMeter.delta(before, cpu.sample(target.server_pid))
            assert written == rows, (name, written)
            server.append(used["store"])
            own.append(used["driver"])
            loads.append(os.getloadavg()[0])
        wall, srv = statistics.median(walls), statistics.median(server)
        print(
            f"  - {name}: {wall:.2f}s, {rows / wall:,.0f} rows/s, redis-server {srv:.2f} "
            f"({srv / rows * 1e6:.1f} us/row), client {statistics.median(own):.2f}, "
            f"load {min(loads):.1f}-{max(loads):.1f}",
            flush=True,
        )
    client.close()
    store.close()
    target.fresh()


# Benchmark-only variants of redis_store._WRITE_SCRIPT, to see what the server's CPU goes to. The
# first reads only the head of the stored value (its timestamp) instead of copying the whole row into Lua.
EXPERIMENT_SCRIPTS = {
    "getrange": _WRITE_SCRIPT.replace(
        "redis.call('GET', KEYS[i])", "redis.call('GETRANGE', KEYS[i], 0, 23)"
    ).replace("if cur then", "if cur ~= '' then"),
    # One MGET for the chunk's stored rows and one MSET for the rows that land, instead of a GET and
    # a SET per row (the same decisions; without a TTL only, which is how this benchmark publishes).
    "mget_mset": """
local ttl = redis.call('GET', KEYS[1])
if ttl then
  return redis.error_reply('experiment: no TTL support')
end
local cur = redis.call('MGET', unpack(KEYS, 2))
local out, written = {}, 0
for i = 2, #KEYS do
  local nts = tonumber(string.match(ARGV[i - 1], '^%[(%-?%d+),'))
  local c = cur[i - 1]
  local ok = true
  if c then
    local cts = tonumber(string.match(c, '^%[(%-?%d+),'))
    if not cts then
      return redis.error_reply('feature store: ' .. KEYS[i] .. ' does not hold a feature row')
    end
    ok = nts >= cts
  end
  if ok then
    out[#out + 1] = KEYS[i]
    out[#out + 1] = ARGV[i - 1]
    written = written + 1
  end
end
if written > 0 then
  redis.call('MSET', unpack(out))
end
return written
""",
    "set_only": """
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i - 1])
end
return #KEYS - 1
""",
}
assert EXPERIMENT_SCRIPTS["getrange"].count("GETRANGE") == 1 and "cur ~= ''" in EXPERIMENT_SCRIPTS["getrange"]

# -------------------------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.strip().splitlines()
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    return {
        "nproc": str(os.cpu_count()),
        "java": java[0] if java else "?",
        "pyspark": version("pyspark"),
        "delta-spark": version("delta-spark"),
        "pyarrow": version("pyarrow"),
        "redis-py": version("redis"),
        "redis-server": next((w.split("=")[1] for w in redis_v if w.startswith("v=")), "?"),
        "azure-cosmos": version("azure-cosmos"),
        "python": platform.python_version(),
    }


def print_tables(results: dict[str, tuple[Target, dict[str, list[Run]]]]) -> None:
    print()
    print(
        "| store | variant | rows | median s | best s | rows/s (median) | rows/s (best) | median parts | CPU s (median): JVM / Python workers / store / driver | load (1 min) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|---|---|")
    for kind, (target, timings) in results.items():
        for name, runs in timings.items():
            secs = [r.seconds for r in runs]
            med, best = statistics.median(secs), min(secs)
            parts = {k: statistics.median(r.parts[k] for r in runs) for k in runs[0].parts}
            used = {k: statistics.median(r.cpu[k] for r in runs) for k in runs[0].cpu}
            loads = [r.load for r in runs]
            label = f"{kind} (emulator)" if kind == "cosmos" else kind
            print(
                f"| {label} | {name} | {target.rows:,} | {med:.2f} | {best:.2f} | {target.rows / med:,.0f} | "
                f"{target.rows / best:,.0f} | {', '.join(f'{k} {v:.2f}s' for k, v in parts.items())} | "
                f"{used['jvm']:.1f} / {used['py']:.1f} / {used['store']:.1f} / {used['driver']:.1f} | "
                f"{min(loads):.1f}-{max(loads):.1f} |"
            )
    print()
    print("| store | ours rows/s (median) | baseline rows/s (median) | ours / baseline | target |")
    print("|---|---:|---:|---:|---|")
    for kind, (target, timings) in results.items():
        ours = target.rows / statistics.median(r.seconds for r in timings[CONTENDER])
        base_name = next(k for k in timings if k.startswith("baseline"))
        base = target.rows / statistics.median(r.seconds for r in timings[base_name])
        goal = "-"
        if kind == "redis":
            met = "met" if ours >= TARGET_REDIS_ROWS_PER_S else "MISSED"
            goal = f"ours >= {TARGET_REDIS_ROWS_PER_S:,} rows/s {met}"
        print(f"| {kind} | {ours:,.0f} | {base:,.0f} | {ours / base:.2f}x | {goal} |")


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="online-sync-bench-"))
    try:
        return run(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    load_start = os.getloadavg()
    print("machine:", json.dumps(machine()))
    print(f"load average at start: {' / '.join(f'{x:.2f}' for x in load_start)}; temp dir {work}", flush=True)
    spark = build_spark_session(
        master=args.master,
        app_name="bench-online-sync",
        conf={"spark.driver.memory": args.driver_memory, "spark.local.dir": str(work / "spark-tmp")},
        ivy_dir=Settings.from_env().ivy_dir,
    )
    conf_keys = (
        "spark.master",
        "spark.driver.memory",
        "spark.default.parallelism",
        "spark.sql.shuffle.partitions",
        "spark.sql.execution.arrow.maxRecordsPerBatch",
    )
    print("spark:", {k: spark.conf.get(k, None) for k in conf_keys})
    tables = DeltaTables(spark, str(work / "delta"))
    started = time.perf_counter()
    files = write_days(spark, tables, args)
    print(
        f"setup: days {OLDER} and {DAY} of {args.rows:,} customers ({args.key_type} keys) written to Delta in "
        f"{time.perf_counter() - started:.1f}s: {json.dumps(files)}; day D read back in "
        f"{day_frame(tables, TABLE, DAY).rdd.getNumPartitions()} partitions",
        flush=True,
    )

    cpu = CpuMeter()
    results: dict[str, tuple[Target, dict[str, list[Run]]]] = {}
    checks: dict[str, list[str]] = {}
    makers = {
        "redis": lambda: redis_target(work, args.rows),
        "sqlite": lambda: sqlite_target(work / "sqlite", args.rows),
        "cosmos": lambda: cosmos_target(work, args.cosmos_rows),
    }
    (work / "sqlite").mkdir(exist_ok=True)
    for kind in args.stores:
        with makers[kind]() as target:
            timings, checks[kind] = bench_store(target, tables, cpu, args)
            results[kind] = (target, timings)
            if args.profile and kind == "redis":
                profile_redis(target, tables, cpu, args)

    load_end = os.getloadavg()
    print(
        f"\nSnapshot day D = {DAY}, {args.rows:,} customers ({args.key_type} key, 14 features), cosmos "
        f"{args.cosmos_rows:,}; {args.repeats} timed runs per variant after a warm-up; {args.master}, "
        f"{os.cpu_count()} cores; load average (1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_start)} at the "
        f"start, {'/'.join(f'{x:.2f}' for x in load_end)} at the end"
    )
    print_tables(results)
    print(
        "\nchecks (every run also asserted its written / skipped_older counts and the rows the store holds):"
    )
    for kind, lines in checks.items():
        for line in lines:
            print(f"  {kind}: {line}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
