"""Per-partition freshness: the latest daily partition must be materialized within
FRESHNESS_HOURS of its day ending. These checks run in CI and from the sensor below."""

import dagster as dg

from feature_assets.features.assets import feature_tables
from feature_assets.online.assets import online_tables
from feature_store import variables as V

FRESHNESS_HOURS = V.FRESHNESS_HOURS.integer()

freshness_checks = dg.build_time_partition_freshness_checks(
    assets=[
        *(a for table in feature_tables for a in (table.tiles, table.snapshots)),
        *(table.asset for table in online_tables),
    ],
    deadline_cron=f"0 {FRESHNESS_HOURS} * * *",
    timezone="UTC",
    severity=dg.AssetCheckSeverity.WARN,
)

freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks, default_status=dg.DefaultSensorStatus.RUNNING
)
