"""Per-partition freshness: the latest daily partition must be materialized within
FRESHNESS_HOURS of its day ending. These checks run in CI and from the sensor below.

Every daily asset also has a FreshnessPolicy (feature_assets/lib/policies.py). The checks cover every
asset whose partition D is due the day after D. Assets tagged LATE_PARTITIONS_TAG are left out: their
day D is complete only days later (labels known after their horizon, and the training sets and models
built from them), so their latest partition always lags (their FreshnessPolicy still applies)."""

import dagster as dg

from feature_assets.extensions import extension_assets
from feature_assets.features.assets import feature_tables
from feature_assets.lib.policies import LATE_PARTITIONS_TAG
from feature_assets.monitoring.assets import drift_assets
from feature_assets.online.assets import online_tables
from feature_assets.raw.assets import raw_assets
from feature_store.runtime import variables as V

FRESHNESS_HOURS = V.FRESHNESS_HOURS.integer()


def _due_next_day(asset: dg.AssetsDefinition) -> bool:
    return asset.partitions_def is not None and not any(
        LATE_PARTITIONS_TAG in asset.tags_by_key.get(key, {}) for key in asset.keys
    )


freshness_checks = dg.build_time_partition_freshness_checks(
    assets=[
        a
        for a in (
            *raw_assets,
            *(a for table in feature_tables for a in table.assets),
            *(table.asset for table in online_tables),
            *extension_assets,
            *drift_assets,
        )
        if _due_next_day(a)
    ],
    deadline_cron=f"0 {FRESHNESS_HOURS} * * *",
    timezone="UTC",
    severity=dg.AssetCheckSeverity.WARN,
)

freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks, default_status=dg.DefaultSensorStatus.RUNNING
)
