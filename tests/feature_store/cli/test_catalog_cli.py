"""The catalog: `featurestore tables` / `describe`, tags that persist in the Delta log, where a table is
published (read from the online store's descriptor), and the JVM-free reader the commands use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal

import pytest

from feature_store.cli.main import main
from feature_store.client.catalog import CatalogReader
from feature_store.client.core import FeatureStoreClient
from feature_store.client.validation import NotAFeatureTable
from feature_store.offline.delta_log import spark_type
from feature_store.offline.names import TableNotFound
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


def test_the_delta_log_reader_describes_tables_as_the_spark_client_does(catalog, spark):
    """CatalogReader (delta-rs, no JVM) and FeatureStoreClient (Spark) give the same FeatureTable,
    including a partitioned table with complex and narrow types, and list the same feature tables."""
    wide = spark.createDataFrame(
        [(7, "a", datetime(2025, 3, 2), 1, 2, [1.5], {"k": 3}, (1, "x"), Decimal("1.25"), date(2025, 3, 2))],
        "id int, region string, feature_ts timestamp, small smallint, tiny tinyint, scores array<double>, "
        "counts map<string,bigint>, nested struct<a:int,b:string>, price decimal(10,2), date date",
    )
    catalog.create_table("fs.catalog_wide", ["id", "region"], df=wide, timestamp_keys="feature_ts",
                         partition_columns="date", tags={"domain": "test"})  # fmt: skip
    catalog.set_feature_table_tag(TABLE, "team", "data-science")
    spark.createDataFrame([(1,)], "x int").write.format("delta").save(
        f"{catalog.settings.delta_root}/raw/not_features"
    )

    reader = CatalogReader(catalog.settings)
    assert reader.list_tables() == catalog.list_tables() == ["fs.catalog_customers", "fs.catalog_wide"]
    assert reader.list_tables("raw") == catalog.list_tables("raw") == []
    for name in (TABLE, "fs.catalog_wide"):
        assert reader.get_table(name) == catalog.get_table(name)
    with pytest.raises(NotAFeatureTable):
        reader.get_table("raw.not_features")
    with pytest.raises(TableNotFound, match="fs.nope"):
        reader.get_table("fs.nope")


def test_catalog_commands_start_no_jvm(catalog, home):
    """`tables`, `describe` and `sql` on a local root read the Delta log: no Spark, no java process."""
    env = {**os.environ, "FEATURE_STORE_HOME": str(home), "PYSPARK_SUBMIT_ARGS": "--this-would-fail-spark"}
    commands = {  # each command's answer, and where it prints it
        ("tables",): ("stdout", TABLE),
        ("describe", TABLE): ("stdout", "primary keys:   customer_id bigint"),
        ("sql", f"SHOW GRANTS ON TABLE {TABLE}"): ("stderr", "grant(s)"),
    }
    for command, (stream, answer) in commands.items():
        done = subprocess.run([sys.executable, "-m", "feature_store.cli.main", *command], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Spark" not in done.stderr and "ivy" not in done.stderr.lower(), done.stderr
        assert answer in getattr(done, stream), (command, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("delta", "spark_name"),
    [
        ("long", "bigint"), ("integer", "int"), ("short", "smallint"), ("byte", "tinyint"),
        ("decimal(10,2)", "decimal(10,2)"), ("timestamp_ntz", "timestamp_ntz"),
        ({"type": "array", "elementType": "long", "containsNull": True}, "array<bigint>"),
        ({"type": "map", "keyType": "string", "valueType": {"type": "array", "elementType": "integer"}},
         "map<string,array<int>>"),
        ({"type": "struct", "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "string"}]},
         "struct<a:bigint,b:string>"),
    ],
)  # fmt: skip
def test_delta_types_read_as_spark_names_them(delta, spark_name):
    assert spark_type(delta) == spark_name
