"""Feature drift: Evidently's DataDriftPreset on one day of a feature table against a reference window.

Both sides are sampled in Spark to at most `sample_size` rows with a fixed seed, so a report costs
the same whatever the table's size and is reproducible; the sample sizes are recorded. Evidently
picks the test per column (K-S or chi-square p-values for small samples, normed Wasserstein for
large ones); a column drifts when its p-value is below, or its distance at or above, the threshold.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from feature_store.declarations import WindowedTable
from feature_store.monitoring.reports import ReportStore
from feature_store.offline.delta_tables import DeltaTables


class DriftError(ValueError):
    """The report can't be computed as asked (e.g. no rows on the day or in the reference window)."""


@dataclass(frozen=True)
class ColumnDrift:
    score: float
    method: str
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    table: str
    day: date
    reference: tuple[date, date]
    drifted_share: float
    columns: dict[str, ColumnDrift]
    current_rows: int  # rows of the day before sampling
    reference_rows: int
    sampled: tuple[int, int]  # (current, reference) rows given to Evidently
    report_location: str  # a path, or a Blob URL (feature_store/monitoring/reports.py)

    @property
    def drifted_columns(self) -> list[str]:
        return [c for c, d in self.columns.items() if d.drifted]


def numeric_features(spec: WindowedTable) -> list[str]:
    """Drift is measured on the numeric features (not keys, timestamps or the partition column)."""
    numeric = ("int", "bigint", "double", "float", "long", "smallint")
    return [c.name for c in spec.feature_columns() if c.dtype in numeric]


def _sample(df: DataFrame, rows: int, size: int, seed: int) -> DataFrame:
    if rows <= size:
        return df
    # Bernoulli sampling a little above the target, then a deterministic cut: same seed, same rows.
    fraction = min(1.0, size / rows * 1.1)
    return df.sample(fraction=fraction, seed=seed).orderBy(F.xxhash64(*df.columns), *df.columns).limit(size)


def compute_drift(
    tables: DeltaTables,
    spec: WindowedTable,
    day: date,
    reference: tuple[date, date],
    reports: ReportStore,
    sample_size: int = 5000,
    seed: int = 0,
) -> DriftResult:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    if reference[1] >= day:
        raise DriftError(
            f"{spec.name}: the reference window {reference[0]}..{reference[1]} must end before {day}"
        )
    columns = numeric_features(spec)
    current = tables.read_days(spec.name, day, day).select(*columns)
    baseline = tables.read_days(spec.name, *reference).select(*columns)
    current_rows, reference_rows = current.count(), baseline.count()
    if current_rows == 0:
        raise DriftError(
            f"{spec.name} has no rows on {day}: materialize {spec.short_name} for that day first"
        )
    if reference_rows == 0:
        raise DriftError(f"{spec.name} has no rows in the reference window {reference[0]}..{reference[1]}")
    current_pd = _sample(current, current_rows, sample_size, seed).toPandas()
    reference_pd = _sample(baseline, reference_rows, sample_size, seed).toPandas()
    snapshot = Report([DataDriftPreset(columns=columns)]).run(current_pd, reference_pd)
    name = f"{spec.short_name}_drift_{day}.html"
    with tempfile.TemporaryDirectory() as scratch:
        snapshot.save_html(str(Path(scratch) / name))
        location = reports.save(name, Path(scratch) / name)
    share, per_column = _parse(snapshot.dict())
    return DriftResult(
        spec.name, day, reference, share, per_column, current_rows, reference_rows,
        (len(current_pd), len(reference_pd)), location,
    )  # fmt: skip


def _parse(report: dict[str, Any]) -> tuple[float, dict[str, ColumnDrift]]:
    share = None
    columns: dict[str, ColumnDrift] = {}
    for metric in report["metrics"]:
        config = metric["config"]
        kind = config.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif kind.endswith("ValueDrift"):
            method, threshold, score = config["method"], float(config["threshold"]), float(metric["value"])
            drifted = score < threshold if "p_value" in method else score >= threshold
            columns[config["column"]] = ColumnDrift(score, method, threshold, drifted)
    if share is None:
        raise DriftError("Evidently's report has no DriftedColumnsCount metric")
    return share, columns


def training_window(client: Any, name: str, alias: str = "champion") -> tuple[date, date] | None:
    """The days the `alias` version of model `name` was trained on: its run's train_first/train_last
    params (None without a model, an alias, or those params)."""
    try:
        version = client.get_model_version_by_alias(name, alias)
        params = client.get_run(version.run_id).data.params if version.run_id else {}
    except Exception:  # no model, no alias, or a run without params: no window
        return None
    if "train_first" not in params or "train_last" not in params:
        return None
    return date.fromisoformat(params["train_first"]), date.fromisoformat(params["train_last"])
