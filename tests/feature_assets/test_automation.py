"""Declarative automation of the feature assets, evaluated tick by tick at a fixed time.

The assets are the real ones (raw assets and the feature table factory with the project's
conditions); materializations are reported into an ephemeral instance, runs in progress are
created without being executed."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from examples.churn.repo import CUSTOMER_FEATURES, PRODUCT_FEATURES, TRANSACTIONS
from feature_assets.automation import (
    SNAPSHOT_CONDITION,
    TILES_CONDITION,
    automation_sensor,
    own_day_dep_missing,
    with_own_day_tile,
)
from feature_assets.features.factory import build_feature_table, snapshots_key, tiles_key
from feature_assets.raw.assets import raw_asset_key, raw_assets

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)  # the latest daily partition is 2025-05-31
D = date(2025, 5, 31)
RAW = raw_asset_key(TRANSACTIONS)
TILES = tiles_key(CUSTOMER_FEATURES)
SNAP = snapshots_key(CUSTOMER_FEATURES)
P_TILES = tiles_key(PRODUCT_FEATURES)
P_SNAP = snapshots_key(PRODUCT_FEATURES)
TABLES = [
    build_feature_table(spec, TILES_CONDITION, SNAPSHOT_CONDITION)
    for spec in (CUSTOMER_FEATURES, PRODUCT_FEATURES)
]
ASSETS = [*raw_assets, *(a for t in TABLES for a in (t.tiles, t.snapshots))]
JOB = dg.define_asset_job("automation_test_job", selection=dg.AssetSelection.all())
# Nothing is executed: placeholders satisfy the assets' resource keys.
RESOURCES = {key: dg.ResourceDefinition.none_resource() for key in ("spark", "delta", "landing")}
DEFS = dg.Definitions(assets=ASSETS, jobs=[JOB], resources=RESOURCES)


def day(offset: int) -> str:
    """D+offset as a partition key."""
    return (D + timedelta(days=offset)).isoformat()


def days(first: int, last: int) -> set[str]:
    return {day(i) for i in range(first, last + 1)}


class Ticks:
    """Evaluates the automation conditions tick after tick, like the automation sensor does."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.cursor = None
        self.requested: list[dict[dg.AssetKey, set[str]]] = []

    def tick(self) -> dict[dg.AssetKey, set[str]]:
        result = dg.evaluate_automation_conditions(
            defs=DEFS, instance=self.instance, cursor=self.cursor, evaluation_time=NOW
        )
        self.cursor = result.cursor
        requested = {
            key: {k for k in result.get_requested_partitions(key) if k is not None}
            for key in (RAW, TILES, SNAP, P_TILES, P_SNAP)
        }
        self.requested.append(requested)
        return requested

    def materialize(self, key: dg.AssetKey, *partitions: str) -> None:
        for partition in partitions:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

    def start_run(self, key: dg.AssetKey, partition: str) -> dg.DagsterRun:
        """A run of `key` for `partition` that was created and not finished: it is in progress."""
        return self.instance.create_run_for_job(
            job_def=DEFS.resolve_job_def(JOB.name),
            asset_selection=frozenset({key}),
            tags={"dagster/partition": partition},
        )


@pytest.fixture
def ticks():
    with dg.DagsterInstance.ephemeral() as instance:
        t = Ticks(instance)
        assert t.tick() == {k: set() for k in (RAW, TILES, SNAP, P_TILES, P_SNAP)}  # initial evaluation
        yield t


def test_conditions_are_serializable_for_the_daemon():
    for condition in (
        TILES_CONDITION,
        SNAPSHOT_CONDITION,
        with_own_day_tile(SNAPSHOT_CONDITION, TILES, RAW),
        own_day_dep_missing(TILES, RAW),
    ):
        assert condition.is_serializable
    assert with_own_day_tile(None, TILES, RAW) is None


def test_automation_sensor():
    assert automation_sensor.name == "default_automation_sensor"
    assert automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    sensor_defs = dg.Definitions(assets=ASSETS, sensors=[automation_sensor], resources=RESOURCES)
    assert sensor_defs.resolve_sensor_def("default_automation_sensor") is automation_sensor


def test_factory_wires_the_conditions():
    for table, tiles, snap in zip(TABLES, (TILES, P_TILES), (SNAP, P_SNAP), strict=True):
        assert table.tiles.automation_conditions_by_key[tiles] == TILES_CONDITION
        assert table.snapshots.automation_conditions_by_key[snap] == with_own_day_tile(
            SNAPSHOT_CONDITION, tiles, RAW
        )
    plain = build_feature_table(CUSTOMER_FEATURES)
    assert plain.snapshots.automation_conditions_by_key.get(SNAP) is None


