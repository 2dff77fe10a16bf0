"""Hypothesis-generated landing files against a brute-force oracle (issue 15, landing data that
misbehaves): random schemas and types, nulls, unparseable strings, non-finite and negative amounts,
event times outside their day, duplicated rows, empty and corrupt files. Whatever lands, every row
read is accepted or rejected with a reason, exactly the rows the oracle accepts reach the raw table,
and every unreadable file is quarantined and recorded."""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from examples.churn.repo import TRANSACTIONS
from feature_store.offline.delta_tables import DeltaTables
from feature_store.offline.ingest import REJECTED_ROWS_TABLE, ingest_days
from feature_store.offline.landing import LocalLandingZone

DAYS = (date(2025, 1, 2), date(2025, 1, 3))
STRING_ID = pa.string()
# Per column, the landed types tried: the declared one, a string to be parsed per row, and one the
# engine must refuse for the whole file (an integer id, a boolean amount, a date for a timestamp).
COLUMN_TYPES: dict[str, list[pa.DataType]] = {
    "transaction_id": [pa.string()],
    "customer_id": [pa.string()] * 5 + [pa.int64()],
    "product_id": [pa.string()],
    "amount": [pa.float64()] * 4 + [pa.string(), pa.int64(), pa.bool_()],
    "transaction_ts": [pa.timestamp("us", tz="UTC")] * 4 + [pa.string(), pa.date32()],
}
ACCEPTED_TYPES = {
    "transaction_id": {pa.string()},
    "customer_id": {pa.string()},
    "product_id": {pa.string()},
    "amount": {pa.float64(), pa.string(), pa.int64()},
    "transaction_ts": {pa.timestamp("us", tz="UTC"), pa.string()},
}
HOURS_FROM_DAY_START = (-1.0, 0.0, 2.0, 5.5, 12.0, 18.25, 23.99, 24.0, 30.0)


@dataclass
class LandedFile:
    day: date
    kind: str  # "parquet", "empty" or "corrupt"
    schema: pa.Schema | None = None
    rows: list[dict[str, Any]] | None = None


