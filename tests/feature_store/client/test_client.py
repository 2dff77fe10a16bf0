"""FeatureStoreClient on real Spark + Delta: the seed calls as written, upserts, the catalog round trip,
and every refused call leaving the table at the same Delta version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType, TimestampType

from examples.churn.repo import CUSTOMER_FEATURES, TRANSACTIONS
from feature_store import FeatureStoreClient, Settings
from feature_store.client.core import (
    DuplicateKeys,
    Feature,
    MissingColumns,
    NotAFeatureTable,
    NullKeys,
    SchemaMismatch,
    TableAlreadyExists,
    TableNotFound,
)
from feature_store.offline.delta_tables import DeltaTables
from feature_store.offline.feature_tables import catalog_properties
from feature_store.offline.windowed import tile_schema

NAME = "feature_store.spend"
T1, T2 = "2025-01-02 00:00:00", "2025-01-03 00:00:00"
ROWS = [("c1", T1, 1.0, 10), ("c2", T1, 2.0, 20)]

# The seed's SQL, verbatim (reference/feature-store-architecture.txt, "Offline Store").
SEED_SQL = """
    SELECT
        customer_id,
        COUNT(*) as transaction_count_30d,
        SUM(amount) as total_spend_30d,
        AVG(amount) as avg_transaction_30d,
        MAX(transaction_date) as last_transaction_date,
        current_timestamp() as update_timestamp
    FROM transactions
    WHERE transaction_date >= current_date() - INTERVAL 30 DAYS
    GROUP BY customer_id
"""


def make_client(spark: SparkSession, home: Path) -> FeatureStoreClient:
    return FeatureStoreClient(spark=spark, settings=Settings.from_env({"FEATURE_STORE_HOME": str(home)}))


def spend(spark: SparkSession, rows, ddl: str = "customer_id string, ts string, spend double, visits bigint"):
    """Timestamps go in as strings and are cast by Spark (UTC session), not by Python's local zone."""
    return spark.createDataFrame(rows, ddl).withColumn("ts", F.col("ts").cast("timestamp"))


def rows_of(df: DataFrame) -> list[tuple]:
    return sorted(tuple(r) for r in df.withColumn("ts", F.col("ts").cast("string")).collect())


@pytest.fixture
def client(spark: SparkSession, tmp_path: Path) -> FeatureStoreClient:
    return make_client(spark, tmp_path)


@pytest.fixture
def spend_table(client: FeatureStoreClient, spark: SparkSession) -> str:
    client.create_table(
        NAME, ["customer_id"], df=spend(spark, ROWS), timestamp_keys="ts", description="Spend"
    )
    return NAME


def test_seed_create_table_runs_as_written(
    client: FeatureStoreClient, spark: SparkSession, tmp_path: Path
) -> None:
    spark.sql(
        """SELECT * FROM VALUES
             ('c1', 10.0, current_timestamp() - INTERVAL 1 DAYS),
             ('c1', 30.0, current_timestamp() - INTERVAL 3 DAYS),
             ('c2', 5.0, current_timestamp() - INTERVAL 2 DAYS),
             ('c3', 7.0, current_timestamp() - INTERVAL 40 DAYS)
           AS t(customer_id, amount, transaction_date)"""
    ).createOrReplaceTempView("transactions")
    try:
        fe = client
        customer_features = spark.sql(SEED_SQL)
        fe.create_table(
            name="feature_store.customer_features",
            primary_keys=["customer_id"],
            timestamp_keys=["update_timestamp"],
            df=customer_features,
            description="Customer transaction features - 30 day window",
        )
    finally:
        spark.catalog.dropTempView("transactions")

    table = client.get_table("feature_store.customer_features")
    assert table.path == str(tmp_path / "delta" / "feature_store" / "customer_features")
    assert (table.primary_keys, table.timestamp_keys) == (["customer_id"], ["update_timestamp"])
    assert table.description == "Customer transaction features - 30 day window"
    assert table.feature_names == [
        "transaction_count_30d",
        "total_spend_30d",
        "avg_transaction_30d",
        "last_transaction_date",
    ]
    assert (table.version, table.tags, table.owners, table.partition_columns) == (0, {}, [], [])
    rows = client.read_table("feature_store.customer_features").orderBy("customer_id").collect()
    assert [(r.customer_id, r.transaction_count_30d, r.total_spend_30d) for r in rows] == [
        ("c1", 2, 40.0),
        ("c2", 1, 5.0),
    ]
    # The engine's own table access sees the same table at the same place.
    assert DeltaTables(spark, str(tmp_path / "delta")).read("feature_store.customer_features").count() == 2


