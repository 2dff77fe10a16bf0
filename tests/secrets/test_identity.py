"""AzureIdentity: which azure-identity credential each configuration builds, what it requires, and that
a managed identity's tokens come from the platform endpoint (the fake) for the right identity."""

from __future__ import annotations

import pickle

import pytest
from azure.identity import (
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from feature_store.azure.identity import AzureIdentity
from feature_store.runtime.variables import SettingsError
from tests.fakes.managed_identity import ManagedIdentityEndpoint

SECRET = "planted-service-principal-secret"


def test_each_kind_builds_its_credential(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("a-service-account-token")
    cases = {
        "default": (AzureIdentity(), DefaultAzureCredential),
        "managed_identity": (AzureIdentity("managed_identity", client_id="mi"), ManagedIdentityCredential),
        "workload_identity": (
            AzureIdentity(
                "workload_identity", client_id="app", tenant_id="tenant", federated_token_file=str(token_file)
            ),
            WorkloadIdentityCredential,
        ),
        "client_secret": (
            AzureIdentity("client_secret", client_id="app", tenant_id="tenant", client_secret=SECRET),
            ClientSecretCredential,
        ),
    }
    for kind, (identity, expected) in cases.items():
        credential = identity.credential()
        assert isinstance(credential, expected), kind
        credential.close()
        assert SECRET not in repr(identity) and SECRET not in identity.describe()
        assert pickle.loads(pickle.dumps(identity)) == identity


def test_configuration_from_the_environment_names_what_is_missing():
    env = {
        "FEATURE_STORE_AZURE_CREDENTIAL": "client_secret",
        "AZURE_CLIENT_ID": "app",
        "AZURE_CLIENT_SECRET": SECRET,
    }
    with pytest.raises(SettingsError) as err:
        AzureIdentity.from_env(env)
    assert str(err.value) == "FEATURE_STORE_AZURE_CREDENTIAL=client_secret needs AZURE_TENANT_ID"
    assert AzureIdentity.from_env({**env, "AZURE_TENANT_ID": "t"}).client_secret == SECRET
    with pytest.raises(SettingsError, match="FEATURE_STORE_AZURE_CREDENTIAL='msi' is not a credential kind"):
        AzureIdentity.from_env({"FEATURE_STORE_AZURE_CREDENTIAL": "msi"})
    assert AzureIdentity.from_env({}) == AzureIdentity("default")


@pytest.mark.parametrize("kind", ["managed_identity", "default"])
def test_a_user_assigned_identity_is_asked_for_by_client_id(kind, monkeypatch):
    with ManagedIdentityEndpoint(identities={"user-assigned-client": "user-assigned-oid"}) as endpoint:
        for name, value in endpoint.env().items():
            monkeypatch.setenv(name, value)
        credential = AzureIdentity(kind, client_id="user-assigned-client").credential()
        token = credential.get_token("https://vault.azure.net/.default").token
        assert endpoint.verify(token, "https://vault.azure.net")["oid"] == "user-assigned-oid"
        assert [(r.resource, r.client_id) for r in endpoint.requests] == [
            ("https://vault.azure.net", "user-assigned-client")
        ]
        with pytest.raises(Exception, match="Unable to load the proper Managed Identity"):
            AzureIdentity("managed_identity", client_id="unknown").credential().get_token(
                "https://x/.default"
            )
