"""Benchmark: one day's windowed snapshot, tiled (ours) vs the seed's per-row range windows.

Run from the repo root:

    .venv/bin/python benchmarks/windows.py            # full size (>= 10M transactions, 365 days, 50k customers)
    .venv/bin/python benchmarks/windows.py --small    # a quick run

Data: a seeded synthetic transactions history (examples.churn.generate) landed as daily parquet files
and loaded once into a Delta raw table partitioned by date (the raw.transactions layout). It is cached
under benchmarks/.data/ (gitignored) and reused by later runs with the same size and seed.

For one snapshot day D (the last day) it times, in the same run:

- tiled: compute tile D from raw day D and replace it in the tiles table, then read tiles D-L..D,
  compute snapshot D and replace it in the snapshot table (L = longest window). The tiles of the
  earlier days are written once beforehand, outside the timing: in production they already exist.
  Run for windows {7,14,30,90} and {7} alone.
- tiled via the assets' functions: feature_tables.write_tiles + write_snapshots for D (what the
  Dagster assets run: the same work plus their read-back row counts and missing-day check).
- seed: the reference architecture's create_time_windowed_features, i.e. for each window a
  Window.partitionBy("customer_id").orderBy(ts seconds).rangeBetween(-days * 86400, 0) over every raw
  row, then one row per customer (its latest event <= D end), written to Delta. Run over the last
  L + 1 days of raw rows (D-90..D: the least input that still gives exact 90-day windows to every
  customer active on D, i.e. generous to the seed) and over the whole raw table.

Each variant runs once to warm up, then --repeats times, round-robin; the table reports medians.
rows/s = raw rows covered / median seconds, where the rows covered are those of the days the
output summarises: D-L..D for a tiled snapshot, the rows read for the seed.

Correctness: for sampled customers present in both outputs, each output is checked against a
pandas oracle of its own semantics, and the two are checked to agree wherever their windows hold
the same events. They differ by design: the seed's N-day window is [t - N*86400 s, t] around the
customer's latest event t (so it reaches a partial day N and stops at t), ours is the calendar days
[D-N+1 00:00, D+1 00:00); and the seed gives every customer ever seen a row, ours only those with
an event in D-L..D.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.window import Window  # noqa: E402

from examples.churn.generate import generate  # noqa: E402
from examples.churn.repo import CUSTOMER_FEATURES, TRANSACTIONS  # noqa: E402
from feature_store.declarations import WindowedTable  # noqa: E402
from feature_store.offline.delta_tables import DeltaTables  # noqa: E402
from feature_store.offline.feature_tables import write_snapshots, write_tiles  # noqa: E402
from feature_store.offline.ingest import raw_table_columns  # noqa: E402
from feature_store.offline.windowed import compute_daily_tiles, compute_snapshots, tile_range_for  # noqa: E402
from feature_store.runtime.spark import build_spark_session  # noqa: E402

DATA_DIR = REPO / "benchmarks" / ".data"
RAW = TRANSACTIONS.table
LAST_DAY = date(2025, 12, 31)
SEED_TABLE = "bench.seed_features"
TARGET_SEED_OVER_TILED = 5.0
TARGET_ALL_OVER_7 = 1.3

FULL = {"customers": 50_000, "transactions": 10_000_000, "days": 365, "products": 5_000}
SMALL = {"customers": 2_000, "transactions": 200_000, "days": 120, "products": 500}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help=f"quick run: {SMALL}")
    p.add_argument("--customers", type=int)
    p.add_argument("--transactions", type=int, help="expected total transactions over all days")
    p.add_argument("--days", type=int, help=f"days of history, ending {LAST_DAY}")
    p.add_argument("--products", type=int)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per variant, after one warm-up")
    p.add_argument("--seed", type=int, default=42, help="generator seed")
    p.add_argument("--shuffle-partitions", type=int, default=8)
    p.add_argument("--driver-memory", default="8g")
    p.add_argument("--no-seed-full", action="store_true", help="skip the seed over the whole raw table")
    p.add_argument("--sample-keys", type=int, default=40, help="customers compared against the oracles")
    p.add_argument("--explain", action="store_true", help="print the physical plans of the timed queries")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after the timed runs, run each variant once more and print its Spark jobs and stage times",
    )
    p.add_argument("--keep", action="store_true", help="keep this run's output tables")
    args = p.parse_args()
    sizes = SMALL if args.small else FULL
    for name, default in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.days < 92:
        p.error("--days must be >= 92: the 90-day window needs 91 days of history before the last day")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    return args


# ---------------------------------------------------------------------------------------- data


def dataset_dir(args: argparse.Namespace) -> Path:
    return DATA_DIR / (
        f"windows-c{args.customers}-t{args.transactions}-d{args.days}-p{args.products}-s{args.seed}"
    )


def ensure_dataset(spark: SparkSession, args: argparse.Namespace) -> tuple[DeltaTables, dict]:
    """The cached raw Delta table for these arguments, generated and loaded if missing."""
    root = dataset_dir(args)
    marker = root / "READY.json"
    tables = DeltaTables(spark, str(root / "delta"))
    if marker.exists():
        info = json.loads(marker.read_text())
        print(f"data: cached {root.relative_to(REPO)} ({info['raw_rows']:,} raw rows)")
        return tables, info
    if root.exists():
        shutil.rmtree(root)
    start = LAST_DAY - timedelta(days=args.days - 1)
    t0 = time.perf_counter()
    summary = generate(
        root / "landing",
        start,
        LAST_DAY,
        customers=args.customers,
        products=args.products,
        transactions_per_day=args.transactions / args.days,
        seed=args.seed,
        label_fraction=0.0,
    )
    t1 = time.perf_counter()
    print(f"data: generated {summary.transactions:,} transactions in {t1 - t0:.1f}s", flush=True)
    # One pass from the landing files into the raw table layout; each landing file is one day,
    # so every date partition gets one file without a shuffle.
    landed = spark.read.parquet(str(root / "landing" / TRANSACTIONS.landing_dir))
    rows = landed.select(*TRANSACTIONS.column_names, F.col("date").cast("date").alias("date"))
    tables.ensure(RAW, raw_table_columns(TRANSACTIONS), ["date"], comment=TRANSACTIONS.description)
    rows.write.format("delta").mode("overwrite").save(tables.path(RAW))
    raw_rows = tables.read(RAW).count()
    if raw_rows != summary.transactions:
        raise RuntimeError(f"raw table has {raw_rows} rows, generated {summary.transactions}")
    shutil.rmtree(root / "landing")
    info = {
        "raw_rows": raw_rows,
        "start": start.isoformat(),
        "end": LAST_DAY.isoformat(),
        "customers": args.customers,
        "products": args.products,
        "seed": args.seed,
    }
    marker.write_text(json.dumps(info, indent=2))
    print(f"data: loaded into Delta in {time.perf_counter() - t1:.1f}s -> {root.relative_to(REPO)}")
    return tables, info


# ------------------------------------------------------------------------------------ variants


def tiled_run(raw: DeltaTables, out: DeltaTables, spec: WindowedTable, tiles_table: str, day: date):
    """Tile D from raw day D, then snapshot D from tiles D-L..D, both written to Delta."""

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        tile = compute_daily_tiles(raw.read_days(spec.source.table, day, day), spec)
        out.replace_days(tiles_table, tile, day, day)
        t1 = time.perf_counter()
        first, last = tile_range_for(spec, day, day)
        snapshot = compute_snapshots(out.read_days(tiles_table, first, last), spec, day, day)
        out.replace_days(spec.name, snapshot, day, day)
        t2 = time.perf_counter()
        return {"tile": t1 - t0, "snapshot": t2 - t1}

    return run


def assets_run(tables: DeltaTables, spec: WindowedTable, day: date, history_start: date):
    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        write_tiles(tables, spec, day, day)
        t1 = time.perf_counter()
        if "history_start" in inspect.signature(write_snapshots).parameters:
            write_snapshots(tables, spec, day, day, history_start=history_start)
        else:
            write_snapshots(tables, spec, day, day)
        t2 = time.perf_counter()
        return {"tile": t1 - t0, "snapshot": t2 - t1}

    return run


def create_time_windowed_features(df: DataFrame, windows=(7, 14, 30, 90)) -> DataFrame:
    """The reference architecture's function, with the range ordered by event time in seconds."""
    features = df
    for days in windows:
        window_spec = (
            Window.partitionBy("customer_id").orderBy("transaction_date").rangeBetween(-days * 86400, 0)
        )
        features = (
            features.withColumn(f"txn_count_{days}d", F.count("*").over(window_spec))
            .withColumn(f"total_spend_{days}d", F.sum("amount").over(window_spec))
            .withColumn(f"avg_spend_{days}d", F.avg("amount").over(window_spec))
        )
    return features


