"""The dev/test service launcher: process groups, pid files, SIGKILL fallback, never by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from scripts import devservices


def test_terminate_group_falls_back_to_sigkill_for_a_process_ignoring_sigterm():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    time.sleep(0.3)  # let it install the handler
    devservices._terminate_group(proc.pid, devservices._start_time(proc.pid), timeout=0.5)
    assert proc.wait(timeout=5) == -9


def test_a_reused_pid_is_never_signalled():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        devservices._terminate_group(proc.pid, "not-its-start-time", timeout=0.2)
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server (scripts/install_services.sh)"
)
def test_start_status_stop_redis(tmp_path):
    port = devservices.free_port()
    service = devservices.start("redis", tmp_path, port=port)
    assert devservices.port_open(port)
    status = devservices.status("redis", tmp_path)
    assert status["running"] and status["port_open"] and status["pid"] == service.pid
    with pytest.raises(devservices.ServiceError, match="already in use"):
        devservices.start("redis", tmp_path, port=port)
    assert devservices.stop("redis", tmp_path) is True
    assert not devservices.port_open(port)
    assert not (tmp_path / "redis.pid").exists()
    assert devservices.stop("redis", tmp_path) is False


def test_running_reuses_a_server_it_did_not_start(tmp_path):
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with devservices.running("redis", tmp_path, tmp_path, reuse_port=port) as service:
            assert service.port == port and service.pid is None
    assert not list(tmp_path.iterdir())  # started nothing, wrote nothing
