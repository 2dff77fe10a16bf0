from __future__ import annotations

import dagster as dg
from dagster_azure.blob import AzureBlobStorageResource
from pydantic import Field

from feature_store.landing import LandingZone, LocalLandingZone


class LandingZoneResource(dg.ConfigurableResource):
    """Where raw daily files land. Assets and sensors depend on this type only."""

    def get_landing_zone(self) -> LandingZone:
        raise NotImplementedError


class LocalLandingZoneResource(LandingZoneResource):
    root: str = Field(description="Folder holding <source>/date=YYYY-MM-DD/*.parquet")

    def get_landing_zone(self) -> LandingZone:
        return LocalLandingZone(self.root)


class BlobLandingZoneResource(LandingZoneResource):
    """An Azure Blob container; files are downloaded to staging_dir for Spark to read."""

    storage: AzureBlobStorageResource
    container: str
    prefix: str = ""
    staging_dir: str = Field(description="Local folder where a day's blobs are staged for Spark")

    def get_landing_zone(self) -> LandingZone:
        from feature_store.landing_blob import BlobLandingZone

        # get_client is a context manager that closes the connection pool on exit, so the
        # landing zone opens one per operation instead of holding one open.
        return BlobLandingZone(self.storage.get_client, self.container, self.prefix, self.staging_dir)
