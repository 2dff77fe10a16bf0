"""Shared fixtures: one SparkSession per test process, a fresh data dir per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("FEATURE_STORE_START_DATE", "2025-01-01")


@pytest.fixture(scope="session")
def spark():
    from feature_store.runtime.spark import build_spark_session

    session = build_spark_session(
        master="local[2]", app_name="featurestore-tests", conf={"spark.driver.memory": "2g"}
    )
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def isolated_data_dir(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test under its own data dir: anything that reads Settings from the environment writes its
    grants, audit log, SQLite stores and Dagster instance under the test's tmp dir, never into the
    repo's `.featurestore/` (the default, relative to the working dir)."""
    monkeypatch.setenv("FEATURE_STORE_HOME", str(tmp_path))
    # Always, not only when unset: `make test` exports DAGSTER_HOME as the repo's .featurestore/dagster.
    # Beside tmp_path, not in it: tests assert what their tmp dir holds.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path_factory.mktemp("dagster-instance")))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def resources(spark, home: Path) -> dict:
    """The local profile's resources pointed at this test's data dir."""
    from tests.local_resources import resources_for

    return resources_for(home)


@pytest.fixture
def tables(spark, home: Path):
    from feature_store.offline.delta_tables import DeltaTables

    return DeltaTables(spark, str(home / "delta"))


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory):
    """The blob endpoint URL of Azurite on 127.0.0.1:10000, where WASB's emulator mode reaches it
    (tests/azurite.py): the one `.ci/run` started, else one of this test process's own."""
    from tests.azurite import emulator_azurite

    with emulator_azurite(tmp_path_factory.mktemp("azurite")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """PostgreSQL (Debian's package): the one `.ci/run` started on 5440, else one of this process's own."""
    from tests.services import session_server

    yield from session_server("postgres", "FEATURE_STORE_TEST_POSTGRES_PORT", tmp_path_factory)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    from tests.services import session_server

    yield from session_server("redis", "FEATURE_STORE_TEST_REDIS_PORT", tmp_path_factory)


@pytest.fixture(scope="session")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory):
    """The Cosmos DB protocol server (@vercel/cosmosdb-server)."""
    from tests.services import session_server

    yield from session_server("cosmos", "FEATURE_STORE_TEST_COSMOS_PORT", tmp_path_factory)


@pytest.fixture(scope="session")
def wheel_envs(tmp_path_factory: pytest.TempPathFactory):
    """`wheel_envs(name, with_project=True)`: the python of a new environment holding the project only as
    its wheel (tests/wheel_env.py), which is built once per test session."""
    from tests.wheel_env import build_wheel, wheel_env

    base = tmp_path_factory.mktemp("wheel-envs")
    wheel = build_wheel(base / "dist")

    def make(name: str, with_project: bool = True) -> Path:
        return wheel_env(base / name, wheel if with_project else None)

    return make
