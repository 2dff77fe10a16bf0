"""FeatureStoreClient.create_training_set on real Delta tables: exact point-in-time rows, and every bad
input refused with an error naming the problem before any Spark job (feature_store/training/training_set.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from feature_store import FeatureStoreClient, Settings
from feature_store.client.core import TableNotFound
from feature_store.declarations import FeatureFunction
from feature_store.offline.delta_tables import qualified
from feature_store.training.lookups import FeatureLookup
from feature_store.training.training_set import TrainingSetError
from tests.on_demand import per

CUSTOMERS, STORES = "fs.customers", "fs.stores"
D1, D2, D3 = "2025-01-02 00:00:00", "2025-01-03 00:00:00", "2025-01-04 00:00:00"
INPUT_DDL = "cid int, country string, store_id int, event_ts string, label double, note string"


def timestamps(df: DataFrame, *columns: str) -> DataFrame:
    """Timestamps go in as strings, cast by Spark in the session zone (UTC), not Python's local zone."""
    for c in columns:
        df = df.withColumn(c, F.col(c).cast("timestamp"))
    return df


@pytest.fixture(scope="module")
def client(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> FeatureStoreClient:
    """Two feature tables, created once for the module: one key, and a composite (string, int) key."""
    home: Path = tmp_path_factory.mktemp("training_set")
    fs = FeatureStoreClient(spark=spark, settings=Settings.from_env({"FEATURE_STORE_HOME": str(home)}))
    customers = spark.createDataFrame(
        [(1, D1, 10.0, 1), (1, D3, 30.0, 3), (2, D2, 20.0, 2)],
        "customer_id bigint, ts string, spend double, visits bigint",
    )
    fs.create_table(CUSTOMERS, ["customer_id"], df=timestamps(customers, "ts"), timestamp_keys="ts")
    stores = spark.createDataFrame(
        [("DE", 1, D1, 100.0), ("DE", 2, D1, 200.0), ("DE", 1, D3, 150.0)],
        "country string, store_id int, ts string, sales double",
    )
    fs.create_table(STORES, ["country", "store_id"], df=timestamps(stores, "ts"), timestamp_keys="ts")
    return fs


@pytest.fixture(scope="module")
def opened(client: FeatureStoreClient) -> dict:
    return {name: client._open(name) for name in (CUSTOMERS, STORES)}


@pytest.fixture
def offline_catalog(
    client: FeatureStoreClient, opened: dict, monkeypatch: pytest.MonkeyPatch
) -> FeatureStoreClient:
    """The client with its catalog reads answered from descriptions fetched beforehand.

    Opening a table reads the Delta log and `DESCRIBE DETAIL`, which are Spark jobs themselves; with
    them served from memory, a refused call must run no Spark job at all. Unknown tables still go to Delta.
    """
    real = client._open
    monkeypatch.setattr(client, "_open", lambda name: opened.get(qualified(name)) or real(name))
    return client


@contextmanager
def spark_jobs(spark: SparkSession) -> Iterator[list[int]]:
    """The ids of the Spark jobs run by this thread inside the block (a job group of its own)."""
    sc = spark.sparkContext
    group = f"training-set-probe-{uuid.uuid4().hex}"
    jobs: list[int] = []
    sc.setJobGroup(group, "training set validation probe")
    try:
        yield jobs
    finally:
        for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(key, None)  # type: ignore[arg-type]
        jobs.extend(sc.statusTracker().getJobIdsForGroup(group))


def label_rows(spark: SparkSession, rows=None, ddl: str = INPUT_DDL) -> DataFrame:
    rows = (
        [
            (1, "DE", 1, D1, 1.0, "a"),  # exactly at feature_ts D1: inclusive
            (1, "DE", 1, "2025-01-03 12:00:00", 0.0, "b"),  # D1 is exactly t - 36h: inclusive
            (1, "DE", 2, D3, 1.0, "c"),
            (2, "FR", 1, "2025-01-05 00:00:00", 0.0, "d"),  # D2 < t - 36h: default; FR unknown
            (3, "DE", 1, "2025-01-01 00:00:00", 1.0, "e"),  # unknown customer; before the first store row
            (1, "DE", 1, "2025-01-03 12:00:00", 0.0, "b"),  # duplicate of the second row
        ]
        if rows is None
        else rows
    )
    return timestamps(spark.createDataFrame(rows, ddl), "event_ts")


def customer_lookup(**overrides) -> FeatureLookup:
    args = {
        "table_name": CUSTOMERS,
        "lookup_key": "cid",
        "feature_names": ["spend", "visits"],
        "timestamp_lookup_key": "event_ts",
        "lookback_window": timedelta(hours=36),
        "default_values": {"spend": -1.0},
    }
    return FeatureLookup(**{**args, **overrides})


def store_lookup(**overrides) -> FeatureLookup:
    args = {
        "table_name": STORES,
        "lookup_key": ["country", "store_id"],
        "rename_outputs": {"sales": "store_sales"},
        "timestamp_lookup_key": "event_ts",
    }
    return FeatureLookup(**{**args, **overrides})


def latest_lookup() -> FeatureLookup:
    return FeatureLookup(CUSTOMERS, "cid", feature_names="spend", rename_outputs={"spend": "latest_spend"})


def test_training_set_rows(client: FeatureStoreClient, spark: SparkSession) -> None:
    """Point in time (with lookback and a default), composite key (renamed), latest; the label is kept,
    excluded columns are dropped, duplicates stay duplicated, an int column joins a bigint key."""
    training = client.create_training_set(
        label_rows(spark),
        [customer_lookup(), store_lookup(), latest_lookup()],
        label="label",
        exclude_columns=["note"],
    )
    df = training.load_df()
    assert df.columns == [
        "cid", "country", "store_id", "event_ts", "label", "spend", "visits", "store_sales", "latest_spend",
    ]  # fmt: skip
    assert training.label == "label"
    assert training.feature_names == ["spend", "visits", "store_sales", "latest_spend"]
    t_b = "2025-01-03 12:00:00"
    expected = [
        (1, "DE", 1, D1, 1.0, 10.0, 1, 100.0, 30.0),
        (1, "DE", 1, t_b, 0.0, 10.0, 1, 100.0, 30.0),
        (1, "DE", 1, t_b, 0.0, 10.0, 1, 100.0, 30.0),
        (1, "DE", 2, D3, 1.0, 30.0, 3, 200.0, 30.0),
        (2, "FR", 1, "2025-01-05 00:00:00", 0.0, -1.0, None, None, 20.0),
        (3, "DE", 1, "2025-01-01 00:00:00", 1.0, -1.0, None, None, None),
    ]
    got = [tuple(r) for r in df.withColumn("event_ts", F.col("event_ts").cast("string")).collect()]
    assert sorted(got, key=repr) == sorted(expected, key=repr)


@pytest.mark.parametrize(
    "column, renamed, latest",
    [
        ("note", "note.text", False),
        ("cid", "customer.id", False),
        ("event_ts", "event.ts", False),
        ("note", "note.text", True),
    ],
    ids=["passthrough column", "lookup key", "timestamp_lookup_key", "passthrough column, latest lookup"],
)
def test_df_column_names_with_dots(
    client: FeatureStoreClient, spark: SparkSession, column: str, renamed: str, latest: bool
) -> None:
    """Spark column names may contain dots (the client's create/write paths quote them); validation
    accepts them here, so the join must too, whether the column is passed through, a key or the time."""
    df = label_rows(spark).withColumnRenamed(column, renamed)
    if latest:
        lookup, want = latest_lookup(), [(None,), (20.0,), (30.0,), (30.0,), (30.0,), (30.0,)]
    else:
        overrides = {"cid": {"lookup_key": renamed}, "event_ts": {"timestamp_lookup_key": renamed}}
        lookup = customer_lookup(**overrides.get(column, {}))
        want = [(-1.0, None), (-1.0, None), (10.0, 1), (10.0, 1), (10.0, 1), (30.0, 3)]
    out = client.create_training_set(df, [lookup], label="label").load_df()
    features = [c for c in out.columns if c not in df.columns]
    assert out.columns == [*df.columns, *features]
    assert sorted((tuple(r) for r in out.select(*features).collect()), key=repr) == sorted(want, key=repr)


def test_probe_sees_spark_jobs(spark: SparkSession) -> None:
    """The job probe itself: a count is seen, nothing outside the block is."""
    df = spark.range(3)
    with spark_jobs(spark) as jobs:
        df.count()
    assert jobs
    with spark_jobs(spark) as none:
        pass
    assert none == []


Case = Callable[[SparkSession], tuple[DataFrame, list[FeatureLookup], dict]]

# name -> (how to build the call, the error class, text the message must contain)
BAD_INPUTS: dict[str, tuple[Case, type[Exception], list[str]]] = {
    "missing lookup key column": (
        lambda s: (label_rows(s).drop("cid"), [customer_lookup()], {}),
        TrainingSetError,
        ["fs.customers", "df has no column 'cid'", "customer_id"],
    ),
    "missing composite key column": (
        lambda s: (label_rows(s).drop("store_id"), [store_lookup()], {}),
        TrainingSetError,
        ["fs.stores", "df has no column 'store_id'"],
    ),
    "missing timestamp column": (
        lambda s: (label_rows(s), [customer_lookup(timestamp_lookup_key="event_time")], {}),
        TrainingSetError,
        ["df has no column 'event_time'", "timestamp_lookup_key"],
    ),
    "string column for a bigint key": (
        lambda s: (label_rows(s).withColumn("cid", F.col("cid").cast("string")), [customer_lookup()], {}),
        TrainingSetError,
        ["'cid' is string", "'customer_id' is bigint"],
    ),
    "string timestamp column": (
        lambda s: (
            label_rows(s).withColumn("event_ts", F.col("event_ts").cast("string")),
            [customer_lookup()],
            {},
        ),
        TrainingSetError,
        ["'event_ts'", "must be a timestamp or date", "string"],
    ),
    "unknown table": (
        lambda s: (label_rows(s), [FeatureLookup("fs.nope", "cid")], {}),
        TableNotFound,
        ["fs.nope"],
    ),
    "unknown feature": (
        lambda s: (label_rows(s), [customer_lookup(feature_names=["spend", "nope"])], {}),
        TrainingSetError,
        ["unknown features ['nope']", "spend"],
    ),
    "label column missing": (
        lambda s: (label_rows(s), [customer_lookup()], {"label": "target"}),
        TrainingSetError,
        ["label column 'target'"],
    ),
    "label also excluded": (
        lambda s: (label_rows(s), [customer_lookup()], {"exclude_columns": ["label"]}),
        TrainingSetError,
        ["label column 'label'", "excluded"],
    ),
    "exclude_columns names a missing column": (
        lambda s: (label_rows(s), [customer_lookup()], {"exclude_columns": ["note", "nope"]}),
        TrainingSetError,
        ["exclude_columns ['nope']"],
    ),
    "output column collides with a df column": (
        lambda s: (label_rows(s).withColumn("visits", F.lit(0)), [customer_lookup()], {}),
        TrainingSetError,
        ["output column 'visits' already exists in df", "rename_outputs"],
    ),
    "output column collides between lookups": (
        lambda s: (
            label_rows(s),
            [customer_lookup(), FeatureLookup(CUSTOMERS, "cid", feature_names="spend")],
            {},
        ),
        TrainingSetError,
        ["output column 'spend' also comes from fs.customers"],
    ),
    "rename_outputs names a feature not looked up": (
        lambda s: (label_rows(s), [customer_lookup(rename_outputs={"sales": "x"})], {}),
        TrainingSetError,
        ["rename_outputs", "['sales']"],
    ),
    "one lookup key for a composite primary key": (
        lambda s: (label_rows(s), [store_lookup(lookup_key="country")], {}),
        TrainingSetError,
        ["fs.stores", "lookup_key ['country']", "country", "store_id"],
    ),
    "two lookup keys for a single primary key": (
        lambda s: (label_rows(s), [customer_lookup(lookup_key=["cid", "store_id"])], {}),
        TrainingSetError,
        ["fs.customers", "lookup_key ['cid', 'store_id']", "customer_id"],
    ),
    "no lookups": (
        lambda s: (label_rows(s), [], {}),
        TrainingSetError,
        ["feature_lookups must be a non-empty list"],
    ),
    "on-demand input that nothing provides": (
        lambda s: (label_rows(s), [customer_lookup(), spend_per_visit(visits="nope")], {}),
        TrainingSetError,
        ["FeatureFunction(spend_per_visit)", "input 'visits' reads 'nope'", "neither a df column"],
    ),
    "on-demand output that collides": (
        lambda s: (
            label_rows(s).withColumn("spend_per_visit", F.lit(0)),
            [customer_lookup(), spend_per_visit()],
            {},
        ),
        TrainingSetError,
        ["FeatureFunction(spend_per_visit)", "'spend_per_visit' already exists"],
    ),
}


def spend_per_visit(visits: str = "visits") -> FeatureFunction:
    return FeatureFunction("spend_per_visit", per, "double", inputs={"amount": "spend", "visits": visits})


def test_on_demand_features_are_computed_after_the_lookups(
    client: FeatureStoreClient, spark: SparkSession
) -> None:
    """From looked-up features and a df column; a later function may read an earlier one's output; an
    int result is a double (as it would be in serving), a null input a null output."""
    later = FeatureFunction("scaled", per, "double", inputs={"amount": "spend_per_visit", "visits": "label"})
    training = client.create_training_set(
        label_rows(spark), [customer_lookup(), spend_per_visit(), later], label="label"
    )
    assert training.feature_names[-2:] == ["spend_per_visit", "scaled"]
    rows = training.load_df().select("spend", "visits", "label", "spend_per_visit", "scaled").collect()
    for row in rows:
        if row.spend is None or row.visits is None:
            assert row.spend_per_visit is None
            continue
        want = row.spend / row.visits if row.visits else 0.0
        assert row.spend_per_visit == want and isinstance(row.spend_per_visit, float)
        assert row.scaled == (want / row.label if row.label else 0.0)


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_refused_before_any_spark_job(
    offline_catalog: FeatureStoreClient, spark: SparkSession, case: str
) -> None:
    build, error, fragments = BAD_INPUTS[case]
    df, lookups, kwargs = build(spark)
    kwargs = {"label": "label", **kwargs}
    with spark_jobs(spark) as jobs, pytest.raises(error) as raised:
        offline_catalog.create_training_set(df, lookups, **kwargs)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if error is TrainingSetError:
        assert jobs == [], f"{case}: Spark jobs {jobs} ran before the error"


def test_empty_df_is_refused(client: FeatureStoreClient, spark: SparkSession) -> None:
    """The one check that needs a Spark job (a LIMIT 1)."""
    empty = label_rows(spark, rows=[])
    with pytest.raises(TrainingSetError, match="df has no rows"):
        client.create_training_set(empty, [customer_lookup()], label="label")
    with pytest.raises(TrainingSetError, match="df has no rows"):
        client.create_training_set(label_rows(spark).where("cid > 100"), [customer_lookup()], label="label")
