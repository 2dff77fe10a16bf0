"""Online stores: the latest feature row per (table, key), for low-latency lookups.

One interface (`OnlineStore`), three backends: `SqliteOnlineStore` (embedded default),
`RedisOnlineStore`, `CosmosOnlineStore`. Backends are imported lazily, so using SQLite needs neither
redis-py nor azure-cosmos to import.
"""

from __future__ import annotations

from typing import Any

from feature_store.online.base import (
    DEFAULT_MAX_ROW_BYTES,
    TS_COLUMN,
    InvalidRowError,
    OnlineStore,
    OnlineStoreError,
    ReadRequest,
    TableResult,
    WriteResult,
)

__all__ = [
    "DEFAULT_MAX_ROW_BYTES",
    "TS_COLUMN",
    "CosmosOnlineStore",
    "InvalidRowError",
    "OnlineStore",
    "OnlineStoreError",
    "ReadRequest",
    "RedisOnlineStore",
    "SqliteOnlineStore",
    "TableResult",
    "WriteResult",
]

_LAZY = {
    "SqliteOnlineStore": "feature_store.online.sqlite_store",
    "RedisOnlineStore": "feature_store.online.redis_store",
    "CosmosOnlineStore": "feature_store.online.cosmos_store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
