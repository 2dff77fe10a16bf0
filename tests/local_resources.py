"""The local profile's resources pointed at one data dir: for fixtures, and for tests that run the graph
on more than one data dir (tests/feature_assets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resources_for(home: Path) -> dict[str, Any]:
    from resources import (
        DeltaLakeResource,
        LocalLandingZoneResource,
        MLflowResource,
        SparkResource,
        SqliteOnlineStoreResource,
    )

    return {
        "spark": SparkResource(master="local[2]"),
        "delta": DeltaLakeResource(root=str(home / "delta")),
        "landing": LocalLandingZoneResource(root=str(home / "landing")),
        "online_store": SqliteOnlineStoreResource(path=str(home / "online.db")),
        "mlflow_tracking": MLflowResource(
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}", artifact_root=(home / "mlartifacts").as_uri()
        ),
    }
