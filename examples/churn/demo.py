"""`make demo`: generate sample data ending yesterday, materialize the whole graph over it on the
embedded default (one run per range, as a backfill would), and print what was built."""

import getpass
import json
import os
import sys
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
from pyspark.sql import functions as F

from examples.churn.cli import SIZE_PRESETS
from examples.churn.generate import CHURN_HORIZON_DAYS, generate
from examples.churn.model import CHAMPION, MODEL_NAME, PRODUCT_RENAMES, SCORES_TABLE, TRAINING_SET_TABLE
from examples.churn.repo import CUSTOMER_FEATURES, FEATURE_TABLES, PRODUCT_FEATURES, RAW_SOURCES
from feature_store import FeatureLookup, FeatureStoreClient
from feature_store.cli.catalog import print_description
from feature_store.governance import PermissionDenied
from feature_store.offline.delta_tables import DeltaTables
from feature_store.offline.feature_tables import ALLOW_SCHEMA_CHANGE_TAG
from feature_store.offline.ingest import REJECTED_ROWS_TABLE
from feature_store.runtime import variables as V
from feature_store.runtime.settings import Settings, record_start_date
from feature_store.runtime.spark import build_spark_session
from feature_store.serving.auth import new_token
from feature_store.serving.process import ServeProcess

DEMO_DAYS = V.DEMO_DAYS.integer()
# The definitions load in main(), after the demo has recorded its partitions' start (record_start_date).
settings = Settings.from_env()
DRIFT_DAYS = 7
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def run_range(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: list[str], first: date, last: date):
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(k) for k in keys],
        # The demo rebuilds every table over its whole range from data it just generated, so a data dir
        # left by an earlier version, whose tables had other columns, is rebuilt instead of refused.
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat(), ALLOW_SCHEMA_CHANGE_TAG: "*"},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    print(
        f"  {', '.join(keys)}: {first}..{last} in one run, {time.monotonic() - started:.0f}s, "
        f"{'succeeded' if result.success else 'FAILED'}"
    )
    return result


def run_partition(
    job: dg.JobDefinition, instance: dg.DagsterInstance, key: str, day: date, config: dict | None = None
):
    started = time.monotonic()
    ops = {"ops": {key: {"config": config}}} if config else {}
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(key)],
        partition_key=day.isoformat(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **ops},
        raise_on_error=False,
    )
    print(f"  {key}: {day}, {time.monotonic() - started:.0f}s, {'succeeded' if result.success else 'FAILED'}")
    return result


def print_model_and_scores(results: list[dg.ExecuteInProcessResult], tables: DeltaTables, day: date) -> None:
    models = [m for r in results for m in r.asset_materializations_for_node("churn_model")] if results else []
    if models:
        meta = models[-1].metadata
        print(
            f"\nchurn_model v{meta['model_version'].value}: holdout AUC {meta['holdout_auc'].value:.3f} "
            f"({meta['holdout_rows'].value} labels of {meta['holdout_days'].value}), champion "
            f"v{meta['champion'].value}"
        )
    if tables.exists(SCORES_TABLE):
        top = tables.read_days(SCORES_TABLE, day, day).orderBy(F.desc("prediction")).limit(5).collect()
        print(f"highest churn scores on {day}:")
        for row in top:
            print(f"  {row['customer_id']:10} {row['prediction']:.3f}  (model v{row['model_version']})")


def print_drift(runs: list[dg.ExecuteInProcessResult], drift_start: date) -> None:
    print(f"\ndrift of customer_features (the sample data drifts from {drift_start}):")
    for run in runs:
        for event in run.asset_materializations_for_node("customer_features_drift"):
            meta = event.metadata
            checks = {e.check_name: e for e in run.get_asset_check_evaluations()}
            check = checks.get("drift_within_limits")
            verdict = (
                "passed"
                if check and check.passed
                else f"did not pass ({check.severity.value})"
                if check
                else "?"
            )
            print(
                f"  {event.partition}: {meta['drifted_share'].value:.0%} of features drifted vs "
                f"{meta['reference_window'].value}; check {verdict}"
            )
    reports = [
        e.metadata["report"].value
        for r in runs
        for e in r.asset_materializations_for_node("customer_features_drift")
    ]
    if reports:
        print(f"  latest HTML report: {reports[-1]}")


