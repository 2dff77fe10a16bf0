"""The whole pipeline on one screen: the assets, checks and sensors generated from the feature repo, the
repo's own assets (Repo.asset_modules), jobs, and the resources of the deployment chosen by
FEATURE_STORE_PROFILE (local | azure) with the executor that suits where Spark runs."""

import dagster as dg

from feature_assets.automation import automation_sensor
from feature_assets.extensions import extension_assets, extension_checks
from feature_assets.features.assets import feature_tables
from feature_assets.freshness import freshness_checks, freshness_sensor
from feature_assets.jobs import all_checks_job, freshness_checks_job
from feature_assets.monitoring.assets import drift_assets
from feature_assets.online.assets import online_tables
from feature_assets.raw.assets import raw_assets
from feature_assets.raw.checks import raw_checks
from feature_assets.raw.sensors import landing_sensors
from feature_store.runtime.settings import Settings
from resources.profiles import executor_for, resources_for

all_assets = [
    *raw_assets,
    *(a for table in feature_tables for a in table.assets),
    *(table.asset for table in online_tables),
    *extension_assets,
    *drift_assets,
]
all_checks = [
    *raw_checks,
    *(c for table in feature_tables for c in table.checks),
    *(c for table in online_tables for c in table.checks),
    *extension_checks,
    *freshness_checks,
]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    sensors=[*landing_sensors, automation_sensor, freshness_sensor],
    jobs=[all_checks_job, freshness_checks_job],
    resources=resources_for(Settings.from_env()),
    executor=executor_for(),
)
