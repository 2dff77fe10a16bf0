from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from dagster_azure.blob import (
    AzureBlobStorageDefaultCredential,
    AzureBlobStorageKeyCredential,
    AzureBlobStorageResource,
)
from pydantic import Field

from feature_store.offline.landing import LandingZone, LocalLandingZone
from feature_store.runtime import variables as V


class LandingZoneResource(dg.ConfigurableResource):
    """Where raw daily files land. Assets and sensors depend on this type only."""

    def get_landing_zone(self) -> LandingZone:
        raise NotImplementedError


class LocalLandingZoneResource(LandingZoneResource):
    root: str = Field(description="Folder holding <source>/date=YYYY-MM-DD/*.parquet")

    def get_landing_zone(self) -> LandingZone:
        return LocalLandingZone(self.root)


class BlobLandingZoneResource(LandingZoneResource):
    """An Azure Blob container that Spark reads in place (abfss://, wasbs://, or wasb:// on Azurite)."""

    storage: AzureBlobStorageResource
    container: str
    prefix: str = ""
    spark_scheme: str = Field(
        default="abfss", description="How Spark opens the blobs: abfss (ADLS Gen2 / ABFS) or wasbs"
    )

    def get_landing_zone(self) -> LandingZone:
        from feature_store.offline.landing_blob import BlobLandingZone

        # get_client is a context manager that closes the connection pool on exit, so the
        # landing zone opens one per operation instead of holding one open.
        return BlobLandingZone(self.storage.get_client, self.container, self.prefix, self.spark_scheme)


def blob_landing_resource(env: Mapping[str, str] | None = None) -> BlobLandingZoneResource:
    """The azure profile's landing zone: AZURE_BLOB_ACCOUNT_URL with its account key
    (AZURE_BLOB_ACCOUNT_KEY, through dg.EnvVar so it never shows in Dagster's UI) when set, else
    DefaultAzureCredential (managed or workload identity)."""
    credential = (
        AzureBlobStorageKeyCredential(key=dg.EnvVar(V.BLOB_ACCOUNT_KEY.name))
        if V.BLOB_ACCOUNT_KEY.is_set(env)
        else AzureBlobStorageDefaultCredential()
    )
    return BlobLandingZoneResource(
        storage=AzureBlobStorageResource(
            account_url=V.BLOB_ACCOUNT_URL.value(env, "azure"), credential=credential
        ),
        container=V.LANDING_CONTAINER.value(env, "azure"),
        prefix=V.LANDING_PREFIX.value(env, "azure") or "",
    )
