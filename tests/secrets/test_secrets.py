"""feature_store.runtime.secrets: the environment, Key Vault over TLS through a managed identity, the cache, the
per-scope vault mapping, and errors that say where a secret was looked for but never show a value."""

from __future__ import annotations

import time

import pytest

from feature_store.runtime import secrets
from feature_store.runtime.secrets import SecretError, Secrets, env_var, parse_scopes
from feature_store.runtime.variables import SettingsError
from tests.fakes.keyvault import RESOURCE, KeyVault
from tests.fakes.managed_identity import ManagedIdentityEndpoint
from tests.secrets.conftest import PLANTED, assert_no_secret


def test_one_naming_rule_for_environment_secrets():
    assert env_var("keyvault", "cosmos-uri") == "KEYVAULT_COSMOS_URI"
    # The Databricks secret behind write_secret_prefix="keyvault/cosmos-key": the specs' variable.
    assert env_var("keyvault", "cosmos-key-authorization-key") == "KEYVAULT_COSMOS_KEY_AUTHORIZATION_KEY"
    assert env_var("my.scope", "a b") == "MY_SCOPE_A_B"
    with pytest.raises(ValueError, match="scope and a key"):
        env_var("", "x")


def test_without_a_vault_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KEYVAULT_COSMOS_URI", "https://from-env.documents.azure.com:443/")
    assert secrets.get("keyvault", "cosmos-uri") == "https://from-env.documents.azure.com:443/"
    monkeypatch.setenv("KEYVAULT_COSMOS_URI", "https://changed.documents.azure.com:443/")
    assert secrets.get("keyvault", "cosmos-uri") == "https://changed.documents.azure.com:443/"  # no cache


def test_a_missing_environment_secret_names_scope_key_and_variable():
    with pytest.raises(SecretError) as err:
        secrets.get("keyvault", "cosmos-uri")
    assert str(err.value) == (
        "secret 'cosmos-uri' of scope 'keyvault': no Key Vault is configured for the scope, so it is read "
        "from the environment variable KEYVAULT_COSMOS_URI, which is not set"
    )


def test_the_seed_dbutils_line_runs_with_only_the_import_changed(monkeypatch):
    monkeypatch.setenv("KEYVAULT_COSMOS_URI", "https://from-env.documents.azure.com:443/")
    from feature_store import dbutils

    assert dbutils.secrets.get("keyvault", "cosmos-uri") == "https://from-env.documents.azure.com:443/"
    assert dbutils.secrets.getBytes("keyvault", "cosmos-uri") == b"https://from-env.documents.azure.com:443/"


def test_scope_mapping_parses_and_rejects_what_it_cannot_use():
    assert parse_scopes(" keyvault=https://a.vault.azure.net , dev=env,") == {
        "keyvault": "https://a.vault.azure.net",
        "dev": "env",
    }
    assert parse_scopes(None) == {}
    for bad in ("keyvault", "keyvault=", "=https://a.vault.azure.net", "k=http://a.vault.azure.net"):
        with pytest.raises(SettingsError, match="FEATURE_STORE_KEY_VAULT_SCOPES"):
            parse_scopes(bad)


def test_each_scope_reads_from_exactly_one_place():
    store = Secrets(
        vault_url="https://default.vault.azure.net",
        scope_vaults={"ml": "https://ml.vault.azure.net", "dev": "env"},
        env={},
    )
    assert store.vault_for("keyvault") == "https://default.vault.azure.net"
    assert store.vault_for("ml") == "https://ml.vault.azure.net"
    assert store.vault_for("dev") is None
    assert Secrets(scope_vaults={"ml": "https://ml.vault.azure.net"}, env={}).vault_for("other") is None


