import dagster as dg

from feature_assets.freshness import freshness_checks

_freshness = dg.AssetSelection.checks(*freshness_checks)

# Runs every data-quality check of a partition without rematerializing anything (CI, tests,
# after a fix). A checks-only job gets no partitions definition from Dagster 1.13, so the day is
# passed as a run tag: dagster job execute -m feature_assets.definitions -j all_checks_job
#   --tags '{"dagster/partition": "2025-03-01"}'
# Freshness checks are about now, not about a partition, so they get their own job.
all_checks_job = dg.define_asset_job(
    "all_checks_job", selection=dg.AssetSelection.all_asset_checks() - _freshness
)
freshness_checks_job = dg.define_asset_job("freshness_checks_job", selection=_freshness)
