"""Policies every daily asset shares."""

from datetime import timedelta

import dagster as dg

# A daily partition is due the evening after its day; warn a few hours earlier.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=48), warn_window=timedelta(hours=30)
)

# Every asset that runs Spark jobs takes a slot of this concurrency pool, so backfills and sensor runs
# queue instead of piling onto one cluster; its limit is set per deployment (deploy/dagster/dagster.yaml).
SPARK_POOL = "spark"

# Assets whose day D is complete only days after D ends (labels known after their horizon, and what is
# built from them) carry this tag; the per-partition freshness checks leave them out.
LATE_PARTITIONS_TAG = "featurestore/late_partitions"
