"""Scale-out: the same range backfill on local[2], a two-worker standalone cluster and Spark Connect.

One run per engine, on the same landed data, with the same two cores: raw_transactions and, for every
feature table, its daily tiles, snapshots and online sync (Redis), as one single-run range backfill
(what `make backfill` and a Dagster UI backfill do). Then the per-call price of a client call on each:
`read_table(...).count()` and a 1,000-row training set (`create_training_set(...).load_df().count()`).

Engines (each in its own child process: a process has one kind of session, feature_store/runtime/spark.py):
- local[2]: the driver's own executor threads (the default deployment);
- standalone: a master and two workers of one core each (tests/spark_cluster.py), the driver here;
- connect: a Spark Connect server from the pyspark package (master local[2]) and a Connect client.

The engines' outputs must agree (row counts and an order-free checksum per table); if one fails or
disagrees, the run says so and reports no ratio for it. Targets: standalone and Connect <= 1.2x local[2]
for the backfill (the same cores: the price of distribution must stay small).

    .venv/bin/python benchmarks/scale_out.py                 # 10M transactions, 50k customers, 365 days
    .venv/bin/python benchmarks/scale_out.py --small         # 200k transactions, 2k customers, 30 days
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA_DIR = REPO / "benchmarks" / ".data"
LAST_DAY = date(2025, 12, 31)
SMALL = {"customers": 2_000, "transactions": 200_000, "days": 30, "products": 200}
ENGINES = ("local", "standalone", "connect")
TARGET = 1.2
# The same small-data settings on every engine (build_spark_session applies them to local masters only).
SHUFFLE = {
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.stalenessLimit": "0",
    "spark.ui.showConsoleProgress": "false",
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help=f"quick run: {SMALL}")
    p.add_argument("--customers", type=int, default=50_000)
    p.add_argument("--transactions", type=int, default=10_000_000, help="total over all days")
    p.add_argument("--days", type=int, default=365, help=f"days of history, ending {LAST_DAY}")
    p.add_argument("--products", type=int, default=5_000)
    p.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated subset of " + ",".join(ENGINES)
    )
    p.add_argument("--calls", type=int, default=5, help="timed repetitions of each small client call")
    p.add_argument("--memory", default="6g", help="JVM heap per engine (split over executors on the cluster)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--keep", action="store_true", help="keep each engine's tables and logs under .data/")
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one engine (JSON spec)
    args = p.parse_args()
    if args.small:
        for key, value in SMALL.items():
            setattr(args, key, value)
    return args


# ------------------------------------------------------------------------------------------ data


def ensure_landing(args: argparse.Namespace) -> Path:
    """The landed transaction files for these arguments (generated once, cached under .data/)."""
    from examples.churn.generate import generate

    root = (
        DATA_DIR
        / f"scale-out-c{args.customers}-t{args.transactions}-d{args.days}-p{args.products}-s{args.seed}"
    )
    if (root / "READY").exists():
        print(f"data: cached {root.relative_to(REPO)}")
        return root / "landing"
    start = LAST_DAY - timedelta(days=args.days - 1)
    t0 = time.perf_counter()
    summary = generate(root / "landing", start, LAST_DAY, customers=args.customers, products=args.products,
                       transactions_per_day=args.transactions / args.days, seed=args.seed, label_fraction=0.0)  # fmt: skip
    (root / "READY").write_text(json.dumps({"transactions": summary.transactions}))
    print(f"data: generated {summary.transactions:,} transactions in {time.perf_counter() - t0:.0f}s")
    return root / "landing"


# ------------------------------------------------------------------------------- engines (parent)


@contextlib.contextmanager
def engine(name: str, base: Path, memory: str) -> Iterator[dict]:
    """Start what `name` needs; yield the SparkResource arguments for the child."""
    if name == "local":
        yield {"master": "local[2]", "conf": {**SHUFFLE, "spark.driver.memory": memory}}
    elif name == "standalone":
        from tests.spark_cluster import HOST, standalone_cluster

        executor_memory = f"{int(memory.rstrip('g')) // 2}g"
        with standalone_cluster(base, {"worker-a": {}, "worker-b": {}}, cores=1, memory=executor_memory) as c:
            yield {"master": c.master_url, "conf": {
                **SHUFFLE, "spark.driver.memory": "2g", "spark.executor.memory": executor_memory,
                "spark.executor.cores": "1", "spark.cores.max": "2",
                "spark.driver.host": HOST, "spark.driver.bindAddress": HOST,
            }}  # fmt: skip
    elif name == "connect":
        from feature_store.runtime.spark import ivy_dir_from_env, maven_packages, resolve_jars
        from scripts import devservices

        jars = [j.removeprefix("file://") for j in resolve_jars(maven_packages(), ivy_dir_from_env())]
        conf = {
            **SHUFFLE, "spark.driver.memory": memory, "spark.sql.session.timeZone": "UTC",
            "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        }  # fmt: skip
        service = devservices.start(
            "spark-connect", base, port=devservices.free_port(), timeout=180,
            extra_args=devservices.spark_connect_args(jars, sys.executable, conf),
            env={"PYSPARK_PYTHON": sys.executable},
        )  # fmt: skip
        try:
            yield {"remote": f"sc://{service.host}:{service.port}"}
        finally:
            devservices.stop_service(service, base)
    else:
        raise SystemExit(f"unknown engine {name!r}: choose from {', '.join(ENGINES)}")


def run_engine(name: str, landing: Path, args: argparse.Namespace, redis_port: int, db: int) -> dict:
    base = Path(tempfile.mkdtemp(prefix=f"scale-out-{name}-", dir=DATA_DIR))
    first = LAST_DAY - timedelta(days=args.days - 1)
    with engine(name, base, args.memory) as spark_args:
        spec = {"engine": name, "spark": spark_args, "landing": str(landing), "home": str(base / "home"),
                "first": first.isoformat(), "last": LAST_DAY.isoformat(), "redis_port": redis_port,
                "db": db, "calls": args.calls, "out": str(base / "result.json")}  # fmt: skip
        env = {**os.environ, "FEATURE_STORE_START_DATE": first.isoformat(), "PYSPARK_PYTHON": sys.executable}
        print(f"{name}: backfill {first}..{LAST_DAY} ...", flush=True)
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, cwd=REPO,
                              capture_output=True, text=True, check=False)  # fmt: skip
    try:
        if done.returncode != 0:
            return {"engine": name, "error": (done.stderr or done.stdout)[-3000:]}
        return json.loads(Path(spec["out"]).read_text())
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------- engine (child)


def child(spec: dict) -> None:
    import dagster as dg
    from pyspark.sql import functions as F

    from examples.churn.repo import FEATURE_TABLES
    from feature_assets.definitions import all_assets
    from feature_store import FeatureStoreClient, Settings
    from feature_store.training.training_set import FeatureLookup
    from resources import (
        DeltaLakeResource,
        LocalLandingZoneResource,
        MLflowResource,
        RedisOnlineStoreResource,
        SparkResource,
    )

    home = Path(spec["home"])
    spark = SparkResource(app_name=f"scale-out-{spec['engine']}", **spec["spark"])
    resources = {
        "spark": spark,
        "delta": DeltaLakeResource(root=str(home / "delta")),
        "landing": LocalLandingZoneResource(root=spec["landing"]),
        "online_store": RedisOnlineStoreResource(port=spec["redis_port"], db=spec["db"]),
        "mlflow_tracking": MLflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}"),
    }
    keys = ["raw_transactions"] + [
        k
        for t in FEATURE_TABLES
        for k in (t.tiles_table.split(".")[1], t.short_name, f"{t.short_name}_online")
    ]
    session = spark.get_session()  # outside the timing, as in a long-running code location
    started = time.perf_counter()
    result = dg.materialize(
        all_assets, selection=dg.AssetSelection.assets(*keys), resources=resources,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        tags={"dagster/asset_partition_range_start": spec["first"], "dagster/asset_partition_range_end": spec["last"]},
    )  # fmt: skip
    backfill_s = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"the backfill failed on {spec['engine']}")

    env = {"FEATURE_STORE_HOME": str(home), "FEATURE_STORE_DELTA_ROOT": str(home / "delta"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}  # fmt: skip
    client = FeatureStoreClient(spark=session, settings=Settings.from_env(env))
    tables = ["raw.transactions"] + [t for spec_ in FEATURE_TABLES for t in (spec_.tiles_table, spec_.name)]
    digests = {}
    delta = resources["delta"].tables(session)
    for table in tables:
        df = delta.read(table)
        # Order-free: a sum of row hashes over the exact columns; doubles are compared by their sums,
        # which differ between engines only by summation order (compared to 1e-9 relative).
        exact = [c for c, t in df.dtypes if t != "double"]
        doubles = [c for c, t in df.dtypes if t == "double"]
        row = df.select(
            F.count("*").alias("n"),
            F.sum(F.xxhash64(*exact).cast("decimal(38,0)")).alias("h"),
            *(F.sum(c).alias(c) for c in doubles),
        ).first()
        digests[table] = {"rows": row.n, "hash": str(row.h), "sums": {c: row[c] for c in doubles}}

    customers = FEATURE_TABLES[0]
    ids = [
        r[0]
        for r in client.read_table(customers.name).select(customers.keys[0]).distinct().limit(1000).collect()
    ]
    event_ts = f"{spec['last']} 12:00:00"
    calls = {"read_table(...).count()": [], "1k-row training set": []}
    for _ in range(spec["calls"]):
        t0 = time.perf_counter()
        client.read_table(customers.name).count()
        calls["read_table(...).count()"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        labels = session.createDataFrame(
            [(i, event_ts, 1) for i in ids], f"{customers.keys[0]} string, ts string, label int"
        )
        labels = labels.withColumn("event_ts", F.col("ts").cast("timestamp")).drop("ts")
        lookup = FeatureLookup(customers.name, customers.keys[0], timestamp_lookup_key="event_ts")
        client.create_training_set(labels, [lookup], label="label").load_df().count()
        calls["1k-row training set"].append(time.perf_counter() - t0)
    Path(spec["out"]).write_text(json.dumps({
        "engine": spec["engine"], "backfill_s": backfill_s, "digests": digests,
        "calls": {k: statistics.median(v) for k, v in calls.items()},
    }))  # fmt: skip


# ------------------------------------------------------------------------------------------ report


def same_outputs(digests: dict, base: dict) -> bool:
    def close(a: float | None, b: float | None) -> bool:
        return a == b or (a is not None and b is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b)))

    return digests.keys() == base.keys() and all(
        d["rows"] == b["rows"]
        and d["hash"] == b["hash"]
        and d["sums"].keys() == b["sums"].keys()
        and all(close(d["sums"][c], b["sums"][c]) for c in d["sums"])
        for d, b in ((digests[t], base[t]) for t in base)
    )


def report(results: list[dict], args: argparse.Namespace, load: tuple[float, float]) -> int:
    ok = [r for r in results if "error" not in r]
    base = next((r for r in ok if r["engine"] == "local"), None)
    failed = 0
    for r in results:
        if "error" in r:
            failed += 1
            print(f"\nFAILED {r['engine']}:\n{r['error']}")
        elif base and not same_outputs(r["digests"], base["digests"]):
            failed += 1
            r["error"] = "outputs differ from local[2]'s"
            print(
                f"\nFAILED {r['engine']}: outputs differ from local[2]'s\n{r['digests']}\n{base['digests']}"
            )
    print(f"\n{args.transactions:,} transactions, {args.customers:,} customers, {args.days} days; "
          f"load average {load[0]:.1f} -> {load[1]:.1f}\n")  # fmt: skip
    if base:
        rows = ", ".join(f"{t} {d['rows']:,}" for t, d in base["digests"].items())
        print(f"rows (equal on every engine that passed): {rows}\n")
    print(
        "| engine | backfill s | vs local[2] | target | read_table(...).count() s | 1k-row training set s |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['engine']} | FAILED | – | – | – | – |")
            continue
        ratio = r["backfill_s"] / base["backfill_s"] if base else float("nan")
        verdict = (
            "–" if r["engine"] == "local" else ("met" if ratio <= TARGET else "missed") + f" (<= {TARGET}x)"
        )
        calls = r["calls"]
        print(f"| {r['engine']} | {r['backfill_s']:.1f} | {ratio:.2f}x | {verdict} | "
              f"{calls['read_table(...).count()']:.3f} | {calls['1k-row training set']:.3f} |")  # fmt: skip
    if base:
        for r in ok:
            if r["engine"] != "local" and "error" not in r:
                over = {k: v - base["calls"][k] for k, v in r["calls"].items()}
                print(f"\nper-call overhead of {r['engine']} over local[2]: "
                      + ", ".join(f"{k} {v * 1000:+.0f} ms" for k, v in over.items()))  # fmt: skip
    return 1 if failed else 0


def main() -> int:
    args = parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    from scripts import devservices

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    landing = ensure_landing(args)
    state = Path(tempfile.mkdtemp(prefix="scale-out-redis-", dir=DATA_DIR))
    redis = devservices.start("redis", state, port=devservices.free_port())
    load0 = os.getloadavg()[0]
    results = []
    try:
        for db, name in enumerate(args.engines.split(","), start=1):
            results.append(run_engine(name, landing, args, redis.port, db))
            r = results[-1]
            print(f"{name}: " + ("FAILED" if "error" in r else f"{r['backfill_s']:.1f}s"), flush=True)
    finally:
        devservices.stop_service(redis, state)
    return report(results, args, (load0, os.getloadavg()[0]))


if __name__ == "__main__":
    raise SystemExit(main())
