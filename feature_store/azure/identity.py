"""Entra ID credentials from configuration, for Key Vault, Cosmos DB and Azure Cache for Redis.

FEATURE_STORE_AZURE_CREDENTIAL picks the azure-identity credential:

| kind                | credential                                    | reads                                          |
| ------------------- | --------------------------------------------- | ---------------------------------------------- |
| `default`           | `DefaultAzureCredential`                      | its own chain: environment, workload identity, managed identity, `az login`; AZURE_CLIENT_ID picks a user-assigned managed identity |
| `managed_identity`  | `ManagedIdentityCredential`                   | AZURE_CLIENT_ID (optional: a user-assigned identity; unset: system-assigned) |
| `workload_identity` | `WorkloadIdentityCredential` (AKS)            | AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE (the AKS webhook sets all three) |
| `client_secret`     | `ClientSecretCredential` (a service principal) | AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET |

An `AzureIdentity` is the configuration, a small picklable value: online store specs carry it to Spark
executors, where each process builds its own credential (credentials hold HTTP sessions and locks and
do not pickle). Managed identity itself is found the platform's way: IMDS on VMs and AKS, or
IDENTITY_ENDPOINT + IDENTITY_HEADER on App Service, Functions and Container Apps (read by azure-identity).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from feature_store.runtime import variables as V

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from redis.credentials import StreamingCredentialProvider

log = logging.getLogger(__name__)

CREDENTIAL_KINDS = ("default", "managed_identity", "workload_identity", "client_secret")
# Azure Cache for Redis accepts Entra ID tokens for this scope; the user name is the token's `oid`.
REDIS_SCOPE = "https://redis.azure.com/.default"
# Of a token's lifetime, the share after which redis-entraid fetches the next one (its default, 0.7):
# with Entra's 60-90 minute tokens a connection re-authenticates 20-30 minutes before expiry.
REDIS_REFRESH_RATIO = 0.7

_REQUIRED = {
    "workload_identity": (("tenant_id", V.AZURE_TENANT_ID), ("client_id", V.AZURE_CLIENT_ID),
                          ("federated_token_file", V.AZURE_FEDERATED_TOKEN_FILE)),
    "client_secret": (("tenant_id", V.AZURE_TENANT_ID), ("client_id", V.AZURE_CLIENT_ID),
                      ("client_secret", V.AZURE_CLIENT_SECRET)),
}  # fmt: skip


@dataclass(frozen=True)
class AzureIdentity:
    """Which Entra ID identity this process acts as (module doc). `client_secret` stays out of repr."""

    kind: str = "default"
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    federated_token_file: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CREDENTIAL_KINDS:
            raise V.SettingsError(
                f"{V.AZURE_CREDENTIAL.name}={self.kind!r} is not a credential kind; use one of "
                f"{', '.join(CREDENTIAL_KINDS)}"
            )
        missing = [
            variable.name for attr, variable in _REQUIRED.get(self.kind, ()) if not getattr(self, attr)
        ]
        if missing:
            raise V.SettingsError(f"{V.AZURE_CREDENTIAL.name}={self.kind} needs {' and '.join(missing)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AzureIdentity:
        return cls(
            kind=V.AZURE_CREDENTIAL.value(env) or "default",
            client_id=V.AZURE_CLIENT_ID.value(env),
            tenant_id=V.AZURE_TENANT_ID.value(env),
            client_secret=V.AZURE_CLIENT_SECRET.value(env),
            federated_token_file=V.AZURE_FEDERATED_TOKEN_FILE.value(env),
        )

    def describe(self) -> str:
        """For errors and logs: the kind and client id, never the secret."""
        names = {
            "default": "DefaultAzureCredential",
            "managed_identity": "ManagedIdentityCredential",
            "workload_identity": "WorkloadIdentityCredential",
            "client_secret": "ClientSecretCredential",
        }
        who = f" (client id {self.client_id})" if self.client_id else ""
        return f"{names[self.kind]}{who}"

    def credential(self, **kwargs: Any) -> TokenCredential:
        """A new azure-identity credential; keyword arguments go to its constructor (e.g. a transport)."""
        import azure.identity as identity

        if self.kind == "managed_identity":
            return identity.ManagedIdentityCredential(client_id=self.client_id, **kwargs)
        if self.kind == "workload_identity":
            return identity.WorkloadIdentityCredential(
                tenant_id=self.tenant_id, client_id=self.client_id,
                token_file_path=self.federated_token_file, **kwargs,
            )  # fmt: skip
        if self.kind == "client_secret":
            return identity.ClientSecretCredential(
                self.tenant_id, self.client_id, self.client_secret, **kwargs
            )
        if self.client_id:  # DefaultAzureCredential reads AZURE_CLIENT_ID itself; this keeps a pickled
            kwargs.setdefault("managed_identity_client_id", self.client_id)  # identity's choice on executors
        return identity.DefaultAzureCredential(**kwargs)


def blob_credential(env: Mapping[str, str] | None = None) -> str | TokenCredential:
    """For the landing account (AZURE_BLOB_ACCOUNT_URL) and Blob reports: its key when
    AZURE_BLOB_ACCOUNT_KEY is set, else this process's identity."""
    key = V.BLOB_ACCOUNT_KEY.value(env)
    return key if key else AzureIdentity.from_env(env).credential()


def redis_credential_provider(
    identity: AzureIdentity, scope: str = REDIS_SCOPE, refresh_ratio: float = REDIS_REFRESH_RATIO
) -> StreamingCredentialProvider:
    """A redis-py credential provider for Azure Cache for Redis with Entra ID: redis-entraid fetches a
    token from `identity` on connect (user name = the token's `oid`) and, in a background thread, a new
    one at `refresh_ratio` of its lifetime, which redis-py sends as `AUTH` on the open connections.

    One provider per client: redis-py registers a single re-authentication callback on it. Call
    `stop_refreshing` when the client closes."""
    from redis.auth.token_manager import RetryPolicy, TokenManagerConfig
    from redis_entraid.cred_provider import EntraIdCredentialsProvider
    from redis_entraid.identity_provider import DefaultAzureCredentialProvider

    # redis-entraid's provider for DefaultAzureCredential only calls get_token(scope): any azure-identity
    # credential fits, so every kind of AzureIdentity goes through the same path.
    provider = DefaultAzureCredentialProvider(identity.credential(), (scope,))
    # 3 attempts 200 ms apart: a token endpoint hiccup (IMDS throttles) should not fail a connect.
    config = TokenManagerConfig(refresh_ratio, 0, 100, RetryPolicy(3, 200))
    return EntraIdCredentialsProvider(provider, config)


def stop_refreshing(provider: StreamingCredentialProvider) -> None:
    """Cancel the provider's scheduled token refresh (redis-entraid 1.2.2 has no public stop: its token
    manager's is reached through the attribute; the library version is pinned)."""
    manager = getattr(provider, "_token_mgr", None)
    if manager is not None:
        manager.stop()
