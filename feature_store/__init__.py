"""The feature store engine and client. Usable without Dagster: nothing here imports it."""

from feature_store.client import FeatureStoreClient, FeatureTable
from feature_store.lookups import FeatureLookup
from feature_store.online.specs import AzureCosmosDBSpec, CosmosStoreSpec, RedisStoreSpec, SqliteStoreSpec
from feature_store.settings import Settings

__all__ = [
    "AzureCosmosDBSpec",
    "CosmosStoreSpec",
    "FeatureLookup",
    "FeatureStoreClient",
    "FeatureTable",
    "RedisStoreSpec",
    "Settings",
    "SqliteStoreSpec",
]
