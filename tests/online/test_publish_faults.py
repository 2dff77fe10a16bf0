"""The store going away mid-publish: the run fails with a clear error, and publishing again completes it
with monotonic writes intact. A real redis-server of our own (with an append-only file, so a restart
keeps what was written) is SIGKILLed while the executors are writing."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from pyspark.sql import functions as F

from feature_store.online.publish import PublishError, publish_dataframe
from feature_store.online.specs import RedisStoreSpec
from scripts import devservices

pytestmark = pytest.mark.slow

DAY = datetime(2025, 3, 2, tzinfo=UTC)
NEWER_KEYS = 1_000
ROWS = 300_000


def start_redis(port: int, data: Path) -> subprocess.Popen:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: run scripts/install_services.sh", pytrace=False)
    proc = subprocess.Popen(
        [
            exe,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: we stop it by group id
    )
    deadline = time.monotonic() + 20
    while not devservices.port_open(port):
        if time.monotonic() > deadline or proc.poll() is not None:
            kill(proc)
            pytest.fail(f"redis-server did not start on {port}")
        time.sleep(0.05)
    return proc


def kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def day_rows(spark, n: int, day: datetime):
    return spark.range(n, numPartitions=8).select(
        F.col("id").alias("customer_id"),
        F.lit(day).cast("timestamp").alias("feature_ts"),
        (F.col("id") % 11).alias("txn_count_7d"),
        (F.col("id") * 0.5).alias("amount_sum_7d"),
    )


def test_redis_killed_mid_publish_fails_clearly_and_a_retry_completes(spark, tmp_path):
    port = devservices.free_port()
    proc = start_redis(port, tmp_path)
    spec = RedisStoreSpec("127.0.0.1", port, socket_timeout=2.0)
    table = "fault.customer_features"
    try:
        publish_dataframe(day_rows(spark, NEWER_KEYS, DAY), spec, table, ["customer_id"])
        client = redis.Redis(port=port)
        failure: list[BaseException] = []

        def backfill_older_day() -> None:
            try:
                publish_dataframe(
                    day_rows(spark, ROWS, DAY - timedelta(days=1)), spec, table, ["customer_id"]
                )
            except BaseException as exc:
                failure.append(exc)

        publisher = threading.Thread(target=backfill_older_day)
        publisher.start()
        deadline = time.monotonic() + 120
        while client.dbsize() < NEWER_KEYS + 2_000:  # the executors are writing
            assert publisher.is_alive(), f"publish ended before the server was stopped: {failure}"
            assert time.monotonic() < deadline, "publishing never started"
            time.sleep(0.01)
        kill(proc)
        stopped_at = time.monotonic()
        publisher.join(timeout=120)
        assert not publisher.is_alive()
        assert len(failure) == 1 and isinstance(failure[0], PublishError), failure
        message = str(failure[0])
        assert f"redis 127.0.0.1:{port}/0" in message and table in message and "publish again" in message
        assert "Py4J" not in message and "at org.apache" not in message  # the cause, not a JVM stack
        assert time.monotonic() - stopped_at < 60

        proc = start_redis(port, tmp_path)  # replays the append-only file: what was written is still there
        client = redis.Redis(port=port)
        written_before_retry = client.dbsize()
        assert NEWER_KEYS < written_before_retry < ROWS

        retry = publish_dataframe(
            day_rows(spark, ROWS, DAY - timedelta(days=1)), spec, table, ["customer_id"]
        )
        assert retry.rows == ROWS and retry.written + retry.skipped_older == ROWS
        assert retry.skipped_older >= NEWER_KEYS  # the newer day's keys were kept
        with spec.open() as store:
            rows = store.read_table(table, list(range(ROWS))).rows
        assert all(r is not None for r in rows)
        assert {r["feature_ts"] for r in rows[:NEWER_KEYS]} == {DAY}
        assert {r["feature_ts"] for r in rows[NEWER_KEYS:]} == {DAY - timedelta(days=1)}
    finally:
        kill(proc)
