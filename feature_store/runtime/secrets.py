"""Secrets by scope and key, the Databricks way: `secrets.get("keyvault", "cosmos-uri")`.

Where a scope's secrets are read from, first match wins:
1. FEATURE_STORE_KEY_VAULT_SCOPES, `scope=vault` pairs separated by commas, e.g.
   `keyvault=https://fs-prod.vault.azure.net,ml=https://ml-prod.vault.azure.net,dev=env`; `env` makes
   that scope read the environment.
2. FEATURE_STORE_KEY_VAULT_URL: the vault of every other scope (like a Databricks Key Vault-backed scope).
3. Neither: the environment variable `env_var(scope, key)`, i.e. `<SCOPE>_<KEY>` upper-cased with every
   character other than A-Z and 0-9 as `_`: ("keyvault", "cosmos-uri") -> `KEYVAULT_COSMOS_URI`.
A scope is read from one place only, never "vault, else environment", so where a value came from is
always known. In a vault the key is the secret's name (Key Vault allows letters, digits and dashes).

Key Vault is read with azure-keyvault-secrets and the Entra ID credential of feature_store/azure/identity.py
(FEATURE_STORE_AZURE_CREDENTIAL, DefaultAzureCredential by default). Values are reused for
FEATURE_STORE_SECRETS_CACHE_SECONDS (60 s), so a loop of lookups costs one request, and a rotated secret
is picked up within that time. Errors (`SecretError`) name the scope, key and vault or variable, never
a value; `resolved_values()` lists the values this process read from Key Vault, for redaction.

`feature_store.dbutils` puts this module where the seed snippets expect it: `dbutils.secrets.get(...)`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from feature_store.azure.identity import AzureIdentity
from feature_store.runtime import variables as V
from feature_store.runtime.redaction import redact_text

ENVIRONMENT = "env"  # FEATURE_STORE_KEY_VAULT_SCOPES value: the scope reads environment variables
PROBE_SECRET = "featurestore-doctor-probe"  # read by check(); it need not exist
_KEY_VAULT_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
# The variables a process-wide Secrets is built from: when one changes, it is rebuilt.
_CONFIGURATION = (V.KEY_VAULT_URL, V.KEY_VAULT_SCOPES, V.KEY_VAULT_VERIFY_CHALLENGE, V.SECRETS_CACHE_SECONDS,
                  V.AZURE_CREDENTIAL, V.AZURE_CLIENT_ID, V.AZURE_TENANT_ID, V.AZURE_CLIENT_SECRET,
                  V.AZURE_FEDERATED_TOKEN_FILE)  # fmt: skip


class _NotFound(Exception):
    """The vault has no such secret (turned into a SecretError naming scope and key)."""


class SecretError(LookupError):
    """A secret could not be read; the message says which and from where, never a value."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


def env_var(scope: str, key: str) -> str:
    """The environment variable of a secret: ("keyvault", "cosmos-uri") -> `KEYVAULT_COSMOS_URI`."""
    if not scope or not key:
        raise ValueError(f"a secret needs a scope and a key, got scope={scope!r}, key={key!r}")
    return re.sub(r"[^A-Za-z0-9]", "_", f"{scope}_{key}").upper()


def parse_scopes(text: str | None) -> dict[str, str]:
    """`a=https://v.vault.azure.net,b=env` -> {"a": "https://v.vault.azure.net", "b": "env"}."""
    scopes: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        scope, sep, target = (part.strip() for part in item.partition("="))
        if not sep or not scope or not target:
            raise V.SettingsError(
                f"{V.KEY_VAULT_SCOPES.name}: {item.strip()!r} is not 'scope=<vault url>' or 'scope=env'"
            )
        if target != ENVIRONMENT and not target.startswith("https://"):
            raise V.SettingsError(
                f"{V.KEY_VAULT_SCOPES.name}: the vault of scope {scope!r} must be an https:// URL"
            )
        scopes[scope] = target
    return scopes


