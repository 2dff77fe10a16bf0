"""Child process of test_second_repo_graph: with FEATURE_STORE_REPO=tests.repos.stores, land two days of
orders, materialize the repo's whole generated graph (raw, tiles, windowed snapshots, the transform,
online syncs) and print what the tables hold as JSON. (The definitions read FEATURE_STORE_REPO when
they load, so a process serves one repo.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dagster as dg
import pyarrow as pa

from tests.landing_files import ts, write_landing

DAYS = ("2025-01-01", "2025-01-02")
SCHEMA = pa.schema([("order_id", pa.string()), ("store_id", pa.int64()), ("region", pa.string()),
                    ("channel", pa.string()), ("amount", pa.float64()), ("ordered_at", pa.timestamp("us", tz="UTC"))])  # fmt: skip


def order(oid: str, store: int, region: str, channel: str, amount: float, at: str) -> dict:
    return {"order_id": oid, "store_id": store, "region": region, "channel": channel, "amount": amount,
            "ordered_at": ts(at)}  # fmt: skip


def main(home: Path) -> dict:
    from feature_assets.definitions import all_assets, all_checks
    from feature_store.offline.delta_tables import DeltaTables
    from resources import (
        DeltaLakeResource,
        LocalLandingZoneResource,
        MLflowResource,
        SparkResource,
        SqliteOnlineStoreResource,
    )

    landing = home / "landing"
    write_landing(landing, "orders", DAYS[0], [
        order("o1", 1, "eu", "web", 10.0, "2025-01-01 09:00"),
        order("o2", 1, "eu", "store", 30.0, "2025-01-01 10:00"),
        order("o3", 7, "us", "web", 5.0, "2025-01-01 23:59:59"),
    ], SCHEMA)  # fmt: skip
    write_landing(landing, "orders", DAYS[1], [
        order("o4", 1, "eu", "web", 20.0, "2025-01-02 00:00"),
        order("o5", 1, "us", "store", 8.0, "2025-01-02 12:00"),  # same store id, another region: another key
    ], SCHEMA)  # fmt: skip
    resources = {
        "spark": SparkResource(master="local[2]"),
        "delta": DeltaLakeResource(root=str(home / "delta")),
        "landing": LocalLandingZoneResource(root=str(landing)),
        "online_store": SqliteOnlineStoreResource(path=str(home / "online.db")),
        "mlflow_tracking": MLflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}"),
    }
    graph = ["raw_orders", "store_order_daily_tiles", "store_order_features", "store_share_features",
             "store_order_features_online", "store_share_features_online"]  # fmt: skip
    result = dg.materialize([*all_assets, *all_checks], selection=graph, resources=resources,
                            tags={"dagster/asset_partition_range_start": DAYS[0],
                                  "dagster/asset_partition_range_end": DAYS[1]})  # fmt: skip
    tables = DeltaTables(resources["spark"].get_session(), str(home / "delta"))

    def rows(name: str) -> list[list[str]]:
        return sorted([str(v) for v in r] for r in tables.read(name).collect())

    with resources["online_store"].open() as store:
        online = store.read_table("stores.store_share_features", [(1, "eu"), (7, "us"), (1, "us")]).rows
    return {
        "success": result.success,
        "checks": {
            f"{e.asset_key.to_user_string()}.{e.check_name}": e.passed
            for e in result.get_asset_check_evaluations()
        },
        "columns": tables.read("stores.store_order_features").columns,
        "features": rows("stores.store_order_features"),
        "shares": rows("stores.store_share_features"),
        "online": [None if r is None else {k: str(v) for k, v in r.items()} for r in online],
    }


if __name__ == "__main__":
    home, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.write_text(json.dumps(main(home)))
