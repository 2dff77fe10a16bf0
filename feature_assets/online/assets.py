"""Every feature table, published daily to the deployment's online store."""

from feature_assets.automation import ONLINE_CONDITION
from feature_assets.online.factory import build_online_table
from feature_assets.repo import TABLES
from feature_store.runtime.settings import Settings

online_tables = [
    build_online_table(spec, Settings.from_env().online_store, ONLINE_CONDITION)
    for spec in TABLES
]
