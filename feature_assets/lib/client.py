"""The feature store client an asset gets on its run's resources."""

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from feature_store.client.core import FeatureStoreClient
from feature_store.runtime import variables as V
from feature_store.runtime.settings import Settings
from resources import DeltaLakeResource, MLflowResource, SparkResource


def run_settings(delta: DeltaLakeResource, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of the data dir the run's tables live in.

    The run's Delta root decides: when it is a local folder other than the environment's, its parent is the
    run's data dir, so grants, access.toml and the audit log sit beside the tables the run writes instead of
    in whatever data dir the environment (or its `.featurestore` default) names. Variables set explicitly
    (FEATURE_STORE_GOVERNANCE_URI, FEATURE_STORE_ACCESS_CONFIG) still win."""
    env = dict(os.environ if environ is None else environ)
    settings = Settings.from_env(env)
    root = delta.root.rstrip("/")
    if root != settings.delta_root and "://" not in root.removeprefix("file://"):
        home = Path(root.removeprefix("file://")).expanduser().resolve().parent
        settings = Settings.from_env({**env, V.HOME.name: str(home)})
    return replace(settings, delta_root=root)


def feature_store_client(
    spark: SparkResource, delta: DeltaLakeResource, mlflow_tracking: MLflowResource | None = None
) -> FeatureStoreClient:
    """The client on the run's resources: its Delta root, the grants of that data dir (run_settings) and,
    for log_model/score_batch, its MLflow."""
    settings = run_settings(delta)
    if mlflow_tracking is not None:
        settings = replace(settings, mlflow_uri=mlflow_tracking.tracking_uri)
    return FeatureStoreClient(spark.get_session(), settings)
