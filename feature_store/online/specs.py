"""How to reach an online store, as small picklable values.

A spec travels to Spark executors (each opens its own connection there) and into Dagster resources
and the client; `open()` builds the store. `describe()` names the store for logs and metadata and
never contains a secret; secrets are also kept out of `repr`. Publishing opens `spec`, serving opens
`spec.for_reading()`: the same store, with a read-only key where the spec has one.

Keys or Entra ID: a Redis or Cosmos spec with an `identity` (feature_store/azure/identity.py) holds no
secret at all; each process that opens it gets tokens from its own managed or workload identity.

`AzureCosmosDBSpec` is the Databricks spelling used by the seed snippets: its secret prefixes
(`<scope>/<prefix>`) name the secret `<prefix>-authorization-key` of `<scope>`, read through
`feature_store.runtime.secrets` (Key Vault when one is configured for the scope, else the environment variable
`<SCOPE>_<KEY>`, e.g. `keyvault/cosmos-key` -> `KEYVAULT_COSMOS_KEY_AUTHORIZATION_KEY`).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from feature_store.azure.identity import AzureIdentity
from feature_store.runtime import variables as V

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

    def for_reading(self) -> OnlineStoreSpec:
        """The spec serving and lookups open: the same store, with a read-only key where there is one."""
        return self


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
    """Self-hosted Redis, or Azure Cache for Redis: port 6380, `ssl=True`, and either the access key as
    password or an Entra ID `identity` (no password: redis-entraid logs in with a token and refreshes it)."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    ssl_ca_certs: str | None = None  # a CA bundle to trust instead of the system's (a private CA)
    socket_timeout: float = 5.0
    # None: redis-py's default (10 retries, exponential backoff: fine for batch publishing). Serving
    # sets 1 without backoff, so a dead Redis costs one timeout, not tens of seconds.
    retries: int | None = None
    identity: AzureIdentity | None = None  # Entra ID instead of username/password
    kind = "redis"

    def __post_init__(self) -> None:
        if self.identity is not None and (self.username or self.password):
            raise ValueError("a Redis spec with an Entra ID identity takes no username or password")

    def open(self) -> OnlineStore:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from feature_store.azure.identity import redis_credential_provider
        from feature_store.online.redis_store import RedisOnlineStore

        return RedisOnlineStore(
            self.host,
            self.port,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.ssl,
            **({"ssl_ca_certs": self.ssl_ca_certs} if self.ssl_ca_certs else {}),
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=self.socket_timeout,
            credential_provider=None if self.identity is None else redis_credential_provider(self.identity),
            **({} if self.retries is None else {"retry": Retry(NoBackoff(), self.retries)}),
        )

    def describe(self) -> str:
        auth = "" if self.identity is None else f" as {self.identity.describe()}"
        return f"redis{'s' if self.ssl else ''} {self.host}:{self.port}/{self.db}{auth}"


# Retries and total wait for a throttled read that a caller (a serving request, a lookup) waits on.
READ_THROTTLE_BUDGET = (2, 1.0)


@dataclass(frozen=True)
class CosmosStoreSpec(OnlineStoreSpec):
    """Azure Cosmos DB (NoSQL API), with an account `key` or an Entra ID `identity`. Over plain HTTP (the
    local emulator) pass `enable_endpoint_discovery=False`; Entra ID needs HTTPS.

    With an identity the database and container must exist (Entra ID data-plane roles cannot create
    them: create them with Bicep or `az cosmosdb sql container create`, partition key `/id`)."""

    endpoint: str
    key: str | None = field(default=None, repr=False)
    database: str = "feature_store"
    container: str = "online_features"
    enable_endpoint_discovery: bool = True
    use_env_proxies: bool = True
    identity: AzureIdentity | None = None
    # A throttled (429) call is retried this often and this long in all: the SDK's defaults suit a
    # publish; for_reading() gives a request path READ_THROTTLE_BUDGET instead.
    throttle_retries: int = 9
    throttle_wait_seconds: float = 30.0
    kind = "cosmos"

    def __post_init__(self) -> None:
        if (self.key is None) == (self.identity is None):
            raise ValueError(f"{self.describe()}: give either an account key or an Entra ID identity")

    def open(self) -> OnlineStore:
        from feature_store.online.cosmos_store import CosmosOnlineStore

        entra = self.identity is not None
        return CosmosOnlineStore(
            self.endpoint,
            self.identity.credential() if entra else self.key,
            database=self.database,
            container=self.container,
            enable_endpoint_discovery=self.enable_endpoint_discovery,
            use_env_proxies=self.use_env_proxies,
            create_if_missing=not entra,
            close_credential=entra,
            throttle_retries=self.throttle_retries,
            throttle_wait_seconds=self.throttle_wait_seconds,
        )

    def for_reading(self) -> CosmosStoreSpec:
        retries, wait = READ_THROTTLE_BUDGET
        return replace(self, throttle_retries=retries, throttle_wait_seconds=wait)

    def describe(self) -> str:
        auth = "" if self.identity is None else f" as {self.identity.describe()}"
        return f"cosmos {self.endpoint.rstrip('/')} {self.database}/{self.container}{auth}"


def _prefix_secret(secret_prefix: str, argument: str) -> tuple[str, str]:
    """`keyvault/cosmos-key` -> ("keyvault", "cosmos-key-authorization-key"): scope and key of the secret."""
    scope, sep, prefix = secret_prefix.partition("/")
    if not sep or not scope or not prefix:
        raise ValueError(f"{argument}={secret_prefix!r} must look like '<scope>/<prefix>'")
    return scope, f"{prefix}-authorization-key"


