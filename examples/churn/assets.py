"""Churn: a point-in-time training set per label day, a model promoted only when it is good enough,
and daily scores from the champion."""

import dagster as dg

from examples.churn import model as churn
from examples.churn.repo import CUSTOMER_FEATURES, PRODUCT_FEATURES
from feature_assets.features.factory import snapshots_key
from feature_assets.lib.check_results import outcome_result
from feature_assets.lib.client import feature_store_client
from feature_assets.lib.policies import DAILY_FRESHNESS, LATE_PARTITIONS_TAG, SPARK_POOL
from feature_assets.partitions import daily_partitions, partition_days
from feature_store.offline.quality import Outcome
from feature_store.training.models import promote
from resources import DeltaLakeResource, MLflowResource, SparkResource

ML_GROUP = "ml"
# Labels of day D have event times inside D, so they read the snapshots of D-1 (feature_ts = D 00:00).
SNAPSHOTS_BEFORE = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0)
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


@dg.asset(


    pool=SPARK_POOL,
    deps=[
        dg.AssetKey("raw_labels"),
        dg.AssetDep(snapshots_key(CUSTOMER_FEATURES), partition_mapping=SNAPSHOTS_BEFORE),
        dg.AssetDep(snapshots_key(PRODUCT_FEATURES), partition_mapping=SNAPSHOTS_BEFORE),
    ],
    partitions_def=daily_partitions,
    freshness_policy=DAILY_FRESHNESS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=ML_GROUP,
    kinds={"spark", "delta"},
    description="Churn labels of day D joined point-in-time to customer and product features: each label "
    "sees the latest snapshot with feature_ts <= its event time, never a later one.",
    metadata={"dagster/table_name": churn.TRAINING_SET_TABLE, "label": churn.LABEL},
    check_specs=[
        dg.AssetCheckSpec(
            "no_feature_leakage",
            asset="churn_training_set",
            blocking=True,
            description="Every joined feature_ts is <= the label's event time.",
        ),
        dg.AssetCheckSpec(
            "labels_are_sane",
            asset="churn_training_set",
            description="Labels are 0/1, present, and a day is not all one class.",
        ),
    ],  # fmt: skip
    code_version="1",
    tags={"layer": "ml", LATE_PARTITIONS_TAG: "true"},
)
def churn_training_set(context: dg.AssetExecutionContext, spark: SparkResource, delta: DeltaLakeResource):
    day_list = partition_days(context)
    fe = feature_store_client(spark, delta)
    rows = churn.write_training_days(fe, day_list[0], day_list[-1])
    written = fe.tables.read_days(churn.TRAINING_SET_TABLE, day_list[0], day_list[-1])
    yield dg.MaterializeResult(
        metadata={"dagster/row_count": sum(rows.values()), "rows_by_day": dg.MetadataValue.json(rows)}
    )
    yield outcome_result(churn.leakage_outcome(written), ERROR, "no_feature_leakage")
    yield outcome_result(churn.label_outcome(written), WARN, "labels_are_sane")


class ChurnModelConfig(dg.Config):
    train_days: int = 60
    holdout_days: int = 14
    min_auc: float = 0.6
    max_auc_drop: float = 0.02  # vs the current champion's holdout AUC
    seed: int = 0


