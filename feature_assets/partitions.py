"""One daily partitioning (UTC) shared by every asset, so partition keys line up across the graph."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from feature_store.runtime.settings import Settings
from feature_store.runtime.timeutil import days

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start_date, timezone="UTC"
)


def partition_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[date]:
    """The UTC days a run covers: one for a single partition, many for a single-run backfill."""
    window = context.partition_time_window
    return list(days(window.start.date(), window.end.date() - timedelta(days=1)))