def print_tables(tables: DeltaTables) -> None:
    names = (
        [s.table for s in RAW_SOURCES]
        + [t.tiles_table for t in FEATURE_TABLES]
        + [t.name for t in FEATURE_TABLES]
    )
    names += [TRAINING_SET_TABLE, SCORES_TABLE]
    print(f"\n{'table':38} {'partitions':>10} {'first':>11} {'last':>11} {'rows':>9}  version")
    for name in names:
        if not tables.exists(name):
            print(f"{name:38} (not written)")
            continue
        stats = (
            tables.read(name)
            .agg(
                F.countDistinct("date").alias("days"),
                F.min("date").alias("first"),
                F.max("date").alias("last"),
                F.count("*").alias("rows"),
            )
            .first()
        )
        print(
            f"{name:38} {stats['days']:>10} {stats['first']!s:>11} {stats['last']!s:>11} {stats['rows']:>9}  "
            f"{tables.version(name)}"
        )
    if tables.exists(REJECTED_ROWS_TABLE):
        print(
            f"{REJECTED_ROWS_TABLE:38} {'':>10} {'':>11} {'':>11} {tables.read(REJECTED_ROWS_TABLE).count():>9}"
        )


def print_checks(results: list[dg.ExecuteInProcessResult]) -> None:
    evaluations = [e for r in results for e in r.get_asset_check_evaluations()]
    passed = sum(e.passed for e in evaluations)
    print(f"\nasset checks: {passed} passed, {len(evaluations) - passed} did not pass")
    for e in evaluations:
        if not e.passed:
            print(f"  {e.asset_key.to_user_string()}.{e.check_name} ({e.severity.value}): {e.description}")


def print_online_lookup(tables: DeltaTables, day: date) -> dict:
    """What a model would get at serving time: one entity's features from both tables, one round trip."""
    customer = tables.read_days(CUSTOMER_FEATURES.name, day, day).agg(F.min("customer_id")).first()[0]
    product = tables.read_days(PRODUCT_FEATURES.name, day, day).agg(F.min("product_id")).first()[0]
    fe = FeatureStoreClient(spark=tables.spark, settings=settings)
    lookups = [
        FeatureLookup(CUSTOMER_FEATURES.name, "customer_id"),
        FeatureLookup(PRODUCT_FEATURES.name, "product_id", rename_outputs=PRODUCT_RENAMES),
    ]
    entity = {"customer_id": customer, "product_id": product}
    started = time.perf_counter()
    result = fe.get_online_features(lookups, [entity])
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(
        f"\nonline lookup of {entity} in {settings.online_store_spec().describe()} ({elapsed_ms:.1f} ms, "
        f"first call, incl. planning):"
    )
    for table, ts in result.feature_ts[0].items():
        print(f"  {table} feature_ts = {ts}")
    for key, value in result.rows[0].items():
        print(f"  {key:28} {value}")
    fe.close()
    return entity


DEMO_ACCESS = """# Written by `make demo`: the principals grants can name (README, "Governance").
admins = ["{admin}"]
users = ["{service}"]

[groups]
data-scientists = ["demo-scientist"]
feature-engineers = ["demo-engineer"]
"""
SERVING_PRINCIPAL = "churn-service"
SEED_GRANTS = (
    f"GRANT SELECT ON TABLE {CUSTOMER_FEATURES.name} TO `data-scientists`",
    f"GRANT ALL PRIVILEGES ON TABLE {CUSTOMER_FEATURES.name} TO `feature-engineers`",
    f"GRANT SELECT ON SCHEMA {CUSTOMER_FEATURES.name.split('.')[0]} TO `{SERVING_PRINCIPAL}`",
)


def show_governance(tables: DeltaTables) -> None:
    """Tag a table and describe it, run the seed's GRANT statements, and show one allowed read, one
    denied write and the audit log."""
    if not settings.access_config_path.exists():
        settings.access_config_path.write_text(
            DEMO_ACCESS.format(admin=getpass.getuser(), service=SERVING_PRINCIPAL)
        )
        print(
            f"\nwrote {settings.access_config_path}: admin {getpass.getuser()}, two groups, a serving principal"
        )
    admin = FeatureStoreClient(spark=tables.spark, settings=settings)
    table = CUSTOMER_FEATURES.name
    admin.set_feature_table_tag(table, "team", "growth")
    admin.set_feature_table_tag(table, "data_owner", "demo-engineer")
    print(f"\nfeaturestore describe {table}   (after set_feature_table_tag team, data_owner)")
    print_description(admin.get_table(table))
    print("\ngrants (featurestore sql / client.sql):")
    for statement in SEED_GRANTS:
        print(f"  {statement}\n    -> {admin.sql(statement)}")
    scientist = FeatureStoreClient(spark=tables.spark, settings=settings, principal="demo-scientist")
    print(f"  demo-scientist read_table({table}): {scientist.read_table(table).count()} rows")
    try:
        scientist.write_table(table, scientist.read_table(table).limit(1))
    except PermissionDenied as exc:
        print(f"  demo-scientist write_table({table}): PermissionDenied: {exc}")
    print("  audit log, newest first (featurestore audit):")
    for entry in admin.audit_log(limit=3):
        print(f"    {entry.at}  {entry.action:6} {entry.actor:16} {entry.privileges:15} {entry.securable}")


