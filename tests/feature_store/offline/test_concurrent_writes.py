"""Two writers of the same days at once (issue 15, concurrency): two runs of one partition, two
overlapping range backfills. Delta's commit conflicts are retried with backoff, so both writes land in
some serial order and every day holds exactly one writer's rows; when retries run out, the write fails
with a clear message and commits nothing."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta

import pytest

from feature_store.declarations import Column
from feature_store.offline import delta_tables
from feature_store.offline.delta_tables import ConcurrentWriteConflict, DeltaTables, retry_conflicts

TABLE = "fs.concurrent"
COLUMNS = [Column("key", "bigint"), Column("writer", "string"), Column("date", "date")]
D1 = date(2025, 3, 1)


def rows(spark, writer: str, first: date, last: date, keys: int = 50):
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return spark.createDataFrame(
        [(k, writer, d) for d in days for k in range(keys)], "key bigint, writer string, date date"
    )


def race(tables: DeltaTables, writes: list[tuple]) -> None:
    """Start the writes at the same instant on their own threads (Spark runs their jobs concurrently)."""
    barrier = threading.Barrier(len(writes))
    errors: list[BaseException] = []

    def run(df, first, last) -> None:
        barrier.wait()
        try:
            tables.replace_days(TABLE, df, first, last)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=w) for w in writes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def writers_by_day(tables: DeltaTables) -> dict[date, dict[str, int]]:
    out: dict[date, dict[str, int]] = {}
    for r in tables.read(TABLE).groupBy("date", "writer").count().collect():
        out.setdefault(r["date"], {})[r["writer"]] = r["count"]
    return out


def test_same_partition_and_overlapping_ranges_end_as_some_serial_order(spark, tmp_path, caplog):
    tables = DeltaTables(spark, str(tmp_path / "delta"))
    tables.ensure(TABLE, COLUMNS, ["date"])
    d2, d3, d4 = (D1 + timedelta(days=n) for n in (1, 2, 3))
    conflicts = 0
    for attempt in range(6):  # until Delta has reported (and we retried) at least one conflict
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=delta_tables.__name__):
            # Two runs of one partition, and two backfills overlapping on d2..d3.
            race(tables, [
                (rows(spark, f"a{attempt}", D1, D1), D1, D1), (rows(spark, f"b{attempt}", D1, D1), D1, D1),
                (rows(spark, f"c{attempt}", d2, d3), d2, d3), (rows(spark, f"d{attempt}", d3, d4), d3, d4),
            ])  # fmt: skip
        conflicts += sum("commit conflict" in r.message for r in caplog.records)
        by_day = writers_by_day(tables)
        # Each day holds one writer's 50 rows: nothing lost, duplicated or mixed.
        assert all(len(w) == 1 and sum(w.values()) == 50 for w in by_day.values()), by_day
        assert set(by_day[D1]) <= {f"a{attempt}", f"b{attempt}"}
        assert by_day[d2] == {f"c{attempt}": 50} and by_day[d4] == {f"d{attempt}": 50}
        assert set(by_day[d3]) <= {f"c{attempt}", f"d{attempt}"}
        if conflicts:
            break
    assert conflicts, "no commit conflict happened in 6 races: the retry path was never exercised"


class FakeConflict(Exception):
    """What a lost commit looks like from PySpark: the Delta exception's name in the message."""


def test_conflicts_are_retried_and_retries_run_out_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(delta_tables, "CONFLICT_BACKOFF_SECONDS", 0.001)
    calls = []

    def conflicting_twice() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise FakeConflict("io.delta.exceptions.ConcurrentAppendException: Files were added to partition")

    retry_conflicts(conflicting_twice, "fs.t days 2025-03-01..2025-03-01")
    assert len(calls) == 3

    def always_conflicting() -> None:
        raise FakeConflict("[DELTA_CONCURRENT_DELETE_DELETE] This transaction attempted to delete files")

    with pytest.raises(ConcurrentWriteConflict, match=r"fs.t days .*another run kept writing the same days "
                       r"\(3 attempts.*nothing of this write was committed"):  # fmt: skip
        retry_conflicts(always_conflicting, "fs.t days 2025-03-01..2025-03-01", retries=2)

    def failing_otherwise() -> None:
        raise ValueError("a schema mismatch is not a conflict")

    with pytest.raises(ValueError, match="schema mismatch"):
        retry_conflicts(failing_otherwise, "fs.t")
