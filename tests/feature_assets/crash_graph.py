"""The churn graph, one asset at a time, for the crash-consistency test: the steps, the resources of a
data dir, one step's run, and what the data dir holds afterwards (every Delta table row for row, the
online store's rows, the drift reports' results)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from examples.churn.repo import CHURN_HORIZON_DAYS, CUSTOMER_FEATURES
from tests.local_resources import resources_for

FIRST, LAST = date(2025, 1, 1), date(2025, 2, 14)
LAST_LABEL_DAY = LAST - timedelta(days=CHURN_HORIZON_DAYS)
# Each asset kind over what a deployment runs it on: (asset, first day, last day).
STEPS: list[tuple[str, date, date]] = [
    ("raw_transactions", FIRST, LAST),
    ("customer_daily_tiles", FIRST, LAST),
    ("customer_features", FIRST, LAST),
    ("customer_features_online", FIRST, LAST),
    ("product_daily_tiles", FIRST, LAST),
    ("product_features", FIRST, LAST),
    ("raw_labels", FIRST, LAST_LABEL_DAY),
    ("churn_training_set", FIRST, LAST_LABEL_DAY),
    ("churn_model", LAST_LABEL_DAY, LAST_LABEL_DAY),
    ("churn_scores", LAST, LAST),
    ("customer_features_drift", LAST, LAST),
]
MODEL_CONFIG = {"train_days": 7, "holdout_days": 4, "min_auc": 0.0}
# Columns that differ between two correct runs: when a row was written, not what it says.
VOLATILE = {"ml.churn_scores": ["model_version"]}


def generate_landing(home: Path) -> None:
    from examples.churn.generate import generate

    generate(home / "landing", FIRST, LAST, customers=80, products=12, transactions_per_day=60, seed=11,
             label_fraction=0.4)  # fmt: skip


def run_step(home: Path, asset: str, first: date, last: date) -> dg.ExecuteInProcessResult:
    from feature_assets.definitions import all_assets, all_checks

    if first == last:
        where: dict[str, Any] = {"partition_key": first.isoformat()}
    else:
        where = {"tags": {"dagster/asset_partition_range_start": first.isoformat(),
                          "dagster/asset_partition_range_end": last.isoformat()}}  # fmt: skip
    config = {"ops": {"churn_model": {"config": MODEL_CONFIG}}} if asset == "churn_model" else None
    return dg.materialize([*all_assets, *all_checks], selection=[asset], resources=resources_for(home),
                          run_config=config, raise_on_error=False, **where)  # fmt: skip


def contents(spark, home: Path) -> dict[str, Any]:
    """Every Delta table's rows (volatile columns dropped) and every online row of customer_features."""
    from feature_store.offline.delta_tables import DeltaTables
    from feature_store.online.sqlite_store import SqliteOnlineStore

    tables = DeltaTables(spark, str(home / "delta"))
    out: dict[str, Any] = {}
    for name in tables.list():
        df = tables.read(name).drop(*VOLATILE.get(name, []))
        out[name] = sorted(tuple(r) for r in df.collect())
    keys = [
        r["customer_id"]
        for r in tables.read(CUSTOMER_FEATURES.name).select("customer_id").distinct().collect()
    ]
    store = SqliteOnlineStore(home / "online.db")
    try:
        out["online:" + CUSTOMER_FEATURES.name] = dict(
            zip(keys, store.read_table(CUSTOMER_FEATURES.name, keys).rows, strict=True)
        )
    finally:
        store.close()
    return out
