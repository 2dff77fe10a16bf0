"""`featurestore config` (the effective configuration, secrets redacted; `--reference` prints
docs/configuration.md) and `featurestore doctor` (one line per configured component: ok, or why not).
Registered in feature_store/cli/main.py."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from feature_store.runtime import variables as V
from feature_store.runtime.redaction import redact_text
from feature_store.runtime.settings import Settings

REFERENCE_HEADER = """# Configuration reference

Generated from `feature_store/runtime/variables.py` by `featurestore config --reference`; a test keeps this file
equal to the generated text, so edit the declarations, not this page. `featurestore config` prints the
effective values of a running deployment with secrets redacted; `featurestore doctor` checks each component.

`{home}` is the data dir (`FEATURE_STORE_HOME`). "required" means the profile refuses to start without it:
the azure profile never falls back to local Spark or local files. A secret is never printed, logged or shown
in Dagster; set it from a secret store (Key Vault references, a Kubernetes Secret) or use Entra ID instead.
"""


def reference_markdown() -> str:
    def cell(value: object) -> str:
        return "" if value is None else f"`{value}`" if isinstance(value, str) else str(value)

    lines = [REFERENCE_HEADER]
    for group, variables in V.groups().items():
        lines += [f"## {group}", "", "| variable | local default | azure default | secret | what it is |"]
        lines.append("|---|---|---|---|---|")
        for v in variables:
            lines.append(
                f"| `{v.name}` | {cell(v.default)} | {cell(v.default_for('azure'))} | "
                f"{'yes' if v.secret else ''} | {v.description} |"
            )
        lines.append("")
    return "\n".join(lines)


def effective_configuration(env: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(variable, value or ***, where it came from) for every declared variable."""
    env = os.environ if env is None else env
    profile = V.PROFILE.value(env)
    home = V.HOME.value(env, profile)
    rows = []
    for v in V.REGISTRY.values():
        if v.is_set(env):
            value, origin = env[v.name], "environment"
        else:
            default = v.default_for(profile)
            value = default.format(home=home) if isinstance(default, str) else ""
            origin = "MISSING (required)" if default is V.REQUIRED else "default" if value else "unset"
        if v.secret and value:
            value = "***"
        rows.append((v.name, value, origin))
    return rows


def add_config(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "config",
        help="print the effective configuration (secrets redacted)",
        description="Every variable the feature store reads, its effective value and where it came from.",
    )
    p.add_argument("--reference", action="store_true", help="print the reference (docs/configuration.md)")
    p.add_argument("--all", action="store_true", help="also list variables that are unset")
    p.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace) -> int:
    if args.reference:
        print(reference_markdown(), end="")
        return 0
    rows = [r for r in effective_configuration() if args.all or r[2] != "unset"]
    width = max(len(name) for name, _, _ in rows)
    for name, value, origin in rows:
        print(f"{name:{width}}  {value}  ({origin})")
    return 0


# --- doctor ---------------------------------------------------------------------------------------

