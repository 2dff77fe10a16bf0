from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_store.training.models import configure_mlflow


class MLflowResource(dg.ConfigurableResource):
    """The MLflow tracking server and model registry (an embedded SQLite store by default)."""

    tracking_uri: str = Field(description="e.g. sqlite:///<home>/mlflow/mlflow.db or https://<mlflow server>")
    artifact_root: str | None = Field(default=None, description="Artifact location of a new experiment")
    experiment: str = "feature_store"
    ui_url: str | None = Field(default=None, description="Base URL of the MLflow UI, for links in metadata")

    def configure(self) -> str:
        """Point the mlflow module at this server; returns the experiment id."""
        return configure_mlflow(self.tracking_uri, self.artifact_root, self.experiment)

    def client(self):
        import mlflow

        self.configure()
        return mlflow.MlflowClient()
