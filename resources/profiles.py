"""The resource set of each deployment profile, built only for the active one, and the executor its
runs use.

Secrets reach resources as `dg.EnvVar`s, so Dagster resolves them at run time and never shows them in
the UI or the run config; everything else comes from the Settings (docs/configuration.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dagster as dg

from feature_store.azure.identity import AzureIdentity
from feature_store.runtime import variables as V
from feature_store.runtime.settings import Settings
from resources.delta import DeltaLakeResource
from resources.landing import LocalLandingZoneResource, blob_landing_resource
from resources.mlflow_tracking import MLflowResource
from resources.online import (
    AzureIdentityConfig,
    CosmosOnlineStoreResource,
    OnlineStoreResource,
    RedisOnlineStoreResource,
    SqliteOnlineStoreResource,
)
from resources.spark import SparkResource


def _secret(variable: V.Variable) -> dg.EnvVar | None:
    return dg.EnvVar(variable.name) if variable.is_set() else None


def _identity() -> AzureIdentityConfig:
    identity = AzureIdentity.from_env()  # validates: a missing variable is named at load
    return AzureIdentityConfig(
        kind=identity.kind, client_id=identity.client_id, tenant_id=identity.tenant_id,
        client_secret=_secret(V.AZURE_CLIENT_SECRET), federated_token_file=identity.federated_token_file,
    )  # fmt: skip


def online_store_resource(settings: Settings) -> OnlineStoreResource:
    """FEATURE_STORE_ONLINE_STORE picks the store (sqlite on local, redis on azure by default); Redis and
    Cosmos DB authenticate with a key (dg.EnvVar), Key Vault secret prefixes (Cosmos) or Entra ID."""
    if settings.online_store == "cosmos":  # from the variables: building its spec would read Key Vault
        entra = V.COSMOS_AUTH.value() == "entra"
        prefix = None if entra else V.COSMOS_WRITE_SECRET_PREFIX.value()
        return CosmosOnlineStoreResource(
            endpoint=V.COSMOS_ENDPOINT.value(),
            key=None if entra or prefix else dg.EnvVar(V.COSMOS_KEY.name),
            write_secret_prefix=prefix,
            read_secret_prefix=None if entra else V.COSMOS_READ_SECRET_PREFIX.value(),
            identity=_identity() if entra else None,
            database=V.COSMOS_DATABASE.value(),
            container=V.COSMOS_CONTAINER.value(),
            enable_endpoint_discovery=V.COSMOS_ENDPOINT_DISCOVERY.flag(),
        )
    spec = settings.online_store_spec()
    if settings.online_store == "redis":
        return RedisOnlineStoreResource(
            host=spec.host,
            port=spec.port,
            db=spec.db,
            username=spec.username,
            password=_secret(V.REDIS_PASSWORD),
            ssl=spec.ssl,
            ssl_ca_certs=spec.ssl_ca_certs,
            identity=_identity() if spec.identity else None,
        )
    return SqliteOnlineStoreResource(path=spec.path)


def _mlflow(settings: Settings) -> MLflowResource:
    return MLflowResource(tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root)


def local_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "spark": SparkResource(master=settings.spark_master, ivy_dir=str(settings.ivy_dir)),
        "delta": DeltaLakeResource(root=settings.delta_root),
        "landing": LocalLandingZoneResource(root=settings.landing_root),
        "online_store": online_store_resource(settings),
        "mlflow_tracking": _mlflow(settings),
    }


def azure_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "spark": SparkResource(master=settings.spark_master, ivy_dir=str(settings.ivy_dir)),
        "delta": DeltaLakeResource(root=settings.delta_root),
        "landing": blob_landing_resource(),
        "online_store": online_store_resource(settings),
        "mlflow_tracking": _mlflow(settings),
    }


PROFILES: dict[str, Callable[[Settings], dict[str, dg.ConfigurableResource]]] = {
    "local": local_resources,
    "azure": azure_resources,
}


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return PROFILES[settings.profile](settings)


def executor_for(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """Where a run's steps execute. With a Spark driver in the run's process (a local or cluster master)
    the steps share that process and its one session: a process per step would start a JVM per step
    (~20 s each on 2 cores) and every driver would compete for the run pod's cores and memory. A Spark
    Connect client is cheap to start and the server does the work, so its steps run in parallel
    processes."""
    if V.SPARK_REMOTE.value(env):
        return dg.multiprocess_executor
    return dg.in_process_executor
