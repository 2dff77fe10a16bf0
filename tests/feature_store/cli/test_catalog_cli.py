"""The catalog: `featurestore tables` / `describe`, tags that persist in the Delta log, and where a
table is published (read from the online store's descriptor)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from feature_store.cli.main import main
from feature_store.client.core import FeatureStoreClient
from feature_store.runtime.settings import Settings

TABLE = "fs.catalog_customers"


@pytest.fixture
def catalog(spark, home, monkeypatch) -> FeatureStoreClient:
    monkeypatch.setenv("FEATURE_STORE_HOME", str(home))
    client = FeatureStoreClient(spark=spark, settings=Settings.from_env())
    df = spark.createDataFrame(
        [(1, datetime(2025, 3, 2), 2.5)], "customer_id bigint, feature_ts timestamp, spend double"
    )
    client.create_table(
        TABLE, "customer_id", df=df, timestamp_keys="feature_ts", description="Spend per customer"
    )
    return client


def test_tags_persist_and_describe_shows_the_catalog(catalog, spark, capsys):
    catalog.set_feature_table_tag(TABLE, "team", "data-science")
    catalog.set_feature_table_tag(TABLE, "data_owner", "alice")
    catalog.delete_feature_table_tag(TABLE, "data_owner")
    fresh = FeatureStoreClient(spark=spark, settings=Settings.from_env())  # read back from the Delta log
    assert fresh.get_table(TABLE).tags == {"team": "data-science"}
    assert fresh.get_table(TABLE).published_to == []

    catalog.publish_table(TABLE)
    published = fresh.get_table(TABLE).published_to
    assert len(published) == 1 and published[0]["store"].startswith("sqlite") and published[0]["rows"] == 1

    assert main(["describe", TABLE]) == 0
    out = capsys.readouterr().out
    for fragment in ("fs.catalog_customers", "Spend per customer", "customer_id bigint", "feature_ts",
                     "team=data-science", "published to:   sqlite", "spend", "double"):  # fmt: skip
        assert fragment in out, f"{fragment!r} not in:\n{out}"
    assert main(["describe", TABLE, "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["primary_keys"] == ["customer_id"] and described["version"] >= 0

    assert main(["tables"]) == 0
    assert TABLE in capsys.readouterr().out


def test_describe_of_an_unknown_table_is_an_error(catalog, capsys):
    assert main(["describe", "fs.nope"]) == 1
    assert "fs.nope" in capsys.readouterr().err
