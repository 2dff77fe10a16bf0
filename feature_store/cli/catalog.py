"""`featurestore tables` and `featurestore describe NAME` (registered in feature_store/cli/main.py): the
feature catalog from the Delta table properties, plus where each table is published.

On a local Delta root they read the Delta log with delta-rs (client/catalog.py: no JVM, well under a
second); on a remote one (abfss://, wasb://) they start Spark, which holds the storage credentials."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any


def start_client(purpose: str = "to read the catalog") -> Any:
    """The deployment's FeatureStoreClient, saying first why the command waits for Spark."""
    from feature_store.client.core import FeatureStoreClient

    print(f"starting Spark {purpose}...", file=sys.stderr, flush=True)
    return FeatureStoreClient()


def open_catalog() -> Any:
    """What answers list_tables and get_table: the Delta log itself when the root is local, else the
    Spark client (remote roots are authenticated through Spark's storage settings)."""
    from feature_store.client.catalog import CatalogReader
    from feature_store.offline.delta_log import DeltaLog
    from feature_store.runtime.settings import Settings

    settings = Settings.from_env()
    if DeltaLog.is_readable_here(settings.delta_root):
        return CatalogReader(settings)
    return start_client(f"to read the catalog on {settings.delta_root}")


def add_tables(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tables", help="list the feature tables", description="List the feature tables "
                              "under the Delta root with their keys, owners, tags and Delta version.")  # fmt: skip
    p.add_argument("--schema", help="only tables of this schema, e.g. feature_store")
    p.set_defaults(handler=run_tables)


def run_tables(args: argparse.Namespace) -> int:
    client = open_catalog()
    names = client.list_tables(args.schema)
    print(f"{'table':40} {'keys':28} {'version':>7}  tags")
    for name in names:
        table = client.get_table(name)
        tags = ", ".join(f"{k}={v}" for k, v in sorted(table.tags.items()))
        print(f"{name:40} {', '.join(table.primary_keys):28} {table.version:>7}  {tags}")
    print(f"{len(names)} feature table(s)", file=sys.stderr)
    return 0


def add_describe(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("describe", help="describe one feature table", description="Keys, timestamp "
                              "keys, every feature with its type and description, owners, tags, lineage, the "
                              "current Delta version and where the table is published.")  # fmt: skip
    p.add_argument("name", help="schema.table, e.g. feature_store.customer_features")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(handler=run_describe)


def run_describe(args: argparse.Namespace) -> int:
    from feature_store.client.validation import FeatureTableError
    from feature_store.offline.names import TableNotFound

    client = open_catalog()
    try:
        table = client.get_table(args.name)
    except (TableNotFound, FeatureTableError) as exc:
        print(f"featurestore describe: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(table), indent=2, default=str))
        return 0
    print_description(table)
    return 0


def print_description(table: Any) -> None:
    """A FeatureTable from get_table, as `featurestore describe` prints it."""
    print(f"{table.name}  (Delta version {table.version}, {table.path})")
    if table.description:
        print(f"  {table.description}")
    keys = ", ".join(f"{k} {table.key_types.get(k, '?')}" for k in table.primary_keys)
    print(f"primary keys:   {keys}")
    print(f"timestamp keys: {', '.join(table.timestamp_keys) or '-'}")
    print(f"partitioned by: {', '.join(table.partition_columns) or '-'}")
    print(f"owners:         {', '.join(table.owners) or '-'}")
    print(f"tags:           {', '.join(f'{k}={v}' for k, v in sorted(table.tags.items())) or '-'}")
    print(f"lineage:        {table.source or '-'} -> {table.name}")
    published = [f"{p['store']} ({p.get('published_at') or p.get('error')})" for p in table.published_to]
    print(f"published to:   {', '.join(published) or 'not published'}")
    print(f"features ({len(table.features)}):")
    for feature in table.features:
        print(f"  {feature.name:28} {feature.dtype:10} {feature.description or ''}")