def test_get_table_round_trip_from_schema(client: FeatureStoreClient) -> None:
    schema = StructType(
        [
            StructField("customer_id", StringType(), metadata={"comment": "Who"}),
            StructField("ts", TimestampType()),
            StructField("region", StringType()),
            StructField("spend", DoubleType(), metadata={"comment": "Money spent"}),
        ]
    )
    # Unity Catalog style: the timestamp key is also listed as a primary key.
    created = client.create_table(
        "spend_by_region",
        ["customer_id", "ts"],
        schema=schema,
        timestamp_keys=["ts"],
        partition_columns="region",
        description="By region",
        tags={"team": "ds"},
    )
    table = client.get_table("default.spend_by_region")
    assert created == table
    assert table.name == "default.spend_by_region"
    assert (table.primary_keys, table.timestamp_keys, table.partition_columns) == (
        ["customer_id"],
        ["ts"],
        ["region"],
    )
    assert table.features == [Feature("spend", "double", "Money spent")]
    assert (table.description, table.tags, table.source) == ("By region", {"team": "ds"}, None)
    assert client.read_table("spend_by_region").count() == 0
    assert client.list_tables() == ["default.spend_by_region"]


def test_create_with_df_and_schema_takes_schema_types_and_comments(
    client: FeatureStoreClient, spark: SparkSession
) -> None:
    df = spend(spark, [("c1", T1, 1.0, 3)]).withColumn("visits", F.col("visits").cast("int"))
    schema = StructType(
        [
            StructField("customer_id", StringType()),
            StructField("ts", TimestampType()),
            StructField("spend", DoubleType(), metadata={"comment": "Money"}),
            StructField("visits", DoubleType(), metadata={"comment": "Visits, widened"}),
        ]
    )
    table = client.create_table(NAME, "customer_id", df=df, schema=schema, timestamp_keys="ts")
    assert table.features == [
        Feature("spend", "double", "Money"),
        Feature("visits", "double", "Visits, widened"),
    ]
    assert rows_of(client.read_table(NAME)) == [("c1", T1, 1.0, 3.0)]


def test_merge_updates_matching_keys_and_inserts_new_ones(
    client: FeatureStoreClient, spark, spend_table
) -> None:
    updates = [("c1", T1, 100.0, 11), ("c1", T2, 5.0, 1), ("c3", T1, 3.0, 30)]
    version = client.write_table(spend_table, spend(spark, updates))
    assert version == 1
    assert rows_of(client.read_table(spend_table)) == [
        ("c1", T1, 100.0, 11),  # same key + ts: updated
        ("c1", T2, 5.0, 1),  # same key, new ts: inserted
        ("c2", T1, 2.0, 20),  # untouched
        ("c3", T1, 3.0, 30),  # new key: inserted
    ]
    # Merging the same rows again changes nothing: retries are safe.
    client.write_table(spend_table, spend(spark, updates), mode="merge")
    assert len(rows_of(client.read_table(spend_table))) == 4


def test_merge_may_omit_features_and_widens_types(client: FeatureStoreClient, spark, spend_table) -> None:
    partial = spark.createDataFrame(
        [("c1", T1, 7), ("c9", T2, 9)], "customer_id string, ts string, visits int"
    )
    client.write_table(spend_table, partial.withColumn("ts", F.col("ts").cast("timestamp")))
    assert rows_of(client.read_table(spend_table)) == [
        ("c1", T1, 1.0, 7),  # stored spend kept, visits updated
        ("c2", T1, 2.0, 20),
        ("c9", T2, None, 9),  # inserted: omitted feature is null
    ]


