"""The feature store engine and client. Usable without Dagster: nothing here imports it.

The names below load on first use, so `feature_store.declarations` (what a feature repo imports) needs
neither Spark nor Dagster."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from feature_store import _moved

_moved.install()  # models logged before the engine's regrouping name its old modules

_EXPORTS = {
    "FeatureStoreClient": "feature_store.client.core",
    "FeatureTable": "feature_store.client.core",
    "FeatureLookup": "feature_store.training.lookups",
    "AzureCosmosDBSpec": "feature_store.online.specs",
    "CosmosStoreSpec": "feature_store.online.specs",
    "RedisStoreSpec": "feature_store.online.specs",
    "SqliteStoreSpec": "feature_store.online.specs",
    "Settings": "feature_store.runtime.settings",
}
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

if TYPE_CHECKING:
    from feature_store.client.core import FeatureStoreClient, FeatureTable
    from feature_store.online.specs import AzureCosmosDBSpec, CosmosStoreSpec, RedisStoreSpec, SqliteStoreSpec
    from feature_store.runtime.settings import Settings
    from feature_store.training.lookups import FeatureLookup


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'feature_store' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
