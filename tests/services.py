"""A dev server for a test session (tests/online, tests/governance): the one `.ci/run` started on the
service's fixed port if it answers (override the port with an environment variable), else one of this
test process's own on a free port, stopped at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scripts import devservices

REPO = Path(__file__).resolve().parents[1]
SERVICES_ROOT = Path(os.environ.get("FEATURE_STORE_SERVICES_DIR", REPO / ".services"))


def session_server(
    name: str, port_variable: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[devservices.Service]:
    port = int(os.environ.get(port_variable, devservices.DEFAULT_PORTS[name]))
    state = tmp_path_factory.mktemp(f"{name}-server")
    try:
        ctx = devservices.running(name, SERVICES_ROOT, state, reuse_port=port)
        service = ctx.__enter__()
    except devservices.ServiceError as exc:
        pytest.fail(f"{exc}\n(install the servers with scripts/install_services.sh)", pytrace=False)
    try:
        yield service
    finally:
        ctx.__exit__(None, None, None)


@contextmanager
def postgres_database(server: devservices.Service, prefix: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL `server`; yields its SQLAlchemy URL and drops it after."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
