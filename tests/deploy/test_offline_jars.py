"""The code-location image's promise, without Docker: after `featurestore fetch-jars` (the build step of
deploy/docker/Dockerfile.code-location), a SparkSession starts, writes and reads a Delta table and loads
the ABFS filesystem class in a process that has no network at all (a fresh network namespace with only
loopback up, via `unshare -n`, which needs root).

It uses the machine's ivy dir (FEATURE_STORE_IVY_DIR, as the test session does), so the fetch is a cache
hit after the first Spark test; the offline session is a second, short-lived JVM."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

OFFLINE_SESSION = """
import sys
from feature_store.runtime.spark import build_spark_session
spark = build_spark_session(master="local[1]", app_name="offline-check")
path = sys.argv[1]
spark.range(5).write.format("delta").save(path)
print("rows", spark.read.format("delta").load(path).count())
loader = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader()
print("abfs", loader.loadClass("org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem").getName())
spark.stop()
"""


def test_a_session_starts_with_no_network_after_fetch_jars(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip to cut the network off")
    fetch = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from feature_store.cli.main import main; sys.exit(main())",
            "fetch-jars",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert fetch.returncode == 0, fetch.stderr[-2000:]

    script = tmp_path / "offline_session.py"
    script.write_text(OFFLINE_SESSION)
    offline = subprocess.run(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            'ip link set lo up && exec "$0" "$@"',
            sys.executable,
            str(script),
            str(tmp_path / "table"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert "rows 5" in offline.stdout
    assert "abfs org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem" in offline.stdout
    # and the namespace really had no network: a name lookup fails there
    probe = subprocess.run(
        [
            "unshare",
            "--net",
            sys.executable,
            "-c",
            "import socket; socket.getaddrinfo('repo1.maven.org', 443)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0
