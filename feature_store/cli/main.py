"""The `featurestore` command line.

Each subcommand is a pair of small functions in the module of its concern: `add_<name>(subparsers)`
declares its arguments and `run_<name>(args) -> int` does the work. `COMMANDS` registers them; adding a
subcommand means writing that pair and adding one line there. (The churn example's data generator is
the example's own command: `python -m examples.churn generate`.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from feature_store.cli.catalog import add_describe, add_tables
from feature_store.cli.config import add_config, add_doctor
from feature_store.cli.online import add_republish
from feature_store.cli.scaffold import add_init
from feature_store.cli.spark import add_fetch_jars
from feature_store.governance.cli import add_audit, add_sql
from feature_store.governance.config import AccessConfigError
from feature_store.runtime.settings import SettingsError
from feature_store.serving.cli import add_serve, add_serve_token

PROG = "featurestore"

# --- registration -------------------------------------------------------------------------------

COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_init,
    add_tables,
    add_describe,
    add_sql,
    add_audit,
    add_republish,
    add_serve,
    add_serve_token,
    add_config,
    add_doctor,
    add_fetch_jars,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Feature store command line")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage and the error
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.handler(args)
    except (SettingsError, AccessConfigError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
