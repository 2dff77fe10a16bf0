"""GovernanceUnavailable names the grants database without its password: not in the message, not in a
chained exception, not through a query parameter, and not for a URL SQLAlchemy cannot even parse."""

from __future__ import annotations

import traceback

import pytest

from feature_store.governance.store import GovernanceUnavailable, GrantStore
from scripts.devservices import free_port

PASSWORD = "Planted-Grants-Pw-7"


def _everything_shown(exc: BaseException) -> str:
    """What a log, a CLI or Dagster's error view would print: the whole chain, with tracebacks."""
    return "".join(traceback.format_exception(exc))


@pytest.mark.parametrize(
    "uri, shown",
    [
        # A server that is not there: the URI (with its password) used to be printed as given.
        ("postgresql+psycopg://grants:{pw}@127.0.0.1:{port}/grants", "postgresql+psycopg://grants:***@127.0.0.1:{port}/grants"),
        # The password as a query parameter: render_as_string(hide_password=True) does not hide it.
        ("postgresql+psycopg://grants@127.0.0.1:{port}/grants?password={pw}", "postgresql+psycopg://grants@127.0.0.1:{port}/grants"),
        # A driver error quoting the connection parameters back.
        ("postgresql+psycopg://grants:{pw}@127.0.0.1:{port}/grants?sslmode=bogus", "postgresql+psycopg://grants:***@127.0.0.1:{port}/grants"),
        ("postgresql+nodriver://grants:{pw}@127.0.0.1:{port}/grants", "postgresql+nodriver://grants:***@127.0.0.1:{port}/grants"),
    ],
)  # fmt: skip
def test_an_unreachable_grants_database_is_named_without_its_password(uri: str, shown: str):
    port = free_port()
    with pytest.raises(GovernanceUnavailable) as err:
        GrantStore(uri.format(pw=PASSWORD, port=port))
    message = str(err.value)
    assert message.startswith(
        f"the grants database {shown.format(port=port)} (FEATURE_STORE_GOVERNANCE_URI) failed: "
    )
    assert PASSWORD not in _everything_shown(err.value)


@pytest.mark.parametrize(
    "uri",
    [
        "grants:{pw}@127.0.0.1",  # not a URL at all
        "postgresql+psycopg://grants:{pw}@127.0.0.1:notaport/grants",  # a port that is not a number
    ],
)
def test_a_malformed_grants_uri_is_refused_without_echoing_it(uri: str):
    with pytest.raises(GovernanceUnavailable) as err:
        GrantStore(uri.format(pw=PASSWORD))
    assert str(err.value).startswith("FEATURE_STORE_GOVERNANCE_URI is not a valid SQLAlchemy URL")
    assert PASSWORD not in _everything_shown(err.value)


def test_the_driver_reason_is_kept(tmp_path):
    """What failed stays readable: the driver's first line, minus secrets."""
    with pytest.raises(GovernanceUnavailable, match=r"OperationalError: .*invalid sslmode value"):
        GrantStore(f"postgresql+psycopg://grants:{PASSWORD}@127.0.0.1:{free_port()}/grants?sslmode=bogus")
