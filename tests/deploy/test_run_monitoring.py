"""Run monitoring on the local instance (the repo's dagster.yaml): a run whose process is SIGKILLed ends
FAILURE instead of staying STARTED forever.

Real Dagster throughout: a code server (`dagster api grpc`) in its own process group, the instance from a
temp DAGSTER_HOME holding the repo's dagster.yaml, runs launched by the DefaultRunLauncher, and the
monitoring daemon's own iteration function. The DefaultRunLauncher cannot check a worker's health
(`supports_check_run_worker_health` is False; the K8sRunLauncher of deploy/ can), so two paths are shown:
- the worker dies, its code server lives: the code server marks the run FAILURE (its orphaned-run check);
- worker and code server die together: the run stays STARTED through monitoring passes, until it
  exceeds its max runtime (here the run tag dagster/max_runtime_seconds; the local dagster.yaml sets
  run_monitoring.max_runtime_seconds for all runs), then the monitoring daemon marks it FAILURE.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.devservices import free_port, port_open

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
JOB_FILE = Path(__file__).with_name("held_job.py")
LOCATION = "held"
log = logging.getLogger("run_monitoring_test")


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    from dagster import DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as dagster_instance:
        assert dagster_instance.run_monitoring_enabled  # from the repo's dagster.yaml
        assert not dagster_instance.run_launcher.supports_check_run_worker_health
        yield dagster_instance


@contextlib.contextmanager
def code_server(home: str) -> Iterator[tuple[int, subprocess.Popen]]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "api",
            "grpc",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--python-file",
            str(JOB_FILE),
            "--location-name",
            LOCATION,
        ],  # fmt: skip
        env={**os.environ, "DAGSTER_HOME": home},
        cwd=str(REPO),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            assert server.poll() is None, "the code server exited on start"
            assert time.monotonic() < deadline, "the code server did not start in 60 s"
            time.sleep(0.2)
        yield port, server
    finally:
        kill_group(server)


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.contextmanager
def workspace_context(instance, port: int) -> Iterator:
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import GrpcServerTarget

    target = GrpcServerTarget(host="127.0.0.1", port=port, socket=None, location_name=LOCATION)
    with WorkspaceProcessContext(instance, target) as context:
        yield context


def launch_held_run(instance, context, pid_file: Path):
    """Launch held_job through the instance's run launcher, wait until its worker is inside the op;
    return the run and the worker's pid."""
    from dagster._core.storage.dagster_run import DagsterRunStatus

    from tests.deploy.held_job import held_job

    workspace = context.create_request_context()
    remote_job = (
        workspace.get_code_location(LOCATION).get_repository("__repository__").get_full_job("held_job")
    )
    run = instance.create_run_for_job(
        job_def=held_job,
        run_config={"ops": {"hold": {"config": {"pid_file": str(pid_file)}}}},
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    instance.launch_run(run.run_id, workspace)
    deadline = time.monotonic() + 90
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the run worker never reached the op"
        time.sleep(0.2)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
    return run, int(pid_file.read_text())


def monitor(context, passes: int = 1) -> None:
    """What dagster-daemon's monitoring daemon does every poll_interval_seconds; errors are re-raised."""
    from dagster._daemon.monitoring.run_monitoring import execute_run_monitoring_iteration

    for _ in range(passes):
        errors = [e for e in execute_run_monitoring_iteration(context, log) if e is not None]
        assert not errors, errors


def wait_for_status(instance, run_id: str, context, timeout: float = 60.0):
    from dagster._core.storage.dagster_run import DagsterRunStatus

    deadline = time.monotonic() + timeout
    while True:
        monitor(context)
        status = instance.get_run_by_id(run_id).status
        if status == DagsterRunStatus.FAILURE or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def engine_messages(instance, run_id: str) -> list[str]:
    return [e.message or "" for e in instance.all_logs(run_id)]


def test_a_killed_run_worker_is_marked_failed_by_its_code_server(instance, tmp_path: Path) -> None:
    from dagster._core.storage.dagster_run import DagsterRunStatus

    with (
        code_server(os.environ["DAGSTER_HOME"]) as (port, _server),
        workspace_context(instance, port) as context,
    ):
        run, worker_pid = launch_held_run(instance, context, tmp_path / "worker.pid")
        monitor(context)  # a healthy run is left alone
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED

        os.kill(worker_pid, signal.SIGKILL)
        status = wait_for_status(instance, run.run_id, context)

    assert status == DagsterRunStatus.FAILURE
    explanation = f"Run execution process for {run.run_id} was terminated by signal 9 (SIGKILL)"
    assert any(explanation in m for m in engine_messages(instance, run.run_id))


def test_a_run_whose_worker_and_code_server_died_is_failed_by_run_monitoring(
    instance, tmp_path: Path
) -> None:
    from dagster._core.storage.dagster_run import DagsterRunStatus

    with (
        code_server(os.environ["DAGSTER_HOME"]) as (port, server),
        workspace_context(instance, port) as context,
    ):
        run, worker_pid = launch_held_run(instance, context, tmp_path / "worker.pid")
        os.killpg(server.pid, signal.SIGKILL)  # the worker is in the server's process group
        server.wait(timeout=10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{worker_pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{worker_pid}").exists(), "the run worker survived SIGKILL"

        # What "STARTED forever" looks like: nobody is left to report the death, monitoring passes
        # without a max runtime change nothing (the local default, 12 h, is far away).
        monitor(context, passes=3)
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED

        instance.add_run_tags(run.run_id, {"dagster/max_runtime_seconds": "1"})
        time.sleep(1.5)
        status = wait_for_status(instance, run.run_id, context)

    assert status == DagsterRunStatus.FAILURE
    assert any("maximum runtime" in m for m in engine_messages(instance, run.run_id))
