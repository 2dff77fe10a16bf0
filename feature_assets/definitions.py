"""The whole pipeline on one screen: assets by domain, checks, sensors, jobs, and the resources
of the deployment chosen by FEATURE_STORE_PROFILE (local | azure)."""

import dagster as dg
from dagster_azure.blob import AzureBlobStorageKeyCredential, AzureBlobStorageResource

from feature_assets.automation import automation_sensor
from feature_assets.features.assets import feature_tables
from feature_assets.freshness import freshness_checks, freshness_sensor
from feature_assets.jobs import all_checks_job, freshness_checks_job
from feature_assets.raw.assets import raw_assets
from feature_assets.raw.checks import raw_checks
from feature_assets.raw.sensors import landing_sensors
from feature_store.settings import Settings
from resources import BlobLandingZoneResource, DeltaLakeResource, LocalLandingZoneResource, SparkResource

settings = Settings.from_env()

RESOURCES_BY_PROFILE = {
    "local": {
        "spark": SparkResource(master=settings.spark_master, ivy_dir=str(settings.ivy_dir)),
        "delta": DeltaLakeResource(root=settings.delta_root),
        "landing": LocalLandingZoneResource(root=settings.landing_root),
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
    },
}

all_assets = [*raw_assets, *(a for table in feature_tables for a in (table.tiles, table.snapshots))]
all_checks = [*raw_checks, *(c for table in feature_tables for c in table.checks), *freshness_checks]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    sensors=[*landing_sensors, automation_sensor, freshness_sensor],
    jobs=[all_checks_job, freshness_checks_job],
    resources=RESOURCES_BY_PROFILE[settings.profile],
)
