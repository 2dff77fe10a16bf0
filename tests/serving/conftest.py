"""A small served world for the serving tests: two feature tables published to SQLite and to a private
redis-server, a model trained on them (two lookups plus a request-supplied column) registered with the
alias `champion`, and `featurestore serve` running as a real process on loopback.

The redis-server is our own (not the shared one) so a test can pause it to simulate a hung store.
Grants: the OS user running the tests is the admin; `analyst` reads schema fs through its group,
`partial` reads only the customers table, `intruder` and `latecomer` start with nothing.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from feature_store.serving.process import ServeProcess
from scripts import devservices

MODEL = "serve_test_model"
CUSTOMERS, PRODUCTS = "fs.serve_customers", "fs.serve_products"
T1, T2 = datetime(2025, 3, 1), datetime(2025, 3, 2)


ACCESS_TOML = """
admins = ["{admin}"]
users = ["partial", "intruder", "latecomer"]

[groups]
analysts = ["analyst"]
"""
PRINCIPALS = ("analyst", "partial", "intruder", "latecomer")


@dataclass
class World:
    home: Path
    token: str  # the analyst's: may read every table the model reads
    tokens_file: Path
    redis_port: int
    env: dict[str, str]
    tokens: dict[str, str]  # principal -> token


def _customers(spark):
    rows = [(f"C{i:03d}", T1, float(i), i % 7, 0.5 * i) for i in range(40)]
    rows += [(f"C{i:03d}", T2, float(i) + 1, i % 5, 0.5 * i + 1) for i in range(40)]  # newer day
    return spark.createDataFrame(
        rows, "customer_id string, feature_ts timestamp, spend double, visits int, avg_basket double"
    )


def _products(spark):
    rows = [(i, T2, 10.0 + i, 0.1 * i) for i in range(10)]
    return spark.createDataFrame(
        rows, "product_id bigint, feature_ts timestamp, price double, return_rate double"
    )


def train_and_register(client, spark, seed: int = 0) -> str:
    """Fit a model on a point-in-time training set of both tables, log it with its lookups, register it
    and point `champion` at it; returns the version."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from feature_store.training.lookups import FeatureLookup

    labels = spark.createDataFrame(
        [(f"C{i % 40:03d}", i % 10, T2, float(i % 3), (i * 7 + seed) % 2) for i in range(200)],
        "customer_id string, product_id bigint, event_ts timestamp, basket_size double, label int",
    )
    lookups = [
        FeatureLookup(
            CUSTOMERS, "customer_id", timestamp_lookup_key="event_ts", default_values={"visits": 0}
        ),
        FeatureLookup(
            PRODUCTS, "product_id", timestamp_lookup_key="event_ts", rename_outputs={"price": "product_price"}
        ),
    ]
    training = client.create_training_set(labels, lookups, label="label", exclude_columns=["event_ts"])
    frame = training.load_df().toPandas()
    features = [c for c in frame.columns if c not in ("label", "customer_id", "product_id")]
    model = HistGradientBoostingClassifier(max_iter=20 + seed, random_state=seed).fit(
        frame[features], frame["label"]
    )
    return log_champion(client, model, training, MODEL)


def log_champion(client, model, training, name: str) -> str:
    """Log a scikit-learn model with its training set's lookups, register it as `name` and point
    `champion` at it; returns the version."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    from examples.churn.model import SKOPS_TRUSTED_TYPES

    client.settings.configure_mlflow()
    with mlflow.start_run():
        info = client.log_model(
            model, "model", mlflow.sklearn, training, registered_model_name=name,
            save_kwargs={"skops_trusted_types": SKOPS_TRUSTED_TYPES},
        )  # fmt: skip
    version = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(name, "champion", version)
    return version


@pytest.fixture(scope="session")
def world(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from feature_store.client.core import FeatureStoreClient
    from feature_store.online.specs import RedisStoreSpec, SqliteStoreSpec
    from feature_store.runtime.settings import Settings
    from feature_store.serving.auth import new_token

    home = tmp_path_factory.mktemp("served")
    redis_state = tmp_path_factory.mktemp("serve-redis")
    redis = devservices.start("redis", redis_state, port=devservices.free_port(), state=redis_state)
    try:
        env = {"FEATURE_STORE_HOME": str(home), "FEATURE_STORE_REDIS_PORT": str(redis.port)}
        (home / "access.toml").write_text(ACCESS_TOML.format(admin=getpass.getuser()))
        client = FeatureStoreClient(spark=spark, settings=Settings.from_env(env))
        client.create_table(CUSTOMERS, "customer_id", df=_customers(spark), timestamp_keys="feature_ts")
        client.create_table(PRODUCTS, "product_id", df=_products(spark), timestamp_keys="feature_ts")
        for spec in (client.settings.online_store_spec(), RedisStoreSpec(port=redis.port)):
            assert isinstance(spec, SqliteStoreSpec | RedisStoreSpec)
            for table in (CUSTOMERS, PRODUCTS):
                client.publish_table(table, online_store_spec=spec)
        train_and_register(client, spark)
        client.sql("GRANT SELECT ON SCHEMA fs TO analysts")
        client.sql(f"GRANT SELECT ON TABLE {CUSTOMERS} TO partial")
        tokens, lines = {}, []
        for principal in PRINCIPALS:
            tokens[principal], line = new_token(principal)
            lines.append(line)
        tokens_file = home / "tokens.txt"
        tokens_file.write_text("# serving tokens\n" + "\n".join(lines) + "\n")
        yield World(home, tokens["analyst"], tokens_file, redis.port, env, tokens)
    finally:  # also when the setup above fails: a leaked redis-server would outlive the test run
        devservices.stop_service(redis, redis_state)


@dataclass
class Server:
    url: str
    process: ServeProcess
    log: Path
    headers: dict[str, str]


def start_server(world: World, store: str, extra: Sequence[str] = ()) -> Server:
    env = {**world.env, "FEATURE_STORE_ONLINE_STORE": store, "MLFLOW_TRACKING_URI": ""}
    log = world.home / f"serve-{store}-{time.monotonic_ns()}.log"
    process = ServeProcess([f"{MODEL}@champion"], world.tokens_file, log, env, extra).start()
    return Server(process.url, process, log, {"Authorization": f"Bearer {world.token}"})


def stop_server(process: ServeProcess) -> None:
    process.stop()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("redis", marks=pytest.mark.slow)])
def server(request: pytest.FixtureRequest, world: World) -> Iterator[Server]:
    served = start_server(world, request.param, ["--poll-seconds", "0.5", "--grants-refresh-seconds", "0.5"])
    served.store = request.param  # type: ignore[attr-defined]
    try:
        yield served
    finally:
        stop_server(served.process)
