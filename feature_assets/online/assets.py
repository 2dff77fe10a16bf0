"""Every feature table, published daily to the deployment's online store."""

from feature_assets.automation import ONLINE_CONDITION
from feature_assets.online.factory import build_online_table
from feature_store.settings import Settings
from feature_store.tables import CUSTOMER_FEATURES, PRODUCT_FEATURES

online_tables = [
    build_online_table(spec, Settings.from_env().online_store, ONLINE_CONDITION)
    for spec in (CUSTOMER_FEATURES, PRODUCT_FEATURES)
]