class Secrets:
    """Reads secrets by (scope, key) from the vaults configured for the scopes, else the environment.

    `client_kwargs` go to every `SecretClient` (e.g. `connection_verify=<CA file>`)."""

    def __init__(
        self,
        *,
        vault_url: str | None = None,
        scope_vaults: Mapping[str, str] | None = None,
        identity: AzureIdentity | None = None,
        cache_seconds: float = 60.0,
        env: Mapping[str, str] | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.vault_url = vault_url or None
        self.scope_vaults = dict(scope_vaults or {})
        self.identity = identity or AzureIdentity()
        self.cache_seconds = cache_seconds
        self._env = env  # None: os.environ at the time of each lookup
        self._client_kwargs = client_kwargs
        self._clients: dict[str, Any] = {}
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **client_kwargs: Any) -> Secrets:
        if not V.KEY_VAULT_VERIFY_CHALLENGE.flag(env):
            client_kwargs.setdefault("verify_challenge_resource", False)
        seconds = V.SECRETS_CACHE_SECONDS.value(env)
        try:
            cache_seconds = float(seconds)
        except ValueError:
            raise V.SettingsError(
                f"{V.SECRETS_CACHE_SECONDS.name}={seconds!r} is not a number of seconds"
            ) from None
        return cls(
            vault_url=V.KEY_VAULT_URL.value(env),
            scope_vaults=parse_scopes(V.KEY_VAULT_SCOPES.value(env)),
            identity=AzureIdentity.from_env(env),
            cache_seconds=cache_seconds,
            env=env,
            **client_kwargs,
        )

    def vault_for(self, scope: str) -> str | None:
        """The vault URL a scope reads from, or None for the environment."""
        target = self.scope_vaults.get(scope, self.vault_url)
        return None if target in (None, ENVIRONMENT) else target

    def get(self, scope: str, key: str) -> str:
        variable = env_var(scope, key)  # validates scope and key
        vault = self.vault_for(scope)
        if vault is None:
            value = (os.environ if self._env is None else self._env).get(variable)
            if not value:
                raise SecretError(
                    f"secret {key!r} of scope {scope!r}: no Key Vault is configured for the scope, so it is "
                    f"read from the environment variable {variable}, which is not set"
                )
            return value
        return self._from_vault(vault, scope, key)

    def _from_vault(self, vault: str, scope: str, key: str) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get((vault, key))
        if cached is not None and cached[1] > now:
            return cached[0]
        where = f"secret {key!r} of scope {scope!r} in Key Vault {vault}"
        if not _KEY_VAULT_NAME.match(key):
            raise SecretError(f"{where}: a Key Vault secret name has only letters, digits and dashes")
        try:
            value = self._read(vault, key, where)
        except _NotFound:
            raise SecretError(f"{where}: no such secret") from None
        if value is None:
            raise SecretError(f"{where}: the secret has no value")
        with self._lock:
            self._cache[(vault, key)] = (value, now + self.cache_seconds)
        with _resolved_lock:
            _resolved.add(value)
        return value

    def _read(self, vault: str, key: str, where: str) -> str | None:
        """The secret's value; SecretError naming `where` for every failure but a missing secret."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        try:
            return self._client(vault).get_secret(key).value
        except ResourceNotFoundError:
            raise _NotFound from None
        except ClientAuthenticationError as exc:  # incl. CredentialUnavailableError
            raise SecretError(
                f"{where}: {self.identity.describe()} could not get a token: {_first_line(exc)}"
            ) from None
        except HttpResponseError as exc:
            code = getattr(exc.error, "code", None) or exc.reason
            raise SecretError(
                f"{where}: Key Vault answered {exc.status_code} {code}: {_first_line(exc)}"
            ) from None
        except ServiceRequestError as exc:
            raise SecretError(f"{where}: the vault is unreachable: {_first_line(exc)}") from None

    def vaults(self) -> list[str]:
        """Every vault a scope reads from."""
        return sorted({v for v in (self.vault_url, *self.scope_vaults.values()) if v and v != ENVIRONMENT})

    def check(self) -> str:
        """For `featurestore doctor`: each vault answers an authenticated read (a probe secret that need not
        exist: its 404 proves the token and the read permission). Raises SecretError, else says what works."""
        vaults = self.vaults()
        if not vaults:
            return "not configured: secrets come from <SCOPE>_<KEY> environment variables"
        for vault in vaults:
            with contextlib.suppress(_NotFound):
                self._read(vault, PROBE_SECRET, f"Key Vault {vault}")
        return f"{', '.join(vaults)} as {self.identity.describe()}"

    def _client(self, vault: str) -> Any:
        with self._lock:
            client = self._clients.get(vault)
            if client is None:
                from azure.keyvault.secrets import SecretClient

                client = SecretClient(vault, self.identity.credential(), **self._client_kwargs)
                self._clients[vault] = client
            return client

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            self._cache.clear()
        for client in clients:
            client.close()


def _first_line(exc: BaseException) -> str:
    """The first line of an SDK error, with known secret values masked (they never should be in it)."""
    error = getattr(exc, "error", None)  # an HttpResponseError's parsed {"error": {"code", "message"}}
    text = str(getattr(error, "message", None) or getattr(exc, "message", None) or exc).strip().splitlines()
    return redact_text(text[0] if text else type(exc).__name__)


_resolved: set[str] = set()
_resolved_lock = threading.Lock()
_process_lock = threading.Lock()
_process: tuple[tuple[str | None, ...], Secrets] | None = None
_chosen: Secrets | None = None


def configured() -> Secrets:
    """This process's Secrets: the one passed to `use`, else built from the environment (and rebuilt
    when one of the variables it is built from changes)."""
    global _process
    if _chosen is not None:
        return _chosen
    key = tuple(v.value() for v in _CONFIGURATION)
    with _process_lock:
        if _process is None or _process[0] != key:
            if _process is not None:
                _process[1].close()
            _process = (key, Secrets.from_env())
        return _process[1]


def use(secrets: Secrets | None) -> None:
    """Make `secrets` this process's source for `get` (None: back to the environment's configuration)."""
    global _chosen
    _chosen = secrets


def reset() -> None:
    """Forget the process's Secrets, its clients and cached values (tests; after changing identity)."""
    global _process, _chosen
    with _process_lock:
        if _process is not None:
            _process[1].close()
        _process, _chosen = None, None


def get(scope: str, key: str) -> str:
    """The secret `key` of `scope` (module doc: Key Vault or the environment)."""
    return configured().get(scope, key)


def check() -> str:
    """The process's vaults answer with its identity (for `featurestore doctor`); raises SecretError."""
    return configured().check()


def resolved_values() -> list[str]:
    """Every value this process read from Key Vault: text shown to people must not contain them."""
    with _resolved_lock:
        return sorted(_resolved)
