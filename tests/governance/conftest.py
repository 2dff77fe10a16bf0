"""The grants store's backends for the contract tests: SQLite in a temp dir, and a real PostgreSQL
(Debian's package): the one `.ci/run` starts on its fixed port (5440, or FEATURE_STORE_TEST_POSTGRES_PORT)
if it answers, else one of this test process's own. Each test gets a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from feature_store import devservices
from tests.services import session_server

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devservices.Service]:
    yield from session_server("postgres", "FEATURE_STORE_TEST_POSTGRES_PORT", tmp_path_factory)


@pytest.fixture(params=BACKENDS)
def governance_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of an empty grants database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gov' / 'governance.db'}"
        return
    server: devservices.Service = request.getfixturevalue("postgres_server")
    name = f"grants_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
