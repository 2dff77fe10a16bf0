"""Models logged before the engine was grouped by concern name its old modules: the wrapper and lookups
are pickled by module path, on-demand functions saved as `module:function`. The old names still import
(feature_store/_moved.py), so those models load and score."""

from __future__ import annotations

import importlib
import pickle

import pytest

from feature_store._moved import MOVED
from feature_store.declarations.functions import FeatureFunction
from feature_store.training.lookups import FeatureLookup
from feature_store.training.models import FeatureStoreModel


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_name_imports_the_module_it_moved_to(old: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(MOVED[old])


def test_a_pickle_naming_old_modules_loads_the_classes_where_they_live_now() -> None:
    # Protocol 0 spells a global as "c<module>\n<name>\n": what a pickle from before the move holds.
    assert pickle.loads(b"cfeature_store.models\nFeatureStoreModel\n.") is FeatureStoreModel
    assert pickle.loads(b"cfeature_store.lookups\nFeatureLookup\n.") is FeatureLookup


def test_an_on_demand_function_saved_under_its_old_module_still_resolves() -> None:
    function = FeatureFunction.from_spec(
        {"name": "avg_spend_7d_vs_30d", "function": "feature_store.tables:spend_ratio", "dtype": "double",
         "inputs": {"recent": "avg_spend_7d", "baseline": "avg_spend_30d"}}  # fmt: skip
    )
    assert function({"avg_spend_7d": 3.0, "avg_spend_30d": 2.0}) == 1.5
