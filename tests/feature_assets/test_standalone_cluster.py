"""Scale-out: the feature pipeline on a real Spark standalone cluster gives the same rows as local mode.

A master and one worker (1 core, 1 GiB) are started from the pyspark package with `spark-class`, each
in its own process group, bound to 127.0.0.1. A process has one SparkSession and the test suite's is
local, so the cluster run happens in a child process (this module run as a script) whose session has
master=spark://...; into its own Delta root it materializes raw_transactions and customer_daily_tiles
for two tiny days (one single-run range), then the one customer_features partition of the second day.
Meanwhile the same runs happen in this process in local mode; both Delta outputs are then read back
and compared row for row.

The Delta jars reach the executor the way they would on any cluster: spark.jars.packages is resolved
by the driver (from the ivy cache), the jars are served by the driver and fetched by the executor,
which the test verifies in the executor's log along with the tasks it ran.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from feature_store.spark import LOCAL_DEFAULTS

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
DAYS = ("2025-01-01", "2025-01-02")
ASSETS = ("raw_transactions", "customer_daily_tiles", "customer_features")
# Short-lived JVMs doing little work each: the C1 JIT alone starts faster. The time zone is what
# build_spark_session sets; these keys replace its values, so it is repeated here.
QUICK_JVM = "-XX:TieredStopAtLevel=1"
SPARK_CONF = {
    "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC {QUICK_JVM}",
    "spark.executor.extraJavaOptions": f"-Duser.timezone=UTC {QUICK_JVM}",
    "spark.driver.host": HOST,
    "spark.driver.bindAddress": HOST,
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.executor.cores": "1",
    "spark.cores.max": "1",
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
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
CHILD_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


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
    one customer_features partition of the last day, which reads the tiles of both."""
    import dagster as dg

    from feature_assets.definitions import all_assets

    upstream = dg.materialize(
        all_assets,
        selection=dg.AssetSelection.assets(*ASSETS[:-1]),
        resources=resources,
        tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]},
    )
    assert upstream.success, f"materializing {ASSETS[:-1]} for {DAYS} failed"
    features = dg.materialize(
        all_assets,
        selection=dg.AssetSelection.assets(ASSETS[-1]),
        resources=resources,
        partition_key=DAYS[-1],
    )
    assert features.success, f"materializing {ASSETS[-1]} for {DAYS[-1]} failed"


# ------------------------------------------------------------------------- the cluster (child)


def run_on_cluster(master: str, home: Path, out: Path) -> None:
    """Child process: build a session on the standalone master, materialize, report what ran where."""
    from feature_store.spark import build_spark_session
    from resources import (
        DeltaLakeResource,
        LocalLandingZoneResource,
        MLflowResource,
        SparkResource,
        SqliteOnlineStoreResource,
    )

    spark = build_spark_session(master=master, app_name="featurestore-cluster-test", conf=SPARK_CONF)
    jsc = spark.sparkContext._jsc.sc()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while jsc.getExecutorMemoryStatus().size() < 2:  # the driver's block manager + one executor
        if time.monotonic() > deadline:
            raise TimeoutError(f"no executor registered with the application on {master}")
        time.sleep(0.2)
    write_days(home / "landing")
    materialize(
        {
            "spark": SparkResource(master=master, app_name="featurestore-cluster-test", conf=SPARK_CONF),
            "delta": DeltaLakeResource(root=str(home / "delta")),
            "landing": LocalLandingZoneResource(root=str(home / "landing")),
            # Not used by the assets materialized here; Dagster resolves every asset's resources.
            "online_store": SqliteOnlineStoreResource(path=str(home / "online.db")),
            "mlflow_tracking": MLflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}"),
        }
    )
    report = {
        "master": spark.sparkContext.master,
        "app_id": spark.sparkContext.applicationId,
        "jars": [str(j) for j in _scala_items(jsc.listJars())],
        "block_managers": sorted(str(k) for k in _scala_items(jsc.getExecutorMemoryStatus().keys())),
    }
    out.write_text(json.dumps(report, indent=2))
    spark.stop()


def _scala_items(collection) -> list:
    items, it = [], collection.iterator()
    while it.hasNext():
        items.append(it.next())
    return items


# ---------------------------------------------------------------------- the cluster (processes)


