"""Real servers for the online store contract suite: SQLite in a temp dir, redis-server, and the Cosmos
DB protocol server (@vercel/cosmosdb-server), all on 127.0.0.1.

A server already answering on its fixed port (6390 redis, 8081 cosmos; override with
FEATURE_STORE_TEST_REDIS_PORT / FEATURE_STORE_TEST_COSMOS_PORT) is reused, e.g. the ones `.ci/run` starts;
otherwise each test process starts its own on a free port (node_modules from `.services`, or
FEATURE_STORE_SERVICES_DIR) and stops it at the end. Tests on a reused server stay apart through
unique table names (redis) or a unique database (cosmos), and clean up after themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from feature_store.online.base import OnlineStore
from scripts import devservices

STORE_KINDS = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.slow),
    pytest.param("cosmos", marks=pytest.mark.slow),
]


@pytest.fixture(scope="session")
def cosmos_database(cosmos_server: devservices.Service) -> Iterator[str]:
    """A database of our own on a possibly shared server, deleted at the end."""
    from azure.cosmos import CosmosClient

    name = f"fs_test_{uuid.uuid4().hex[:10]}"
    yield name
    client = CosmosClient(
        cosmos_server.url, credential=devservices.COSMOS_EMULATOR_KEY, enable_endpoint_discovery=False
    )
    client.delete_database(name)
    client.close()


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_factory(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., OnlineStore]]:
    """Opens stores of `store_kind` that all see the same data (for concurrent-writer tests)."""
    opened: list[OnlineStore] = []

    def make(**kwargs) -> OnlineStore:
        if store_kind == "sqlite":
            from feature_store.online.sqlite_store import SqliteOnlineStore

            store = SqliteOnlineStore(tmp_path / "online.db", **kwargs)
        elif store_kind == "redis":
            from feature_store.online.redis_store import RedisOnlineStore

            server = request.getfixturevalue("redis_server")
            store = RedisOnlineStore(server.host, server.port, **kwargs)
        else:
            from feature_store.online.cosmos_store import CosmosOnlineStore

            server = request.getfixturevalue("cosmos_server")
            store = CosmosOnlineStore(
                server.url,
                devservices.COSMOS_EMULATOR_KEY,
                database=request.getfixturevalue("cosmos_database"),
                enable_endpoint_discovery=False,  # the emulator speaks HTTP and has no regional endpoints
                use_env_proxies=False,  # loopback: no proxy lookups per request
                **kwargs,
            )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: Callable[..., OnlineStore]) -> OnlineStore:
    return store_factory()


@pytest.fixture
def new_table(store: OnlineStore) -> Iterator[Callable[[], str]]:
    """Unique table names (servers may be shared); every table made is dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(f"t_{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    for table in made:
        store.drop_table(table)


@pytest.fixture
def store_spec(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path):
    """A spec (what Spark executors open) for the same backend `store_factory` opens."""
    from feature_store.online.specs import CosmosStoreSpec, RedisStoreSpec, SqliteStoreSpec

    if store_kind == "sqlite":
        return SqliteStoreSpec(str(tmp_path / "online.db"))
    if store_kind == "redis":
        server = request.getfixturevalue("redis_server")
        return RedisStoreSpec(server.host, server.port)
    server = request.getfixturevalue("cosmos_server")
    return CosmosStoreSpec(
        server.url,
        devservices.COSMOS_EMULATOR_KEY,
        database=request.getfixturevalue("cosmos_database"),
        enable_endpoint_discovery=False,
        use_env_proxies=False,
    )
