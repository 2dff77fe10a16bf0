"""The serving endpoint's guard around store calls tells an overloaded server from a failing store: a call
still waiting for a worker at its deadline gets 503 "server busy" and leaves the circuit closed (the next
request is served at once), while a call the store did not answer opens it (issue 15: the soak at 500
requests/s turned a busy second into a second of refusing everything)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from feature_store.online.sqlite_store import SqliteOnlineStore
from feature_store.serving.app import StoreGuard
from feature_store.serving.requests import RequestError

TABLE = "fs.guarded"
WORKERS = 8  # StoreGuard's pool


@pytest.fixture
def guard(tmp_path):
    store = SqliteOnlineStore(tmp_path / "online.db")
    store.write_batch(TABLE, ["id"], [{"id": 1, "feature_ts": datetime(2025, 3, 2, tzinfo=UTC), "x": 1.5}])
    guard = StoreGuard(store, "sqlite test", cooldown=60.0, timeout=0.2)
    yield guard
    guard.close()


def read(store):
    return store.read_table(TABLE, [1]).rows[0]["x"]


def test_a_call_that_never_got_a_worker_is_busy_not_a_store_failure(guard):
    release = threading.Event()
    occupied = [guard._pool.submit(release.wait, 10) for _ in range(WORKERS)]  # every worker busy
    try:
        with pytest.raises(RequestError) as busy:
            asyncio.run(guard.call(read))
        assert busy.value.status == 503 and "server busy: no worker was free" in busy.value.message
    finally:
        release.set()
        for future in occupied:
            future.result(timeout=10)
    assert asyncio.run(guard.call(read)) == 1.5  # the circuit stayed closed: served at once


def test_a_store_that_does_not_answer_opens_the_circuit(guard):
    release = threading.Event()

    def hung(store):
        release.wait(10)
        return read(store)

    try:
        with pytest.raises(RequestError) as failed:
            asyncio.run(guard.call(hung))
        assert "no answer within 0.2s" in failed.value.message
        with pytest.raises(RequestError) as refused:  # within the cooldown: refused without asking
            asyncio.run(guard.call(read))
        assert refused.value.status == 503 and "is unavailable (no answer within 0.2s)" in refused.value.message
    finally:
        release.set()
