"""Benchmark: point-in-time training-set join, the feature store's vs a naive Spark join vs DuckDB ASOF.

Run from the repo root (duckdb is the `bench` extra: `.venv/bin/pip install -c requirements.lock
duckdb==1.5.6`; without it, or with another version, the script exits 2 before running anything, and a
comparator that fails or crashes is reported as FAILED with exit status 1, never as a win):

    .venv/bin/python benchmarks/pit_join.py --shape feast      # 200k label rows, 50k keys x 30 snapshots
    .venv/bin/python benchmarks/pit_join.py --shape large      # 1M label rows, 50k keys x 365 snapshots
    .venv/bin/python benchmarks/pit_join.py --shape small      # a quick run

Data (numpy, seeded; cached under benchmarks/.data/ with the Delta feature table built from it):
snapshots of --customers keys (bigint `customer_id`) x --days daily snapshots, `feature_ts` =
2025-01-01 + (day + 1) days (00:00 UTC), and 12 double features: f00 = customer_id * 1000 + day (it
names the snapshot, so checksums of it are exact) and f01..f11 standard normal. Label rows: `row_id`
(unique), a uniform random `customer_id`, `event_ts` (microseconds) and a 0/1 `label`. Of the label
rows, --pre-first-fraction (1.5%) have an event time in the 30 days before the first snapshot,
--exact-fraction (1%) fall exactly on a snapshot's feature_ts (the inclusive edge), and
--unknown-key-fraction (0.2%) have a key with no snapshot at all; the rest are uniform over
[first feature_ts, last feature_ts + 1 day). Both are written once as parquet (the "export", timed
and reported apart from everything else).

Setup, not timed: the snapshots go into a feature table through the public API,
`FeatureStoreClient(...).create_table("bench.customer_snapshots", primary_keys=["customer_id"],
df=<the parquet>, timestamp_keys="feature_ts")`, in a store under the data dir; the label rows are
read back from their parquet file as the input DataFrame.

Timed, each variant in its own subprocess (its own Spark JVM, so each peak RSS is its own, and a run
past its timeout is killed with its JVM: --naive-timeout, default 1800 s, reported as a timeout with
how long the run had gone; an OutOfMemoryError or a kill by the kernel is reported as such). All the
workers are started first (JVM start-up is not timed), then the runs go round-robin, one variant at a
time: --warmup untimed rounds, then --repeats timed rounds, each run's load average logged:

- ours: `fe.create_training_set(labels, [FeatureLookup("bench.customer_snapshots", "customer_id",
  timestamp_lookup_key="event_ts")], label="label").load_df()` (the validation and catalog reads of
  create_training_set included), written with `.write.format("noop")`, which computes every column.
- naive: benchmarks/naive_pit_join.py on the same labels and the same Delta table (`fe.read_table`),
  written the same way.
- duckdb: `CREATE TEMP TABLE ... AS SELECT l.*, s.f00, ... FROM read_parquet(labels) l ASOF LEFT JOIN
  read_parquet(snapshots) s ON l.customer_id = s.customer_id AND l.event_ts >= s.feature_ts` on the
  exported parquet files, 2 threads (the Spark variants run local[2]).

Correctness, every run (warm-ups too): the Spark variants' output carries `df.observe(...)` metrics (computed in
the same job as the noop write), DuckDB's an aggregate over its result table: rows, rows with null
features, sum(f00) and sum(f00 * (row_id % 31)) (integers well below 2^53, so exact in any order), and
sum(f01 + ... + f11). Rows, null rows and both f00 sums must equal a numpy oracle of the semantics
(greatest feature_ts <= event time of the same key, else null, every label row kept), and the f01..f11
sums must agree across variants to 1e-9 relative; otherwise the script says CHECK FAILED and exits 1.

Peak RSS: VmHWM of each Spark variant's JVM (in local mode the driver is also the executor, so this
is all of Spark's memory) from /proc, read at the end of the worker (or, for a run killed at its
timeout, the last value polled); for DuckDB, the worker process's ru_maxrss.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA_DIR = REPO / "benchmarks" / ".data"
TABLE = "bench.customer_snapshots"
FEATURES = [f"f{i:02d}" for i in range(12)]
START_US = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
DAY_US = 86_400_000_000
WEIGHT_MOD = 31
MARK = "@@pit "  # worker -> parent protocol lines on stdout

FEAST_ANCHOR_S = 10.5  # Feast 0.67 default offline store on the "feast" shape (the number)
FEAST_DUCKDB_TARGET = 3.0  # issue 16: ours <= 3x DuckDB's ASOF join time on the "feast" shape
LARGE_TARGET = 4.0  # issue 16: ours >= 4x faster than the naive join on the "large" shape

SHAPES = {
    "feast": {"customers": 50_000, "days": 30, "labels": 200_000, "repeats": 3, "warmup": 1,
              "shuffle_partitions": 8, "driver_memory": "8g"},
    "large": {"customers": 50_000, "days": 365, "labels": 1_000_000, "repeats": 1, "warmup": 1,
              "shuffle_partitions": 32, "driver_memory": "8g"},
    "small": {"customers": 2_000, "days": 30, "labels": 20_000, "repeats": 3, "warmup": 1,
              "shuffle_partitions": 4, "driver_memory": "2g"},
}  # fmt: skip
VARIANTS = ("ours", "naive", "duckdb")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="feast")
    p.add_argument("--customers", type=int, help="keys with snapshots")
    p.add_argument("--days", type=int, help="daily snapshots per key (<= 999)")
    p.add_argument("--labels", type=int, help="label rows")
    p.add_argument("--repeats", type=int, help="timed runs per variant (feast 3, large 1)")
    p.add_argument("--warmup", type=int, help="untimed runs per variant before them (1)")
    p.add_argument("--shuffle-partitions", type=int, help="spark.sql.shuffle.partitions (feast 8, large 32)")
    p.add_argument("--driver-memory", help="spark.driver.memory (8g)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--pre-first-fraction", type=float, default=0.015)
    p.add_argument("--exact-fraction", type=float, default=0.01)
    p.add_argument("--unknown-key-fraction", type=float, default=0.002)
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of ours,naive,duckdb"
    )
    p.add_argument(
        "--naive-timeout", type=float, default=1800.0, help="seconds before the naive worker is killed"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="the same for ours and duckdb")
    p.add_argument(
        "--labels-broadcast-max-bytes",
        type=int,
        help="ours: point_in_time_join's threshold for the narrow (broadcast) algorithm; "
        "default: the engine's (LABELS_BROADCAST_MAX_BYTES); 4611686018427387904 forces narrow, -1 union",
    )
    p.add_argument("--explain", action="store_true", help="print the Spark variants' physical plans")
    p.add_argument(
        "--profile",
        action="store_true",
        help="one more run of each Spark variant with its jobs and stages timed (statusTracker polling)",
    )
    p.add_argument("--worker", choices=("setup", *VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name, default in SHAPES[args.shape].items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if not 1 <= args.days <= 999:
        p.error("--days must be 1..999 (f00 = customer_id * 1000 + day)")
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be >= 1 and --warmup >= 0")
    args.variant_list = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not args.variant_list or any(v not in VARIANTS for v in args.variant_list):
        p.error(f"--variants: a subset of {','.join(VARIANTS)}")
    return args


# ---------------------------------------------------------------------------------------- data


def dataset_dir(args: argparse.Namespace) -> Path:
    return DATA_DIR / (
        f"pit-c{args.customers}-d{args.days}-l{args.labels}-s{args.seed}"
        f"-p{args.pre_first_fraction:g}-e{args.exact_fraction:g}-u{args.unknown_key_fraction:g}"
    )


def generate_labels(args: argparse.Namespace) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([args.seed, 1])
    n, c, d = args.labels, args.customers, args.days
    customer = rng.integers(0, c, n, dtype=np.int64)
    kind = rng.random(n)
    pre = kind < args.pre_first_fraction
    exact = (kind >= args.pre_first_fraction) & (kind < args.pre_first_fraction + args.exact_fraction)
    first_fts, end = START_US + DAY_US, START_US + (d + 1) * DAY_US
    event = rng.integers(first_fts, end, n, dtype=np.int64)
    event[pre] = rng.integers(first_fts - 30 * DAY_US, first_fts, int(pre.sum()), dtype=np.int64)
    event[exact] = START_US + (rng.integers(0, d, int(exact.sum()), dtype=np.int64) + 1) * DAY_US
    unknown = rng.random(n) < args.unknown_key_fraction
    customer[unknown] = c + rng.integers(0, 1000, int(unknown.sum()), dtype=np.int64)
    label = (rng.random(n) < 0.1).astype(np.int32)
    return {
        "row_id": np.arange(n, dtype=np.int64),
        "customer_id": customer,
        "event_ts": event,
        "label": label,
    }


def oracle(args: argparse.Namespace, labels: dict[str, np.ndarray]) -> dict:
    """Exact checksums of the as-of semantics, from the grid: the match of event time t is day
    (t - start) // 1 day - 1 (feature_ts = start + (day + 1) days <= t), if >= 0 and the key is known."""
    cid, t, row_id = labels["customer_id"], labels["event_ts"], labels["row_id"]
    day = np.minimum((t - START_US) // DAY_US - 1, args.days - 1)
    matched = (cid < args.customers) & (day >= 0)
    f00 = cid[matched] * 1000 + day[matched]
    return {
        "rows": int(len(t)),
        "null_rows": int((~matched).sum()),
        "sum_f00": int(f00.sum()),
        "weighted_f00": int((f00 * (row_id[matched] % WEIGHT_MOD)).sum()),
        "pre_first_rows": int(((t < START_US + DAY_US) & (cid < args.customers)).sum()),
        "unknown_key_rows": int((cid >= args.customers).sum()),
        "exact_feature_ts_rows": int(((t - START_US) % DAY_US == 0).sum()),
    }


def ensure_parquet(args: argparse.Namespace) -> dict:
    """Label and snapshot parquet files (the export DuckDB reads and the feature table is built from)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = dataset_dir(args)
    marker = root / "PARQUET.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        print(f"data: cached {root.relative_to(REPO)}", flush=True)
        return info
    if root.exists():
        shutil.rmtree(root)
    (root / "snapshots").mkdir(parents=True)
    ts_type = pa.timestamp("us", tz="UTC")
    t0 = time.perf_counter()
    labels = generate_labels(args)
    expected = oracle(args, labels)
    table = pa.table(
        {
            "row_id": labels["row_id"],
            "customer_id": labels["customer_id"],
            "event_ts": pa.array(labels["event_ts"], type=ts_type),
            "label": labels["label"],
        }
    )
    pq.write_table(table, root / "labels.parquet", row_group_size=250_000)
    c, chunk_days = args.customers, max(1, 1_500_000 // args.customers)
    files = 0
    for first in range(0, args.days, chunk_days):
        days = np.arange(first, min(first + chunk_days, args.days), dtype=np.int64)
        rng = np.random.default_rng([args.seed, 2, first])
        cid = np.tile(np.arange(c, dtype=np.int64), len(days))
        day = np.repeat(days, c)
        columns = {
            "customer_id": cid,
            "feature_ts": pa.array(START_US + (day + 1) * DAY_US, type=ts_type),
            FEATURES[0]: (cid * 1000 + day).astype(np.float64),
        }
        noise = rng.standard_normal((len(cid), len(FEATURES) - 1))
        for i, name in enumerate(FEATURES[1:]):
            columns[name] = noise[:, i]
        pq.write_table(
            pa.table(columns), root / "snapshots" / f"part-{files:05d}.parquet", row_group_size=500_000
        )
        files += 1
    info = {
        "labels": args.labels,
        "snapshots": args.customers * args.days,
        "snapshot_files": files,
        "export_seconds": round(time.perf_counter() - t0, 2),
        "oracle": expected,
    }
    marker.write_text(json.dumps(info, indent=2))
    print(
        f"data: generated and exported to parquet in {info['export_seconds']:.1f}s -> {root.relative_to(REPO)}",
        flush=True,
    )
    return info


def store_settings(args: argparse.Namespace):
    from feature_store.runtime.settings import Settings

    return Settings.from_env({"FEATURE_STORE_HOME": str(dataset_dir(args) / "store")})


# ---------------------------------------------------------------------------------------- workers


def emit(event: str, **fields) -> None:
    print(MARK + json.dumps({"event": event, **fields}), flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def spark_session(args: argparse.Namespace, name: str):
    from feature_store.runtime.settings import Settings
    from feature_store.runtime.spark import build_spark_session

    conf = {
        "spark.driver.memory": args.driver_memory,
        "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
        "spark.default.parallelism": str(args.shuffle_partitions),
        "spark.local.dir": os.environ["PIT_BENCH_LOCAL_DIR"],
    }
    spark = build_spark_session(
        "local[2]", app_name=f"bench-pit-{name}", ivy_dir=Settings.from_env().ivy_dir, conf=conf
    )
    emit("jvm", pid=spark.sparkContext._gateway.proc.pid)
    return spark


def jvm_hwm_kb(spark) -> int | None:
    return vm_hwm_kb(spark.sparkContext._gateway.proc.pid)


def vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def worker_setup(args: argparse.Namespace) -> None:
    from feature_store.client.core import FeatureStoreClient

    spark = spark_session(args, "setup")
    root = dataset_dir(args)
    store = root / "store"
    if store.exists():
        shutil.rmtree(store)
    fe = FeatureStoreClient(spark=spark, settings=store_settings(args))
    t0 = time.perf_counter()
    fe.create_table(
        TABLE,
        primary_keys=["customer_id"],
        df=spark.read.parquet(str(root / "snapshots")),
        timestamp_keys="feature_ts",
        description="pit_join benchmark snapshots",
    )
    rows = fe.read_table(TABLE).count()
    seconds = time.perf_counter() - t0
    files = len(fe.read_table(TABLE).inputFiles())
    emit("setup", seconds=round(seconds, 2), rows=rows, files=files)
    spark.stop()


def observed(df, name: str):
    """df with checksum metrics computed in the same job as whatever action runs on it."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    obs = Observation(name)
    rest = F.col(FEATURES[1])
    for f in FEATURES[2:]:
        rest = rest + F.col(f)
    metered = df.observe(
        obs,
        F.count(F.lit(1)).alias("rows"),
        F.count_if(F.col(FEATURES[0]).isNull()).alias("null_rows"),
        F.sum(FEATURES[0]).alias("sum_f00"),
        F.sum(F.col(FEATURES[0]) * (F.col("row_id") % WEIGHT_MOD)).alias("weighted_f00"),
        F.sum(rest).alias("sum_f01_f11"),
    )
    return metered, obs


def spark_checksum(values: dict) -> dict:
    return {
        "rows": int(values["rows"]),
        "null_rows": int(values["null_rows"]),
        "sum_f00": None if values["sum_f00"] is None else int(round(values["sum_f00"])),
        "weighted_f00": None if values["weighted_f00"] is None else int(round(values["weighted_f00"])),
        "sum_f01_f11": values["sum_f01_f11"],
    }


class StageTimer:
    """Polls the status tracker for a job group's jobs and stages: submission and (observed) completion."""

    def __init__(self, spark, group: str, interval: float = 0.1) -> None:
        self.tracker = spark.sparkContext._jsc.statusTracker()
        self.group, self.interval = group, interval
        self.stages: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StageTimer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(2 * self.interval)
        self._poll()
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # best effort: the py4j gateway may be closing
                self._poll()
            time.sleep(self.interval)

    def _poll(self) -> None:
        now = time.time()
        for job_id in list(self.tracker.getJobIdsForGroup(self.group)):
            info = self.tracker.getJobInfo(job_id)
            if info is None:
                continue
            job = self.jobs.setdefault(job_id, {"first_seen": now, "stages": list(info.stageIds())})
            if str(info.status()) in ("SUCCEEDED", "FAILED") and "done" not in job:
                job["done"] = now
            for stage_id in job["stages"]:
                s = self.tracker.getStageInfo(stage_id)
                if s is None:
                    continue
                entry = self.stages.setdefault(stage_id, {"name": s.name(), "tasks": s.numTasks()})
                if s.submissionTime() > 0:
                    entry["submitted"] = s.submissionTime() / 1000
                if s.numCompletedTasks() >= s.numTasks() and "done" not in entry:
                    entry["done"] = now

    def report(self) -> list[str]:
        lines = []
        for job_id, job in sorted(self.jobs.items()):
            end = job.get("done", time.time())
            lines.append(f"job {job_id}: ~{end - job['first_seen']:.2f}s, stages {job['stages']}")
            for stage_id in job["stages"]:
                s = self.stages.get(stage_id)
                if not s or "submitted" not in s:
                    lines.append(f"  stage {stage_id}: skipped (reused shuffle output)")
                    continue
                took = s.get("done", end) - s["submitted"]
                lines.append(f"  stage {stage_id}: {took:6.2f}s  {s['tasks']:>4} tasks  {s['name'][:70]}")
        return lines


def worker_spark(args: argparse.Namespace, variant: str) -> None:
    from naive_pit_join import naive_point_in_time_join

    from feature_store.client.core import FeatureStoreClient
    from feature_store.training.lookups import FeatureLookup

    spark = spark_session(args, variant)
    if args.labels_broadcast_max_bytes is not None:
        import feature_store.training.pit_join as pit_join

        pit_join.LABELS_BROADCAST_MAX_BYTES = args.labels_broadcast_max_bytes
    fe = FeatureStoreClient(spark=spark, settings=store_settings(args))
    labels = spark.read.parquet(str(dataset_dir(args) / "labels.parquet"))
    output_columns = [*labels.columns, *FEATURES]

    def build() -> tuple[object, dict[str, float]]:
        t0 = time.perf_counter()
        if variant == "ours":
            training_set = fe.create_training_set(
                labels,
                [FeatureLookup(TABLE, "customer_id", timestamp_lookup_key="event_ts")],
                label="label",
            )
            t1 = time.perf_counter()
            df = training_set.load_df()
            return df, {"create_training_set": t1 - t0, "load_df": time.perf_counter() - t1}
        snapshots = fe.read_table(TABLE)
        df = naive_point_in_time_join(
            labels, snapshots, "customer_id", "event_ts", "feature_ts", FEATURES, "row_id"
        )
        return df, {"read_table + join plan": time.perf_counter() - t0}

    def run(n: int, timed: bool) -> dict:
        emit("run_start", n=n)
        load_start = loadavg()
        t0 = time.perf_counter()
        df, parts = build()
        if df.columns != output_columns:
            raise RuntimeError(f"{variant}: output columns {df.columns} != {output_columns}")
        metered, obs = observed(df, f"{variant}-{n}")
        t1 = time.perf_counter()
        metered.write.format("noop").mode("overwrite").save()
        t2 = time.perf_counter()
        parts["noop write"] = t2 - t1
        result = {
            "n": n,
            "timed": timed,
            "seconds": t2 - t0,
            "parts": parts,
            "checksum": spark_checksum(obs.get),
            "load_start": load_start,
            "load_end": loadavg(),
        }
        emit("run", **result)
        return result

    def profile() -> None:
        group = f"pit-profile-{variant}"
        spark.sparkContext.setJobGroup(group, f"pit_join profile {variant}")
        with StageTimer(spark, group) as timer:
            result = run(0, False)
        spark.sparkContext.setJobGroup("", "")
        print(
            f"== {variant}: profile run {result['seconds']:.2f}s, parts {fmt_parts(result['parts'])}",
            flush=True,
        )
        for line in timer.report():
            print("  " + line, flush=True)

    if args.explain:
        df, _ = build()
        print(f"== {variant}: physical plan", flush=True)
        df.explain("formatted")
    serve(run, profile)
    emit("done", vm_hwm_kb=jvm_hwm_kb(spark))
    spark.stop()


def serve(run: Callable[[int, bool], object], profile: Callable[[], None] | None = None) -> None:
    """Run what the parent asks, one line each: `run N 0|1` (N < 0: warm-up), `profile`, `quit`."""
    emit("ready")
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        if command[0] == "run":
            run(int(command[1]), command[2] == "1")
        elif command[0] == "profile" and profile is not None:
            profile()
        emit("idle")


def worker_duckdb(args: argparse.Namespace) -> None:
    import duckdb

    root = dataset_dir(args)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    features = ", ".join(f"s.{f}" for f in FEATURES)
    query = (
        f"CREATE OR REPLACE TEMP TABLE result AS SELECT l.*, {features} "
        f"FROM read_parquet('{root / 'labels.parquet'}') l "
        f"ASOF LEFT JOIN read_parquet('{root / 'snapshots' / '*.parquet'}') s "
        "ON l.customer_id = s.customer_id AND l.event_ts >= s.feature_ts"
    )
    rest = " + ".join(FEATURES[1:])
    checksum_sql = (
        f"SELECT count(*), count(*) - count({FEATURES[0]}), sum({FEATURES[0]}), "
        f"sum({FEATURES[0]} * (row_id % {WEIGHT_MOD})), sum({rest}) FROM result"
    )

    def run(n: int, timed: bool) -> None:
        emit("run_start", n=n)
        load_start = loadavg()
        t0 = time.perf_counter()
        con.execute(query)
        seconds = time.perf_counter() - t0
        rows, nulls, s0, w0, rest_sum = con.execute(checksum_sql).fetchone()
        checksum = {
            "rows": int(rows),
            "null_rows": int(nulls),
            "sum_f00": None if s0 is None else int(round(s0)),
            "weighted_f00": None if w0 is None else int(round(w0)),
            "sum_f01_f11": rest_sum,
        }
        emit("run", n=n, timed=timed, seconds=seconds, parts={}, checksum=checksum,
             load_start=load_start, load_end=loadavg())  # fmt: skip

    if args.explain:
        print(con.execute("EXPLAIN " + query.split(" AS ", 1)[1]).fetchall()[0][1], flush=True)
    serve(run)
    emit("done", vm_hwm_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# ---------------------------------------------------------------------------------------- parent


class Worker:
    """One variant in a subprocess with its own session (process group), so that a run past its
    timeout is killed together with its JVM, and each JVM's peak RSS is that variant's alone."""

    def __init__(self, args: argparse.Namespace, variant: str, log: Path) -> None:
        self.variant = variant
        self.local_dir = DATA_DIR / "spark-tmp" / f"pit-{os.getpid()}-{variant}"
        self.local_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PIT_BENCH_LOCAL_DIR=str(self.local_dir))
        cmd = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], "--worker", variant]
        self.log = log
        self.state: dict = {"runs": [], "jvm_pid": None, "hwm_kb": None, "status": "ok"}
        self.events: queue.Queue = queue.Queue()
        self.started = time.perf_counter()
        with open(log, "a") as err:
            err.write(f"\n===== {variant}: {' '.join(cmd)}\n")
            err.flush()
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._watch_memory, daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self.state["status"] == "ok"

    def _read(self) -> None:
        for line in self.proc.stdout:
            if not line.startswith(MARK):
                print(f"  [{self.variant}] {line.rstrip()}", flush=True)
                continue
            msg = json.loads(line[len(MARK) :])
            event = msg["event"]
            if event == "jvm":
                self.state["jvm_pid"] = msg["pid"]
            elif event == "run":
                self.state["runs"].append(msg)
                kind = "run" if msg["timed"] else "warm-up" if msg["n"] < 0 else "profile run"
                print(
                    f"  {self.variant} {kind} {abs(msg['n']) or ''}: {msg['seconds']:.2f}s "
                    f"{fmt_parts(msg['parts'])} (load {fmt_load(msg['load_start'])} -> {fmt_load(msg['load_end'])})",
                    flush=True,
                )
            elif event in ("done", "setup"):
                self.state.update({k: v for k, v in msg.items() if k != "event"})
                self.state["hwm_kb"] = msg.get("vm_hwm_kb") or self.state["hwm_kb"]
            self.events.put(msg)
        self.events.put({"event": "eof"})

    def _watch_memory(self) -> None:
        while self.proc.poll() is None:
            pid = self.state["jvm_pid"]
            hwm = vm_hwm_kb(pid) if pid else None
            if hwm:
                self.state["hwm_kb"] = max(self.state["hwm_kb"] or 0, hwm)
            time.sleep(1.0)

    def wait_for(self, event: str, timeout: float) -> dict | None:
        """The next `event` message; None if the worker ended or the timeout passed first."""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            try:
                msg = self.events.get(timeout=min(left, 5.0))
            except queue.Empty:
                continue
            if msg["event"] == event:
                return msg
            if msg["event"] == "eof":
                return None

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def run(self, n: int, timed: bool, timeout: float) -> None:
        """One run; past timeout the worker and its JVM are killed and the run's elapsed time kept."""
        self.send(f"run {n} {int(timed)}")
        start, load = time.perf_counter(), loadavg()
        if self.wait_for("run_start", timeout) is None or self.wait_for("idle", timeout) is None:
            elapsed = time.perf_counter() - start
            which = f"{'run' if timed else 'warm-up'} {abs(n)}"
            if self.proc.poll() is None:
                self.kill(f"timeout after {timeout:.0f}s in {which}")
            self.state["unfinished_run_s"] = elapsed
            self.state["unfinished_load"] = [load, loadavg()]
            print(
                f"  {self.variant}: {which} did not finish after {elapsed:.0f}s: {self.state['status']} "
                f"(load {fmt_load(load)} -> {fmt_load(loadavg())})",
                flush=True,
            )

    def kill(self, status: str) -> None:
        self.state["status"] = status
        os.killpg(self.proc.pid, signal.SIGKILL)  # its own process group: the worker and its JVM
        self.proc.wait()

    def finish(self, timeout: float = 300.0) -> dict:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.send("quit")
            self.wait_for("done", timeout)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill("did not exit")
        self.state["wall"] = time.perf_counter() - self.started
        code = self.proc.returncode
        if self.state["status"] == "ok" and code != 0:
            tail = self.log.read_text().splitlines()[-400:]
            if code < 0:
                self.state["status"] = f"killed by signal {-code}" + (
                    " (the kernel OOM killer?)" if code == -signal.SIGKILL else ""
                )
            elif any("OutOfMemoryError" in line for line in tail):
                self.state["status"] = "OOM (java.lang.OutOfMemoryError)"
            else:
                self.state["status"] = f"failed (exit {code})"
            errors = [line for line in tail if "Error" in line or "Exception" in line][-5:]
            self.state["error"] = errors
            print(f"  {self.variant}: {self.state['status']}; see {self.log}", flush=True)
            for line in errors:
                print(f"    {line[:200]}", flush=True)
        shutil.rmtree(self.local_dir, ignore_errors=True)
        return self.state


