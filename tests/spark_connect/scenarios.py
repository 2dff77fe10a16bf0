"""The scenarios of the Connect suite, each returning what a caller observes as JSON-able values.

The test process runs each on its classic session; a child process (`python -m
tests.spark_connect.scenarios NAME URL HOME REDIS_PORT OUT`) runs it on a Connect session, because
pyspark.sql.functions serve one kind of session per process (feature_store/runtime/spark.py)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from feature_store import FeatureStoreClient, Settings
from feature_store.offline.delta_tables import DeltaTables
from feature_store.online.specs import RedisStoreSpec
from feature_store.training.training_set import FeatureLookup

TABLE = "feature_store.spend"
LOOKUPS = [FeatureLookup(TABLE, "customer_id", timestamp_lookup_key="event_ts")]


def client_for(session: SparkSession, home: Path) -> FeatureStoreClient:
    env = {"FEATURE_STORE_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    return FeatureStoreClient(spark=session, settings=Settings.from_env(env))


def spend(session: SparkSession, rows: list[tuple]) -> DataFrame:
    df = session.createDataFrame(rows, "customer_id string, ts string, spend double")
    return df.withColumn("feature_ts", F.col("ts").cast("timestamp")).drop("ts")


def labels(session: SparkSession) -> DataFrame:
    rows = [(f"c{i % 4}", datetime(2025, 3, 3), i % 2) for i in range(16)]
    return session.createDataFrame(rows, "customer_id string, event_ts timestamp, label int")


def sorted_rows(df: DataFrame) -> list[list[str]]:
    """Rows as strings: comparable across processes (JSON) and sessions."""
    return sorted([str(v) for v in r] for r in df.collect())


def client_scenario(session: SparkSession, home: Path) -> dict:
    """create, merge, read, describe, list, drop and create again: everything a caller can observe."""
    client = client_for(session, home)
    first = [(f"c{i}", "2025-03-01 00:00:00", float(i)) for i in range(4)]
    client.create_table(TABLE, "customer_id", df=spend(session, first), timestamp_keys="feature_ts",
                        description="Spend", tags={"team": "ds"})  # fmt: skip
    merged_version = client.write_table(
        TABLE, spend(session, [("c1", "2025-03-02 00:00:00", 10.0), ("c9", "2025-03-02 00:00:00", 9.0)])
    )
    table = client.get_table(TABLE)
    observed = {
        "rows": sorted_rows(client.read_table(TABLE)),
        "merged_version": merged_version,
        "table": (table.primary_keys, table.timestamp_keys, table.description, table.tags, table.version),
        "listed": client.list_tables(),
    }
    client.drop_table(TABLE)
    observed["after_drop"] = client.list_tables()
    client.create_table(TABLE, "customer_id", df=spend(session, first[:1]), timestamp_keys="feature_ts")
    observed["recreated"] = sorted_rows(client.read_table(TABLE))
    return observed


def training_scenario(session: SparkSession, home: Path, redis_server) -> dict:
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    client = client_for(session, home)
    rows = [(f"c{i}", "2025-03-01 00:00:00", float(i)) for i in range(4)]
    client.create_table(TABLE, "customer_id", df=spend(session, rows), timestamp_keys="feature_ts")
    training = client.create_training_set(labels(session), LOOKUPS, label="label")
    frame = training.load_df().toPandas().sort_values(["customer_id", "label"]).reset_index(drop=True)
    model = LogisticRegression().fit(frame[["spend"]], frame["label"])
    client.settings.configure_mlflow()
    with mlflow.start_run() as run:
        client.log_model(model, "model", mlflow.sklearn, training)
    scored = client.score_batch(f"runs:/{run.info.run_id}/model", labels(session).drop("label"))
    spec = RedisStoreSpec(redis_server.host, redis_server.port, db=redis_server.db)
    published = client.publish_table(TABLE, spec, mode="overwrite")
    return {
        "training": [[str(v) for v in r] for r in frame.itertuples(index=False)],
        "scores": sorted([r.customer_id, round(r.prediction, 9)] for r in scored.collect()),
        "published": [published.rows, published.written],
    }


def graph_resources(home: Path, redis_server, **spark) -> dict:
    from resources import (
        DeltaLakeResource,
        LocalLandingZoneResource,
        MLflowResource,
        RedisOnlineStoreResource,
        SparkResource,
    )

    return {
        "spark": SparkResource(**spark),
        "delta": DeltaLakeResource(root=str(home / "delta")),
        "landing": LocalLandingZoneResource(root=str(home / "landing")),
        "online_store": RedisOnlineStoreResource(host=redis_server.host, port=redis_server.port, db=redis_server.db),
        "mlflow_tracking": MLflowResource(
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}", artifact_root=(home / "mlartifacts").as_uri()
        ),
    }


def graph_scenario(home: Path, redis_server, **spark) -> dict:
    """One day of raw -> tiles -> features -> online (Redis) through Dagster, with its checks."""
    from feature_assets.definitions import all_assets, all_checks
    from resources import SparkResource
    from tests.landing_files import land_three_days

    chain = dg.AssetSelection.assets(
        "raw_transactions", "customer_daily_tiles", "customer_features", "customer_features_online"
    )
    land_three_days(home)
    resources = graph_resources(home, redis_server, **spark)
    result = dg.materialize([*all_assets, *all_checks], selection=chain, partition_key="2025-01-01",
                            resources=resources)  # fmt: skip
    assert result.success
    session = SparkResource(**spark).get_session()
    tables = DeltaTables(session, str(home / "delta"))
    return {
        "tables": tables.list(),
        "features": sorted_rows(tables.read("feature_store.customer_features")),
        "tiles": sorted_rows(tables.read("feature_store.customer_daily_tiles")),
        "checks": {
            f"{e.asset_key.to_user_string()}.{e.check_name}": e.passed
            for e in result.get_asset_check_evaluations()
        },
    }


def main() -> None:
    from feature_store.runtime.spark import build_spark_session

    name, url, home, redis_port, redis_db, out = sys.argv[1:7]
    redis = SimpleNamespace(host="127.0.0.1", port=int(redis_port), db=int(redis_db))
    if name == "graph":
        observed = graph_scenario(Path(home), redis, remote=url)
    else:
        session = build_spark_session(remote=url, app_name=f"connect-{name}")
        scenario = {"client": client_scenario, "training": training_scenario}[name]
        observed = (
            scenario(session, Path(home), redis) if name == "training" else scenario(session, Path(home))
        )
    Path(out).write_text(json.dumps(observed))


if __name__ == "__main__":
    main()
