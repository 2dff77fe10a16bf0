import dagster as dg

from feature_assets.partitions import daily_partitions

# Runs every check of a partition without rematerializing anything (CI, tests, after a fix).
all_checks_job = dg.define_asset_job(
    "all_checks_job",
    selection=dg.AssetSelection.all_asset_checks(),
    partitions_def=daily_partitions,
)
