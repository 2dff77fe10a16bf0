"""The project's time semantics in one place (DESIGN.md, Time semantics).

A partition key is a UTC date D. Raw partition D holds events with D 00:00 <= ts < D+1 00:00.
A feature snapshot for D uses events with ts < D+1 00:00 and is stamped feature_ts = D+1 00:00,
the first moment its values were knowable.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta


def parse_day(value: str | date) -> date:
    if isinstance(value, datetime):
        raise TypeError(f"expected a date, got the datetime {value!r}")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date in YYYY-MM-DD form") from exc


def day_start(day: str | date) -> datetime:
    """D 00:00 UTC."""
    d = parse_day(day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def day_end(day: str | date) -> datetime:
    """D+1 00:00 UTC: the exclusive end of day D."""
    return day_start(day) + timedelta(days=1)


def snapshot_feature_ts(day: str | date) -> datetime:
    """The feature_ts of the snapshot for D. Equal to day_end(D), named for what it means."""
    return day_end(day)


def days(first: str | date, last: str | date) -> Iterator[date]:
    """Every date from first to last, both inclusive."""
    current, end = parse_day(first), parse_day(last)
    while current <= end:
        yield current
        current += timedelta(days=1)
