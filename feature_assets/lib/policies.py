"""Policies every daily asset shares."""

from datetime import timedelta

import dagster as dg

# A daily partition is due the evening after its day; warn a few hours earlier.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=48), warn_window=timedelta(hours=30)
)
