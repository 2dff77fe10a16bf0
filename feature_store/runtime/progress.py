"""Progress of a range of days that runs in chunks: days done of the total, rows per second, an ETA.

A year's backfill is one Dagster run per asset (single-run backfill policy). Run as one Spark job,
it would say nothing for many minutes and hold a year of rows in one shuffle. So a long range is
written in chunks of `FEATURE_STORE_RANGE_CHUNK_DAYS` (default 31; each chunk a complete, committed
write: writing any range gives the same rows as writing its days one by one), and every chunk reports
a line like
`customer_features: 93/365 days (25%), 4,513,002 rows, 41,250 rows/s, ETA 4m 12s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import TypeVar

from feature_store.runtime.variables import RANGE_CHUNK_DAYS, SettingsError

T = TypeVar("T")


def chunk_days() -> int:
    """A month by default: about 12 extra commits for a year (a second or two each) buy progress every
    month and a bounded shuffle; ranges up to that length run in one chunk, as a daily run does."""
    size = RANGE_CHUNK_DAYS.integer() or 0
    if size < 1:
        raise SettingsError(f"{RANGE_CHUNK_DAYS.name}={size} must be at least 1 (days per chunk)")
    return size


def day_chunks(first: date, last: date, size: int | None = None) -> Iterator[tuple[date, date]]:
    """first..last as consecutive (chunk_first, chunk_last) ranges of at most `size` days (default:
    chunk_days())."""
    size = chunk_days() if size is None else size
    if size < 1:
        raise ValueError(f"chunk size must be at least one day, got {size}")
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=size - 1))
        yield start, end
        start = end + timedelta(days=1)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class RangeProgress:
    """Counts days and rows as chunks finish and reports a line per chunk."""

    def __init__(
        self,
        what: str,
        total_days: int,
        report: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.what = what
        self.total_days = total_days
        self.days_done = 0
        self.rows = 0
        self._report = report
        self._clock = clock
        self._started = clock()

    def done(self, days: int, rows: int | None = None) -> str:
        """Record a finished chunk of `days` days (and `rows` rows written, if known); return its line."""
        self.days_done += days
        if rows is not None:
            self.rows += rows
        elapsed = max(self._clock() - self._started, 1e-9)
        parts = [
            f"{self.what}: {self.days_done}/{self.total_days} days ({self.days_done / self.total_days:.0%})"
        ]
        if rows is not None:
            parts.append(f"{self.rows:,} rows, {self.rows / elapsed:,.0f} rows/s")
        remaining = self.total_days - self.days_done
        parts.append(
            f"ETA {_duration(elapsed / self.days_done * remaining)}"
            if remaining
            else f"done in {_duration(elapsed)}"
        )
        line = ", ".join(parts)
        self._report(line)
        return line


def run_in_chunks(
    what: str,
    first: date,
    last: date,
    step: Callable[[date, date], T],
    rows: Callable[[T], int | None],
    report: Callable[[str], None] | None,
    size: int | None = None,
) -> list[T]:
    """`step` over first..last one chunk (of `size` days, default chunk_days()) at a time; after each
    chunk of a range longer than one, `report` gets days done, rows (`rows` of the step's result, None
    if unknown) per second and an ETA."""
    chunks = list(day_chunks(first, last, size))
    progress = None
    if report is not None and len(chunks) > 1:
        progress = RangeProgress(what, (last - first).days + 1, report)
    results = []
    for chunk_first, chunk_last in chunks:
        results.append(step(chunk_first, chunk_last))
        if progress is not None:
            progress.done((chunk_last - chunk_first).days + 1, rows(results[-1]))
    return results
