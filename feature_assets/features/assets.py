"""The repo's feature tables, each built from its declaration: windowed tables (tiles and snapshots)
and transform tables (one snapshot asset), with their checks."""

from feature_assets.automation import SNAPSHOT_CONDITION, TILES_CONDITION
from feature_assets.features.factory import build_feature_table, build_transform_table
from feature_assets.repo import REPO, TABLES
from feature_store.declarations import WindowedTable

feature_tables = [
    build_feature_table(spec, tiles_condition=TILES_CONDITION, snapshot_condition=SNAPSHOT_CONDITION)
    if isinstance(spec, WindowedTable)
    else build_transform_table(spec, REPO)
    for spec in TABLES
]
