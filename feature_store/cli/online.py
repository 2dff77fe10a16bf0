"""`featurestore republish`: rebuild the online store from Delta, after it was lost, wiped or moved.

Each table's latest row per key is published again (`FeatureStoreClient.publish_table`). Writes are
monotonic, so republishing beside the daily syncs never replaces a newer row; `--overwrite` drops each
table's online copy first. `--verify` then compares a sample of each table's latest snapshot day with
the online rows, as the `online_matches_offline` check does.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from feature_store.cli.catalog import start_client


def add_republish(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "republish",
        help="rebuild the online store from the Delta feature tables",
        description="Publish each key's latest row of every feature table of the feature repo (or of the "
        "named tables) to the deployment's online store (FEATURE_STORE_ONLINE_STORE).",
    )
    p.add_argument("tables", nargs="*", metavar="TABLE", help="schema.table (default: the repo's tables)")
    p.add_argument("--overwrite", action="store_true", help="drop each table's online copy before publishing")
    p.add_argument(
        "--verify", action="store_true", help="then compare each table's latest day with the store"
    )
    p.set_defaults(handler=run_republish)


def repo_tables() -> list[str]:
    """The feature tables of the repo the code location loads (FEATURE_STORE_REPO, pyproject.toml)."""
    from feature_store.declarations import load_repo
    from feature_store.declarations.repo import configured_repo_module

    return [table.name for table in load_repo(configured_repo_module()).table_order()]


def run_republish(args: argparse.Namespace) -> int:
    from feature_store.client.validation import FeatureTableError
    from feature_store.governance import PermissionDenied
    from feature_store.offline.names import TableNotFound
    from feature_store.online.base import OnlineStoreError

    names = args.tables or repo_tables()
    client = start_client("to read the feature tables")
    failed: list[str] = []
    started = time.perf_counter()
    for i, name in enumerate(names, 1):
        step = f"[{i}/{len(names)}] {name}"
        print(f"{step}: publishing...", file=sys.stderr, flush=True)
        try:
            result = client.publish_table(name, mode="overwrite" if args.overwrite else "merge")
            print(f"{step}: {result.rows} keys, {result.written} written, {result.skipped_older} already newer "
                  f"online, {result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s)")  # fmt: skip
            if args.verify:
                print(f"{step}: {_verify(client, name)}")
        except (TableNotFound, FeatureTableError, PermissionDenied, OnlineStoreError, ValueError) as exc:
            print(f"{step}: FAILED: {exc}", file=sys.stderr)
            failed.append(name)
    elapsed = time.perf_counter() - started
    print(f"republished {len(names) - len(failed)} of {len(names)} table(s) to {client.settings.online_store} "
          f"in {elapsed:.1f} s" + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)  # fmt: skip
    client.close()
    return 1 if failed else 0


class VerificationFailed(ValueError):
    """The online rows of a table's latest day differ from Delta's."""


def _verify(client: Any, name: str) -> str:
    from pyspark.sql import functions as F

    from feature_store.online.sync import check_online_matches_offline

    table = client.get_table(name)
    if not table.timestamp_keys or "date" not in table.partition_columns:
        return "not verified: the check compares a daily snapshot, and the table has no date partitions"
    day = client.tables.read(name).select(F.max("date")).first()[0]
    outcome = check_online_matches_offline(
        client.tables, client.online_store, name, table.primary_keys, table.timestamp_keys[0], day,
        exclude=table.partition_columns,
    )  # fmt: skip
    if not outcome.passed:
        raise VerificationFailed(f"online differs from Delta: {outcome.summary}")
    return f"verified: {outcome.summary}"
