"""FeatureStoreClient.publish_table and get_online_features on the embedded store (the other stores run
the same publish path in tests/online): renames, defaults, missing keys, composite keys, types, and
clear errors for bad lookups and entity rows."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from feature_store import FeatureLookup, FeatureStoreClient, Settings, SqliteStoreSpec
from feature_store.client.core import TableNotFound
from feature_store.online.lookup import LookupInputError
from feature_store.online.specs import AzureCosmosDBSpec
from feature_store.runtime.secrets import SecretError

T1, T2 = "2025-01-02 00:00:00", "2025-01-03 00:00:00"


@pytest.fixture
def fe(spark, tmp_path: Path) -> FeatureStoreClient:
    client = FeatureStoreClient(
        spark=spark, settings=Settings.from_env({"FEATURE_STORE_HOME": str(tmp_path)})
    )
    customers = spark.createDataFrame(
        [
            (1, T1, 3, 10.5, "gold", T1),
            (1, T2, 4, float("nan"), "gold", T2),  # the latest row of key 1
            (2, T1, 0, None, None, T1),
        ],
        "customer_id bigint, ts string, visits bigint, spend double, tier string, seen string",
    ).withColumns({"ts": F.col("ts").cast("timestamp"), "seen": F.col("seen").cast("timestamp")})
    client.create_table("fs.customers", ["customer_id"], customers, timestamp_keys="ts")
    stores = spark.createDataFrame(
        [("DE", 7, T1, 1.5), ("FR", 7, T1, 2.5)], "country string, store_id int, ts string, rating double"
    ).withColumn("ts", F.col("ts").cast("timestamp"))
    client.create_table("fs.stores", ["country", "store_id"], stores, timestamp_keys="ts")
    yield client
    client.close()


def test_publish_writes_each_keys_latest_row_and_lookups_read_them(fe):
    result = fe.publish_table("fs.customers")
    assert (result.rows, result.written, result.skipped_older) == (2, 2, 0)
    fe.publish_table("fs.stores")
    lookups = [
        FeatureLookup(
            "fs.customers",
            "cid",
            rename_outputs={"visits": "customer_visits"},
            default_values={"visits": -1, "tier": "none"},
        ),
        FeatureLookup("fs.stores", ["cc", "sid"], feature_names=["rating"]),
    ]
    out = fe.get_online_features(
        lookups,
        [
            {"cid": 1, "cc": "DE", "sid": 7},
            {"cid": 2, "cc": "FR", "sid": 7.0},  # 7.0: JSON clients send integral floats
            {"cid": 99, "cc": "IT", "sid": 1},
            {"cid": None, "cc": "DE", "sid": 7},
        ],
    )
    first = out.rows[0]
    assert first["customer_visits"] == 4 and math.isnan(first["spend"]) and first["tier"] == "gold"
    assert first["seen"] == datetime(2025, 1, 3, tzinfo=UTC) and first["rating"] == 1.5
    assert out.feature_ts[0] == {
        "fs.customers": datetime(2025, 1, 3, tzinfo=UTC),
        "fs.stores": datetime(2025, 1, 2, tzinfo=UTC),
    }
    assert out.rows[1] == {
        "customer_visits": 0,
        "spend": None,
        "tier": None,
        "seen": datetime(2025, 1, 2, tzinfo=UTC),
        "rating": 2.5,
    }
    assert out.rows[2] == {"customer_visits": -1, "spend": None, "tier": "none", "seen": None, "rating": None}
    assert out.missing == [[], [], ["fs.customers", "fs.stores"], ["fs.customers"]]
    assert out.feature_ts[2] == {"fs.customers": None, "fs.stores": None}
    assert list(out.to_pandas().columns) == ["customer_visits", "spend", "tier", "seen", "rating"]


def test_publish_is_monotonic_and_overwrite_replaces(fe, spark, tmp_path):
    fe.publish_table("fs.customers")
    older_only = fe.publish_table("fs.customers", filter_condition=f"ts = '{T1}'")
    assert (older_only.written, older_only.skipped_older) == (1, 1)  # key 1 keeps its newer row
    lookup = [FeatureLookup("fs.customers", "customer_id", feature_names="visits")]
    assert fe.get_online_features(lookup, [{"customer_id": 1}]).rows == [{"visits": 4}]
    fe.publish_table("fs.customers", filter_condition=f"ts = '{T1}'", mode="overwrite")
    assert fe.get_online_features(lookup, [{"customer_id": 1}]).rows == [{"visits": 3}]


def test_publish_to_an_explicit_store_and_a_subset_of_features(fe, tmp_path):
    spec = SqliteStoreSpec(str(tmp_path / "elsewhere.db"))
    fe.publish_table("fs.customers", online_store_spec=spec, features=["visits"])
    out = fe.get_online_features([FeatureLookup("fs.customers", "customer_id")], [{"customer_id": 2}], spec)
    assert out.rows == [{"visits": 0, "spend": None, "tier": None, "seen": None}]  # only visits was published
    assert fe.get_online_features(
        [FeatureLookup("fs.customers", "customer_id")], [{"customer_id": 2}]
    ).missing == [["fs.customers"]]


def test_azure_cosmos_spec_reads_its_key_from_the_environment(monkeypatch):
    with pytest.raises(SecretError, match="KEYVAULT_COSMOS_KEY_AUTHORIZATION_KEY, which is not set"):
        AzureCosmosDBSpec(
            account_uri="https://acct.documents.azure.com:443/",
            write_secret_prefix="keyvault/cosmos-key",
            read_secret_prefix="keyvault/cosmos-key",
            database_name="features",
            container_name="customer_features",
        )
    monkeypatch.setenv("KEYVAULT_COSMOS_KEY_AUTHORIZATION_KEY", "s3cret")
    spec = AzureCosmosDBSpec(
        account_uri="https://acct.documents.azure.com:443/",
        write_secret_prefix="keyvault/cosmos-key",
        read_secret_prefix="keyvault/cosmos-key",
        database_name="features",
        container_name="customer_features",
    )
    assert spec.describe() == "cosmos https://acct.documents.azure.com:443 features/customer_features"
    assert "s3cret" not in repr(spec) and spec.key == "s3cret"


@pytest.mark.parametrize(
    "lookup, error, message",
    [
        (FeatureLookup("fs.nope", "cid"), TableNotFound, "fs.nope"),
        (
            FeatureLookup("fs.customers", "cid", feature_names=["visits", "age"]),
            ValueError,
            r"unknown features \['age'\]",
        ),
        (FeatureLookup("fs.stores", "sid"), ValueError, "one column per primary key"),
        (
            FeatureLookup("fs.customers", "cid", feature_names="visits", default_values={"tier": "x"}),
            ValueError,
            r"default_values names features that are not looked up: \['tier'\]",
        ),
    ],
)
def test_bad_lookups_are_refused_with_the_reason(fe, lookup, error, message):
    with pytest.raises(error, match=message):
        fe.get_online_features([lookup], [{"cid": 1}])


def test_bad_entity_rows_are_refused_with_the_reason(fe):
    fe.publish_table("fs.customers")
    lookup = [FeatureLookup("fs.customers", "cid")]
    with pytest.raises(LookupInputError, match="entity row 1 has no column 'cid'"):
        fe.get_online_features(lookup, [{"cid": 1}, {"customer": 2}])
    with pytest.raises(LookupInputError, match="key column 'cid' must be an integer, got str '1'"):
        fe.get_online_features(lookup, [{"cid": "1"}])
    with pytest.raises(ValueError, match="output column 'rating' comes from both"):
        fe.get_online_features(
            [FeatureLookup("fs.stores", ["c", "s"]), FeatureLookup("fs.stores", ["c2", "s2"])], [{}]
        )


def test_publish_refuses_unknown_features_and_non_specs(fe):
    with pytest.raises(ValueError, match=r"unknown features \['age'\]"):
        fe.publish_table("fs.customers", features=["age"])
    with pytest.raises(TypeError, match="online_store_spec must be an online store spec"):
        fe.publish_table("fs.customers", online_store_spec="redis://localhost")