Check = Callable[[Settings], str]


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Components that print while they start (Spark, MLflow migrations) would break the one-line-each
    output; their chatter goes to stderr."""
    stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = stdout


def _client(settings: Settings):
    from feature_store.client.core import FeatureStoreClient

    return FeatureStoreClient(settings=settings)


def _check_spark(settings: Settings) -> str:
    spark = _client(settings).spark
    if spark.sql("SELECT 1 AS one").collect()[0].one != 1:
        raise RuntimeError("SELECT 1 did not return 1")
    return f"Spark {spark.version} ({settings.spark_master or os.environ.get('SPARK_REMOTE')})"


def _check_delta(settings: Settings) -> str:
    tables = _client(settings).tables.list()
    return f"{settings.delta_root}: {len(tables)} table(s)"


def _check_landing(settings: Settings) -> str:
    from feature_store.declarations import load_repo
    from feature_store.declarations.repo import configured_repo_module

    zone = _landing_zone(settings)
    sources = [s for s in load_repo(configured_repo_module()).sources if s.landed]
    days = [f"{s.landing_dir} {len(zone.landed_days(s.landing_dir))} day(s)" for s in sources]
    return f"{zone.location}: {', '.join(days)}"


def _landing_zone(settings: Settings):
    if settings.profile == "local":
        from feature_store.offline.landing import LocalLandingZone

        return LocalLandingZone(settings.landing_root)
    from azure.storage.blob import BlobServiceClient

    from feature_store.azure.identity import blob_credential
    from feature_store.offline.landing_blob import BlobLandingZone

    url = V.BLOB_ACCOUNT_URL.value(profile=settings.profile)
    return BlobLandingZone(
        lambda: BlobServiceClient(url, credential=blob_credential()),
        V.LANDING_CONTAINER.value(profile=settings.profile),
        V.LANDING_PREFIX.value(profile=settings.profile) or "",
    )


def _check_online_store(settings: Settings) -> str:
    spec = settings.online_store_spec()
    with spec.open() as store:
        if not store.ping():
            raise RuntimeError(f"{spec.describe()} did not answer a ping")
    return spec.describe()


def _check_mlflow(settings: Settings) -> str:
    import mlflow

    _connect_once(settings.mlflow_tracking_uri)
    settings.configure_mlflow()
    models = mlflow.MlflowClient().search_registered_models(max_results=100)
    return f"{redact_text(settings.mlflow_tracking_uri)}: {len(models)} registered model(s)"


def _connect_once(tracking_uri: str) -> None:
    """One connection attempt to a tracking database server (PostgreSQL, MySQL): MLflow's own store
    retries a refused connection with backoff for ~100 s before it says anything."""
    import sqlalchemy as sa

    try:
        url = sa.engine.make_url(tracking_uri)
    except sa.exc.ArgumentError:  # a path
        return
    if url.get_backend_name() not in ("postgresql", "mysql"):  # a tracking server or a file answers at once
        return
    engine = sa.create_engine(url, connect_args={"connect_timeout": 10}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def _check_grants(settings: Settings) -> str:
    from feature_store.governance import GrantStore

    store = GrantStore(settings.governance_db_uri)
    try:
        return f"{redact_text(settings.governance_db_uri)}: version {store.version()}"
    finally:
        store.close()


def _check_dagster(settings: Settings) -> str:
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME") or str(settings.dagster_home)
    os.environ["DAGSTER_HOME"] = home
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs_count()
        storage = type(instance.run_storage).__name__
    return f"{home} ({storage}): {runs} run(s)"


def _check_key_vault(settings: Settings) -> str:
    from feature_store.runtime import secrets

    return secrets.check()


CHECKS: dict[str, Check] = {
    "spark": _check_spark,
    "delta": _check_delta,
    "landing": _check_landing,
    "online store": _check_online_store,
    "mlflow": _check_mlflow,
    "grants database": _check_grants,
    "key vault": _check_key_vault,
    "dagster storage": _check_dagster,
}


def doctor(settings: Settings, checks: Mapping[str, Check] = CHECKS) -> list[tuple[str, bool, str]]:
    """Run every check; a failure is reported with its reason (secrets redacted), never raised."""
    results = []
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            with _quiet_stdout():
                detail = check(settings)
            ok = True
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line of the report
            ok, detail = False, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        results.append((name, ok, f"{redact_text(detail)} [{time.perf_counter() - started:.1f}s]"))
    return results


def add_doctor(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check every configured component and print one line each",
        description="Check Spark, Delta storage, the landing zone, the online store, MLflow, the grants "
        "database, Key Vault (if configured) and Dagster's storage. Exit 1 if any check fails.",
    )
    p.add_argument("--only", action="append", choices=list(CHECKS), help="run only these checks")
    p.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    checks = {name: CHECKS[name] for name in args.only} if args.only else CHECKS
    failed = 0
    for name, ok, detail in doctor(settings, checks):
        print(f"{'ok  ' if ok else 'FAIL'} {name:16} {detail}", flush=True)
        failed += not ok
    return 1 if failed else 0
