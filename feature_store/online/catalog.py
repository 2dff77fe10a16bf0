"""What is published in an online store, recorded in the store itself.

Every publish writes a small descriptor of the table (keys and their types, features and their types,
when and from which Delta version) as a row of the reserved table `_published_tables`, keyed by the
table's name, through the ordinary monotonic write path. A process that only has the store, the
serving endpoint for instance, can then plan lookups into any published table without Spark or the
Delta catalog, and the catalog can list which stores a table is published to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feature_store.online.base import TS_COLUMN, OnlineStore, ReadRequest

CATALOG_TABLE = "_published_tables"
_KEY, _DESCRIPTOR = "table", "descriptor"


@dataclass(frozen=True)
class PublishedTable:
    name: str
    primary_keys: tuple[str, ...]
    key_types: tuple[str, ...]  # Spark simple types, aligned with primary_keys
    features: tuple[tuple[str, str], ...]  # (name, Spark simple type), in table order
    timestamp_key: str | None
    published_at: datetime
    rows_published: int

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features]

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "primary_keys": list(self.primary_keys),
                "key_types": list(self.key_types),
                "features": [list(f) for f in self.features],
                "timestamp_key": self.timestamp_key,
                "published_at": self.published_at.isoformat(),
                "rows_published": self.rows_published,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PublishedTable:
        d = json.loads(text)
        return cls(
            name=d["name"],
            primary_keys=tuple(d["primary_keys"]),
            key_types=tuple(d["key_types"]),
            features=tuple((name, kind) for name, kind in d["features"]),
            timestamp_key=d["timestamp_key"],
            published_at=datetime.fromisoformat(d["published_at"]),
            rows_published=int(d["rows_published"]),
        )


def record_published(store: OnlineStore, table: PublishedTable) -> None:
    """Store the descriptor; a later publish replaces it (its published_at is later)."""
    row = {_KEY: table.name, TS_COLUMN: table.published_at, _DESCRIPTOR: table.to_json()}
    store.write_batch(CATALOG_TABLE, [_KEY], [row])


def read_published(store: OnlineStore, names: Sequence[str]) -> dict[str, PublishedTable | None]:
    """Descriptors of `names` (None for a table never published to this store), one round trip."""
    (result,) = store.read([ReadRequest(CATALOG_TABLE, list(names))])
    return {
        name: None if row is None else PublishedTable.from_json(row[_DESCRIPTOR])
        for name, row in zip(names, result.rows, strict=True)
    }


def now_utc() -> datetime:
    return datetime.now(UTC)
