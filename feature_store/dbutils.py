"""The slice of Databricks' `dbutils` the seed snippets use, so they run with only the import changed:

    from feature_store import dbutils
    dbutils.secrets.get("keyvault", "cosmos-uri")

`dbutils.secrets` is `feature_store.runtime.secrets` plus Databricks' camel-case `getBytes`: Key Vault when a vault
is configured for the scope, else the environment variable `<SCOPE>_<KEY>` (see feature_store/runtime/secrets.py).
"""

from __future__ import annotations

from types import SimpleNamespace

from feature_store.runtime import secrets as _secrets


def _get_bytes(scope: str, key: str) -> bytes:
    return _secrets.get(scope, key).encode()


secrets = SimpleNamespace(get=_secrets.get, getBytes=_get_bytes)

__all__ = ["secrets"]