def run_variants(args: argparse.Namespace, log: Path) -> dict[str, dict]:
    """Start every variant's worker, then run them round-robin: warm-ups, then the timed runs."""
    workers: dict[str, Worker] = {}
    for variant in args.variant_list:
        print(f"{variant}: starting its worker; uptime: {uptime()}", flush=True)
        worker = Worker(args, variant, log)
        if worker.wait_for("ready", args.timeout) is None and worker.proc.poll() is None:
            worker.kill("did not start")
        workers[variant] = worker
    rounds = [(-(i + 1), False) for i in range(args.warmup)] + [(i + 1, True) for i in range(args.repeats)]
    for n, timed in rounds:
        print(f"{'run' if timed else 'warm-up'} {abs(n)}: uptime: {uptime()}", flush=True)
        for variant, worker in workers.items():
            if worker.alive:
                timeout = args.naive_timeout if variant == "naive" else args.timeout
                worker.run(n, timed, timeout)
    if args.profile:
        for variant, worker in workers.items():
            if worker.alive and variant != "duckdb":
                worker.send("profile")
                worker.wait_for("idle", args.naive_timeout if variant == "naive" else args.timeout)
    return {variant: worker.finish() for variant, worker in workers.items()}


def machine() -> dict[str, str]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.strip().splitlines()
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "java": java[0] if java else "?",
        "pyspark": v("pyspark"),
        "delta-spark": v("delta-spark"),
        "duckdb": v("duckdb"),
        "python": platform.python_version(),
    }