def test_overwrite_replaces_all_rows_and_keeps_the_catalog_entry(
    client: FeatureStoreClient, spark, spend_table
) -> None:
    client.set_feature_table_tag(spend_table, "team", "ds")
    before = client.get_table(spend_table)
    client.write_table(spend_table, spend(spark, [("c7", T2, 7.0, 70)]), mode="overwrite")
    after = client.get_table(spend_table)
    assert rows_of(client.read_table(spend_table)) == [("c7", T2, 7.0, 70)]
    assert after.version == before.version + 1
    assert (after.primary_keys, after.timestamp_keys, after.tags, after.description, after.features) == (
        before.primary_keys,
        before.timestamp_keys,
        before.tags,
        before.description,
        before.features,
    )


def test_tags_persist_in_the_delta_log(client: FeatureStoreClient, spark, tmp_path: Path) -> None:
    schema = "customer_id string, update_timestamp timestamp, total_spend_30d double"
    client.create_table(
        "feature_store.customer_features",
        ["customer_id"],
        schema=StructType.fromDDL(schema),
        tags={"domain": "c"},
    )
    fe = client
    # The seed's governance calls, verbatim.
    fe.set_feature_table_tag(name="feature_store.customer_features", key="team", value="data-science")
    fe.set_feature_table_tag(
        name="feature_store.customer_features", key="data_owner", value="customer-analytics"
    )
    fe.set_feature_table_tag("feature_store.customer_features", "note", 'it\'s "quoted"')

    fresh = make_client(spark, tmp_path)
    assert fresh.get_table("feature_store.customer_features").tags == {
        "domain": "c",
        "team": "data-science",
        "data_owner": "customer-analytics",
        "note": 'it\'s "quoted"',
    }
    fresh.delete_feature_table_tag("feature_store.customer_features", "domain")
    fresh.delete_feature_table_tag("feature_store.customer_features", "domain")  # idempotent
    assert "domain" not in make_client(spark, tmp_path).get_table("feature_store.customer_features").tags

    # What a new process would read: the latest metaData action in the table's _delta_log.
    log = tmp_path / "delta" / "feature_store" / "customer_features" / "_delta_log"
    configs = [
        json.loads(line)["metaData"]["configuration"]
        for commit in sorted(log.glob("*.json"))
        for line in commit.read_text().splitlines()
        if "metaData" in json.loads(line)
    ]
    assert configs[-1]["featurestore.tag.team"] == "data-science"
    assert "featurestore.tag.domain" not in configs[-1]


def test_asset_written_table_is_listed_and_described(
    client: FeatureStoreClient, tables: DeltaTables, spark
) -> None:
    spec = CUSTOMER_FEATURES
    tables.ensure(
        spec.name, spec.schema(), ["date"], properties=catalog_properties(spec), comment=spec.description
    )
    tables.ensure(spec.tiles_table, tile_schema(spec), ["date"])
    tables.ensure(TRANSACTIONS.table, TRANSACTIONS.columns)

    assert client.list_tables() == [spec.name]  # not the tiles or the raw table
    table = client.get_table(spec.name)
    assert (table.primary_keys, table.timestamp_keys, table.partition_columns) == (
        ["customer_id"],
        ["feature_ts"],
        ["date"],
    )
    assert (table.owners, table.source, table.tags) == (
        ["team:customer-analytics"],
        "raw.transactions",
        spec.tags,
    )
    assert table.description == spec.description
    assert table.features == [Feature(c.name, c.dtype, c.description) for c in spec.feature_columns()]
    with pytest.raises(NotAFeatureTable, match=r"raw\.transactions .* not a feature table"):
        client.read_table(TRANSACTIONS.table)

    # The client can upsert into it: keys + partition column + one feature.
    row = spark.sql(
        "SELECT 'c1' AS customer_id, TIMESTAMP'2025-01-02 00:00:00' AS feature_ts,"
        " DATE'2025-01-01' AS date, 3 AS txn_count_7d"
    )
    client.write_table(spec.name, row)
    assert client.read_table(spec.name).select("txn_count_7d", "total_spend_7d").collect() == [(3, None)]


def test_drop_table(client: FeatureStoreClient, spark, spend_table, tmp_path: Path) -> None:
    client.drop_table(spend_table)
    assert client.list_tables() == []
    with pytest.raises(
        TableNotFound, match=r"feature_store\.spend does not exist at .*/delta/feature_store/spend"
    ):
        client.get_table(spend_table)
    client.create_table(
        NAME, ["customer_id"], df=spend(spark, ROWS[:1]), timestamp_keys="ts"
    )  # name reusable
    assert client.read_table(NAME).count() == 1


