"""Redis with Entra ID for real: a real redis-server whose ACL accepts exactly the tokens the managed-identity
fake issues, each only until it expires, as Azure Cache for Redis does (user name = the token's `oid`,
password = the token). Tokens live a few seconds here, so the test sees redis-entraid fetch new ones in
the background, re-authenticate the open connection, and the store keep working after the first token
stopped being accepted."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from feature_store.azure.identity import REDIS_SCOPE, AzureIdentity
from feature_store.online import ReadRequest
from feature_store.online.specs import RedisStoreSpec, spec_from_env
from scripts import devservices
from tests.fakes.managed_identity import IssuedToken, ManagedIdentityEndpoint
from tests.services import SERVICES_ROOT

pytestmark = pytest.mark.slow

LIFETIME = 4  # seconds; redis-entraid refreshes at 70%: about every 2.8 s
REDIS_RESOURCE = REDIS_SCOPE.removesuffix("/.default")
ADMIN_PASSWORD = uuid.uuid4().hex


class EntraAcl:
    """Mirrors Azure Cache for Redis' Entra ID access: each issued token becomes a password of its oid's
    ACL user until the token expires; the default user needs an admin password, so nothing gets in
    without a valid token."""

    def __init__(self, admin: redis.Redis) -> None:
        self.admin = admin
        self.expired: list[IssuedToken] = []
        self._timers: list[threading.Timer] = []

    def issue(self, token: IssuedToken) -> None:
        if token.resource != REDIS_RESOURCE:
            return
        self.admin.execute_command("ACL", "SETUSER", token.oid, "on", f">{token.token}", "~*", "&*", "+@all")
        timer = threading.Timer(max(0.0, token.expires_on - time.time()), self._expire, (token,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _expire(self, token: IssuedToken) -> None:
        self.admin.execute_command("ACL", "SETUSER", token.oid, f"<{token.token}")
        self.expired.append(token)

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()


@pytest.fixture
def entra_redis(
    tmp_path, monkeypatch
) -> Iterator[tuple[devservices.Service, EntraAcl, ManagedIdentityEndpoint]]:
    with devservices.running("redis", SERVICES_ROOT, tmp_path) as server:
        redis.Redis(server.host, server.port).execute_command(
            "ACL", "SETUSER", "default", "resetpass", f">{ADMIN_PASSWORD}"
        )
        admin = redis.Redis(server.host, server.port, password=ADMIN_PASSWORD)
        acl = EntraAcl(admin)
        with ManagedIdentityEndpoint(lifetime_seconds=LIFETIME, on_issue=acl.issue) as endpoint:
            for name, value in endpoint.env().items():
                monkeypatch.setenv(name, value)
            yield server, acl, endpoint
        acl.stop()
        admin.close()


def _auth_calls(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_auth", {}).get("calls", 0))


def test_redis_with_entra_id_refreshes_its_token_and_keeps_working(entra_redis, tmp_path):
    server, acl, endpoint = entra_redis
    env = {"FEATURE_STORE_REDIS_HOST": server.host, "FEATURE_STORE_REDIS_PORT": str(server.port),
           "FEATURE_STORE_REDIS_AUTH": "entra", "FEATURE_STORE_AZURE_CREDENTIAL": "managed_identity"}  # fmt: skip
    spec = spec_from_env("redis", tmp_path, env)
    assert spec == RedisStoreSpec(server.host, server.port, identity=AzureIdentity("managed_identity"))
    table = f"t_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    store = spec.open()
    try:
        assert store.write_batch(table, ["id"], [{"id": 1, "feature_ts": now, "x": 1}]).written == 1
        first = endpoint.tokens_for(REDIS_RESOURCE)[0]
        clients = [c for c in acl.admin.client_list() if c["user"] == first.oid]
        assert len(clients) == 1, clients  # the store's connection, logged in as the identity's oid
        auth_before = _auth_calls(acl.admin)

        time.sleep(LIFETIME * 2)  # the first token expires and is removed; nothing is asked of the store

        assert first in acl.expired
        with pytest.raises(redis.AuthenticationError):  # Redis no longer accepts the first token
            redis.Redis(server.host, server.port, username=first.oid, password=first.token).ping()
        issued = endpoint.tokens_for(REDIS_RESOURCE)
        assert len(issued) >= 3, "redis-entraid should have fetched new tokens in the background"
        assert _auth_calls(acl.admin) > auth_before + 1  # the open connection was re-authenticated
        still = [c for c in acl.admin.client_list() if c["user"] == first.oid]
        assert [c["id"] for c in still] == [c["id"] for c in clients]  # the same connection, not a new one

        assert store.write_batch(table, ["id"], [{"id": 2, "feature_ts": now, "x": 2}]).written == 1
        rows = store.read([ReadRequest(table, [1, 2])])[0].rows
        assert [r["x"] for r in rows] == [1, 2]
        # A new connection (Azure Cache drops idle ones) logs in with a token that is valid now.
        acl.admin.client_kill_filter(_id=clients[0]["id"])
        assert store.read([ReadRequest(table, [2])])[0].rows[0]["x"] == 2
        assert all(r.header_ok for r in endpoint.requests)
    finally:
        store.drop_table(table)
        store.close()
    refreshed = len(endpoint.tokens_for(REDIS_RESOURCE))
    time.sleep(LIFETIME)
    assert len(endpoint.tokens_for(REDIS_RESOURCE)) == refreshed  # close() stopped the refresh