def fmt_parts(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}s" for k, v in parts.items())


def speed(ours: float, other: float) -> str:
    return f"ours {other / ours:.1f}x faster" if ours <= other else f"ours {ours / other:.1f}x slower"


def fmt_load(load: list[float]) -> str:
    return "/".join(f"{x:.1f}" for x in load)


def fmt_mib(kb: int | None) -> str:
    return "-" if not kb else f"{kb / 1024:,.0f} MiB"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def compare(info: dict, results: dict[str, dict]) -> list[str]:
    """Problems: a variant's checksums vs the oracle, and the f01..f11 sums across variants."""
    expected = info["oracle"]
    problems: list[str] = []
    reference: tuple[str, float] | None = None
    for variant, state in results.items():
        for run in state["runs"]:
            got = run["checksum"]
            for key in ("rows", "null_rows", "sum_f00", "weighted_f00"):
                if got[key] != expected[key]:
                    problems.append(f"{variant} run {run['n']}: {key} {got[key]} != oracle {expected[key]}")
            value = got["sum_f01_f11"]
            if reference is None:
                reference = (variant, value)
            elif value is None or abs(value - reference[1]) > 1e-9 * max(1.0, abs(reference[1])):
                problems.append(
                    f"{variant} run {run['n']}: sum(f01..f11) {value!r} != {reference[0]}'s {reference[1]!r}"
                )
    return problems