def print_served_prediction(entity: dict) -> None:
    """Start `featurestore serve` on the embedded store, send one authenticated request, stop it."""
    token, line = new_token(SERVING_PRINCIPAL)
    tokens_file = settings.home / "serving-tokens.txt"
    tokens_file.write_text(line + "\n")
    log = settings.home / "serve-demo.log"
    print(f"\nserving {MODEL_NAME}@{CHAMPION} (featurestore serve, log {log}):")
    with ServeProcess(
        [f"{MODEL_NAME}@{CHAMPION}"], tokens_file, log, extra_args=["--poll-seconds", "0"]
    ) as server:
        body = json.dumps({"dataframe_records": [entity]}).encode()
        request = urllib.request.Request(
            f"{server.url}/serving-endpoints/{MODEL_NAME}/invocations", body,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"  POST /serving-endpoints/{MODEL_NAME}/invocations {entity} -> {answer} ({elapsed_ms:.1f} ms)")


def materialize_graph(
    instance: dg.DagsterInstance, first: date, last: date, model_config: dict | None = None
) -> tuple[list[dg.ExecuteInProcessResult], list[dg.ExecuteInProcessResult]]:
    """Every asset over first..last as a deployment would run it: the transaction side as one range run,
    labels and training set over the days whose labels are known, the model on the last such day, scores
    on the last day, and customer drift on the day before the demo's injected drift and on the last day
    (product drift on the last day).
    `model_config` overrides churn_model's config (ChurnModelConfig). Returns (pipeline runs, drift runs)."""
    from feature_assets.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    transaction_assets = [
        "raw_transactions",
        *(k for t in FEATURE_TABLES for k in (t.tiles_table.split(".")[1], t.short_name, f"{t.short_name}_online")),
    ]
    results = [run_range(job, instance, transaction_assets, first, last)]
    last_label_day = last - timedelta(days=CHURN_HORIZON_DAYS)
    if last_label_day >= first:
        results.append(run_range(job, instance, ["raw_labels", "churn_training_set"], first, last_label_day))
        results.append(run_partition(job, instance, "churn_model", last_label_day, model_config))
        results.append(run_partition(job, instance, "churn_scores", last))
    drift_start = last - timedelta(days=DRIFT_DAYS - 1)
    drift_runs = [
        run_partition(job, instance, "customer_features_drift", d) for d in (drift_start - timedelta(days=1), last)
    ]
    drift_runs.append(run_partition(job, instance, "product_features_drift", last))
    return results, drift_runs


def main() -> int:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = yesterday - timedelta(days=DEMO_DAYS - 1)
    customers, products, per_day = SIZE_PRESETS["demo"]
    # The partitions start at the data's first day, here and in `make ui` (Settings reads the record), so
    # the UI shows no months of missing partitions before it. An explicit FEATURE_STORE_START_DATE wins.
    record_start_date(settings.home, first.isoformat())
    if V.START_DATE.is_set() and V.START_DATE.value() != first.isoformat():
        print(f"note: FEATURE_STORE_START_DATE={V.START_DATE.value()} is set, so partitions start there, not {first}")
    print(
        f"data dir: {settings.home}\n\n1. generating {DEMO_DAYS} days of sample data ({first}..{yesterday})"
    )
    summary = generate(
        Path(settings.landing_root),
        first,
        yesterday,
        customers,
        products,
        per_day,
        seed=7,
        drift_from=yesterday - timedelta(days=DRIFT_DAYS - 1),
    )
    print(f"  {summary.transactions} transactions, {summary.labels} labels under {settings.landing_root}")

    print("\n2. materializing the graph (Spark + Delta, embedded default)")
    Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))).mkdir(parents=True, exist_ok=True)
    results, drift_runs = materialize_graph(dg.DagsterInstance.get(), first, yesterday)
    drift_start = yesterday - timedelta(days=DRIFT_DAYS - 1)

    tables = DeltaTables(
        build_spark_session(settings.spark_master, ivy_dir=settings.ivy_dir), settings.delta_root
    )
    print_tables(tables)
    print_checks([*results, *drift_runs])
    entity = print_online_lookup(tables, yesterday)
    print_model_and_scores(results, tables, yesterday)
    print_drift(drift_runs, drift_start)
    show_governance(tables)
    if all(r.success for r in results):
        print_served_prediction(entity)
    print("\nnext: `make ui` opens Dagster on http://127.0.0.1:3000 with these runs, partitions and checks")
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