def test_no_arg_client_resolves_the_profile_from_env(spark, tmp_path: Path, monkeypatch) -> None:
    for var in ("FEATURE_STORE_PROFILE", "FEATURE_STORE_DELTA_ROOT", "FEATURE_STORE_SPARK_MASTER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FEATURE_STORE_HOME", str(tmp_path))
    explicit = make_client(spark, tmp_path)
    explicit.create_table(NAME, "customer_id", schema=StructType.fromDDL("customer_id string, x double"))

    client = FeatureStoreClient()
    assert client.spark is spark  # the live session is reused, not a second one built
    assert client.settings.delta_root == explicit.settings.delta_root == str(tmp_path.resolve() / "delta")
    assert client.list_tables() == [NAME]


# ----------------------------------------------------------------------------- refused calls


@pytest.fixture(scope="module")
def shared(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> FeatureStoreClient:
    """One table for all refused calls: none of them may change it, which each test checks."""
    client = make_client(spark, tmp_path_factory.mktemp("refusals"))
    client.create_table(NAME, ["customer_id"], df=spend(spark, ROWS), timestamp_keys=["ts"])
    client.tables.ensure(TRANSACTIONS.table, TRANSACTIONS.columns)
    return client


def _df(spark, change=lambda df: df, rows=ROWS):
    return change(spend(spark, rows))


REFUSED = {
    "write unknown table": (
        lambda c, s: c.write_table("feature_store.nope", _df(s)),
        TableNotFound,
        r"feature_store\.nope does not exist at .*/feature_store/nope",
    ),
    "write unknown mode": (
        lambda c, s: c.write_table(NAME, _df(s), mode="append"),
        ValueError,
        "mode must be one of merge, overwrite, got 'append'",
    ),
    "write missing primary key": (
        lambda c, s: c.write_table(NAME, _df(s, lambda d: d.drop("customer_id"))),
        MissingColumns,
        r"lacks primary key column\(s\) customer_id",
    ),
    "write missing timestamp key": (
        lambda c, s: c.write_table(NAME, _df(s, lambda d: d.drop("ts"))),
        MissingColumns,
        r"lacks timestamp key column\(s\) ts",
    ),
    "write duplicate keys": (
        lambda c, s: c.write_table(NAME, _df(s, rows=[*ROWS, ("c1", T1, 9.0, 9)])),
        DuplicateKeys,
        r"1 \(customer_id, ts\) key\(s\) occur more than once.*customer_id='c1'.*\(2 rows\)",
    ),
    "write null primary key": (
        lambda c, s: c.write_table(NAME, _df(s, rows=[(None, T1, 1.0, 1)])),
        NullKeys,
        r"1 row\(s\) have a null primary key \(customer_id\)",
    ),
    "write null timestamp key": (
        lambda c, s: c.write_table(NAME, _df(s, rows=[("c1", None, 1.0, 1)])),
        NullKeys,
        "null timestamp key",
    ),
    "write extra column": (
        lambda c, s: c.write_table(NAME, _df(s, lambda d: d.withColumn("surprise", F.lit(1)))),
        SchemaMismatch,
        "columns not in the table: surprise",
    ),
    "write column differing in case": (
        lambda c, s: c.write_table(NAME, _df(s, lambda d: d.withColumnRenamed("spend", "Spend"))),
        SchemaMismatch,
        r"Spend \(table has spend\)",
    ),
    "write incompatible type": (
        lambda c, s: c.write_table(
            NAME, _df(s, lambda d: d.withColumn("spend", F.col("spend").cast("string")))
        ),
        SchemaMismatch,
        "spend is string, table has double",
    ),
    "overwrite missing feature": (
        lambda c, s: c.write_table(NAME, _df(s, lambda d: d.drop("visits")), mode="overwrite"),
        SchemaMismatch,
        "missing columns: visits",
    ),
    "write a non-DataFrame": (lambda c, s: c.write_table(NAME, ROWS), TypeError, "must be a Spark DataFrame"),
    "create neither df nor schema": (
        lambda c, s: c.create_table("feature_store.new", ["customer_id"]),
        ValueError,
        r"pass df \(rows to write\) or schema",
    ),
    "create missing primary key": (
        lambda c, s: c.create_table("feature_store.new", ["cust"], df=_df(s)),
        MissingColumns,
        r"feature_store\.new: DataFrame lacks primary key column\(s\) cust",
    ),
    "create missing timestamp key": (
        lambda c, s: c.create_table(
            "feature_store.new", ["customer_id"], df=_df(s), timestamp_keys="update_ts"
        ),
        MissingColumns,
        r"timestamp key column\(s\) update_ts",
    ),
    "create missing partition column": (
        lambda c, s: c.create_table(
            "feature_store.new", "customer_id", df=_df(s), partition_columns=["date"]
        ),
        MissingColumns,
        r"partition column\(s\) date",
    ),
    "create duplicate primary+timestamp keys": (
        lambda c, s: c.create_table(
            "feature_store.new",
            ["customer_id"],
            df=_df(s, rows=[*ROWS, ("c2", T1, 5.0, 5)]),
            timestamp_keys="ts",
        ),
        DuplicateKeys,
        r"customer_id='c2', ts='2025-01-02 00:00:00' \(2 rows\)",
    ),
    "create null primary key": (
        lambda c, s: c.create_table(
            "feature_store.new", ["customer_id"], df=_df(s, rows=[(None, T1, 1.0, 1)])
        ),
        NullKeys,
        "null primary key",
    ),
    "create existing table": (
        lambda c, s: c.create_table(NAME, ["customer_id"], df=_df(s), timestamp_keys="ts"),
        TableAlreadyExists,
        r"feature_store\.spend already exists at .*; use write_table",
    ),
    "create three-part name": (
        lambda c, s: c.create_table("ml.feature_store.new", ["customer_id"], df=_df(s)),
        ValueError,
        "is not a table name",
    ),
    "create name with a dash": (
        lambda c, s: c.create_table("feature-store.new", ["customer_id"], df=_df(s)),
        ValueError,
        "is not a table name",
    ),
    "create two timestamp keys": (
        lambda c, s: c.create_table(
            "feature_store.new", ["customer_id"], df=_df(s), timestamp_keys=["ts", "x"]
        ),
        ValueError,
        "at most one timestamp key",
    ),
    "create timestamp key of wrong type": (
        lambda c, s: c.create_table("feature_store.new", ["customer_id"], df=_df(s), timestamp_keys="spend"),
        SchemaMismatch,
        "timestamp key spend has type double",
    ),
    "create df not matching schema": (
        lambda c, s: c.create_table(
            "feature_store.new",
            "customer_id",
            df=_df(s),
            schema=StructType.fromDDL("customer_id string, ts timestamp"),
        ),
        SchemaMismatch,
        "columns not in the table: spend, visits",
    ),
    "create bad tag key": (
        lambda c, s: c.create_table("feature_store.new", "customer_id", df=_df(s), tags={"bad key": "v"}),
        ValueError,
        "tag key 'bad key'",
    ),
    "tag unknown table": (
        lambda c, s: c.set_feature_table_tag("feature_store.nope", "team", "x"),
        TableNotFound,
        r"feature_store\.nope does not exist",
    ),
    "tag a raw table": (
        lambda c, s: c.set_feature_table_tag(TRANSACTIONS.table, "team", "x"),
        NotAFeatureTable,
        r"raw\.transactions .* not a feature table",
    ),
    "tag value not a string": (
        lambda c, s: c.set_feature_table_tag(NAME, "team", 3),
        TypeError,
        "value must be a string",
    ),
    "drop a raw table": (
        lambda c, s: c.drop_table(TRANSACTIONS.table),
        NotAFeatureTable,
        "not a feature table",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_calls_change_nothing(shared: FeatureStoreClient, spark: SparkSession, case: str) -> None:
    call, error, message = REFUSED[case]
    with pytest.raises(error, match=message):
        call(shared, spark)
    # Every change to a Delta table (rows, properties, comments) is a new version: none happened.
    assert shared.tables.version(NAME) == 0
    assert shared.tables.version(TRANSACTIONS.table) == 0
    assert not shared.tables.exists("feature_store.new")


def test_refusals_left_the_shared_table_intact(shared: FeatureStoreClient) -> None:
    assert rows_of(shared.read_table(NAME)) == [("c1", T1, 1.0, 10), ("c2", T1, 2.0, 20)]
    assert shared.list_tables() == [NAME]
