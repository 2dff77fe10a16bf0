"""How to reach an online store, as small picklable values.

A spec travels to Spark executors (each opens its own connection there) and into Dagster resources
and the client; `open()` builds the store. `describe()` names the store for logs and metadata and
never contains a secret; secrets are also kept out of `repr`.

`AzureCosmosDBSpec` is the Databricks spelling used by the seed snippets: its secret prefixes
(`<scope>/<prefix>`) resolve to the Databricks secret `<prefix>-authorization-key` in `<scope>`, read
here from the environment variable `<SCOPE>_<PREFIX>_AUTHORIZATION_KEY` (upper case, other characters as
`_`), e.g. `keyvault/cosmos-key` -> `KEYVAULT_COSMOS_KEY_AUTHORIZATION_KEY`. Put the Key Vault secret
there (an App Service / AKS Key Vault reference, or `az keyvault secret show` in CI).
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feature_store.online.base import OnlineStore


class OnlineStoreSpec(ABC):
    kind: str

    @abstractmethod
    def open(self) -> OnlineStore: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, without secrets: e.g. `redis 127.0.0.1:6390/0`."""

    @property
    def local_only(self) -> bool:
        """True when only processes on this machine can reach the store (an embedded file)."""
        return False


@dataclass(frozen=True)
class SqliteStoreSpec(OnlineStoreSpec):
    path: str
    kind = "sqlite"

    def open(self) -> OnlineStore:
        from feature_store.online.sqlite_store import SqliteOnlineStore

        return SqliteOnlineStore(self.path)

    def describe(self) -> str:
        return f"sqlite {self.path}"

    @property
    def local_only(self) -> bool:
        return True


@dataclass(frozen=True)
class RedisStoreSpec(OnlineStoreSpec):
    """Self-hosted Redis, or Azure Cache for Redis: port 6380, `ssl=True`, the access key as password."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    socket_timeout: float = 5.0
    # None: redis-py's default (10 retries, exponential backoff: fine for batch publishing). Serving
    # sets 1 without backoff, so a dead Redis costs one timeout, not tens of seconds.
    retries: int | None = None
    kind = "redis"

    def open(self) -> OnlineStore:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from feature_store.online.redis_store import RedisOnlineStore

        return RedisOnlineStore(
            self.host,
            self.port,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.ssl,
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=self.socket_timeout,
            **({} if self.retries is None else {"retry": Retry(NoBackoff(), self.retries)}),
        )

    def describe(self) -> str:
        return f"redis{'s' if self.ssl else ''} {self.host}:{self.port}/{self.db}"


@dataclass(frozen=True)
class CosmosStoreSpec(OnlineStoreSpec):
    """Azure Cosmos DB (NoSQL API). Over plain HTTP (the local emulator) pass
    `enable_endpoint_discovery=False`."""

    endpoint: str
    key: str = field(repr=False)
    database: str = "feature_store"
    container: str = "online_features"
    enable_endpoint_discovery: bool = True
    use_env_proxies: bool = True
    kind = "cosmos"

    def open(self) -> OnlineStore:
        from feature_store.online.cosmos_store import CosmosOnlineStore

        return CosmosOnlineStore(
            self.endpoint,
            self.key,
            database=self.database,
            container=self.container,
            enable_endpoint_discovery=self.enable_endpoint_discovery,
            use_env_proxies=self.use_env_proxies,
        )

    def describe(self) -> str:
        return f"cosmos {self.endpoint.rstrip('/')} {self.database}/{self.container}"


def secret_env_var(secret_prefix: str) -> str:
    """`keyvault/cosmos-key` -> `KEYVAULT_COSMOS_KEY_AUTHORIZATION_KEY`."""
    scope, sep, prefix = secret_prefix.partition("/")
    if not sep or not scope or not prefix:
        raise ValueError(f"secret prefix {secret_prefix!r} must look like '<scope>/<prefix>'")
    return re.sub(r"[^A-Za-z0-9]", "_", f"{scope}_{prefix}_authorization_key").upper()


@dataclass(frozen=True)
class AzureCosmosDBSpec(CosmosStoreSpec):
    """The Databricks `AzureCosmosDBSpec(account_uri=..., write_secret_prefix=..., read_secret_prefix=...,
    database_name=..., container_name=...)`, with the key resolved from the environment (module doc)."""

    endpoint: str = ""
    key: str = field(default="", repr=False)

    def __init__(
        self,
        account_uri: str,
        write_secret_prefix: str,
        read_secret_prefix: str | None = None,
        database_name: str = "feature_store",
        container_name: str = "online_features",
        enable_endpoint_discovery: bool = True,
    ) -> None:
        variable = secret_env_var(write_secret_prefix)
        key = os.environ.get(variable)
        if not key:
            raise ValueError(
                f"AzureCosmosDBSpec: the key for write_secret_prefix={write_secret_prefix!r} is read from the "
                f"environment variable {variable}, which is not set"
            )
        if read_secret_prefix is not None:
            secret_env_var(read_secret_prefix)  # validated; reads use the same account key here
        for name, value in (
            ("endpoint", account_uri),
            ("key", key),
            ("database", database_name),
            ("container", container_name),
            ("enable_endpoint_discovery", enable_endpoint_discovery),
            ("use_env_proxies", True),
        ):
            object.__setattr__(self, name, value)


def spec_from_env(kind: str, home: Path, env: Mapping[str, str] | None = None) -> OnlineStoreSpec:
    """The online store of a deployment, from FEATURE_STORE_ONLINE_STORE and its variables."""
    from feature_store import variables as V

    env = os.environ if env is None else env
    if kind == "sqlite":
        return SqliteStoreSpec(V.SQLITE_PATH.value(env, home=home))
    if kind == "redis":
        return RedisStoreSpec(
            host=V.REDIS_HOST.value(env),
            port=V.REDIS_PORT.integer(env),
            db=V.REDIS_DB.integer(env),
            username=V.REDIS_USERNAME.value(env),
            password=V.REDIS_PASSWORD.value(env),
            ssl=V.REDIS_SSL.flag(env),
        )
    if kind == "cosmos":
        missing = [v.name for v in (V.COSMOS_ENDPOINT, V.COSMOS_KEY) if not v.is_set(env)]
        if missing:
            raise ValueError(f"FEATURE_STORE_ONLINE_STORE=cosmos needs {' and '.join(missing)}")
        return CosmosStoreSpec(
            endpoint=V.COSMOS_ENDPOINT.value(env),
            key=V.COSMOS_KEY.value(env),
            database=V.COSMOS_DATABASE.value(env),
            container=V.COSMOS_CONTAINER.value(env),
            enable_endpoint_discovery=V.COSMOS_ENDPOINT_DISCOVERY.flag(env),
        )
    raise ValueError(
        f"FEATURE_STORE_ONLINE_STORE={kind!r} is not a known online store; use sqlite, redis or cosmos"
    )