def test_secrets_come_from_key_vault_over_tls_with_a_managed_identity_token(
    key_vault: KeyVault, identity_endpoint: ManagedIdentityEndpoint, monkeypatch
):
    monkeypatch.setenv(
        "KEYVAULT_COSMOS_URI", "https://must-not-be-used.example"
    )  # a vault scope never reads env
    from feature_store import dbutils

    assert dbutils.secrets.get("keyvault", "cosmos-uri") == PLANTED["cosmos-uri"]
    # The SDK's challenge flow: one unauthenticated request answered 401, then the token, then the secret.
    first, second = key_vault.requests[:2]
    assert (first.authorized, first.status) == (False, 401)
    assert (second.authorized, second.status, second.path) == (True, 200, "/secrets/cosmos-uri/")
    assert second.api_version  # the SDK's own api-version, checked by the fake's router
    token_requests = [r for r in identity_endpoint.requests if r.status == 200]
    assert [r.resource for r in token_requests] == [RESOURCE]
    assert all(r.header_ok for r in identity_endpoint.requests)
    assert PLANTED["cosmos-uri"] in secrets.resolved_values()


def test_values_are_cached_for_a_short_time_then_read_again(key_vault: KeyVault, monkeypatch):
    monkeypatch.setenv("FEATURE_STORE_SECRETS_CACHE_SECONDS", "0.5")
    assert secrets.get("keyvault", "cosmos-uri") == PLANTED["cosmos-uri"]
    assert secrets.get("keyvault", "cosmos-uri") == PLANTED["cosmos-uri"]
    assert key_vault.served("cosmos-uri") == 1
    key_vault.set("cosmos-uri", "https://rotated.documents.azure.com:443/")
    time.sleep(0.6)
    assert secrets.get("keyvault", "cosmos-uri") == "https://rotated.documents.azure.com:443/"
    assert key_vault.served("cosmos-uri") == 2


def test_per_scope_vaults(key_vault: KeyVault, monkeypatch):
    monkeypatch.delenv("FEATURE_STORE_KEY_VAULT_URL")
    monkeypatch.setenv("FEATURE_STORE_KEY_VAULT_SCOPES", f"keyvault={key_vault.vault_url},local=env")
    monkeypatch.setenv("LOCAL_COSMOS_URI", "https://local.documents.azure.com:443/")
    assert secrets.get("keyvault", "cosmos-uri") == PLANTED["cosmos-uri"]
    assert secrets.get("local", "cosmos-uri") == "https://local.documents.azure.com:443/"
    with pytest.raises(SecretError, match="environment variable OTHER_COSMOS_URI"):
        secrets.get("other", "cosmos-uri")  # not mapped and no default vault: the environment


def test_a_missing_vault_secret_names_scope_key_and_vault_but_no_value(key_vault: KeyVault):
    secrets.get("keyvault", "cosmos-uri")  # a value is known to this process now
    with pytest.raises(SecretError) as err:
        secrets.get("keyvault", "no-such-secret")
    message = str(err.value)
    assert (
        message
        == f"secret 'no-such-secret' of scope 'keyvault' in Key Vault {key_vault.vault_url}: no such secret"
    )
    assert err.value.__cause__ is None and err.value.__context__ is not None
    assert_no_secret(message)


def test_a_name_key_vault_cannot_hold_is_refused_before_any_request(key_vault: KeyVault):
    with pytest.raises(SecretError, match="letters, digits and dashes"):
        secrets.get("keyvault", "cosmos_uri")
    assert key_vault.requests == []


def test_a_wrong_identity_header_fails_with_the_credential_named_and_nothing_secret(
    key_vault: KeyVault, identity_endpoint: ManagedIdentityEndpoint, monkeypatch
):
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-platform-header")
    monkeypatch.setenv("FEATURE_STORE_AZURE_CREDENTIAL", "managed_identity")
    with pytest.raises(SecretError) as err:
        secrets.get("keyvault", "cosmos-uri")
    message = str(err.value)
    assert message.startswith(
        f"secret 'cosmos-uri' of scope 'keyvault' in Key Vault {key_vault.vault_url}: "
        "ManagedIdentityCredential could not get a token"
    )
    assert "X-IDENTITY-HEADER" in message  # the endpoint's own reason (statusCode/message), passed on
    assert [r.status for r in identity_endpoint.requests] == [401]
    assert_no_secret(message, identity_endpoint.header, "not-the-platform-header")


def test_an_identity_without_access_is_refused_by_the_vault(key_vault: KeyVault):
    key_vault.allowed_object_ids = {"someone-else"}
    with pytest.raises(SecretError, match=r"Key Vault answered 403 Forbidden: Caller is not authorized"):
        secrets.get("keyvault", "cosmos-uri")