@dataclass(frozen=True)
class AzureCosmosDBSpec(CosmosStoreSpec):
    """The Databricks `AzureCosmosDBSpec(account_uri=..., write_secret_prefix=..., read_secret_prefix=...,
    database_name=..., container_name=...)`. The write key is read when the spec is made (a missing
    secret fails there, naming scope, key and vault); publishing uses it. `for_reading()` reads the key
    of `read_secret_prefix` (default: the write prefix) for serving, so a serving process needs access
    to the read secret only."""

    endpoint: str = ""
    key: str | None = field(default=None, repr=False)
    read_secret_prefix: str | None = None

    def __init__(
        self,
        account_uri: str,
        write_secret_prefix: str,
        read_secret_prefix: str | None = None,
        database_name: str = "feature_store",
        container_name: str = "online_features",
        enable_endpoint_discovery: bool = True,
    ) -> None:
        from feature_store.runtime import secrets

        _prefix_secret(read_secret_prefix or write_secret_prefix, "read_secret_prefix")  # malformed: fail now
        for name, value in (
            ("endpoint", account_uri),
            ("key", secrets.get(*_prefix_secret(write_secret_prefix, "write_secret_prefix"))),
            ("read_secret_prefix", read_secret_prefix or write_secret_prefix),
            ("database", database_name),
            ("container", container_name),
            ("enable_endpoint_discovery", enable_endpoint_discovery),
            ("use_env_proxies", True),
            ("identity", None),
        ):
            object.__setattr__(self, name, value)

    def for_reading(self) -> CosmosStoreSpec:
        from feature_store.runtime import secrets

        return CosmosStoreSpec(
            self.endpoint,
            secrets.get(*_prefix_secret(self.read_secret_prefix, "read_secret_prefix")),
            database=self.database,
            container=self.container,
            enable_endpoint_discovery=self.enable_endpoint_discovery,
            use_env_proxies=self.use_env_proxies,
        ).for_reading()


def spec_from_env(kind: str, home: Path, env: Mapping[str, str] | None = None) -> OnlineStoreSpec:
    """The online store of a deployment, from FEATURE_STORE_ONLINE_STORE and its variables."""
    env = os.environ if env is None else env
    if kind == "sqlite":
        return SqliteStoreSpec(V.SQLITE_PATH.value(env, home=home))
    if kind == "redis":
        entra = _auth(V.REDIS_AUTH, ("password", "entra"), env) == "entra"
        if entra and (V.REDIS_USERNAME.is_set(env) or V.REDIS_PASSWORD.is_set(env)):
            raise V.SettingsError(
                f"{V.REDIS_AUTH.name}=entra logs in with Entra ID tokens: unset {V.REDIS_USERNAME.name} and "
                f"{V.REDIS_PASSWORD.name}"
            )
        return RedisStoreSpec(
            host=V.REDIS_HOST.value(env),
            port=V.REDIS_PORT.integer(env),
            db=V.REDIS_DB.integer(env),
            username=V.REDIS_USERNAME.value(env),
            password=V.REDIS_PASSWORD.value(env),
            ssl=V.REDIS_SSL.flag(env),
            ssl_ca_certs=V.REDIS_SSL_CA_CERTS.value(env),
            identity=AzureIdentity.from_env(env) if entra else None,
        )
    if kind == "cosmos":
        return _cosmos_from_env(env)
    raise ValueError(
        f"FEATURE_STORE_ONLINE_STORE={kind!r} is not a known online store; use sqlite, redis or cosmos"
    )


def _auth(variable: V.Variable, choices: tuple[str, ...], env: Mapping[str, str]) -> str:
    value = variable.value(env)
    if value not in choices:
        raise V.SettingsError(f"{variable.name}={value!r}: use {' or '.join(choices)}")
    return value


def _cosmos_from_env(env: Mapping[str, str]) -> CosmosStoreSpec:
    """Entra ID (FEATURE_STORE_COSMOS_AUTH=entra), else the key: FEATURE_STORE_COSMOS_KEY, or the Databricks
    secret prefixes (FEATURE_STORE_COSMOS_WRITE_SECRET_PREFIX and _READ_) read through feature_store.runtime.secrets."""
    if not V.COSMOS_ENDPOINT.is_set(env):
        raise V.SettingsError(f"FEATURE_STORE_ONLINE_STORE=cosmos needs {V.COSMOS_ENDPOINT.name}")
    where = {
        "database": V.COSMOS_DATABASE.value(env),
        "container": V.COSMOS_CONTAINER.value(env),
        "enable_endpoint_discovery": V.COSMOS_ENDPOINT_DISCOVERY.flag(env),
    }
    endpoint = V.COSMOS_ENDPOINT.value(env)
    if _auth(V.COSMOS_AUTH, ("key", "entra"), env) == "entra":
        return CosmosStoreSpec(endpoint, identity=AzureIdentity.from_env(env), **where)
    if V.COSMOS_WRITE_SECRET_PREFIX.is_set(env):
        return AzureCosmosDBSpec(
            endpoint,
            write_secret_prefix=V.COSMOS_WRITE_SECRET_PREFIX.value(env),
            read_secret_prefix=V.COSMOS_READ_SECRET_PREFIX.value(env),
            database_name=where["database"],
            container_name=where["container"],
            enable_endpoint_discovery=where["enable_endpoint_discovery"],
        )
    if not V.COSMOS_KEY.is_set(env):
        raise V.SettingsError(
            f"FEATURE_STORE_ONLINE_STORE=cosmos needs {V.COSMOS_KEY.name}, or "
            f"{V.COSMOS_WRITE_SECRET_PREFIX.name}, or {V.COSMOS_AUTH.name}=entra"
        )
    return CosmosStoreSpec(endpoint, V.COSMOS_KEY.value(env), **where)