def seed_query(raw: DeltaTables, day: date, first: date | None, windows) -> DataFrame:
    rows = raw.read(RAW).where(F.col("date") <= F.lit(day))
    if first is not None:
        rows = rows.where(F.col("date") >= F.lit(first))
    # The seed orders by "transaction_date" in seconds (rangeBetween(-days * 86400, 0)).
    rows = rows.withColumn("transaction_date", F.col("transaction_ts").cast("long"))
    features = create_time_windowed_features(rows, windows)
    latest = Window.partitionBy("customer_id").orderBy(
        F.col("transaction_ts").desc(), F.col("transaction_id")
    )
    return features.withColumn("__rn", F.row_number().over(latest)).where("__rn = 1").drop("__rn")


def seed_run(raw: DeltaTables, out: DeltaTables, table: str, day: date, first: date | None, windows):
    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        seed_query(raw, day, first, windows).write.format("delta").mode("overwrite").save(out.path(table))
        return {"total": time.perf_counter() - t0}

    return run


# ----------------------------------------------------------------------------------- checking


def check_against_oracles(
    spark: SparkSession,
    raw: DeltaTables,
    out: DeltaTables,
    spec: WindowedTable,
    seed_table: str,
    seed_first: date | None,
    day: date,
    n_keys: int,
    seed: int,
) -> dict:
    """Sampled customers: each output equals its own semantics' oracle, and the two outputs agree
    on every (customer, window) whose two windows hold the same events."""
    tiled = out.read_days(spec.name, day, day)
    seeded = out.read(seed_table)
    both = tiled.select("customer_id").join(seeded.select("customer_id"), "customer_id")
    # Half the sample among customers whose latest event is on D (the windows nearly align), half any.
    on_d = both.join(
        seeded.where(F.to_date("transaction_ts") == F.lit(day)).select("customer_id"), "customer_id"
    )
    rng = np.random.default_rng(seed)
    pool_d = sorted(r[0] for r in on_d.collect())
    pool_all = sorted(r[0] for r in both.collect())
    keys = set(rng.choice(pool_d, min(n_keys // 2, len(pool_d)), replace=False).tolist()) if pool_d else set()
    rest = [k for k in pool_all if k not in keys]
    keys |= set(rng.choice(rest, min(n_keys - len(keys), len(rest)), replace=False).tolist())
    keys = sorted(keys)

    events = (
        raw.read(RAW)
        .where(F.col("customer_id").isin(keys) & (F.col("date") <= F.lit(day)))
        .select("customer_id", "amount", F.unix_micros("transaction_ts").alias("us"), "transaction_id")
        .toPandas()
    )
    tiled_rows = {
        r["customer_id"]: r.asDict() for r in tiled.where(F.col("customer_id").isin(keys)).collect()
    }
    seed_rows = {
        r["customer_id"]: r.asDict() for r in seeded.where(F.col("customer_id").isin(keys)).collect()
    }

    day_us = (day.toordinal() - date(1970, 1, 1).toordinal()) * 86_400_000_000
    end_us = day_us + 86_400_000_000
    seed_from_us = None if seed_first is None else day_us - (day - seed_first).days * 86_400_000_000
    problems: list[str] = []
    compared = aligned = agreed = 0

    def close(a, b) -> bool:
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)

    for key in keys:
        ev = events[events.customer_id == key]
        t_row, s_row = tiled_rows[key], seed_rows[key]
        us = ev.us.to_numpy()
        amounts = ev.amount.to_numpy()
        # Tiled semantics: calendar days [D-N+1 00:00, D+1 00:00).
        lookback_from = day_us - spec.lookback_days * 86_400_000_000
        in_lookback = us[(us >= lookback_from) & (us < end_us)]
        exp_last = int(in_lookback.max())
        if int(_micros(t_row[spec.activity_columns[0]])) != exp_last:
            problems.append(f"{key}: tiled last_txn_ts {t_row[spec.activity_columns[0]]} != oracle")
        # Seed semantics: [t - N*86400 s, t] in whole seconds around the latest event t.
        scope = us >= seed_from_us if seed_from_us is not None else np.ones(len(us), dtype=bool)
        secs = us // 1_000_000
        t_last = secs[scope & (us < end_us)].max()
        for n in spec.windows():
            t_mask = (us >= end_us - n * 86_400_000_000) & (us < end_us)
            s_mask = scope & (secs >= t_last - n * 86400) & (secs <= t_last)
            for name, mask, row in (("tiled", t_mask, t_row), ("seed", s_mask, s_row)):
                count, total = int(mask.sum()), float(amounts[mask].sum())
                avg = total / count if count else None
                got = (row[f"txn_count_{n}d"], row[f"total_spend_{n}d"], row[f"avg_spend_{n}d"])
                if not (got[0] == count and close(got[1], total) and close(got[2], avg)):
                    problems.append(f"{key} {name} {n}d: got {got}, oracle {(count, total, avg)}")
            compared += 1
            if np.array_equal(t_mask, s_mask):
                aligned += 1
                same = t_row[f"txn_count_{n}d"] == s_row[f"txn_count_{n}d"] and all(
                    close(t_row[f"{a}_{n}d"], s_row[f"{a}_{n}d"]) for a in ("total_spend", "avg_spend")
                )
                if same:
                    agreed += 1
                else:
                    problems.append(f"{key} {n}d: same events but tiled {t_row} != seed {s_row}")
    return {
        "keys": len(keys),
        "keys_on_last_day": min(n_keys // 2, len(pool_d)),
        "customer_windows": compared,
        "same_events": aligned,
        "same_values_when_same_events": agreed,
        "problems": problems,
        "tiled_rows": tiled.count(),
        "seed_rows": seeded.count(),
        "both_rows": len(pool_all),
    }


def _micros(ts) -> int:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


# -------------------------------------------------------------------------------------- report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_api(spark: SparkSession, path: str):
    url = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{spark.sparkContext.applicationId}/{path}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def _api_time(text: str) -> float:
    return datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def profile(spark: SparkSession, name: str, run: Callable[[], dict[str, float]]) -> None:
    """Run once under a job tag and print each Spark job: wall time, stages, tasks, task time.
    The gap between the run's wall time and its jobs is driver-side work (planning, Delta log)."""
    sc = spark.sparkContext
    tag = f"bench-profile-{int(time.time() * 1000)}"
    sc.addJobTag(tag)
    try:
        parts = run()
    finally:
        sc.removeJobTag(tag)
    time.sleep(1.0)  # let the listener catch up
    jobs = sorted(
        (j for j in _spark_api(spark, "jobs") if tag in j.get("jobTags", [])), key=lambda j: j["jobId"]
    )
    wall = sum(parts.values())
    in_jobs = 0.0
    print(f"\n  {name}: {wall:.2f}s wall {fmt_parts(parts)}, {len(jobs)} Spark jobs")
    for job in jobs:
        seconds = _api_time(job["completionTime"]) - _api_time(job["submissionTime"])
        in_jobs += seconds
        stages = [_spark_api(spark, f"stages/{sid}") for sid in job["stageIds"]]
        ran = [a for s in stages for a in s if a.get("status") == "COMPLETE"]
        tasks = sum(a["numCompleteTasks"] for a in ran)
        task_s = sum(a["executorRunTime"] for a in ran) / 1000
        label = (job.get("description") or job["name"]).replace("\n", " ")[:90]
        print(
            f"    job {job['jobId']:>5} {seconds:6.2f}s  stages {len(ran)} tasks {tasks:>4} task time {task_s:6.2f}s  {label}"
        )
    print(f"    outside Spark jobs (driver: planning, Delta log and commit): {wall - in_jobs:.2f}s")


def machine() -> dict[str, str]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.strip().splitlines()
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "java": java[0] if java else "?",
        "pyspark": version("pyspark"),
        "delta-spark": version("delta-spark"),
        "python": platform.python_version(),
    }


def bench_session(args: argparse.Namespace, app_name: str) -> SparkSession:
    """local[*] with the run's shuffle partitions and driver memory, spilling under benchmarks/.data."""
    conf = {
        "spark.driver.memory": args.driver_memory,
        "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
        "spark.default.parallelism": str(args.shuffle_partitions),
        "spark.local.dir": str(DATA_DIR / "spark-tmp"),
    }
    if getattr(args, "profile", False):  # the UI's REST API reports job and stage times
        conf.update({"spark.ui.enabled": "true", "spark.ui.port": str(free_port())})
    return build_spark_session(master="local[*]", app_name=app_name, conf=conf)


def main() -> int:
    args = parse_args()
    run_dir = DATA_DIR / "runs" / f"windows-{os.getpid()}"
    spark = bench_session(args, "bench-windows")
    print("machine:", json.dumps(machine()))
    load_before = os.getloadavg()
    print(
        "spark:",
        {
            k: spark.conf.get(k)
            for k in ("spark.master", "spark.driver.memory", "spark.sql.shuffle.partitions")
        },
    )
    raw, info = ensure_dataset(spark, args)
    # This run's tables; its raw schema links to the cached raw table, so the assets' functions
    # (which read raw.transactions from their own root) see it. Nothing here writes raw.
    (run_dir / "raw").mkdir(parents=True, exist_ok=True)
    (run_dir / "raw" / "transactions").symlink_to(Path(raw.path(RAW)).resolve())
    out = DeltaTables(spark, str(run_dir))
    day = LAST_DAY
    start = date.fromisoformat(info["start"])

    full = CUSTOMER_FEATURES
    only7 = dataclasses.replace(
        CUSTOMER_FEATURES,
        name="feature_store.customer7_features",
        features=tuple(dataclasses.replace(f, windows=(7,)) for f in CUSTOMER_FEATURES.features),
    )
    shared_tiles = full.tiles_table

    # Setup outside the timing: tiles of every day before D, as production already has them.
    t0 = time.perf_counter()
    write_tiles(out, full, start, day - timedelta(days=1))
    print(
        f"setup: tiles for {start}..{day - timedelta(days=1)} written in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )

    # Tables the timed runs replace day D in, created up front (creation is a one-off).
    from feature_store.offline.feature_tables import catalog_properties

    for spec in (full, only7):
        out.ensure(spec.name, spec.schema(), ["date"], properties=catalog_properties(spec))

    rows_by_day = {
        r["date"]: r["n"] for r in raw.read(RAW).groupBy("date").agg(F.count("*").alias("n")).collect()
    }

    def rows_in(first: date | None, last: date) -> int:
        return sum(n for d, n in rows_by_day.items() if (first is None or d >= first) and d <= last)

    seed_first = day - timedelta(days=full.lookback_days)  # D-90: 91 days
    variants: list[tuple[str, int, Callable[[], dict[str, float]]]] = [
        (
            "tiled {7,14,30,90}",
            rows_in(day - timedelta(days=full.lookback_days), day),
            tiled_run(raw, out, full, shared_tiles, day),
        ),
        (
            "tiled {7}",
            rows_in(day - timedelta(days=only7.lookback_days), day),
            tiled_run(raw, out, only7, shared_tiles, day),
        ),
        (
            "tiled {7,14,30,90}, assets' functions",
            rows_in(day - timedelta(days=full.lookback_days), day),
            assets_run(out, full, day, start),
        ),
        (
            f"seed {{7,14,30,90}}, raw {seed_first}..{day} ({full.lookback_days + 1} days)",
            rows_in(seed_first, day),
            seed_run(raw, out, SEED_TABLE + "_recent", day, seed_first, tuple(full.windows())),
        ),
    ]
    if not args.no_seed_full:
        variants.append(
            (
                f"seed {{7,14,30,90}}, whole raw table ({args.days} days)",
                rows_in(None, day),
                seed_run(raw, out, SEED_TABLE + "_all", day, None, tuple(full.windows())),
            )
        )

    if args.explain:
        tiles = out.read_days(shared_tiles, *tile_range_for(full, day, day))
        print("\n== compute_daily_tiles (day D)")
        compute_daily_tiles(raw.read_days(RAW, day, day), full).explain("formatted")
        print("\n== compute_snapshots (day D)")
        compute_snapshots(tiles, full, day, day).explain("formatted")
        print("\n== seed")
        seed_query(raw, day, seed_first, tuple(full.windows())).explain("formatted")

    print(f"warm-up: {len(variants)} variants once each", flush=True)
    for name, _, run in variants:
        t = run()
        print(f"  {name}: {sum(t.values()):.2f}s {fmt_parts(t)}", flush=True)
    timings: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in variants}
    for r in range(args.repeats):
        for name, _, run in variants:
            t = run()
            timings[name].append(t)
            print(f"  run {r + 1}/{args.repeats} {name}: {sum(t.values()):.2f}s {fmt_parts(t)}", flush=True)

    if args.profile:
        print("\nprofile: one more run of each variant; Spark jobs with their stages' task time")
        for name, _, run in variants:
            profile(spark, name, run)

    check = check_against_oracles(
        spark,
        raw,
        out,
        full,
        SEED_TABLE + ("_recent" if args.no_seed_full else "_all"),
        seed_first if args.no_seed_full else None,
        day,
        args.sample_keys,
        args.seed,
    )

    medians = {name: statistics.median(sum(t.values()) for t in ts) for name, ts in timings.items()}
    print()
    print(
        f"Snapshot day D = {day}; raw table: {info['raw_rows']:,} rows, {info['start']}..{info['end']}, "
        f"{args.customers:,} customers; {args.repeats} timed runs per variant after a warm-up; "
        f"local[{os.cpu_count()}], shuffle partitions {args.shuffle_partitions}, driver memory {args.driver_memory}"
        f"; load average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in load_before)} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} at the end"
    )
    print()
    header = "| variant | raw rows covered | median s | min s | max s | rows/s | median parts |"
    print(header)
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, covered, _ in variants:
        totals = [sum(t.values()) for t in timings[name]]
        parts = {k: statistics.median(t[k] for t in timings[name]) for k in timings[name][0]}
        print(
            f"| {name} | {covered:,} | {medians[name]:.2f} | {min(totals):.2f} | {max(totals):.2f} | "
            f"{covered / medians[name]:,.0f} | {fmt_parts(parts) if len(parts) > 1 else ''} |"
        )
    tiled_all, tiled_7 = medians[variants[0][0]], medians[variants[1][0]]
    seed_recent = medians[variants[3][0]]
    print()
    print("| ratio | value | target |")
    print("|---|---:|---|")
    print(
        f"| seed (last {full.lookback_days + 1} days) / tiled {{7,14,30,90}} | {seed_recent / tiled_all:.1f}x | "
        f">= {TARGET_SEED_OVER_TILED:g}x {'met' if seed_recent / tiled_all >= TARGET_SEED_OVER_TILED else 'MISSED'} |"
    )
    if not args.no_seed_full:
        seed_all = medians[variants[4][0]]
        print(
            f"| seed (whole table) / tiled {{7,14,30,90}} | {seed_all / tiled_all:.1f}x | "
            f">= {TARGET_SEED_OVER_TILED:g}x {'met' if seed_all / tiled_all >= TARGET_SEED_OVER_TILED else 'MISSED'} |"
        )
    print(
        f"| tiled {{7,14,30,90}} / tiled {{7}} | {tiled_all / tiled_7:.2f}x | "
        f"<= {TARGET_ALL_OVER_7:g}x {'met' if tiled_all / tiled_7 <= TARGET_ALL_OVER_7 else 'MISSED'} |"
    )
    print()
    print(
        f"check: {check['keys']} sampled customers ({check['keys_on_last_day']} with their latest event on D) of "
        f"{check['both_rows']:,} in both outputs (tiled snapshot {check['tiled_rows']:,} rows, seed "
        f"{check['seed_rows']:,} rows): each output equals its own semantics' oracle; "
        f"{check['same_events']}/{check['customer_windows']} customer-windows hold the same events under both "
        f"semantics and {check['same_values_when_same_events']} of those have equal values."
    )
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    spark.stop()
    if check["problems"]:
        print("CHECK FAILED:")
        for p in check["problems"][:20]:
            print("  ", p)
        return 1
    return 0


def fmt_parts(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}s" for k, v in parts.items()) if len(parts) > 1 else ""


if __name__ == "__main__":
    sys.exit(main())
