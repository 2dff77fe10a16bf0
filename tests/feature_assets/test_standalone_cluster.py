"""Scale-out: the pipeline on a two-worker Spark standalone cluster gives the same rows as local mode.

The cluster (tests/spark_cluster.py) is a master and two workers, each with its own work dir and its
own Python environment that holds the project only as its built wheel (tests/wheel_env.py): no source
tree, so what the executors run (the online publish's `mapInArrow`) reached them as the wheel. Landing
and Delta sit on this host's disk, which both workers read, as they would read ADLS.

A process has one SparkSession and the test suite's is local, so the cluster's driver is a child
process (this module run as a script). It first builds a session whose executors' Python lacks the
project and expects the startup check's SparkSetupError; then, with the wheel environments, it
materializes raw_transactions and customer_daily_tiles for two tiny days (one single-run range), then
customer_features and customer_features_online (Redis) for the second day, and probes where its Python
tasks ran. Meanwhile the same runs happen here in local mode; Delta tables and the online rows of both
must be equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feature_store.runtime.spark import LOCAL_DEFAULTS
from tests.spark_cluster import HOST, QUICK_JVM, standalone_cluster, stop_group

REPO = Path(__file__).resolve().parents[2]
DAYS = ("2025-01-01", "2025-01-02")
WORKERS = ("worker-a", "worker-b")
ONLINE_TABLE = "feature_store.customer_features"
LOCAL_DB, CLUSTER_DB = 1, 2  # Redis databases: one per run
SPARK_CONF = {
    "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC {QUICK_JVM}",
    "spark.executor.extraJavaOptions": f"-Duser.timezone=UTC {QUICK_JVM}",
    "spark.driver.host": HOST,
    "spark.driver.bindAddress": HOST,
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.executor.cores": "1",
    "spark.cores.max": str(len(WORKERS)),
    # build_spark_session applies these only to local masters; the cluster run uses the same ones.
    **LOCAL_DEFAULTS,
}
# Compared across the two runs; raw.rejected_rows' `file` holds each run's own landing path.
COMPARED_TABLES = {
    "raw.transactions": None,
    "raw.rejected_rows": ["source", "date", "reason", "raw_record"],
    "feature_store.customer_daily_tiles": None,
    "feature_store.customer_features": None,
}
EXECUTOR_TIMEOUT = 90.0
CHILD_TIMEOUT = 420.0


def write_days(landing: Path) -> None:
    """Two tiny days with edge times, a second customer, and one row that is rejected."""
    from tests.landing_files import txn, write_landing

    write_landing(landing, "transactions", DAYS[0], [
        txn("t1", "c1", "p1", 10.0, "2025-01-01 00:00"),
        txn("t2", "c1", "p2", 2.5, "2025-01-01 12:30"),
        txn("t3", "c2", "p1", 7.0, "2025-01-01 23:59:59.999999"),
        txn("t4", "c3", "p3", -1.0, "2025-01-01 08:00"),  # rejected: negative amount
    ])  # fmt: skip
    write_landing(landing, "transactions", DAYS[1], [
        txn("t5", "c1", "p1", 4.0, "2025-01-02 00:00"),
        txn("t6", "c3", "p2", 1.25, "2025-01-02 18:00"),
        txn("t7", "c3", "p2", 3.75, "2025-01-02 18:00"),
    ])  # fmt: skip


def materialize(resources: dict) -> None:
    """Raw rows and tiles of both days in one run (a single-run range, as a backfill does), then the
    features of the last day, which read the tiles of both, and their online sync."""
    import dagster as dg

    from feature_assets.definitions import all_assets

    upstream = dg.materialize(
        all_assets,
        selection=dg.AssetSelection.assets("raw_transactions", "customer_daily_tiles"),
        resources=resources,
        tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]},
    )
    assert upstream.success, f"materializing raw and tiles for {DAYS} failed"
    features = dg.materialize(
        all_assets,
        selection=dg.AssetSelection.assets("customer_features", "customer_features_online"),
        resources=resources,
        partition_key=DAYS[-1],
    )
    assert features.success, f"materializing features and online for {DAYS[-1]} failed"


def run_resources(home: Path, redis_port: int, db: int, **spark) -> dict:
    from resources import (
        DeltaLakeResource,
        LocalLandingZoneResource,
        MLflowResource,
        RedisOnlineStoreResource,
        SparkResource,
    )

    return {
        "spark": SparkResource(**spark),
        "delta": DeltaLakeResource(root=str(home / "delta")),
        "landing": LocalLandingZoneResource(root=str(home / "landing")),
        "online_store": RedisOnlineStoreResource(host=HOST, port=redis_port, db=db),
        # Not used by the assets materialized here; Dagster resolves every asset's resources.
        "mlflow_tracking": MLflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}"),
    }


# ------------------------------------------------------------------ the cluster's driver (child)


def probe_python(batches):  # runs in the executors' Python workers
    import sys as worker_sys
    import time as worker_time

    import pandas as pd

    import feature_store

    for batch in batches:
        worker_time.sleep(0.2)  # long enough that both executors take tasks
        yield pd.DataFrame({
            "worker": [os.environ.get("FEATURE_STORE_TEST_WORKER", "?")] * len(batch),
            "python": [worker_sys.executable] * len(batch),
            "feature_store": [feature_store.__file__] * len(batch),
            # every sys.path entry the project could be imported from: only the wheel's site-packages
            "importable_from": [",".join(
                p for p in worker_sys.path if os.path.isdir(os.path.join(p or os.getcwd(), "feature_store"))
            )] * len(batch),
        })  # fmt: skip


def run_on_cluster(master: str, home: Path, redis_port: int, bare_python: str, out: Path) -> None:
    from feature_store.runtime.spark import SparkSetupError, build_spark_session

    # The startup check: executors whose Python lacks the project refuse the session, naming the module.
    os.environ["PYSPARK_PYTHON"] = bare_python
    try:
        build_spark_session(master=master, app_name="featurestore-cluster-no-wheel", conf=SPARK_CONF)
        refused = None
    except SparkSetupError as exc:
        refused = str(exc)
    # Each executor resolves `python3` on its worker's PATH: that worker's wheel environment.
    os.environ["PYSPARK_PYTHON"] = "python3"
    spark = build_spark_session(master=master, app_name="featurestore-cluster-test", conf=SPARK_CONF)
    jsc = spark.sparkContext._jsc.sc()
    deadline = time.monotonic() + EXECUTOR_TIMEOUT
    while jsc.getExecutorMemoryStatus().size() < 1 + len(WORKERS):  # the driver's + one per worker
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(WORKERS)} executors did not register with the application on {master}")
        time.sleep(0.2)
    probes = (
        spark.range(0, 16, numPartitions=16)
        .mapInPandas(
            probe_python, "worker string, python string, feature_store string, importable_from string"
        )
        .distinct()
        .collect()
    )
    write_days(home / "landing")
    materialize(run_resources(home, redis_port, CLUSTER_DB, master=master, app_name="featurestore-cluster-test",
                              conf=SPARK_CONF))  # fmt: skip
    report = {
        "refused": refused,
        "master": spark.sparkContext.master,
        "app_id": spark.sparkContext.applicationId,
        "jars": [str(j) for j in _scala_items(jsc.listJars())],
        "block_managers": sorted(str(k) for k in _scala_items(jsc.getExecutorMemoryStatus().keys())),
        "probes": sorted([r.asDict() for r in probes], key=lambda r: r["worker"]),
    }
    out.write_text(json.dumps(report, indent=2))
    spark.stop()


def _scala_items(collection) -> list:
    items, it = [], collection.iterator()
    while it.hasNext():
        items.append(it.next())
    return items


# ------------------------------------------------------------------------------------ the test


def _rows(tables, name: str, columns: list[str] | None) -> list[dict]:
    df = tables.read(name)
    df = df.select(*(columns or df.columns))
    return sorted(
        (r.asDict() for r in df.collect()), key=lambda r: json.dumps(r, default=str, sort_keys=True)
    )


def _online_rows(redis_port: int, db: int, keys: list[str]) -> list:
    from feature_store.online.specs import RedisStoreSpec

    with RedisStoreSpec(HOST, redis_port, db).open() as store:
        return store.read_table(ONLINE_TABLE, keys).rows


@pytest.mark.slow
def test_pipeline_on_two_worker_cluster_with_only_the_wheel_equals_local(
    spark, home, tables, tmp_path_factory, redis_server, wheel_envs
):
    import redis

    started = time.monotonic()
    for db in (LOCAL_DB, CLUSTER_DB):
        redis.Redis(HOST, redis_server.port, db=db).flushdb()
    base = tmp_path_factory.mktemp("standalone")
    cluster_home, report_path = base / "home", base / "report.json"
    envs = {name: wheel_envs(name) for name in WORKERS}
    bare = wheel_envs("no-wheel", with_project=False)
    workers = {
        name: {"PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}", "FEATURE_STORE_TEST_WORKER": name}
        for name, python in envs.items()
    }
    with standalone_cluster(base, workers) as cluster:
        env = {**os.environ, "FEATURE_STORE_START_DATE": DAYS[0]}
        child_log = base / "cluster-driver.log"
        with open(child_log, "wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.feature_assets.test_standalone_cluster",
                 "--master", cluster.master_url, "--home", str(cluster_home),
                 "--redis-port", str(redis_server.port), "--bare-python", str(bare), "--out", str(report_path)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            # Meanwhile, the same days in local mode, in this process.
            write_days(home / "landing")
            materialize(run_resources(home, redis_server.port, LOCAL_DB, master="local[2]"))
            child.wait(timeout=max(1.0, CHILD_TIMEOUT - (time.monotonic() - started)))
        finally:
            if child.poll() is None:
                stop_group(child)
        driver_log = child_log.read_text(errors="replace")
        assert child.returncode == 0, f"cluster run failed ({child.returncode}):\n{driver_log[-6000:]}"
        master_state = cluster.state()

    report = json.loads(report_path.read_text())
    assert report["refused"] and "cannot import 'feature_store'" in report["refused"], report["refused"]
    assert report["master"] == cluster.master_url
    assert len(report["block_managers"]) == 1 + len(WORKERS), report  # the driver and one executor each
    assert any(a.get("id") == report["app_id"] for a in master_state.get("completedapps", [])), master_state

    # Each executor ran its Python tasks in its own worker's environment, from the wheel.
    assert [p["worker"] for p in report["probes"]] == list(WORKERS), report["probes"]
    for probe in report["probes"]:
        env_dir = envs[probe["worker"]].parent.parent
        assert Path(probe["python"]).parent.parent == env_dir, probe
        assert Path(probe["feature_store"]).is_relative_to(env_dir), probe
        assert probe["importable_from"] == str(Path(probe["feature_store"]).parent.parent), probe

    # Both executors fetched the Delta jar from the driver and ran tasks of the pipeline.
    delta_jar = next((j for j in report["jars"] if "io.delta_delta-spark_" in j), None)
    assert delta_jar is not None, f"the driver did not add the Delta jar for executors: {report['jars']}"
    for name, work_dir in cluster.work_dirs.items():
        executor_dirs = list((work_dir / report["app_id"]).iterdir())
        assert executor_dirs, f"no executor ran on {name} for {report['app_id']}"
        executor_log = "\n".join((d / "stderr").read_text(errors="replace") for d in executor_dirs)
        assert f"Fetching {delta_jar}" in executor_log, executor_log[-3000:]
        assert "ClassNotFoundException" not in executor_log
        assert executor_log.count("Finished task") >= 10, f"{name}: {executor_log[-3000:]}"

    from feature_store.offline.delta_tables import DeltaTables

    on_cluster = DeltaTables(spark, str(cluster_home / "delta"))
    for name, columns in COMPARED_TABLES.items():
        local_rows, cluster_rows = _rows(tables, name, columns), _rows(on_cluster, name, columns)
        assert local_rows, f"{name}: local mode wrote no rows"
        assert cluster_rows == local_rows, name
    tile_days = {r["date"].isoformat() for r in _rows(tables, "feature_store.customer_daily_tiles", ["date"])}
    snapshot_days = {r["date"].isoformat() for r in _rows(tables, ONLINE_TABLE, ["date"])}
    assert (tile_days, snapshot_days) == (set(DAYS), {DAYS[-1]})

    customers = sorted({r["customer_id"] for r in _rows(tables, ONLINE_TABLE, ["customer_id"])})
    local_online = _online_rows(redis_server.port, LOCAL_DB, customers)
    assert all(local_online) and len(local_online) == 3, local_online
    assert _online_rows(redis_server.port, CLUSTER_DB, customers) == local_online
    print(f"two-worker cluster test: {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the pipeline's two days on a standalone master.")
    parser.add_argument("--master", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--bare-python", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    run_on_cluster(args.master, args.home, args.redis_port, args.bare_python, args.out)
