"""Changing a declaration: a new feature adds its column (Delta schema evolution) and bumps the asset's
code version, and a backfill fills it; removing or retyping a feature is refused, naming the column,
unless the run is tagged to allow it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import dagster as dg
import pytest

from feature_assets.features.factory import ALLOW_SCHEMA_CHANGE_TAG, build_feature_table
from feature_store.declarations import Column, Entity, Feature, Source, TableDocs, WindowedTable
from feature_store.offline.delta_tables import DeltaTables, SchemaChangeRefused
from feature_store.offline.ingest import raw_table_columns
from resources import DeltaLakeResource, SparkResource

EVENTS = Source(
    name="visits",
    table="raw.evolving_visits",
    landing_dir="visits",
    columns=(
        Column("user_id", "string", "Visitor"),
        Column("seconds", "double", "Time on the page"),
        Column("visited_at", "timestamp", "When (UTC)"),
    ),
    event_time="visited_at",
    required=("user_id", "seconds", "visited_at"),
)
V1 = WindowedTable(
    name="evolving.user_features",
    entity=Entity("user", {"user_id": "string"}),
    source=EVENTS,
    features=(Feature("visits", "count", windows=(2,)), Feature("seconds", "sum", "seconds", windows=(2,))),
    docs=TableDocs("Visits per user"),
)
V2 = replace(V1, features=(*V1.features, Feature("longest", "max", "seconds", windows=(2,))))
V3 = replace(V1, features=V1.features[:1])  # drops seconds_2d
DAYS = ("2025-01-01", "2025-01-02")


@pytest.fixture
def home(spark, tmp_path):
    tables = DeltaTables(spark, str(tmp_path / "delta"))
    tables.ensure(EVENTS.table, raw_table_columns(EVENTS), ["date"])
    rows = [("u1", 10.0, datetime(2025, 1, 1, 9)), ("u1", 30.0, datetime(2025, 1, 2, 9)),
            ("u2", 5.0, datetime(2025, 1, 2, 10))]  # fmt: skip
    df = spark.createDataFrame(rows, "user_id string, seconds double, visited_at timestamp")
    tables.replace_days(
        EVENTS.table, df.selectExpr("*", "to_date(visited_at) AS date"), date(2025, 1, 1), date(2025, 1, 2)
    )
    return tmp_path


def materialize(
    spec: WindowedTable, home, days: tuple[str, ...], tags: dict | None = None, raise_on_error=True
):
    defs = build_feature_table(spec)
    return dg.materialize(
        [defs.tiles, defs.snapshots],
        resources={"spark": SparkResource(master="local[2]"), "delta": DeltaLakeResource(root=str(home / "delta"))},
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1],
              **(tags or {})},
        raise_on_error=raise_on_error,
    )  # fmt: skip


def snapshot(spark, home) -> dict:
    rows = DeltaTables(spark, str(home / "delta")).read(V1.name).collect()
    return {(str(r["date"]), r["user_id"]): r.asDict() for r in rows}


def test_a_new_feature_adds_its_column_and_a_new_code_version(spark, home) -> None:
    assert V2.code_version != V1.code_version
    assert (
        build_feature_table(V2).tiles.code_versions_by_key
        != build_feature_table(V1).tiles.code_versions_by_key
    )
    # Docs do not change values: the same code version.
    assert replace(V1, docs=TableDocs("reworded")).code_version == V1.code_version

    materialize(V1, home, DAYS)
    result = materialize(V2, home, DAYS[1:])  # only the second day is backfilled
    changes = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata[
            "schema_changes"
        ].value
        for e in result.get_asset_materialization_events()
    }
    assert changes == {"user_daily_tiles": ["+t__max__seconds"], "user_features": ["+longest_2d"]}
    rows = snapshot(spark, home)
    assert rows[("2025-01-01", "u1")]["longest_2d"] is None  # not backfilled: null until it is
    assert rows[("2025-01-02", "u1")]["longest_2d"] == 30.0
    assert rows[("2025-01-02", "u2")]["longest_2d"] == 5.0
    assert rows[("2025-01-02", "u1")]["seconds_2d"] == 40.0  # the old features are untouched


def test_removing_a_feature_is_refused_unless_the_run_allows_it(spark, home) -> None:
    materialize(V1, home, DAYS)
    with pytest.raises(SchemaChangeRefused) as refused:
        materialize(V3, home, DAYS[1:])
    cause = refused.value
    # The tiles run first, so their column is the one named; the snapshot would refuse seconds_2d alike.
    assert "evolving.user_daily_tiles" in str(cause)
    assert "t__sum__seconds (double, no longer declared)" in str(cause)
    assert f"{ALLOW_SCHEMA_CHANGE_TAG}=t__sum__seconds" in str(cause)
    assert "seconds_2d" in snapshot(spark, home)[("2025-01-02", "u1")]  # nothing was lost

    materialize(V3, home, DAYS, tags={ALLOW_SCHEMA_CHANGE_TAG: "t__sum__seconds,seconds_2d"})
    rows = snapshot(spark, home)
    assert "seconds_2d" not in rows[("2025-01-02", "u1")]
    assert rows[("2025-01-02", "u1")]["visits_2d"] == 2


def test_retyping_a_column_is_refused_then_allowed(spark, tmp_path) -> None:
    tables = DeltaTables(spark, str(tmp_path))
    before = [Column("k", "string", ""), Column("v", "bigint", ""), Column("date", "date", "")]
    tables.ensure("t.retyped", before, ["date"])
    tables.replace_days("t.retyped", spark.createDataFrame([("a", 1, date(2025, 1, 1))], "k string, v bigint, date date"),
                        date(2025, 1, 1), date(2025, 1, 1))  # fmt: skip
    after = [Column("k", "string", ""), Column("v", "double", ""), Column("date", "date", "")]
    with pytest.raises(SchemaChangeRefused, match=r"v \(bigint -> double\)"):
        tables.ensure("t.retyped", after, ["date"], evolve=True)
    assert tables.ensure("t.retyped", after, ["date"], evolve=True, allow_changes=["v"]) == ["~v"]
    assert tables.read("t.retyped").schema["v"].dataType.simpleString() == "double"
    assert tables.ensure("t.retyped", after, ["date"], evolve=True) == []  # in line: nothing to do