def pinned_duckdb() -> str:
    """The version the `bench` extra pins (pyproject.toml), which the comparison must run against."""
    text = (REPO / "pyproject.toml").read_text()
    found = re.search(r'^bench = \[[^\]]*"duckdb==([^"]+)"', text, re.M)
    if found is None:
        raise SystemExit('pyproject.toml has no `bench = ["duckdb==..."]` extra')
    return found.group(1)


def require_comparators(args: argparse.Namespace) -> str | None:
    """Why the run can't compare (a comparator missing or of another version), else None."""
    if "duckdb" not in args.variant_list:
        return None
    want = pinned_duckdb()
    try:
        have = version("duckdb")
    except PackageNotFoundError:
        have = None
    if have == want:
        return None
    found = "is not installed" if have is None else f"is {have}"
    return (
        f"DuckDB (the comparator) {found}; the `bench` extra pins duckdb=={want}. Install it with\n"
        f"  .venv/bin/pip install -c requirements.lock duckdb=={want}\n"
        "or leave it out with --variants ours,naive (then no DuckDB ratio is reported)."
    )


def main() -> int:
    args = parse_args()
    if not args.worker:
        missing = require_comparators(args)
        if missing:
            print(f"CANNOT COMPARE: {missing}", file=sys.stderr)
            return 2
    if args.worker == "setup":
        worker_setup(args)
        return 0
    if args.worker == "duckdb":
        worker_duckdb(args)
        return 0
    if args.worker:
        worker_spark(args, args.worker)
        return 0

    print("machine:", json.dumps(machine()), flush=True)
    print(f"uptime at start: {uptime()}", flush=True)
    print(
        f"shape {args.shape}: {args.labels:,} label rows, {args.customers:,} keys x {args.days} snapshots "
        f"= {args.customers * args.days:,} snapshot rows, {len(FEATURES)} double features; local[2], "
        f"spark.sql.shuffle.partitions={args.shuffle_partitions} (also spark.default.parallelism), "
        f"spark.driver.memory={args.driver_memory}, AQE on; warm-up {args.warmup}, repeats {args.repeats}",
        flush=True,
    )
    info = ensure_parquet(args)
    run_dir = DATA_DIR / "runs"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / f"pit_join-{args.shape}-{os.getpid()}.log"
    store_marker = dataset_dir(args) / "store" / "READY.json"
    if store_marker.exists():
        setup = json.loads(store_marker.read_text())
        print(
            f"setup: cached feature table {TABLE} ({setup['rows']:,} rows, {setup['files']} files)",
            flush=True,
        )
    else:
        print(f"setup: create_table {TABLE} from the snapshot parquet (not timed as part of any variant)")
        worker = Worker(args, "setup", log)
        worker.wait_for("setup", args.timeout)
        state = worker.finish()
        if state["status"] != "ok" or "rows" not in state:
            print(f"setup failed: {state['status']}; see {log}")
            return 1
        setup = {"rows": state["rows"], "files": state["files"], "seconds": state["seconds"]}
        store_marker.write_text(json.dumps(setup))
        print(f"setup: {setup['rows']:,} rows in {setup['files']} files, {setup['seconds']:.1f}s", flush=True)
    if setup["rows"] != info["snapshots"]:
        print(f"CHECK FAILED: feature table has {setup['rows']} rows, generated {info['snapshots']}")
        return 1

    results = run_variants(args, log)

    expected = info["oracle"]
    print()
    print(
        f"Shape `{args.shape}`: {args.labels:,} label rows ({expected['pre_first_rows']:,} before the first snapshot, "
        f"{expected['unknown_key_rows']:,} with a key that has no snapshot, {expected['exact_feature_ts_rows']:,} exactly "
        f"on a feature_ts), {args.customers:,} keys x {args.days} daily snapshots = {info['snapshots']:,} snapshot rows "
        f"({setup['files']} Delta files), {len(FEATURES)} double features; parquet export "
        f"{info['export_seconds']:.1f}s (once, not timed below); warm-up {args.warmup}, repeats {args.repeats}; "
        f"local[2], shuffle partitions {args.shuffle_partitions}, driver memory {args.driver_memory}."
    )
    print()
    print(
        "| variant | status | median s | min s | max s | label rows/s | median parts | peak RSS | load avg 1/5/15 (first run start -> last run end) |"
    )
    print("|---|---|---:|---:|---:|---:|---|---:|---|")
    medians: dict[str, float] = {}
    for variant, state in results.items():
        timed = [r for r in state["runs"] if r["timed"]]
        if timed:
            secs = [r["seconds"] for r in timed]
            medians[variant] = statistics.median(secs)
            parts = {k: statistics.median(r["parts"][k] for r in timed) for k in timed[0]["parts"]}
            load = f"{fmt_load(timed[0]['load_start'])} -> {fmt_load(timed[-1]['load_end'])}"
            print(
                f"| {variant} | {state['status'] if len(timed) == args.repeats else state['status'] + ', partial'} | "
                f"{medians[variant]:.2f} | {min(secs):.2f} | {max(secs):.2f} | "
                f"{args.labels / medians[variant]:,.0f} | {fmt_parts(parts)} | {fmt_mib(state['hwm_kb'])} | {load} |"
            )
        else:
            ran = state.get("unfinished_run_s", state["wall"])
            load = state.get("unfinished_load", [[0, 0, 0], loadavg()])
            warm = [f"{r['seconds']:.1f}s" for r in state["runs"] if r["n"] < 0]
            status = state["status"] + (f" (warm-up took {', '.join(warm)})" if warm else "")
            print(
                f"| {variant} | {status} | > {ran:.0f} | - | - | - | - | {fmt_mib(state['hwm_kb'])} | "
                f"{fmt_load(load[0])} -> {fmt_load(load[1])} |"
            )
    print()
    print("| ratio | value | target |")
    print("|---|---:|---|")
    ours = medians.get("ours")
    if ours is not None:
        for other in ("naive", "duckdb"):
            if other not in results:
                continue
            targeted = other == "naive" and args.shape == "large"
            targeted = targeted or (other == "duckdb" and args.shape == "feast")
            status = results[other]["status"]
            factor: float | None = None
            if other in medians and status == "ok":
                factor = medians[other] / ours
                value = f"{ours / medians[other]:.2f} ({speed(ours, medians[other])})"
            elif status.startswith("timeout"):  # killed at its timeout: its elapsed time is a lower bound
                factor = results[other].get("unfinished_run_s", results[other]["wall"]) / ours
                value = f"< {1 / factor:.3f} ({other} {status}: ours > {factor:.0f}x faster)"
            else:  # a comparator that failed says nothing about ours: never a win
                value = f"FAILED ({other}: {status})"
            target = "-"
            if targeted and factor is None:
                target = f"not measured: {other} FAILED"
            elif targeted and other == "naive":
                met = "met" if factor >= LARGE_TARGET else "MISSED"
                bound = "" if other in medians or factor < LARGE_TARGET else " (lower bound)"
                target = f">= {LARGE_TARGET:g}x faster: {met}{bound}"
            elif targeted:
                met = "met" if ours / medians[other] <= FEAST_DUCKDB_TARGET else "MISSED"
                target = f"<= {FEAST_DUCKDB_TARGET:g}x DuckDB's time: {met}"
            print(f"| ours / {other} | {value} | {target} |")
        if args.shape == "feast":
            print(
                f"| Feast 0.67 default offline store (issue: {FEAST_ANCHOR_S} s, not measured here) / ours | "
                f"{FEAST_ANCHOR_S / ours:.1f}x | - |"
            )
    print()
    problems = compare(info, results)
    checked = {v: len(s["runs"]) for v, s in results.items()}
    print(
        f"check: oracle rows {expected['rows']:,}, null rows {expected['null_rows']:,}, sum(f00) {expected['sum_f00']:,}, "
        f"sum(f00 * (row_id % {WEIGHT_MOD})) {expected['weighted_f00']:,}; runs checked per variant {checked}"
    )
    for variant, state in results.items():
        if state["runs"]:
            c = state["runs"][-1]["checksum"]
            print(f"  {variant}: {json.dumps(c)}")
    print(f"uptime at end: {uptime()}")
    print(f"worker stderr: {log.relative_to(REPO)}")
    if problems:
        print("CHECK FAILED:")
        for problem in problems[:20]:
            print("  ", problem)
        return 1
    missing = [v for v, s in results.items() if not s["runs"]]
    if missing:
        print(f"NOT CHECKED (no completed run): {', '.join(missing)}")
    failed = [f"{v} ({s['status']})" for v, s in results.items() if s["status"] != "ok"]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
