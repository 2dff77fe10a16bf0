from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_store.online.base import OnlineStore
from feature_store.online.specs import CosmosStoreSpec, OnlineStoreSpec, RedisStoreSpec, SqliteStoreSpec


class OnlineStoreResource(dg.ConfigurableResource):
    """Where features are served from. Assets depend on this type only; the deployment picks one."""

    def spec(self) -> OnlineStoreSpec:
        raise NotImplementedError

    def open(self) -> OnlineStore:
        return self.spec().open()


class SqliteOnlineStoreResource(OnlineStoreResource):
    """The embedded default: one SQLite file, readable by every process on this machine."""

    path: str = Field(description="The SQLite file, e.g. <FEATURE_STORE_HOME>/online/features.db")

    def spec(self) -> OnlineStoreSpec:
        return SqliteStoreSpec(self.path)


class RedisOnlineStoreResource(OnlineStoreResource):
    """Redis, or Azure Cache for Redis: port 6380, ssl=True, the access key as password."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = Field(default=None, description="Set with dg.EnvVar, never in code")
    ssl: bool = False

    def spec(self) -> OnlineStoreSpec:
        return RedisStoreSpec(self.host, self.port, self.db, self.username, self.password, self.ssl)


class CosmosOnlineStoreResource(OnlineStoreResource):
    """Azure Cosmos DB (NoSQL API): one container for all tables, partition key /id."""

    endpoint: str
    key: str = Field(description="Account key; set with dg.EnvVar")
    database: str = "feature_store"
    container: str = "online_features"
    enable_endpoint_discovery: bool = Field(default=True, description="False for the local emulator (HTTP)")

    def spec(self) -> OnlineStoreSpec:
        return CosmosStoreSpec(
            self.endpoint, self.key, self.database, self.container, self.enable_endpoint_discovery
        )
