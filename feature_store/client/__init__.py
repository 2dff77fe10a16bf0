"""The Python client (Databricks-style `FeatureStoreClient`): tables, training sets, models, online publish."""
