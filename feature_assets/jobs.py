import dagster as dg

from feature_assets.extensions import extension_assets
from feature_assets.freshness import freshness_checks
from feature_assets.monitoring.assets import drift_assets

_freshness = dg.AssetSelection.checks(*freshness_checks)
# Checks an asset declares itself (check_specs) are evaluated by the asset's own run (e.g. the model's
# evaluation decides its promotion, the drift check judges the report just computed): they can't run alone.
_computed_by_their_asset = dg.AssetSelection.checks(
    *(key for asset in (*extension_assets, *drift_assets) for key in asset.check_keys)
)

# Runs every data-quality check of a partition without rematerializing anything (CI, tests,
# after a fix). A checks-only job gets no partitions definition from Dagster 1.13, so the day is
# passed as a run tag: dagster job execute -m feature_assets.definitions -j all_checks_job
#   --tags '{"dagster/partition": "2025-03-01"}'
# Freshness checks are about now, not about a partition, so they get their own job.
all_checks_job = dg.define_asset_job(
    "all_checks_job", selection=dg.AssetSelection.all_asset_checks() - _freshness - _computed_by_their_asset
)
freshness_checks_job = dg.define_asset_job("freshness_checks_job", selection=_freshness)
