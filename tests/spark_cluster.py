"""A Spark standalone cluster from the installed pyspark package: a master and N workers, each in its
own process group bound to 127.0.0.1, each worker with its own work dir, local dir and environment.

A worker's executors inherit its environment, so a worker whose PATH starts with a Python environment's
`bin/` runs its Python tasks there when the driver's PYSPARK_PYTHON is the bare name `python3`
(PySpark sends that name with every Python function; each executor resolves it on its own PATH):
two workers on one host with two separate environments, as two hosts would have.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
# Short-lived JVMs doing little work each: the C1 JIT alone starts faster.
QUICK_JVM = "-XX:TieredStopAtLevel=1"
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


@dataclass
class Cluster:
    master_url: str
    ui_port: int
    work_dirs: dict[str, Path]  # per worker: where it runs executors (<work dir>/<app id>/<executor id>/)
    logs: dict[str, Path]

    def state(self) -> dict:
        return master_state(self.ui_port) or {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def master_state(ui_port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{ui_port}/json/", timeout=2) as resp:
            return json.load(resp)
    except (OSError, ValueError):
        return None


def start_group(argv: list[str], log: Path, env: Mapping[str, str], cwd: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd,
            start_new_session=True,
        )  # fmt: skip


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
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
def standalone_cluster(
    base: Path, workers: Mapping[str, Mapping[str, str]], cores: int = 1, memory: str = "1g"
) -> Iterator[Cluster]:
    """A master and one worker per entry of `workers` (name -> environment variables over ours)."""
    home = spark_home()
    spark_class = str(home / "bin" / "spark-class")
    common = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": HOST,  # every listener (RPC, block manager, web UI) binds to 127.0.0.1
        "SPARK_NO_DAEMONIZE": "1",
        "SPARK_DAEMON_JAVA_OPTS": QUICK_JVM,
    }
    common.pop("PYTHONPATH", None)  # executors must find the project only where their worker's Python has it
    port, ui_port = free_port(), free_port()
    master_url = f"spark://{HOST}:{port}"
    logs = {"master": base / "master.log"}
    procs: dict[str, subprocess.Popen] = {}
    work_dirs: dict[str, Path] = {}
    try:
        procs["master"] = start_group(
            [spark_class, "org.apache.spark.deploy.master.Master",
             "--host", HOST, "--port", str(port), "--webui-port", str(ui_port)],
            logs["master"], {**common, "SPARK_LOCAL_DIRS": str(base)}, base,
        )  # fmt: skip
        _wait("spark master", lambda: master_state(ui_port) is not None, procs, logs)
        for name, env in workers.items():
            work_dirs[name] = base / name / "work"
            local_dir = base / name / "local"
            work_dirs[name].mkdir(parents=True)
            local_dir.mkdir(parents=True)
            logs[name] = base / f"{name}.log"
            procs[name] = start_group(
                [spark_class, "org.apache.spark.deploy.worker.Worker", master_url,
                 "--host", HOST, "--cores", str(cores), "--memory", memory,
                 "--webui-port", str(free_port()), "--work-dir", str(work_dirs[name])],
                logs[name], {**common, "SPARK_LOCAL_DIRS": str(local_dir), **env}, base / name,
            )  # fmt: skip

        def all_registered() -> bool:
            alive = [w for w in (master_state(ui_port) or {}).get("workers", []) if w.get("state") == "ALIVE"]
            return len(alive) == len(workers)

        _wait(f"{len(workers)} spark workers' registration", all_registered, procs, logs)
        yield Cluster(master_url, ui_port, work_dirs, logs)
    finally:
        for name in reversed(list(procs)):
            stop_group(procs[name])