def test_an_unreachable_vault_says_so(tls, identity_endpoint, monkeypatch):
    from scripts.devservices import free_port

    url = f"https://127.0.0.1:{free_port()}/"
    monkeypatch.setenv("FEATURE_STORE_KEY_VAULT_URL", url)
    monkeypatch.setenv("FEATURE_STORE_KEY_VAULT_VERIFY_CHALLENGE", "false")
    store = Secrets.from_env(retry_total=0)
    with pytest.raises(SecretError, match=f"in Key Vault {url}: the vault is unreachable"):
        store.get("keyvault", "cosmos-uri")


def test_the_sdk_checks_the_challenge_resource_unless_told_not_to(key_vault: KeyVault, monkeypatch):
    """On by default: a vault outside the challenge's domain (vault.azure.net) gets no token."""
    monkeypatch.delenv("FEATURE_STORE_KEY_VAULT_VERIFY_CHALLENGE")
    with pytest.raises(ValueError, match="does not match the requested domain"):
        Secrets.from_env().get("keyvault", "cosmos-uri")


def test_the_seed_publish_snippet_resolves_everything_from_key_vault(key_vault: KeyVault):
    """The architecture reference's publish_table spec, with only the import changed."""
    from feature_store import AzureCosmosDBSpec, dbutils

    spec = AzureCosmosDBSpec(
        account_uri=dbutils.secrets.get("keyvault", "cosmos-uri"),
        write_secret_prefix="keyvault/cosmos-key",
        read_secret_prefix="keyvault/cosmos-key",
        database_name="features",
        container_name="customer_features",
    )
    assert spec.endpoint == PLANTED["cosmos-uri"]
    assert spec.key == spec.for_reading().key == PLANTED["cosmos-key-authorization-key"]
    assert (
        spec.describe() == "cosmos https://planted-account.documents.azure.com:443 features/customer_features"
    )
    shown = repr(spec) + repr(spec.for_reading())  # the account URI is shown: it names, it does not open
    assert PLANTED["cosmos-key-authorization-key"] not in shown
    assert key_vault.served("cosmos-key-authorization-key") == 1  # the second read came from the cache


def test_a_missing_prefix_secret_in_key_vault_names_scope_key_and_vault(key_vault: KeyVault):
    from feature_store import AzureCosmosDBSpec

    with pytest.raises(SecretError) as err:
        AzureCosmosDBSpec(
            account_uri="https://acct.documents.azure.com:443/", write_secret_prefix="keyvault/nope"
        )
    assert str(err.value) == (
        f"secret 'nope-authorization-key' of scope 'keyvault' in Key Vault {key_vault.vault_url}: no such secret"
    )


def test_check_proves_each_vault_answers_with_this_identity(key_vault: KeyVault):
    assert secrets.check() == f"{key_vault.vault_url} as DefaultAzureCredential"
    assert [(r.path, r.status) for r in key_vault.requests if r.authorized] == [
        (
            "/secrets/featurestore-doctor-probe/",
            404,
        )  # no such secret, but the token and the read were accepted
    ]
    key_vault.allowed_object_ids = set()
    with pytest.raises(
        SecretError, match=f"^Key Vault {key_vault.vault_url}: Key Vault answered 403 Forbidden"
    ):
        secrets.check()


def test_check_without_a_vault_says_where_secrets_come_from():
    assert secrets.check() == "not configured: secrets come from <SCOPE>_<KEY> environment variables"


def test_no_secret_or_token_reaches_the_logs(
    key_vault: KeyVault, identity_endpoint: ManagedIdentityEndpoint, caplog
):
    """Everything the SDKs log at DEBUG while reading secrets, including a failed read."""
    import logging

    with caplog.at_level(logging.DEBUG):
        secrets.get("keyvault", "cosmos-uri")
        secrets.get("keyvault", "cosmos-key-authorization-key")
        with pytest.raises(SecretError):
            secrets.get("keyvault", "no-such-secret")
    assert "vault.azure.net" in caplog.text  # the SDKs did log
    tokens = [t.token for t in identity_endpoint.issued]
    assert tokens
    assert_no_secret(caplog.text, *tokens, identity_endpoint.header)
