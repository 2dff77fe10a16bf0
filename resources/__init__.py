"""Dagster resources: configuration that constructs engine objects. No logic lives here."""

from resources.delta import DeltaLakeResource
from resources.landing import BlobLandingZoneResource, LandingZoneResource, LocalLandingZoneResource
from resources.mlflow_tracking import MLflowResource
from resources.online import (
    CosmosOnlineStoreResource,
    OnlineStoreResource,
    RedisOnlineStoreResource,
    SqliteOnlineStoreResource,
)
from resources.spark import SparkResource

__all__ = [
    "BlobLandingZoneResource",
    "CosmosOnlineStoreResource",
    "DeltaLakeResource",
    "LandingZoneResource",
    "LocalLandingZoneResource",
    "MLflowResource",
    "OnlineStoreResource",
    "RedisOnlineStoreResource",
    "SparkResource",
    "SqliteOnlineStoreResource",
]