@dataclass
class Cluster:
    master_url: str
    master_ui: str
    work_dir: Path
    logs: dict[str, Path]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _start(argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group we started (the JVM and any executor it launched), SIGKILL after
    the timeout. The pid leads its own group (start_new_session), so only our processes get signals."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        if not _group_alive(pgid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)


def _master_state(ui_port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{ui_port}/json/", timeout=2) as resp:
            return json.load(resp)
    except (OSError, ValueError):
        return None


def _wait(what: str, ready, procs: dict[str, subprocess.Popen], logs: dict[str, Path]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready():
        dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        if dead or time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {n} ({logs[n]}):\n{logs[n].read_text(errors='replace')[-3000:]}" for n in procs
            )
            raise RuntimeError(f"{what}: not ready after {STARTUP_TIMEOUT}s (exited: {dead})\n{tails}")
        time.sleep(0.25)


@contextlib.contextmanager
def standalone_cluster(base: Path) -> Iterator[Cluster]:
    spark_home = _spark_home()
    spark_class = str(spark_home / "bin" / "spark-class")
    work_dir, local_dir = base / "worker", base / "spark-local"
    work_dir.mkdir(parents=True)
    local_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": HOST,  # every listener (RPC, block manager, web UI) binds to 127.0.0.1
        "SPARK_LOCAL_DIRS": str(local_dir),
        "SPARK_NO_DAEMONIZE": "1",
        "SPARK_DAEMON_JAVA_OPTS": QUICK_JVM,
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui_port, worker_ui_port = free_port(), free_port(), free_port()
    master_url = f"spark://{HOST}:{port}"
    logs = {"master": base / "master.log", "worker": base / "worker.log"}
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["master"] = _start(
            [spark_class, "org.apache.spark.deploy.master.Master",
             "--host", HOST, "--port", str(port), "--webui-port", str(ui_port)],
            logs["master"], env, base,
        )  # fmt: skip
        _wait("spark master", lambda: _master_state(ui_port) is not None, procs, logs)
        procs["worker"] = _start(
            [spark_class, "org.apache.spark.deploy.worker.Worker", master_url,
             "--host", HOST, "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui_port),
             "--work-dir", str(work_dir)],
            logs["worker"], env, base,
        )  # fmt: skip

        def worker_registered() -> bool:
            state = _master_state(ui_port) or {}
            return any(w.get("state") == "ALIVE" for w in state.get("workers", []))

        _wait("spark worker registration", worker_registered, procs, logs)
        assert "Registering worker" in logs["master"].read_text(errors="replace")
        yield Cluster(master_url, f"http://{HOST}:{ui_port}", work_dir, logs)
    finally:
        for name in ("worker", "master"):
            if name in procs:
                _stop_group(procs[name])


# ------------------------------------------------------------------------------------ the test


def _rows(tables, name: str, columns: list[str] | None) -> list[dict]:
    df = tables.read(name)
    df = df.select(*(columns or df.columns))
    return sorted(
        (r.asDict() for r in df.collect()), key=lambda r: json.dumps(r, default=str, sort_keys=True)
    )


@pytest.mark.slow
def test_feature_partition_on_standalone_cluster_equals_local(
    spark, resources, home, tables, tmp_path_factory
):
    started = time.monotonic()
    base = tmp_path_factory.mktemp("standalone")
    cluster_home = base / "home"
    report_path = base / "report.json"
    with standalone_cluster(base) as cluster:
        env = {**os.environ, "FEATURE_STORE_START_DATE": DAYS[0], "PYSPARK_PYTHON": sys.executable}
        child_log = base / "cluster-driver.log"
        with open(child_log, "wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.feature_assets.test_standalone_cluster",
                 "--master", cluster.master_url, "--home", str(cluster_home), "--out", str(report_path)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            # Meanwhile, the same days in local mode, in this process.
            write_days(home / "landing")
            materialize(resources)
            child.wait(timeout=max(1.0, CHILD_TIMEOUT - (time.monotonic() - started)))
        finally:
            if child.poll() is None:
                _stop_group(child)
        driver_log = child_log.read_text(errors="replace")
        assert child.returncode == 0, f"cluster run failed ({child.returncode}):\n{driver_log[-6000:]}"
        master_state = _master_state(int(cluster.master_ui.rsplit(":", 1)[1])) or {}

    report = json.loads(report_path.read_text())
    assert report["master"] == cluster.master_url
    assert len(report["block_managers"]) == 2, report  # the driver and the worker's executor
    delta_jar = next((j for j in report["jars"] if "io.delta_delta-spark_" in j), None)
    assert delta_jar is not None, f"the driver did not add the Delta jar for executors: {report['jars']}"
    assert any(a.get("id") == report["app_id"] for a in master_state.get("completedapps", [])), master_state

    # The executor (launched by the worker under work_dir/<app>/<executor>/) fetched the Delta jar
    # from the driver, put it on its class path, and ran the tasks.
    executor_dirs = list((cluster.work_dir / report["app_id"]).iterdir())
    assert executor_dirs, f"no executor ran for {report['app_id']}"
    executor_log = "\n".join((d / "stderr").read_text(errors="replace") for d in executor_dirs)
    assert f"Fetching {delta_jar}" in executor_log, executor_log[-3000:]
    assert any((d / Path(delta_jar).name).exists() for d in executor_dirs)
    assert "io.delta_delta-spark_" in executor_log and "to class loader" in executor_log
    assert "ClassNotFoundException" not in executor_log
    assert executor_log.count("Finished task") >= 10, executor_log[-3000:]

    from feature_store.delta_tables import DeltaTables

    on_cluster = DeltaTables(spark, str(cluster_home / "delta"))
    for name, columns in COMPARED_TABLES.items():
        local_rows, cluster_rows = _rows(tables, name, columns), _rows(on_cluster, name, columns)
        assert local_rows, f"{name}: local mode wrote no rows"
        assert cluster_rows == local_rows, name
    tile_days = {r["date"].isoformat() for r in _rows(tables, "feature_store.customer_daily_tiles", ["date"])}
    snapshot_days = {
        r["date"].isoformat() for r in _rows(tables, "feature_store.customer_features", ["date"])
    }
    assert (tile_days, snapshot_days) == (set(DAYS), {DAYS[-1]})
    print(f"standalone cluster test: {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the pipeline's two days on a standalone master.")
    parser.add_argument("--master", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    run_on_cluster(args.master, args.home, args.out)