@dg.asset(


    pool=SPARK_POOL,
    deps=[
        dg.AssetDep("churn_training_set", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-120))
    ],
    partitions_def=daily_partitions,
    freshness_policy=DAILY_FRESHNESS,
    group_name=ML_GROUP,
    kinds={"scikitlearn", "mlflow"},
    description="A gradient-boosting churn model trained on the training-set days before D minus a holdout, "
    "logged to MLflow with its feature lookups and registered; the `champion` alias moves to it only when "
    "its evaluation check passes.",
    check_specs=[
        dg.AssetCheckSpec(
            "evaluation_passes",
            asset="churn_model",
            description="Holdout AUC >= min_auc and not below the champion's by more than max_auc_drop.",
        ),
    ],  # fmt: skip
    code_version="1",
    tags={"layer": "ml", LATE_PARTITIONS_TAG: "true"},
)
def churn_model(
    context: dg.AssetExecutionContext,
    config: ChurnModelConfig,
    spark: SparkResource,
    delta: DeltaLakeResource,
    mlflow_tracking: MLflowResource,
):
    import mlflow
    import mlflow.sklearn

    day = partition_days(context)[-1]
    fe = feature_store_client(spark, delta, mlflow_tracking)
    trained = churn.train_churn_model(fe, day, config.train_days, config.holdout_days, config.seed)
    client = mlflow_tracking.client()
    champion_version, champion_auc = churn.champion_auc(client)
    training_set = churn.training_set_spec(fe)
    with mlflow.start_run(run_name=f"churn_model {day}") as run:
        mlflow.log_params({"partition": str(day), "train_days": config.train_days, "holdout_days": config.holdout_days,
                           "features": len(trained.features), "train_first": str(trained.train_days[0]),
                           "train_last": str(trained.train_days[1])})  # fmt: skip
        mlflow.log_metrics({"holdout_auc": trained.auc, "train_rows": trained.train_rows,
                            "holdout_rows": trained.holdout_rows})  # fmt: skip
        info = fe.log_model(
            trained.model, "model", mlflow.sklearn, training_set, churn.MODEL_NAME,
            save_kwargs={"skops_trusted_types": churn.SKOPS_TRUSTED_TYPES},
        )  # fmt: skip
    version = str(info.registered_model_version)
    floor = max(config.min_auc, (champion_auc or 0.0) - config.max_auc_drop)
    passed = trained.auc >= floor
    if passed:
        promote(client, churn.MODEL_NAME, version, churn.CHAMPION)
    champion = version if passed else (str(champion_version) if champion_version else None)
    was = f"champion v{champion_version} AUC {champion_auc}" if champion_version else "no champion yet"
    kept = "champion kept" if champion_version else "no champion"
    summary = (
        f"holdout AUC {trained.auc:.4f} vs floor {floor:.4f} (min {config.min_auc}, {was}): "
        f"{'promoted to champion' if passed else kept}"
    )
    context.log.info(summary)
    link = f"{mlflow_tracking.ui_url.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}" \
        if mlflow_tracking.ui_url else f"runs:/{run.info.run_id}"  # fmt: skip
    yield dg.MaterializeResult(
        metadata={
            "holdout_auc": trained.auc,
            "train_rows": trained.train_rows,
            "holdout_rows": trained.holdout_rows,
            "train_days": f"{trained.train_days[0]}..{trained.train_days[1]}",
            "holdout_days": f"{trained.holdout_days[0]}..{trained.holdout_days[1]}",
            "features": dg.MetadataValue.json(trained.features),
            "model_version": version,
            # No entry rather than a placeholder while no version has ever passed: the UI shows no champion.
            **({"champion": champion} if champion else {}),
            "mlflow_run": dg.MetadataValue.url(link) if link.startswith("http") else link,
        }
    )
    details = {"holdout_auc": trained.auc, "floor": floor, "champion_auc": champion_auc, "version": version}
    yield outcome_result(Outcome(passed, summary, details), WARN, "evaluation_passes")


@dg.asset(


    pool=SPARK_POOL,
    deps=[
        snapshots_key(CUSTOMER_FEATURES),
        snapshots_key(PRODUCT_FEATURES),
        "raw_transactions",
        "churn_model",
    ],
    partitions_def=daily_partitions,
    freshness_policy=DAILY_FRESHNESS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=ML_GROUP,
    kinds={"spark", "delta", "mlflow"},
    description="Churn probability of every customer active on D, as of the end of D, from the champion model "
    "(its logged feature lookups drive the point-in-time join).",
    metadata={"dagster/table_name": churn.SCORES_TABLE},
    code_version="1",
    tags={"layer": "ml"},
)
def churn_scores(
    context: dg.AssetExecutionContext,
    spark: SparkResource,
    delta: DeltaLakeResource,
    mlflow_tracking: MLflowResource,
) -> dg.MaterializeResult:
    client = mlflow_tracking.client()
    version = str(client.get_model_version_by_alias(churn.MODEL_NAME, churn.CHAMPION).version)
    fe = feature_store_client(spark, delta, mlflow_tracking)
    rows = {}
    for day in partition_days(context):
        rows[str(day)] = churn.write_scores(fe, day, f"models:/{churn.MODEL_NAME}/{version}", version)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(rows.values()),
            "rows_by_day": dg.MetadataValue.json(rows),
            "model_version": str(version),
        }  # fmt: skip
    )

