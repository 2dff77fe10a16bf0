"""The churn use case end to end: point-in-time training days, a scikit-learn model with a time-based
holdout and champion promotion, and daily batch scores. The Dagster assets in examples/churn/assets.py call
these functions; so can a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from examples.churn.repo import (
    CUSTOMER_FEATURES,
    LABELS,
    MODEL_NAME,
    PRODUCT_FEATURES,
    SPEND_TREND,
    TRANSACTIONS,
)
from feature_store.client.core import FeatureStoreClient
from feature_store.declarations import Column, FeatureFunction
from feature_store.offline.quality import Outcome
from feature_store.training.lookups import FeatureLookup
from feature_store.training.training_set import TrainingSet, bind_lookups, split_functions

TRAINING_SET_TABLE = "ml.churn_training_set"
CHAMPION = "champion"
SCORES_TABLE = "ml.churn_scores"
LABEL = "is_churned"
EVENT_TIME = LABELS.event_time
KEYS = ["customer_id", "product_id"]
# skops (MLflow's sklearn format) refuses types it can't vet; the model is ours, trained in this run.
SKOPS_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
FEATURE_TS_COLUMNS = {
    CUSTOMER_FEATURES.name: "customer_feature_ts",
    PRODUCT_FEATURES.name: "product_feature_ts",
}


# Both tables name their features alike (txn_count_7d, ...): the product ones are prefixed.
PRODUCT_RENAMES = {c.name: f"product_{c.name}" for c in PRODUCT_FEATURES.feature_columns()}


def churn_lookups() -> list[FeatureLookup | FeatureFunction]:
    return [
        FeatureLookup(CUSTOMER_FEATURES.name, "customer_id", timestamp_lookup_key=EVENT_TIME),
        FeatureLookup(
            PRODUCT_FEATURES.name,
            "product_id",
            timestamp_lookup_key=EVENT_TIME,
            rename_outputs=PRODUCT_RENAMES,
        ),
        SPEND_TREND,
    ]


def training_set_spec(fe: FeatureStoreClient) -> TrainingSet:
    """The lookups and label the model is trained with, for `log_model` (no Spark job)."""
    labels = fe.tables.read(LABELS.table).select(*KEYS, EVENT_TIME, LABEL)
    lookups, functions = split_functions(churn_lookups())
    return TrainingSet(labels, bind_lookups(labels, lookups, fe.describe_table), LABEL, functions=functions)


def _with_day(df: DataFrame, column: str) -> DataFrame:
    return df.withColumn("date", F.to_date(F.col(column)))


def write_training_days(fe: FeatureStoreClient, first: date, last: date) -> dict[str, int]:
    """Labels of first..last joined point-in-time to both feature tables, written per day; rows per day."""
    labels = fe.tables.read_days(LABELS.table, first, last).select(*KEYS, EVENT_TIME, LABEL)
    training = fe.create_training_set(
        labels, churn_lookups(), label=LABEL, record_feature_ts=FEATURE_TS_COLUMNS
    )
    df = _with_day(training.load_df(), EVENT_TIME)
    columns = [Column(f.name, f.dataType.simpleString(), "") for f in df.schema.fields]
    fe.tables.ensure(
        TRAINING_SET_TABLE, columns, ["date"], comment="Churn labels joined point-in-time to features",
        evolve=True,  # a lookup or on-demand feature added to the model adds its column
    )
    fe.tables.replace_days(TRAINING_SET_TABLE, df, first, last)
    return fe.tables.rows_per_day(TRAINING_SET_TABLE, first, last)


def leakage_outcome(df: DataFrame) -> Outcome:
    """Every joined feature_ts is <= the label's event time (null: no snapshot was found)."""
    leaks = df.where(" OR ".join(f"{c} > {EVENT_TIME}" for c in FEATURE_TS_COLUMNS.values()))
    rows = [
        r.asDict() for r in leaks.select(*KEYS, EVENT_TIME, *FEATURE_TS_COLUMNS.values()).limit(10).collect()
    ]
    total = df.count()
    unmatched = df.where(f"{FEATURE_TS_COLUMNS[CUSTOMER_FEATURES.name]} IS NULL").count()
    return Outcome(
        not rows,
        "no joined feature_ts is after its event time"
        if not rows
        else f"{len(rows)}+ rows leak future features",
        {
            "rows": total,
            "rows_without_customer_snapshot": unmatched,
            "leaking_rows": [_plain(r) for r in rows],
        },
    )


