from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_store.azure.identity import AzureIdentity
from feature_store.online.base import OnlineStore
from feature_store.online.specs import (
    AzureCosmosDBSpec,
    CosmosStoreSpec,
    OnlineStoreSpec,
    RedisStoreSpec,
    SqliteStoreSpec,
)


class OnlineStoreResource(dg.ConfigurableResource):
    """Where features are served from. Assets depend on this type only; the deployment picks one."""

    def spec(self) -> OnlineStoreSpec:
        raise NotImplementedError

    def open(self) -> OnlineStore:
        return self.spec().open()


class AzureIdentityConfig(dg.Config):
    """An Entra ID identity (feature_store/azure/identity.py: default, managed_identity, workload_identity,
    client_secret); the client secret only through dg.EnvVar."""

    kind: str = "default"
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False, description="Set with dg.EnvVar")
    federated_token_file: str | None = None

    def identity(self) -> AzureIdentity:
        return AzureIdentity(
            self.kind, self.client_id, self.tenant_id, self.client_secret, self.federated_token_file
        )


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
    password: str | None = Field(default=None, repr=False, description="Set with dg.EnvVar, never in code")
    ssl: bool = False
    ssl_ca_certs: str | None = Field(default=None, description="CA bundle for TLS; None: the system's")
    identity: AzureIdentityConfig | None = Field(default=None, description="Entra ID instead of a password")

    def spec(self) -> OnlineStoreSpec:
        return RedisStoreSpec(
            self.host, self.port, self.db, self.username, self.password, self.ssl, self.ssl_ca_certs,
            identity=self.identity.identity() if self.identity else None,
        )  # fmt: skip


class CosmosOnlineStoreResource(OnlineStoreResource):
    """Azure Cosmos DB (NoSQL API): one container for all tables, partition key /id."""

    endpoint: str
    key: str | None = Field(default=None, repr=False, description="Account key; set with dg.EnvVar")
    write_secret_prefix: str | None = Field(default=None, description="'<scope>/<prefix>' instead of key")
    read_secret_prefix: str | None = None
    identity: AzureIdentityConfig | None = Field(default=None, description="Entra ID instead of a key")
    database: str = "feature_store"
    container: str = "online_features"
    enable_endpoint_discovery: bool = Field(default=True, description="False for the local emulator (HTTP)")

    def spec(self) -> OnlineStoreSpec:
        if self.write_secret_prefix and self.identity is None:
            return AzureCosmosDBSpec(
                self.endpoint, self.write_secret_prefix, self.read_secret_prefix, self.database,
                self.container, self.enable_endpoint_discovery,
            )  # fmt: skip
        return CosmosStoreSpec(
            self.endpoint, self.key, self.database, self.container, self.enable_endpoint_discovery,
            identity=self.identity.identity() if self.identity else None,
        )  # fmt: skip
