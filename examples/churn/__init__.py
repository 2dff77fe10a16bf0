"""The churn example: a feature repo (repo.py), its data generator, its model and the Dagster assets that
train, promote and score it. `make demo` runs it; FEATURE_STORE_REPO defaults to it."""
