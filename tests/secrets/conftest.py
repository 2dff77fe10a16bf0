"""The managed-identity endpoint and Key Vault fakes (tests/fakes), wired the way a deployment is: the
process environment names the identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER, as App Service sets
them) and the vault (FEATURE_STORE_KEY_VAULT_URL), and trusts the test CA (REQUESTS_CA_BUNDLE)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from feature_store.runtime import secrets
from tests.fakes.keyvault import KeyVault
from tests.fakes.managed_identity import ManagedIdentityEndpoint
from tests.fakes.tls import TlsFiles, make_tls_files

# Distinct values that must never show up in a repr, an error or a log line.
PLANTED = {
    "cosmos-uri": "https://planted-account.documents.azure.com:443/",
    "cosmos-key-authorization-key": "cGxhbnRlZC13cml0ZS1rZXktZm9yLWNvc21vcw==",
    "cosmos-write-authorization-key": "cGxhbnRlZC1vbmx5LXdyaXRlLWtleQ==",
    "cosmos-read-authorization-key": "cGxhbnRlZC1vbmx5LXJlYWQta2V5",
}


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from the environment's configuration, without clients or values of another."""
    for name in ("FEATURE_STORE_KEY_VAULT_URL", "FEATURE_STORE_KEY_VAULT_SCOPES", "FEATURE_STORE_AZURE_CREDENTIAL",
                 "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                 "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT",
                 "IMDS_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    secrets.reset()
    yield
    secrets.reset()


@pytest.fixture
def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[ManagedIdentityEndpoint]:
    """A managed identity for this process, as App Service provides one."""
    with ManagedIdentityEndpoint() as endpoint:
        for name, value in endpoint.env().items():
            monkeypatch.setenv(name, value)
        yield endpoint


@pytest.fixture
def key_vault(
    tls: TlsFiles, identity_endpoint: ManagedIdentityEndpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KeyVault]:
    """A vault holding PLANTED, configured as the vault of every scope."""
    with KeyVault(tls, identity_endpoint, PLANTED) as vault:
        monkeypatch.setenv("FEATURE_STORE_KEY_VAULT_URL", vault.vault_url)
        monkeypatch.setenv(
            "FEATURE_STORE_KEY_VAULT_VERIFY_CHALLENGE", "false"
        )  # 127.0.0.1 is not *.vault.azure.net
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca))
        yield vault


def assert_no_secret(text: str, *extra: str) -> None:
    for value in [*PLANTED.values(), *extra]:
        assert value not in text, f"a secret leaked into: {text[:300]}"