def value_for(column: str, dtype: pa.DataType, day: date) -> st.SearchStrategy[Any]:
    """Mostly good values, so that files mix accepted and rejected rows; None now and then."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if column == "transaction_ts":
        moments = [start + timedelta(hours=h) for h in HOURS_FROM_DAY_START]
        if pa.types.is_string(dtype):
            return st.sampled_from([None, "not a time", *(m.strftime("%Y-%m-%d %H:%M:%S") for m in moments)])
        if pa.types.is_date32(dtype):
            return st.just(day)
        return st.sampled_from([None, *moments])
    if column == "amount":
        if pa.types.is_string(dtype):
            return st.sampled_from([None, "3.25", "-2", "0", "abc", "17"])
        if pa.types.is_int64(dtype):
            return st.sampled_from([None, -1, 0, 7, 12])
        if pa.types.is_boolean(dtype):
            return st.booleans()
        return st.sampled_from([None, -1.5, 0.0, 3.25, math.nan, math.inf, 8.0, 120.5, 42.0, 9.99, 1.0])
    if pa.types.is_int64(dtype):
        return st.integers(1, 3)
    return st.sampled_from([None, *(f"c{i}" for i in range(1, 10))])


@st.composite
def landed_file(draw: st.DrawFn, day: date, serial: int) -> LandedFile:
    kind = draw(st.sampled_from(["parquet"] * 8 + ["empty", "corrupt"]))
    if kind != "parquet":
        return LandedFile(day, kind)
    # Now and then a column is missing (the id always lands: a file without columns has no rows to count).
    columns = ["transaction_id", *(c for c in list(COLUMN_TYPES)[1:] if draw(st.integers(0, 19)) > 0)]
    types = {c: draw(st.sampled_from(COLUMN_TYPES[c])) for c in columns}
    rows = []
    for i in range(draw(st.integers(0, 6))):
        row = {c: draw(value_for(c, types[c], day)) for c in columns}
        if "transaction_id" in row and row["transaction_id"] is not None:
            row["transaction_id"] = f"{day}-{serial}-{i}"  # identifies the row in the raw table
        rows.append(row)
        if draw(st.integers(0, 4)) == 0:
            rows.append(dict(row))  # a duplicate: both rows are landed data, both are accounted for
    return LandedFile(day, kind, pa.schema([(c, types[c]) for c in columns]), rows)


@st.composite
def landings(draw: st.DrawFn) -> list[LandedFile]:
    files = []
    for day in DAYS:
        files += [draw(landed_file(day, n)) for n in range(draw(st.integers(1, 3)))]
    return files


def oracle_accepts(file: LandedFile, row: dict[str, Any]) -> bool:
    """The ingest rules, written out row by row in Python."""
    if any(c not in file.schema.names for c in COLUMN_TYPES):
        return False
    if any(file.schema.field(c).type not in ACCEPTED_TYPES[c] for c in COLUMN_TYPES):
        return False
    if any(row[c] is None for c in COLUMN_TYPES):
        return False
    try:
        amount = float(row["amount"])
        moment = row["transaction_ts"]
        if isinstance(moment, str):
            moment = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return False
    start = datetime(file.day.year, file.day.month, file.day.day, tzinfo=UTC)
    return math.isfinite(amount) and amount >= 0 and start <= moment < start + timedelta(days=1)


def land(root: Path, files: list[LandedFile]) -> None:
    for n, file in enumerate(files):
        folder = root / "transactions" / f"date={file.day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{n}.parquet"
        if file.kind == "empty":
            path.write_bytes(b"")
        elif file.kind == "corrupt":
            path.write_bytes(b"PAR1 this is not a parquet footer")
        else:
            pq.write_table(pa.Table.from_pylist(file.rows, schema=file.schema), path)


@pytest.mark.slow  # ~10 Spark ingests; make test runs it
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=landings())
def test_every_landed_row_is_accepted_or_rejected_with_a_reason(spark, files: list[LandedFile]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        land(root / "landing", files)
        tables = DeltaTables(spark, str(root / "delta"))
        results = {r.day: r for r in ingest_days(spark, tables, LocalLandingZone(root / "landing"),
                                                 TRANSACTIONS, DAYS[0], DAYS[-1])}  # fmt: skip

        raw = Counter((r["date"], r["transaction_id"]) for r in tables.read(TRANSACTIONS.table).collect())
        rejected = tables.read(REJECTED_ROWS_TABLE).where(F.col("source") == TRANSACTIONS.name).collect()
        for day in DAYS:
            parquet = [f for f in files if f.day == day and f.kind == "parquet"]
            unreadable = [f for f in files if f.day == day and f.kind != "parquet"]
            rows_in = sum(len(f.rows) for f in parquet)
            accepted = Counter((day, row["transaction_id"]) for f in parquet for row in f.rows
                               if oracle_accepts(f, row))  # fmt: skip
            result = results[day]
            assert (result.rows_in, result.accepted) == (rows_in, sum(accepted.values()))
            assert result.accepted + result.rejected == result.rows_in
            assert Counter({k: n for k, n in raw.items() if k[0] == day}) == accepted

            day_rejected = [r for r in rejected if r["date"] == day]
            row_records = [r for r in day_rejected if r["raw_record"] is not None]
            assert len(row_records) == result.rejected
            assert all(r["reason"] for r in day_rejected), "every rejected row names its reason"
            file_records = [r for r in day_rejected if r["raw_record"] is None]
            assert len(file_records) == len(unreadable) == len(result.quarantined_files)
            assert all(r["reason"].startswith("unreadable parquet file") for r in file_records)
            assert all(Path(f).exists() and "_quarantine" in f for f in result.quarantined_files)
