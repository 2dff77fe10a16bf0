"""The feature store engine and client. Usable without Dagster: nothing here imports it."""

from feature_store.client import FeatureStoreClient, FeatureTable
from feature_store.settings import Settings

__all__ = ["FeatureStoreClient", "FeatureTable", "Settings"]
