"""Check results per daily partition.

A single-run backfill runs each check once over a range of days. One AssetCheckResult there carries no
partition, so Dagster marks the check of every day of the range SKIPPED. Instead a range run records one
evaluation per day, with that day's metadata and target materialization, so a check's Partitions tab shows
pass or fail for each day; a single-partition run records an ordinary AssetCheckResult.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from feature_store.offline.quality import Outcome

CheckContext = dg.AssetExecutionContext | dg.AssetCheckExecutionContext


def outcome_metadata(outcome: Outcome) -> dict:
    return {
        key: value if isinstance(value, int | float | str) else dg.MetadataValue.json(value)
        for key, value in outcome.details.items()
        if value is not None
    }


def outcome_result(
    outcome: Outcome, severity: dg.AssetCheckSeverity, check_name: str | None = None
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.summary,
        metadata=outcome_metadata(outcome),
    )


def partition_results(
    context: CheckContext,
    outcomes: Mapping[date, Outcome],
    severity: dg.AssetCheckSeverity,
    check_name: str | None = None,
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]:
    """The results of one check over the run's days (outcomes: one per day of the run)."""
    if context.has_partition_key:
        (outcome,) = outcomes.values()
        yield outcome_result(outcome, severity, check_name)
        return
    assets_def = context.op_execution_context.assets_def
    (spec,) = [s for s in assets_def.check_specs if check_name in (None, s.name)]
    targets = _latest_materializations(context, spec.asset_key, [d.isoformat() for d in outcomes])
    for day, outcome in outcomes.items():
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=outcome.passed,
            metadata=outcome_metadata(outcome),
            target_materialization_data=targets.get(day.isoformat()),
            severity=severity,
            description=outcome.summary,
            blocking=spec.blocking,
            partition=day.isoformat(),
        )
    # The check's output, so the step counts as having produced it (what an AssetCheckResult also yields).
    yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key))


def _latest_materializations(
    context: CheckContext, asset_key: dg.AssetKey, partitions: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each partition: what each day's evaluation checked."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=len(partitions) * 4
    ).records
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:  # newest first
        partition = record.partition_key
        if partition is not None and partition not in latest:
            latest[partition] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return latest
