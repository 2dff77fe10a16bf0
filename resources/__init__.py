"""Dagster resources: configuration that constructs engine objects. No logic lives here."""

from resources.delta import DeltaLakeResource
from resources.landing import BlobLandingZoneResource, LandingZoneResource, LocalLandingZoneResource
from resources.spark import SparkResource

__all__ = [
    "BlobLandingZoneResource",
    "DeltaLakeResource",
    "LandingZoneResource",
    "LocalLandingZoneResource",
    "SparkResource",
]