def label_outcome(df: DataFrame) -> Outcome:
    """Labels are 0/1 and present, and the day is not all one class."""
    stats = df.agg(
        F.count("*").alias("rows"),
        F.sum(F.when(F.col(LABEL).isNull() | ~F.col(LABEL).isin(0, 1), 1).otherwise(0)).alias("bad"),
        F.avg(LABEL).alias("positive_rate"),
    ).first()
    rate = stats["positive_rate"]
    passed = stats["rows"] > 0 and stats["bad"] == 0 and rate is not None and 0.0 < rate < 1.0
    return Outcome(
        passed,
        f"{stats['rows']} labels, positive rate {rate if rate is None else round(rate, 4)}, {stats['bad']} invalid",
        {"rows": stats["rows"], "invalid_labels": stats["bad"], "positive_rate": rate},
    )


def _plain(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


@dataclass
class TrainedModel:
    model: Any
    features: list[str]
    auc: float
    train_rows: int
    holdout_rows: int
    train_days: tuple[date, date]
    holdout_days: tuple[date, date]


def train_churn_model(
    fe: FeatureStoreClient, last_day: date, train_days: int, holdout_days: int, seed: int = 0
) -> TrainedModel:
    """Gradient boosting on the training days before the holdout; AUC on the last holdout_days."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    holdout_first = last_day - timedelta(days=holdout_days - 1)
    train_first = holdout_first - timedelta(days=train_days)
    train_last = holdout_first - timedelta(days=1)
    data = fe.tables.read_days(TRAINING_SET_TABLE, train_first, last_day).toPandas()
    if data.empty:
        raise ValueError(
            f"{TRAINING_SET_TABLE} has no rows in {train_first}..{last_day}: materialize it first"
        )
    exclude = {*KEYS, EVENT_TIME, LABEL, "date", *FEATURE_TS_COLUMNS.values()}
    features = [c for c in data.columns if c not in exclude and data[c].dtype.kind in "fiub"]
    in_holdout = data["date"] >= holdout_first
    train, holdout = data[~in_holdout], data[in_holdout]
    for name, part in (("training", train), ("holdout", holdout)):
        if part[LABEL].nunique() < 2:
            raise ValueError(f"the {name} days have {len(part)} rows and one label class: widen the window")
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
    model.fit(train[features], train[LABEL])
    auc = float(roc_auc_score(holdout[LABEL], model.predict_proba(holdout[features])[:, 1]))
    return TrainedModel(
        model, features, auc, len(train), len(holdout), (train_first, train_last), (holdout_first, last_day)
    )


def champion_auc(client: Any, name: str = MODEL_NAME) -> tuple[str | None, float | None]:
    """The current champion's version and logged holdout AUC, or (None, None)."""
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:  # MLflow raises RestException/MlflowException when the model or alias is missing
        return None, None
    run = client.get_run(version.run_id) if version.run_id else None
    auc = run.data.metrics.get("holdout_auc") if run else None
    return version.version, auc


def scoring_population(fe: FeatureStoreClient, day: date) -> DataFrame:
    """Customers active on `day`, with their last product that day, scored as of the end of the day."""
    end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time())
    txns = fe.tables.read_days(TRANSACTIONS.table, day, day)
    latest = txns.groupBy("customer_id").agg(F.max_by("product_id", "transaction_ts").alias("product_id"))
    return latest.withColumn(EVENT_TIME, F.lit(end_of_day).cast("timestamp"))


def write_scores(fe: FeatureStoreClient, day: date, model_uri: str, model_version: str) -> int:
    scored = fe.score_batch(model_uri, scoring_population(fe, day))
    out = scored.select(*KEYS, EVENT_TIME, "prediction").withColumns(
        {"model_version": F.lit(str(model_version)), "date": F.lit(day)}
    )
    columns = [Column(f.name, f.dataType.simpleString(), "") for f in out.schema.fields]
    fe.tables.ensure(SCORES_TABLE, columns, ["date"], comment="Daily churn probabilities of active customers")
    fe.tables.replace_days(SCORES_TABLE, out, day, day)
    return fe.tables.read_days(SCORES_TABLE, day, day).count()
