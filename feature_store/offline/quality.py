"""Data-quality rules for feature snapshots, as plain functions over Spark DataFrames.

Each returns an Outcome whose details name the offending values, so whatever runs the rule (a
Dagster asset check, a CLI, a notebook) can show exactly what was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SAMPLE = 10


@dataclass(frozen=True)
class Outcome:
    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _rows(df: DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.asDict().items()} for r in df.limit(SAMPLE).collect()]


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def keys_not_null_and_unique(df: DataFrame, keys: Sequence[str]) -> Outcome:
    """Per snapshot day, every key is present and appears once."""
    null_rows = df.where(F.greatest(*[F.col(k).isNull() for k in keys], F.lit(False)))
    duplicates = df.groupBy("date", *keys).count().where(F.col("count") > 1)
    n_null, n_dup = null_rows.count(), duplicates.count()
    return Outcome(
        passed=n_null == 0 and n_dup == 0,
        summary=f"{n_null} rows with a null key, {n_dup} duplicated keys",
        details={
            "null_key_rows": n_null,
            "duplicated_keys": n_dup,
            "sample_null_key_rows": _rows(null_rows.select("date", *keys)),
            "sample_duplicated_keys": _rows(duplicates),
        },
    )


def rows_per_day(df: DataFrame, days: Sequence[date]) -> dict[str, int]:
    counts = {
        r["date"].isoformat(): r["n"] for r in df.groupBy("date").agg(F.count("*").alias("n")).collect()
    }
    return {d.isoformat(): counts.get(d.isoformat(), 0) for d in days}


def row_count_in_range(counts: dict[str, int], previous: int | None, max_ratio: float) -> Outcome:
    """Every day has rows, and no day differs from the day before by more than max_ratio."""
    problems = []
    before = previous
    for day, n in counts.items():
        if n == 0:
            problems.append(f"{day}: no rows")
        elif before and not (1 / max_ratio <= n / before <= max_ratio):
            problems.append(f"{day}: {n} rows vs {before} the day before (more than {max_ratio}x apart)")
        before = n or before
    return Outcome(
        passed=not problems,
        summary="; ".join(problems) or f"row counts within {max_ratio}x day over day",
        details={"rows_by_day": counts, "previous_day_rows": previous, "max_ratio": max_ratio},
    )


def non_negative(df: DataFrame, columns: Sequence[str], keys: Sequence[str]) -> Outcome:
    bad = df.where(F.greatest(*[F.col(c) < 0 for c in columns], F.lit(False)))
    n = bad.count()
    return Outcome(
        passed=n == 0,
        summary=f"{n} rows with a negative count or sum",
        details={"negative_rows": n, "sample": _rows(bad.select("date", *keys, *columns))},
    )


def feature_ts_is_day_end(df: DataFrame, ts_column: str, keys: Sequence[str]) -> Outcome:
    """feature_ts must be D+1 00:00 UTC for snapshot day D (DESIGN.md, Time semantics)."""
    expected = F.date_add(F.col("date"), 1).cast("timestamp")
    bad = df.where(F.col(ts_column).isNull() | (F.col(ts_column) != expected))
    n = bad.count()
    return Outcome(
        passed=n == 0,
        summary=f"{n} rows whose {ts_column} is not the end of their day",
        details={"wrong_feature_ts_rows": n, "sample": _rows(bad.select("date", *keys, ts_column))},
    )


def missing_days(present: Sequence[date], expected: Sequence[date]) -> list[str]:
    have = set(present)
    return [d.isoformat() for d in expected if d not in have]
