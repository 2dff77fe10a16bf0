"""`featurestore sql` (GRANT, REVOKE, SHOW GRANTS) and `featurestore audit` (registered in feature_store/cli/main.py).

Both act as the deployment's principal (FEATURE_STORE_PRINCIPAL, else the OS user). A statement that
names a table checks that the table exists: in the Delta log (delta-rs, no JVM) on a local root, with
Spark on a remote one.
"""

from __future__ import annotations

import argparse
import sys
from functools import cache
from pathlib import Path

from feature_store.governance.access import GrantResult, PermissionDenied
from feature_store.governance.statements import GrantSyntaxError, split_statements
from feature_store.offline.names import TableNotFound
from feature_store.runtime.settings import Settings


def add_sql(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sql",
        help="run GRANT, REVOKE and SHOW GRANTS statements",
        description="Run GRANT / REVOKE / SHOW GRANTS statements (Unity Catalog syntax) on feature tables "
        "and schemas, as FEATURE_STORE_PRINCIPAL (else the OS user). Several statements are separated by "
        "';' and run in order; the first failure stops the rest. Example: featurestore sql "
        '"GRANT SELECT ON TABLE feature_store.customer_features TO \\`data-scientists\\`"',
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("statements", nargs="?", help="one or more statements separated by ';'")
    source.add_argument("-f", "--file", type=Path, help="a file of statements ('-' for stdin)")
    p.set_defaults(handler=run_sql)


def run_sql(args: argparse.Namespace) -> int:
    if args.file is not None:
        script = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
    else:
        script = args.statements
    statements = split_statements(script)
    if not statements:
        print("featurestore sql: error: no statements given", file=sys.stderr)
        return 1
    settings = Settings.from_env()
    access = settings.access_control()

    @cache
    def tables():  # noqa: ANN202 (DeltaLog or DeltaTables: both answer exists(name))
        from feature_store.offline.delta_log import DeltaLog

        if DeltaLog.is_readable_here(settings.delta_root):
            return DeltaLog(settings.delta_root)
        from feature_store.offline.delta_tables import DeltaTables
        from feature_store.runtime.spark import build_spark_session

        print("starting Spark to check the table exists...", file=sys.stderr, flush=True)
        return DeltaTables(
            build_spark_session(settings.spark_master, ivy_dir=settings.ivy_dir), settings.delta_root
        )

    for number, statement in enumerate(statements, start=1):
        try:
            result = access.execute(statement, settings.acting_principal, lambda name: tables().exists(name))
        except (GrantSyntaxError, PermissionDenied, TableNotFound, ValueError) as exc:
            done = f" ({number - 1} earlier statement(s) applied)" if number > 1 else ""
            print(f"featurestore sql: error in statement {number}{done}: {exc}", file=sys.stderr)
            return 1
        if isinstance(result, GrantResult):
            print(result)
        else:
            print(f"{'principal':28} {'privilege':16} {'on':48} granted by / at")
            for grant in result:
                print(f"{grant.principal:28} {grant.privilege:16} {str(grant.securable):48} "
                      f"{grant.granted_by} {grant.granted_at}")  # fmt: skip
            print(f"{len(result)} grant(s)", file=sys.stderr)
    return 0


def add_audit(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "audit",
        help="show the access audit log",
        description="Grants, revokes, drops and denials, newest first, from the governance database.",
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--actor", help="only entries by (or denials of) this principal")
    p.add_argument("--action", choices=["GRANT", "REVOKE", "DENY", "DROP"], type=str.upper)
    p.set_defaults(handler=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    entries = Settings.from_env().access_control().audit_log(args.limit, args.actor, args.action)
    for e in entries:
        print(
            f"{e.at}  {e.action:6} {e.actor:20} {e.privileges:15} {e.securable:44} {e.operation:24} {e.detail}"
        )
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", file=sys.stderr)
    return 0
