"""A Spark Connect server from the installed pyspark package, with the Delta jars, extension and catalog,
started once per test session (scripts.devservices, service "spark-connect"), and a Connect
session on it next to the test process's classic `spark` session."""

from __future__ import annotations

import pytest

# Connect's Python workers run PYSPARK_PYTHON from the server's environment (spark.pyspark.python is not
# read there): an environment that holds the project only as its wheel (tests/wheel_env.py), as a
# Databricks cluster library or a server image would.
SERVER_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
}


@pytest.fixture(scope="session")
def connect_url(tmp_path_factory: pytest.TempPathFactory, wheel_envs):
    from feature_store.runtime.spark import ivy_dir_from_env, maven_packages, resolve_jars
    from scripts import devservices

    jars = [j.removeprefix("file://") for j in resolve_jars(maven_packages(), ivy_dir_from_env())]
    python = str(wheel_envs("connect-server"))
    state = tmp_path_factory.mktemp("spark-connect")
    service = devservices.start(
        "spark-connect",
        state,
        port=devservices.free_port(),
        timeout=180,  # a JVM start on a shared 2-core machine
        extra_args=devservices.spark_connect_args(jars, python, SERVER_CONF),
        env={"PYSPARK_PYTHON": python},
    )
    try:
        yield f"sc://{service.host}:{service.port}"
    finally:
        devservices.stop_service(service, state)


@pytest.fixture(scope="session")
def connect(connect_url):
    """A Connect session built by build_spark_session (remote=...), the engine's own path."""
    from feature_store.runtime.spark import build_spark_session, is_remote_session

    session = build_spark_session(remote=connect_url, app_name="featurestore-connect-tests")
    assert is_remote_session(session)
    yield session
    session.stop()
