"""Old module names, kept importable: models logged to MLflow before the engine was grouped by concern
pickle their wrapper and feature lookups by module path (`feature_store.models.FeatureStoreModel`) and
name on-demand functions as `module:function` (`feature_store.tables:spend_ratio`). Importing an old
name gives the module it moved to, so such models keep loading and scoring."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

MOVED = {
    "feature_store.delta_tables": "feature_store.offline.delta_tables",
    "feature_store.feature_tables": "feature_store.offline.feature_tables",
    "feature_store.ingest": "feature_store.offline.ingest",
    "feature_store.landing": "feature_store.offline.landing",
    "feature_store.landing_blob": "feature_store.offline.landing_blob",
    "feature_store.quality": "feature_store.offline.quality",
    "feature_store.lookups": "feature_store.training.lookups",
    "feature_store.models": "feature_store.training.models",
    "feature_store.pit_join": "feature_store.training.pit_join",
    "feature_store.online_sync": "feature_store.online.sync",
    "feature_store.drift": "feature_store.monitoring.drift",
    "feature_store.reports": "feature_store.monitoring.reports",
    "feature_store.settings": "feature_store.runtime.settings",
    "feature_store.variables": "feature_store.runtime.variables",
    "feature_store.secrets": "feature_store.runtime.secrets",
    "feature_store.spark": "feature_store.runtime.spark",
    "feature_store.timeutil": "feature_store.runtime.timeutil",
    "feature_store.client_online": "feature_store.client.online",
    "feature_store.client_training": "feature_store.client.training",
    "feature_store.client_validation": "feature_store.client.validation",
    "feature_store.tables": "examples.churn.repo",
    "feature_store.churn": "examples.churn.model",
    "feature_store.generate": "examples.churn.generate",
}
# `feature_store.training` and `feature_store.client` were modules and are packages now; what a pickle
# names in them (TrainingSet, FeatureStoreClient) resolves through their modules' new homes below.


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path, target=None):  # noqa: ANN001 (the importlib protocol)
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec) -> ModuleType:  # noqa: ANN001
        module = importlib.import_module(MOVED[spec.name])
        sys.modules[spec.name] = module
        return module

    def exec_module(self, module: ModuleType) -> None:
        pass  # the module it moved to is already executed


def install() -> None:
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
