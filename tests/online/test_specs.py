"""Online store specs from configuration: keys or Entra ID, the Databricks secret prefixes (write key for
publishing, read key for serving), and no secret in any repr, describe() or pickle-visible text."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from feature_store.azure.identity import AzureIdentity
from feature_store.online.specs import (
    READ_THROTTLE_BUDGET,
    AzureCosmosDBSpec,
    CosmosStoreSpec,
    RedisStoreSpec,
    SqliteStoreSpec,
    spec_from_env,
)
from feature_store.runtime import secrets
from feature_store.runtime.secrets import SecretError
from feature_store.runtime.variables import SettingsError

WRITE_KEY = "cGxhbnRlZC13cml0ZS1rZXk="
READ_KEY = "cGxhbnRlZC1yZWFkLWtleQ=="
PASSWORD = "planted-redis-password"
CLIENT_SECRET = "planted-client-secret"
ENDPOINT = "https://acct.documents.azure.com:443/"


@pytest.fixture(autouse=True)
def _fresh_secrets():
    secrets.reset()
    yield
    secrets.reset()


def _shown(spec) -> str:
    """Everything a spec shows people: repr, str, describe(), and those of its reading spec."""
    reading = spec.for_reading()
    return " ".join([repr(spec), str(spec), spec.describe(), repr(reading), reading.describe()])


def test_no_spec_shows_a_secret(monkeypatch):
    monkeypatch.setenv("KV_COSMOS_WRITE_AUTHORIZATION_KEY", WRITE_KEY)
    monkeypatch.setenv("KV_COSMOS_READ_AUTHORIZATION_KEY", READ_KEY)
    identity = AzureIdentity(
        "client_secret", client_id="app", tenant_id="tenant", client_secret=CLIENT_SECRET
    )
    specs = [
        RedisStoreSpec("cache.redis.cache.windows.net", 6380, username="u", password=PASSWORD, ssl=True),
        RedisStoreSpec("cache.redis.cache.windows.net", 6380, ssl=True, identity=identity),
        CosmosStoreSpec(ENDPOINT, WRITE_KEY),
        CosmosStoreSpec(ENDPOINT, identity=identity),
        AzureCosmosDBSpec(
            ENDPOINT, write_secret_prefix="kv/cosmos-write", read_secret_prefix="kv/cosmos-read"
        ),
    ]
    for spec in specs:
        shown = _shown(spec)
        for value in (WRITE_KEY, READ_KEY, PASSWORD, CLIENT_SECRET):
            assert value not in shown, f"{type(spec).__name__} shows a secret: {shown}"
        assert pickle.loads(pickle.dumps(spec)) == spec  # still travels to executors
    assert (
        specs[1].describe()
        == "rediss cache.redis.cache.windows.net:6380/0 as ClientSecretCredential (client id app)"
    )


def test_the_databricks_spec_publishes_with_the_write_key_and_serves_with_the_read_key(monkeypatch):
    monkeypatch.setenv("KV_COSMOS_WRITE_AUTHORIZATION_KEY", WRITE_KEY)
    spec = AzureCosmosDBSpec(
        ENDPOINT, write_secret_prefix="kv/cosmos-write", read_secret_prefix="kv/cosmos-read"
    )
    assert spec.key == WRITE_KEY
    with pytest.raises(SecretError, match="KV_COSMOS_READ_AUTHORIZATION_KEY, which is not set"):
        spec.for_reading()  # read lazily: a publishing process needs no access to the read key
    monkeypatch.setenv("KV_COSMOS_READ_AUTHORIZATION_KEY", READ_KEY)
    reading = spec.for_reading()
    assert (type(reading), reading.key, reading.endpoint) == (CosmosStoreSpec, READ_KEY, ENDPOINT)
    assert (reading.throttle_retries, reading.throttle_wait_seconds) == READ_THROTTLE_BUDGET
    same = AzureCosmosDBSpec(ENDPOINT, write_secret_prefix="kv/cosmos-write")
    assert same.for_reading().key == WRITE_KEY  # no read prefix: the write key serves too


def test_secret_prefixes_must_name_a_scope():
    for bad in ("cosmos-key", "/cosmos-key", "kv/"):
        with pytest.raises(ValueError, match="must look like '<scope>/<prefix>'"):
            AzureCosmosDBSpec(ENDPOINT, write_secret_prefix=bad)


def test_a_cosmos_spec_has_a_key_or_an_identity_never_both_or_neither():
    with pytest.raises(ValueError, match="either an account key or an Entra ID identity"):
        CosmosStoreSpec(ENDPOINT)
    with pytest.raises(ValueError, match="either an account key or an Entra ID identity"):
        CosmosStoreSpec(ENDPOINT, WRITE_KEY, identity=AzureIdentity())
    with pytest.raises(ValueError, match="no username or password"):
        RedisStoreSpec(password=PASSWORD, identity=AzureIdentity())


def test_other_specs_read_what_they_write(tmp_path: Path):
    for spec in (SqliteStoreSpec(str(tmp_path / "f.db")), RedisStoreSpec()):
        assert spec.for_reading() is spec
    # Cosmos reads the same store with the same key, on a request path's throttling budget.
    cosmos = CosmosStoreSpec(ENDPOINT, WRITE_KEY)
    reading = cosmos.for_reading()
    assert (reading.endpoint, reading.key, reading.database, reading.container) == (
        cosmos.endpoint, cosmos.key, cosmos.database, cosmos.container)  # fmt: skip
    assert (reading.throttle_retries, reading.throttle_wait_seconds) == READ_THROTTLE_BUDGET
    assert (cosmos.throttle_retries, cosmos.throttle_wait_seconds) == (9, 30.0)  # publishes: the SDK's


def test_spec_from_env_entra_id_for_redis_and_cosmos(tmp_path: Path):
    env = {"FEATURE_STORE_REDIS_AUTH": "entra", "FEATURE_STORE_REDIS_SSL": "true", "FEATURE_STORE_REDIS_PORT": "6380",
           "FEATURE_STORE_AZURE_CREDENTIAL": "managed_identity", "AZURE_CLIENT_ID": "mi-client"}  # fmt: skip
    redis = spec_from_env("redis", tmp_path, env)
    assert redis.identity == AzureIdentity("managed_identity", client_id="mi-client")
    assert (redis.username, redis.password, redis.ssl, redis.port) == (None, None, True, 6380)
    with pytest.raises(
        SettingsError, match="unset FEATURE_STORE_REDIS_USERNAME and FEATURE_STORE_REDIS_PASSWORD"
    ):
        spec_from_env("redis", tmp_path, {**env, "FEATURE_STORE_REDIS_PASSWORD": PASSWORD})
    cosmos = spec_from_env(
        "cosmos",
        tmp_path,
        {**env, "FEATURE_STORE_COSMOS_AUTH": "entra", "FEATURE_STORE_COSMOS_ENDPOINT": ENDPOINT},
    )
    assert (cosmos.key, cosmos.identity) == (None, AzureIdentity("managed_identity", client_id="mi-client"))
    with pytest.raises(SettingsError, match="FEATURE_STORE_COSMOS_AUTH='aad': use key or entra"):
        spec_from_env(
            "cosmos",
            tmp_path,
            {"FEATURE_STORE_COSMOS_AUTH": "aad", "FEATURE_STORE_COSMOS_ENDPOINT": ENDPOINT},
        )


def test_spec_from_env_cosmos_keys(tmp_path: Path, monkeypatch):
    base = {"FEATURE_STORE_COSMOS_ENDPOINT": ENDPOINT, "FEATURE_STORE_COSMOS_DATABASE": "features"}
    assert spec_from_env("cosmos", tmp_path, {**base, "FEATURE_STORE_COSMOS_KEY": WRITE_KEY}).key == WRITE_KEY
    monkeypatch.setenv("KV_COSMOS_WRITE_AUTHORIZATION_KEY", WRITE_KEY)
    monkeypatch.setenv("KV_COSMOS_READ_AUTHORIZATION_KEY", READ_KEY)
    spec = spec_from_env(
        "cosmos",
        tmp_path,
        {**base, "FEATURE_STORE_COSMOS_WRITE_SECRET_PREFIX": "kv/cosmos-write",
         "FEATURE_STORE_COSMOS_READ_SECRET_PREFIX": "kv/cosmos-read"},
    )  # fmt: skip
    assert isinstance(spec, AzureCosmosDBSpec) and spec.database == "features"
    assert (spec.key, spec.for_reading().key) == (WRITE_KEY, READ_KEY)
    with pytest.raises(SettingsError) as err:
        spec_from_env("cosmos", tmp_path, base)
    assert str(err.value) == (
        "FEATURE_STORE_ONLINE_STORE=cosmos needs FEATURE_STORE_COSMOS_KEY, or "
        "FEATURE_STORE_COSMOS_WRITE_SECRET_PREFIX, or FEATURE_STORE_COSMOS_AUTH=entra"
    )
    with pytest.raises(SettingsError, match="needs FEATURE_STORE_COSMOS_ENDPOINT"):
        spec_from_env("cosmos", tmp_path, {})
