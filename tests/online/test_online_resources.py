"""The online store resources: no secret in their repr (Dagster prints resources), Entra ID and Key Vault
secret prefixes reach the specs, and the profile builds them from the variables without reading Key Vault."""

from __future__ import annotations

from feature_store.azure.identity import AzureIdentity
from feature_store.online.specs import AzureCosmosDBSpec, CosmosStoreSpec
from feature_store.runtime.settings import Settings
from resources.online import AzureIdentityConfig, CosmosOnlineStoreResource, RedisOnlineStoreResource
from resources.profiles import online_store_resource

SECRETS = ("planted-redis-pw", "cGxhbnRlZC1rZXk=", "planted-client-secret")


def test_no_resource_shows_a_secret():
    identity = AzureIdentityConfig(
        kind="client_secret", client_id="a", tenant_id="t", client_secret=SECRETS[2]
    )
    for resource in (
        RedisOnlineStoreResource(password=SECRETS[0]),
        RedisOnlineStoreResource(identity=identity),
        CosmosOnlineStoreResource(endpoint="https://a.documents.azure.com/", key=SECRETS[1]),
    ):
        shown = repr(resource) + str(resource)
        assert not [s for s in SECRETS if s in shown], shown


def test_the_profile_builds_entra_and_prefix_resources(monkeypatch):
    monkeypatch.setenv("FEATURE_STORE_ONLINE_STORE", "cosmos")
    monkeypatch.setenv("FEATURE_STORE_COSMOS_ENDPOINT", "https://a.documents.azure.com/")
    monkeypatch.setenv("FEATURE_STORE_COSMOS_AUTH", "entra")
    monkeypatch.setenv("FEATURE_STORE_AZURE_CREDENTIAL", "managed_identity")
    spec = online_store_resource(Settings.from_env()).spec()
    assert isinstance(spec, CosmosStoreSpec) and spec.identity == AzureIdentity("managed_identity")
    monkeypatch.setenv("FEATURE_STORE_COSMOS_AUTH", "key")
    monkeypatch.setenv("FEATURE_STORE_COSMOS_WRITE_SECRET_PREFIX", "kv/w")
    resource = online_store_resource(Settings.from_env())  # no secret read yet
    monkeypatch.setenv("KV_W_AUTHORIZATION_KEY", SECRETS[1])
    spec = resource.spec()
    assert isinstance(spec, AzureCosmosDBSpec) and spec.key == SECRETS[1]
