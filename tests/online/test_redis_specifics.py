"""What only the Redis store has: its Lua write script, native expiry, script-cache recovery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from feature_store.online import OnlineStoreError, ReadRequest, WriteResult

pytestmark = pytest.mark.slow


@pytest.fixture
def store(redis_server):
    from feature_store.online.redis_store import RedisOnlineStore

    store = RedisOnlineStore(redis_server.host, redis_server.port)
    table = f"t_{uuid.uuid4().hex[:12]}"
    yield store, table
    store.drop_table(table)
    store.close()


def test_a_foreign_value_under_the_prefix_fails_the_batch_before_any_write(store):
    store, table = store
    store._r.set(f"fs:{table}:2", "not a row")
    rows = [{"id": i, "feature_ts": datetime(2025, 1, 1, tzinfo=UTC), "x": i} for i in (1, 2, 3)]
    with pytest.raises(OnlineStoreError, match="does not hold a feature row"):
        store.write_batch(table, ["id"], rows)
    assert store._r.exists(f"fs:{table}:1", f"fs:{table}:3") == 0


def test_rows_written_under_a_ttl_get_a_native_expiry(store):
    store, table = store
    store.set_expiry(table, 60)
    now = datetime.now(UTC)
    store.write_batch(table, ["id"], [{"id": 1, "feature_ts": now, "x": 1}])
    expires_ms = store._r.pexpiretime(f"fs:{table}:1")
    assert abs(expires_ms - (now.timestamp() + 60) * 1000) < 50
    store.write_batch(table, ["id"], [{"id": 2, "feature_ts": now - timedelta(hours=1), "x": 2}])
    assert store._r.exists(f"fs:{table}:2") == 0  # already expired: Redis drops it at once
    store.set_expiry(table, None)
    store.write_batch(table, ["id"], [{"id": 1, "feature_ts": now, "x": 1}])
    assert store._r.pttl(f"fs:{table}:1") == -1  # a write without TTL clears the old expiry


def test_writes_recover_from_an_empty_script_cache(store):
    store, table = store
    ts = datetime(2025, 1, 1, tzinfo=UTC)
    store.write_batch(table, ["id"], [{"id": 1, "feature_ts": ts, "x": 1}])
    store._r.script_flush()
    rows = [{"id": i, "feature_ts": ts + timedelta(days=1), "x": 2} for i in range(1200)]  # several chunks
    assert store.write_batch(table, ["id"], rows) == WriteResult(1200, 0)
    assert store.read([ReadRequest(table, [1])])[0].rows[0]["x"] == 2


def test_ping_is_false_when_nothing_listens():
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from feature_store.online.redis_store import RedisOnlineStore
    from scripts import devservices

    store = RedisOnlineStore(
        "127.0.0.1", devservices.free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    assert store.ping() is False
    store.close()
