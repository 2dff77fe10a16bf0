"""Features as code: what a feature repo declares (importable without Spark or Dagster).

    from feature_store.declarations import Column, Entity, Feature, Repo, Source, TableDocs, WindowedTable

Every declaration is a frozen dataclass validated when it is built; a mistake raises DeclarationError
naming the declaration and the field.
"""

from feature_store.declarations.errors import DeclarationError
from feature_store.declarations.features import AGGREGATIONS, HLL_RELATIVE_STANDARD_ERROR, Feature
from feature_store.declarations.functions import FeatureFunction
from feature_store.declarations.repo import Repo, load_repo
from feature_store.declarations.sources import Column, Entity, Source
from feature_store.declarations.tables import TableDocs, TransformTable, WindowedTable

__all__ = [
    "AGGREGATIONS",
    "HLL_RELATIVE_STANDARD_ERROR",
    "Column",
    "DeclarationError",
    "Entity",
    "Feature",
    "FeatureFunction",
    "Repo",
    "Source",
    "TableDocs",
    "TransformTable",
    "WindowedTable",
    "load_repo",
]
