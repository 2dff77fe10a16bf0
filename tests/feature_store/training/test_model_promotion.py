"""Promotion moves the champion alias and keeps the Production stage in step with it, on both tracking
stores the deployments use: SQLite (local) and PostgreSQL (azure), whose SQL differs (a str version
broke the stage transition on PostgreSQL only)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from feature_store.training.models import promote


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking_uri(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        from tests.services import postgres_database

        with postgres_database(request.getfixturevalue("postgres_server"), "promotion") as url:
            yield url


def stages(client: MlflowClient) -> dict[str, str]:
    return {str(v.version): v.current_stage for v in client.search_model_versions("name='m'")}


def test_promotion_moves_alias_and_stage_together(tracking_uri):
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model("m")
    for i in range(3):
        client.create_model_version("m", f"file:///models/{i}")
    promote(client, "m", "2", "champion")
    assert client.get_model_version_by_alias("m", "champion").version in ("2", 2)
    assert stages(client) == {"1": "None", "2": "Production", "3": "None"}
    promote(client, "m", "3", "champion")  # the previous champion's stage is archived
    assert str(client.get_model_version_by_alias("m", "champion").version) == "3"
    assert stages(client) == {"1": "None", "2": "Archived", "3": "Production"}
