"""Declarative automation: feature assets follow the raw partitions they read, on every day.

raw_<source> D  ──identity──▶  <table>_daily_tiles D  ──91-day window (D-90..D)──▶  <table>_features D

- TILES_CONDITION is `eager()` without its latest-partition restriction: any partition of the tiles
  is requested when its raw day is updated (a late day, a re-ingested day), once the raw day exists
  and nothing it reads or writes is in progress.
- SNAPSHOT_CONDITION is `eager()` without the latest-partition restriction and without
  "any dependency missing": a snapshot reads 91 days of tiles, and one missing day must not block
  it forever (the asset records the missing days in its metadata). A tile update requests every
  snapshot whose window reads that tile (a late day D-5 re-requests snapshots D-5..latest), and
  nothing is requested while a tile of its window or the snapshot itself is in progress.
- ONLINE_CONDITION: the online sync of D follows snapshot D the same way.
- `with_own_day_tile` adds what the window mapping can't say: the snapshot for D waits for the tile
  of D itself. The feature table factory applies it to the snapshot condition.

All of these are built-in, serializable conditions, so the default automation sensor (evaluated by
the daemon, RUNNING by default) evaluates them without a user-code server.
"""

import dagster as dg

AC = dg.AutomationCondition

# eager(): in_latest_time_window & (newly_missing | any_deps_updated).since_last_handled()
#          & ~any_deps_missing & ~any_deps_in_progress & ~in_progress
TILES_CONDITION: dg.AutomationCondition = (
    AC.eager().without(AC.in_latest_time_window()).with_label("tiles_follow_raw_every_day")
)

SNAPSHOT_CONDITION: dg.AutomationCondition = (
    AC.eager()
    .without(AC.in_latest_time_window())
    .without(~AC.any_deps_missing())
    .with_label("snapshots_follow_tiles_allow_missing_lookback")
)

# A published day follows its snapshot, on every day (a re-computed old day is re-published; the
# store's monotonic writes keep newer values).
ONLINE_CONDITION: dg.AutomationCondition = (
    AC.eager().without(AC.in_latest_time_window()).with_label("online_follows_snapshots_every_day")
)


def own_day_dep_missing(dep: dg.AssetKey, via: dg.AssetKey) -> dg.AutomationCondition:
    """True for partition D when `dep` partition D is missing and isn't requested on this tick.

    `any_deps_match` maps D through the asset's own partition mapping (the whole lookback window
    for a snapshot), so it can't single out day D. `via` is a parent of `dep` with the same daily
    partitions and no direct edge to the evaluated asset: Dagster maps D to `via` D (the inferred
    identity mapping between two assets with the same daily partitions), then `via` D to its child
    `dep` D by the identity mapping of that edge.
    """
    return AC.asset_matches(via, AC.asset_matches(dep, AC.missing() & ~AC.will_be_requested())).with_label(
        f"own_day_{dep.to_user_string()}_missing"
    )


def with_own_day_tile(
    condition: dg.AutomationCondition | None, tiles: dg.AssetKey, source: dg.AssetKey
) -> dg.AutomationCondition | None:
    """`condition`, only for days whose own tile exists or is requested on this tick."""
    if condition is None:
        return None
    label = condition.get_label() or condition.name
    return (condition & ~own_day_dep_missing(tiles, via=source)).with_label(f"{label}_after_own_day_tile")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "default_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