def test_landed_raw_day_requests_its_tiles_and_snapshots_once(ticks: Ticks):
    ticks.materialize(RAW, day(0))
    first = ticks.tick()
    # The tiles of D are requested, and with them the snapshot of D (same tick: its own tile
    # will be requested; older lookback tiles are missing, which does not block it).
    assert first[TILES] == first[P_TILES] == {day(0)}
    assert first[SNAP] == first[P_SNAP] == {day(0)}
    assert ticks.tick() == {k: set() for k in first}
    ticks.materialize(TILES, day(0))
    ticks.materialize(SNAP, day(0))
    assert ticks.tick()[SNAP] == set()
    assert ticks.tick() == {k: set() for k in first}


def test_nothing_is_requested_without_raw_data(ticks: Ticks):
    for _ in range(2):
        assert ticks.tick() == {k: set() for k in (RAW, TILES, SNAP, P_TILES, P_SNAP)}


def test_late_raw_day_propagates_to_every_snapshot_that_reads_it(ticks: Ticks):
    ticks.materialize(RAW, *sorted(days(-4, 0)))
    ticks.materialize(TILES, *sorted(days(-4, 0)))
    ticks.materialize(SNAP, *sorted(days(-4, 0)))
    ticks.tick()  # settle: the updates above requested their downstream once
    assert ticks.tick()[SNAP] == set()

    ticks.materialize(RAW, day(-5))  # landed five days late
    late = ticks.tick()
    assert late[TILES] == {day(-5)}
    # D-5 itself and every later snapshot whose 91-day window reads tile D-5.
    assert late[SNAP] == days(-5, 0)
    assert ticks.tick()[SNAP] == set()

    # The requested runs write the tile, then the snapshots: those later snapshot updates count
    # as handling the tile update, so nothing is requested again.
    ticks.materialize(TILES, day(-5))
    ticks.materialize(SNAP, *sorted(days(-5, 0)))
    after = ticks.tick()
    assert after[TILES] == after[SNAP] == set()
    assert ticks.tick()[SNAP] == set()


def test_missing_lookback_day_does_not_block_the_snapshot(ticks: Ticks):
    present = days(-60, 0) - {day(-30)}
    ticks.materialize(TILES, *sorted(present))
    requested = ticks.tick()
    assert day(0) in requested[SNAP]  # tiles D present, tiles D-30 missing
    assert day(-30) not in requested[SNAP]  # its own tile is missing
    assert ticks.tick()[SNAP] == set()  # nothing requested twice


def test_snapshot_waits_for_its_own_day_tile(ticks: Ticks):
    ticks.materialize(TILES, day(-1))
    first = ticks.tick()
    assert first[SNAP] == {day(-1)}  # the snapshot of D reads tile D-1 too, but tile D is missing
    assert ticks.tick()[SNAP] == set()

    ticks.materialize(TILES, day(0))
    assert ticks.tick()[SNAP] == {day(0)}
    assert ticks.tick()[SNAP] == set()


def test_snapshot_is_not_requested_while_a_tile_of_its_window_is_in_progress(ticks: Ticks):
    ticks.materialize(TILES, *sorted(days(-3, 0)))
    ticks.tick()
    ticks.materialize(SNAP, *sorted(days(-3, 0)))
    assert ticks.tick()[SNAP] == set()

    run = ticks.start_run(TILES, day(-10))  # e.g. a backfill of an older tile
    ticks.materialize(TILES, day(0))  # raw D re-ingested -> new tiles of D
    assert ticks.tick()[SNAP] == set()  # D's window contains D-10, which is in progress
    assert ticks.tick()[SNAP] == set()

    ticks.instance.report_run_failed(run)
    assert ticks.tick()[SNAP] == {day(0)}  # the update was kept, and is acted on once
    assert ticks.tick()[SNAP] == set()


def test_tiles_are_not_requested_while_the_raw_day_is_in_progress(ticks: Ticks):
    ticks.materialize(RAW, day(0))
    ticks.tick()
    ticks.materialize(TILES, day(0))
    assert ticks.tick()[TILES] == set()

    ticks.materialize(RAW, day(0))  # more files landed for D: re-ingested...
    ticks.start_run(RAW, day(0))  # ...and, before the next tick, re-ingesting again
    assert ticks.tick()[TILES] == set()  # blocked while raw D is in progress
    assert ticks.tick()[TILES] == set()
    ticks.materialize(RAW, day(0))  # the run writes raw D: no longer in progress
    assert ticks.tick()[TILES] == {day(0)}  # requested once, for both updates
    assert ticks.tick()[TILES] == set()


def test_snapshot_in_progress_is_not_requested_again(ticks: Ticks):
    run = ticks.start_run(SNAP, day(0))
    ticks.materialize(TILES, day(0))
    assert ticks.tick()[SNAP] == set()
    ticks.instance.report_run_failed(run)
    assert ticks.tick()[SNAP] == {day(0)}
