"""The grants store's backends for the contract tests: SQLite in a temp dir, and a real PostgreSQL
(Debian's package): the one `.ci/run` starts on its fixed port (5440, or FEATURE_STORE_TEST_POSTGRES_PORT)
if it answers, else one of this test process's own. Each test gets a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import postgres_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)]


@pytest.fixture(params=BACKENDS)
def governance_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of an empty grants database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gov' / 'governance.db'}"
        return
    with postgres_database(request.getfixturevalue("postgres_server"), "grants") as url:
        yield url
