"""Per-partition freshness: the latest daily partition must be materialized within
FRESHNESS_HOURS of its day ending. These checks run in CI and from the sensor below.

Every daily asset also has a FreshnessPolicy (feature_assets/lib/policies.py). The checks cover every
asset whose partition D is due the day after D. Labels, the training set and the model are left out:
their day is a label day, whose label is known only CHURN_HORIZON_DAYS later, so their latest partition
always lags (their FreshnessPolicy still applies)."""

import dagster as dg

from feature_assets.features.assets import feature_tables
from feature_assets.ml.assets import churn_model, churn_training_set, ml_assets
from feature_assets.monitoring.assets import drift_assets
from feature_assets.online.assets import online_tables
from feature_assets.raw.assets import raw_asset_key, raw_assets
from feature_store import variables as V
from feature_store.tables import LABELS

FRESHNESS_HOURS = V.FRESHNESS_HOURS.integer()
LABEL_DAY_ASSETS = {raw_asset_key(LABELS), churn_training_set.key, churn_model.key}

freshness_checks = dg.build_time_partition_freshness_checks(
    assets=[
        *(a for a in raw_assets if a.key not in LABEL_DAY_ASSETS),
        *(a for table in feature_tables for a in table.assets),
        *(table.asset for table in online_tables),
        *(a for a in ml_assets if a.key not in LABEL_DAY_ASSETS),
        *drift_assets,
    ],
    deadline_cron=f"0 {FRESHNESS_HOURS} * * *",
    timezone="UTC",
    severity=dg.AssetCheckSeverity.WARN,
)

freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks, default_status=dg.DefaultSensorStatus.RUNNING
)
