"""Daily drift reports of the feature tables (Evidently), with a check that warns, then fails.

`<table>_drift` for day D compares snapshot D with a reference window: by default the days the current
champion model was trained on (what the model learned from), else the `reference_days` before D.
The HTML report is saved under the data dir and linked from the materialization; the drifted share
and every feature's drift score are numeric metadata, so the Dagster UI plots them across partitions.
"""

from datetime import date, timedelta

import dagster as dg

from feature_assets.features.factory import snapshots_key
from feature_assets.lib.policies import DAILY_FRESHNESS, SPARK_POOL
from feature_assets.partitions import daily_partitions, partition_days
from feature_assets.repo import REPO, TABLES
from feature_store.declarations import WindowedTable
from feature_store.monitoring.drift import DriftResult, compute_drift, training_window
from feature_store.monitoring.reports import report_store
from feature_store.offline.delta_tables import DeltaTables
from feature_store.runtime.settings import Settings
from feature_store.runtime.timeutil import parse_day
from resources import DeltaLakeResource, MLflowResource, SparkResource

MONITORING_GROUP = "monitoring"
CHECK = "drift_within_limits"


class DriftConfig(dg.Config):
    reference_first: str = ""  # an explicit reference window (YYYY-MM-DD), overriding the others
    reference_last: str = ""
    reference_days: int = 28  # the fallback window: the days before D
    use_champion_window: bool = True
    sample_size: int = 5000  # rows per side given to Evidently
    seed: int = 0
    warn_share: float = 0.3  # drifted share of features above which the check warns
    error_share: float = 0.6  # ... and above which it fails
    report_dir: str = ""  # a folder or a Blob URL; default: FEATURE_STORE_REPORTS_ROOT/drift


def reference_window(
    day: date, config: DriftConfig, mlflow_tracking: MLflowResource
) -> tuple[tuple[date, date], str]:
    if config.reference_first and config.reference_last:
        return (parse_day(config.reference_first), parse_day(config.reference_last)), "configured"
    if config.use_champion_window and REPO.drift_reference_model:
        window = training_window(mlflow_tracking.client(), REPO.drift_reference_model)
        if window is not None and window[1] < day:
            return window, f"the training window of {REPO.drift_reference_model}'s champion"
    return (
        day - timedelta(days=config.reference_days),
        day - timedelta(days=1),
    ), f"the {config.reference_days} days before"


def check_result(result: DriftResult, config: DriftConfig, asset: str) -> dg.AssetCheckResult:
    share = result.drifted_share
    severity = dg.AssetCheckSeverity.ERROR if share > config.error_share else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name=CHECK,
        asset_key=asset,
        passed=share <= config.warn_share,
        severity=severity,
        description=f"{share:.0%} of features drifted ({', '.join(result.drifted_columns) or 'none'}); "
        f"warn above {config.warn_share:.0%}, fail above {config.error_share:.0%}",
        metadata={"drifted_share": share, "drifted_columns": result.drifted_columns},
    )


def build_drift_asset(spec: WindowedTable) -> dg.AssetsDefinition:
    name = f"{spec.short_name}_drift"

    @dg.asset(

        pool=SPARK_POOL,
        name=name,
        deps=[snapshots_key(spec)],
        partitions_def=daily_partitions,
        freshness_policy=DAILY_FRESHNESS,
        group_name=MONITORING_GROUP,
        kinds={"spark", "evidently"},
        description=f"Evidently data-drift report of {spec.name} on day D against a reference window "
        "(the champion's training days, else the days before D).",
        check_specs=[
            dg.AssetCheckSpec(
                CHECK,
                asset=name,
                description="Warns when the drifted share of features passes warn_share, "
                "fails (ERROR) past error_share.",
            )
        ],  # fmt: skip
        code_version="1",
        tags={"layer": "monitoring"},
    )
    def drift_report(
        context: dg.AssetExecutionContext,
        config: DriftConfig,
        spark: SparkResource,
        delta: DeltaLakeResource,
        mlflow_tracking: MLflowResource,
    ):
        day = partition_days(context)[-1]
        reference, source = reference_window(day, config, mlflow_tracking)
        reports = report_store(config.report_dir or f"{Settings.from_env().reports_root}/drift")
        result = compute_drift(
            DeltaTables(spark.get_session(), delta.root),
            spec,
            day,
            reference,
            reports,
            config.sample_size,
            config.seed,
        )
        context.log.info(
            f"{spec.name} {day}: {result.drifted_share:.0%} drifted, report {result.report_location}"
        )
        yield dg.MaterializeResult(
            metadata={
                "drifted_share": result.drifted_share,
                "drifted_columns": len(result.drifted_columns),
                "report": (dg.MetadataValue.url if reports.is_url else dg.MetadataValue.path)(
                    result.report_location
                ),
                "reference_window": f"{reference[0]}..{reference[1]} ({source})",
                "current_rows": result.current_rows,
                "reference_rows": result.reference_rows,
                "sampled_rows": f"{result.sampled[0]} current, {result.sampled[1]} reference",
                "sample_size": config.sample_size,
                "seed": config.seed,
                **{f"drift_score/{column}": d.score for column, d in result.columns.items()},
            }
        )
        yield check_result(result, config, name)

    return drift_report


drift_assets = [build_drift_asset(spec) for spec in TABLES]
