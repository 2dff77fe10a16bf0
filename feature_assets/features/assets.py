"""The feature tables of this project, each built from its declaration."""

from feature_assets.features.factory import build_feature_table
from feature_store.tables import CUSTOMER_FEATURES, PRODUCT_FEATURES

customer_features = build_feature_table(CUSTOMER_FEATURES)
product_features = build_feature_table(PRODUCT_FEATURES)

feature_tables = [customer_features, product_features]
