"""The feature tables of this project, each built from its declaration."""

from feature_assets.automation import SNAPSHOT_CONDITION, TILES_CONDITION
from feature_assets.features.factory import build_feature_table
from feature_assets.repo import WINDOWED_TABLES

feature_tables = [
    build_feature_table(spec, tiles_condition=TILES_CONDITION, snapshot_condition=SNAPSHOT_CONDITION)
    for spec in WINDOWED_TABLES
]
