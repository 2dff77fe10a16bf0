"""What the catalog says about a feature table, and a reader of it that needs no JVM.

A feature table describes itself in its Delta metadata (client/core.py's module doc). `feature_table`
turns that metadata into a `FeatureTable`, whichever reader fetched it: Spark's DESCRIBE DETAIL and
schema in the client, or the Delta log read by delta-rs in `CatalogReader`, which answers the
command line's `tables` and `describe` in well under a second (no Spark session, no jars).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from feature_store.client.validation import PRIMARY_KEYS, CatalogEntry, NotAFeatureTable, decode_properties
from feature_store.offline.delta_log import DeltaLog
from feature_store.offline.names import TableNotFound, qualified, table_path
from feature_store.online.catalog import read_published
from feature_store.runtime.settings import Settings


class Feature(NamedTuple):
    name: str
    dtype: str  # Spark SQL type, e.g. "double"
    description: str | None


@dataclass(frozen=True)
class FeatureTable:
    name: str  # qualified "schema.table"
    path: str
    primary_keys: list[str]
    timestamp_keys: list[str]
    description: str | None
    tags: dict[str, str]
    owners: list[str]
    features: list[Feature]  # every column except keys, timestamp keys and partition columns
    partition_columns: list[str] = field(default_factory=list)
    version: int | None = None  # Delta version the description was read at (get_table reads it)
    source: str | None = None  # the raw table it is computed from, when the assets wrote it
    key_types: dict[str, str] = field(default_factory=dict)  # primary and timestamp keys -> Spark type
    # The deployment's online store, if the table is published there: {"store", "published_at", "rows"}
    published_to: list[dict[str, Any]] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


def catalog_entry(table: str, path: str, properties: Mapping[str, str]) -> CatalogEntry:
    """The feature-table properties; NotAFeatureTable for a raw or tile table (no primary keys)."""
    entry = decode_properties(dict(properties))
    if not entry.primary_keys:
        raise NotAFeatureTable(
            f"{table} at {path} is a Delta table but not a feature table "
            f"(no {PRIMARY_KEYS} property); create feature tables with create_table"
        )
    return entry


def feature_table(
    table: str,
    path: str,
    entry: CatalogEntry,
    description: str | None,
    partition_columns: Sequence[str],
    columns: Sequence[Feature],
) -> FeatureTable:
    """The catalog's description of a feature table from its Delta metadata (columns: name, Spark type,
    comment); without its version and publication, which get_table adds."""
    not_features = {*entry.primary_keys, *entry.timestamp_keys, *partition_columns}
    keys = {*entry.primary_keys, *entry.timestamp_keys}
    return FeatureTable(
        name=table,
        path=path,
        primary_keys=entry.primary_keys,
        timestamp_keys=entry.timestamp_keys,
        description=description or None,
        tags=entry.tags,
        owners=entry.owners,
        features=[c for c in columns if c.name not in not_features],
        partition_columns=list(partition_columns),
        source=entry.source,
        key_types={c.name: c.dtype for c in columns if c.name in keys},
    )


def published_to(settings: Settings, table: str) -> list[dict[str, Any]]:
    """Where the table is published, from the descriptor each publish writes into the store."""
    spec = settings.online_store_spec()
    try:
        with spec.open() as store:
            described = read_published(store, [table])[table]
    except Exception as exc:  # the catalog stays readable while the store is down
        return [{"store": spec.describe(), "error": f"{type(exc).__name__}: {exc}"[:200]}]
    if described is None:
        return []
    return [{"store": spec.describe(), "published_at": described.published_at.isoformat(),
             "rows": described.rows_published}]  # fmt: skip


class CatalogReader:
    """list_tables and get_table as FeatureStoreClient answers them, from the Delta log (no Spark).
    Only for a Delta root on the local filesystem (`DeltaLog.is_readable_here`)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.log = DeltaLog(self.settings.delta_root)

    def list_tables(self, schema: str | None = None) -> list[str]:
        """Feature tables under the Delta root (those with primary keys), not raw or tile tables."""
        names = []
        for table in self.log.list(schema):
            try:
                if self.log.read(table).properties.get(PRIMARY_KEYS):
                    names.append(table)
            except TableNotFound:  # dropped while we were listing
                continue
        return names

    def get_table(self, name: str) -> FeatureTable:
        table = qualified(name)
        path = table_path(self.settings.delta_root, table)  # the path the Spark client reports
        read = self.log.read(table)
        entry = catalog_entry(table, path, read.properties)
        columns = [Feature(c.name, c.dtype, c.comment) for c in read.columns]
        described = feature_table(table, path, entry, read.description, read.partition_columns, columns)
        return dataclasses.replace(
            described, version=read.version, published_to=published_to(self.settings, table)
        )
