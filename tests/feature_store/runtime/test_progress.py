"""Range runs in chunks: the chunks cover the range exactly, and the progress lines say where it is."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feature_store.runtime.progress import RangeProgress, chunk_days, day_chunks, run_in_chunks
from feature_store.runtime.variables import SettingsError


@given(
    first=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    length=st.integers(min_value=1, max_value=800),
    size=st.integers(min_value=1, max_value=400),
)
def test_chunks_cover_the_range_once_in_order(first, length, size):
    last = first + timedelta(days=length - 1)
    chunks = list(day_chunks(first, last, size))
    covered = [a + timedelta(days=i) for a, b in chunks for i in range((b - a).days + 1)]
    assert covered == [first + timedelta(days=i) for i in range(length)]
    assert all(1 <= (b - a).days + 1 <= size for a, b in chunks)
    assert len(chunks) == -(-length // size)  # only the last chunk may be short


def test_the_chunk_size_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("FEATURE_STORE_RANGE_CHUNK_DAYS", raising=False)
    assert chunk_days() == 31
    monkeypatch.setenv("FEATURE_STORE_RANGE_CHUNK_DAYS", "7")
    assert len(list(day_chunks(date(2025, 1, 1), date(2025, 1, 15)))) == 3
    monkeypatch.setenv("FEATURE_STORE_RANGE_CHUNK_DAYS", "0")
    with pytest.raises(SettingsError, match="FEATURE_STORE_RANGE_CHUNK_DAYS=0 must be at least 1"):
        chunk_days()
    monkeypatch.setenv("FEATURE_STORE_RANGE_CHUNK_DAYS", "a month")
    with pytest.raises(SettingsError, match="'a month' is not an integer"):
        chunk_days()


def test_progress_lines_give_days_rows_per_second_and_eta():
    now = [100.0]
    lines: list[str] = []
    progress = RangeProgress("feature_store.customer_features", 365, lines.append, clock=lambda: now[0])
    now[0] += 60
    progress.done(31, 1_550_000)
    now[0] += 4000
    progress.done(300, 15_000_000)
    now[0] += 30
    progress.done(34)
    assert lines == [
        "feature_store.customer_features: 31/365 days (8%), 1,550,000 rows, 25,833 rows/s, ETA 10m 46s",
        "feature_store.customer_features: 331/365 days (91%), 16,550,000 rows, 4,076 rows/s, ETA 6m 57s",
        "feature_store.customer_features: 365/365 days (100%), done in 1h 08m",
    ]


def test_a_range_reports_after_each_chunk_and_a_single_chunk_stays_quiet():
    steps: list[tuple[date, date]] = []
    lines: list[str] = []

    def step(first: date, last: date) -> int:
        steps.append((first, last))
        return (last - first).days + 1

    results = run_in_chunks("t", date(2025, 1, 1), date(2025, 3, 1), step, lambda n: n * 10, lines.append)
    assert steps == [
        (date(2025, 1, 1), date(2025, 1, 31)),
        (date(2025, 2, 1), date(2025, 3, 3) - timedelta(days=2)),
    ]
    assert results == [31, 29]
    assert [line.split(", ")[:2] for line in lines] == [
        ["t: 31/60 days (52%)", "310 rows"],
        ["t: 60/60 days (100%)", "600 rows"],
    ]
    assert lines[-1].endswith("done in 0s")

    lines.clear()
    assert run_in_chunks("t", date(2025, 1, 1), date(2025, 1, 31), step, lambda n: n, lines.append) == [31]
    assert lines == []
