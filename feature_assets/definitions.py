"""The whole pipeline on one screen: assets by domain, checks, sensors, jobs, and the resources
of the deployment chosen by FEATURE_STORE_PROFILE (local | azure)."""

import dagster as dg
from dagster_azure.blob import AzureBlobStorageKeyCredential, AzureBlobStorageResource

from feature_assets.automation import automation_sensor
from feature_assets.features.assets import feature_tables
from feature_assets.freshness import freshness_checks, freshness_sensor
from feature_assets.jobs import all_checks_job, freshness_checks_job
from feature_assets.ml.assets import ml_assets
from feature_assets.monitoring.assets import drift_assets
from feature_assets.online.assets import online_tables
from feature_assets.raw.assets import raw_assets
from feature_assets.raw.checks import raw_checks
from feature_assets.raw.sensors import landing_sensors
from feature_store.settings import Settings
from resources import (
    BlobLandingZoneResource,
    CosmosOnlineStoreResource,
    DeltaLakeResource,
    LocalLandingZoneResource,
    MLflowResource,
    OnlineStoreResource,
    RedisOnlineStoreResource,
    SparkResource,
    SqliteOnlineStoreResource,
)

settings = Settings.from_env()


def online_store_resource() -> OnlineStoreResource:
    """FEATURE_STORE_ONLINE_STORE picks the store (sqlite on local, redis on azure by default); secrets
    come from the environment through dg.EnvVar, so they never show in the UI or the run config."""
    spec = settings.online_store_spec()
    if settings.online_store == "redis":
        return RedisOnlineStoreResource(
            host=spec.host,
            port=spec.port,
            db=spec.db,
            username=spec.username,
            password=dg.EnvVar("FEATURE_STORE_REDIS_PASSWORD") if spec.password else None,
            ssl=spec.ssl,
        )
    if settings.online_store == "cosmos":
        return CosmosOnlineStoreResource(
            endpoint=spec.endpoint,
            key=dg.EnvVar("FEATURE_STORE_COSMOS_KEY"),
            database=spec.database,
            container=spec.container,
            enable_endpoint_discovery=spec.enable_endpoint_discovery,
        )
    return SqliteOnlineStoreResource(path=spec.path)


RESOURCES_BY_PROFILE = {
    "local": {
        "spark": SparkResource(master=settings.spark_master, ivy_dir=str(settings.ivy_dir)),
        "delta": DeltaLakeResource(root=settings.delta_root),
        "landing": LocalLandingZoneResource(root=settings.landing_root),
        "online_store": online_store_resource(),
        "mlflow_tracking": MLflowResource(
            tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root
        ),
    },
    "azure": {
        "spark": SparkResource(master=dg.EnvVar("FEATURE_STORE_SPARK_MASTER").get_value("local[*]")),
        "delta": DeltaLakeResource(root=settings.delta_root),
        "landing": BlobLandingZoneResource(
            storage=AzureBlobStorageResource(
                account_url=dg.EnvVar("AZURE_BLOB_ACCOUNT_URL"),
                credential=AzureBlobStorageKeyCredential(key=dg.EnvVar("AZURE_BLOB_ACCOUNT_KEY")),
            ),
            container=dg.EnvVar("FEATURE_STORE_LANDING_CONTAINER").get_value("landing"),
            staging_dir=str(settings.home / "staging"),
        ),
        "online_store": online_store_resource(),
        "mlflow_tracking": MLflowResource(
            tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root
        ),
    },
}

all_assets = [
    *raw_assets,
    *(a for table in feature_tables for a in (table.tiles, table.snapshots)),
    *(table.asset for table in online_tables),
    *ml_assets,
    *drift_assets,
]
all_checks = [
    *raw_checks,
    *(c for table in feature_tables for c in table.checks),
    *(c for table in online_tables for c in table.checks),
    *freshness_checks,
]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    sensors=[*landing_sensors, automation_sensor, freshness_sensor],
    jobs=[all_checks_job, freshness_checks_job],
    resources=RESOURCES_BY_PROFILE[settings.profile],
)
