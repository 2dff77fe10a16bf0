"""The online store interface and what every implementation shares: batch encoding, dedup, expiry.

Semantics (the same for SQLite, Redis and Cosmos DB; `tests/online` runs one suite against all three):
- One row per (table, primary key): its features and `feature_ts`.
- Writes are monotonic: a row lands only if its `feature_ts` >= the stored one (equal overwrites, so
  re-publishing is idempotent). Each store makes this atomic per row against concurrent writers.
- Within one batch, rows with the same key are reduced first to the one with the greatest
  `feature_ts` (the last of equals). `WriteResult.written + skipped_older == len(rows)`.
- A whole batch is validated and encoded before anything is written: a bad value (unsupported type,
  oversized row, bad key or timestamp) raises `InvalidRowError` naming table, key and column, and the
  store is untouched.
- `read` takes requests for any number of tables and answers them in one round trip to the backend.
  Rows come back aligned with the requested keys: a plain dict of features plus `feature_ts`, or None
  when missing or expired.
- Expiry (`set_expiry(table, seconds)`) is relative to `feature_ts`: a row is served while
  `now < feature_ts + seconds`, so a backfilled old day never looks fresh. It applies to rows already
  stored, and is persisted in the store, so every process reading the table sees it. Redis and Cosmos
  also let the backend delete expired rows (storage only: reads filter regardless); a TTL lengthened
  later does not bring such rows back until they are re-published.
"""

from __future__ import annotations

import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from feature_store.online.encoding import InvalidRowError, OnlineStoreError, encode_key, encode_row, to_micros

__all__ = [
    "DEFAULT_MAX_ROW_BYTES",
    "TS_COLUMN",
    "EncodedBatch",
    "InvalidRowError",
    "OnlineStore",
    "OnlineStoreError",
    "ReadRequest",
    "TableResult",
    "WriteResult",
]

TS_COLUMN = "feature_ts"
DEFAULT_MAX_ROW_BYTES = 64 * 1024
# Safe in a Redis key, an SQLite identifier and a Cosmos item id (which forbids / \ ? #).
_TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


class ReadRequest(NamedTuple):
    table: str
    keys: Sequence[Any]  # key tuples, or bare values for one-column keys


class TableResult(NamedTuple):
    table: str
    keys: Sequence[Any]
    rows: list[dict[str, Any] | None]  # aligned with keys; None: missing or expired

    @property
    def missing(self) -> list[Any]:
        return [k for k, r in zip(self.keys, self.rows, strict=True) if r is None]


class WriteResult(NamedTuple):
    written: int
    skipped_older: int  # stored row (or a later row of the same batch) was newer


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A validated batch: unique encoded keys with their encoded rows and timestamps (µs)."""

    table: str
    keys: list[str]
    values: list[str]
    ts: list[int]
    rows_in: int


def check_table(table: str) -> str:
    if type(table) is not str or not _TABLE_NAME.fullmatch(table):
        raise InvalidRowError(
            f"table name {table!r} is invalid: use 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
        )
    return table


def check_ttl(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise ValueError(f"expiry must be a positive number of seconds or None, got {seconds!r}")
    return float(seconds)


def expiry_cutoff(ttl_seconds: float | None, now: float | None = None) -> int | None:
    """Rows with feature_ts (µs) <= the cutoff are expired; None: nothing expires."""
    if ttl_seconds is None:
        return None
    return int(((time.time() if now is None else now) - ttl_seconds) * 1_000_000)


def encode_batch(
    table: str,
    key_columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]] | Any,
    ts_column: str = TS_COLUMN,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> EncodedBatch:
    """Validate and encode every row before any write; reduce same-key rows to the newest."""
    check_table(table)
    if isinstance(key_columns, str) or not key_columns or not all(isinstance(c, str) for c in key_columns):
        raise InvalidRowError(f"table {table!r}: key_columns must be a non-empty sequence of column names")
    if hasattr(rows, "to_batches") and hasattr(rows, "combine_chunks"):  # a pyarrow Table
        rows = rows.combine_chunks().to_batches()[0] if rows.num_rows else rows.to_pylist()
    if hasattr(rows, "to_pylist"):  # a pyarrow RecordBatch
        return _encode_arrow(table, key_columns, rows, ts_column, max_row_bytes)
    if hasattr(rows, "columns") and hasattr(rows, "to_dict"):  # a pandas DataFrame
        rows = rows.to_dict("records")
    elif not isinstance(rows, Sequence):  # e.g. an iterator over a Spark partition
        rows = list(rows)
    key_columns = tuple(key_columns)
    skip = frozenset((*key_columns, ts_column))
    # Reads return the timestamp as `feature_ts`, so no feature may carry that name.
    reserved = TS_COLUMN if ts_column != TS_COLUMN else None
    single = key_columns[0] if len(key_columns) == 1 else None
    keys: list[str] = []
    values: list[str] = []
    stamps: list[int] = []
    position: dict[str, int] = {}
    for i, row in enumerate(rows):
        try:
            key = row[single] if single is not None else tuple(row[c] for c in key_columns)
        except KeyError as exc:
            raise InvalidRowError(f"table {table!r}, row {i}: missing key column {exc.args[0]!r}") from None
        try:
            enc = encode_key(key)
        except InvalidRowError as exc:
            raise InvalidRowError(f"table {table!r}, row {i}: {exc}") from None
        ts = row.get(ts_column)
        if not isinstance(ts, datetime) or ts != ts:  # pandas.NaT is a datetime unequal to itself
            raise InvalidRowError(
                f"table {table!r}, key {key!r}: {ts_column!r} must be a datetime, got {type(ts).__name__}"
            )
        if reserved is not None and reserved in row:
            raise InvalidRowError(
                f"table {table!r}, key {key!r}: column {TS_COLUMN!r} is reserved for the timestamp"
            )
        micros = to_micros(ts)
        text = encode_row(row, micros, skip, max_row_bytes, f"table {table!r}, key {key!r}")
        j = position.get(enc)
        if j is None:
            position[enc] = len(keys)
            keys.append(enc)
            values.append(text)
            stamps.append(micros)
        elif micros >= stamps[j]:
            values[j] = text
            stamps[j] = micros
    return EncodedBatch(table, keys, values, stamps, len(rows))


def _encode_arrow(
    table: str, key_columns: Sequence[str], batch: Any, ts_column: str, max_row_bytes: int
) -> EncodedBatch:
    from feature_store.online.arrow_encoding import encode_arrow_batch

    reserved = TS_COLUMN if ts_column != TS_COLUMN else None
    keys, values, stamps = encode_arrow_batch(table, key_columns, batch, ts_column, reserved, max_row_bytes)
    if len(set(keys)) != len(keys):  # rare: reduce same-key rows to the newest, the last of equals
        position: dict[str, int] = {}
        for i, (key, micros) in enumerate(zip(keys, stamps, strict=True)):
            j = position.get(key)
            if j is None or micros >= stamps[j]:
                position[key] = i
        chosen = sorted(position.values())
        keys, values, stamps = (
            [keys[i] for i in chosen],
            [values[i] for i in chosen],
            [stamps[i] for i in chosen],
        )
    return EncodedBatch(table, keys, values, stamps, batch.num_rows)


class OnlineStore(ABC):
    """A key-value store of the latest feature row per (table, primary key)."""

    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES

    def write_batch(
        self,
        table: str,
        key_columns: Sequence[str],
        rows: Sequence[Mapping[str, Any]] | Any,
        ts_column: str = TS_COLUMN,
    ) -> WriteResult:
        """Write rows (mappings, a pyarrow RecordBatch/Table or a pandas DataFrame) monotonically by
        `ts_column`; validates the whole batch first and raises `InvalidRowError` before any write."""
        batch = encode_batch(table, key_columns, rows, ts_column, self.max_row_bytes)
        written = self._write(batch) if batch.keys else 0
        return WriteResult(written, batch.rows_in - written)

    @abstractmethod
    def _write(self, batch: EncodedBatch) -> int:
        """Apply a validated batch (unique keys) monotonically; return how many rows landed."""

    @abstractmethod
    def read(self, requests: Sequence[ReadRequest]) -> list[TableResult]:
        """Rows for every request, in one round trip; results in request order."""

    def read_table(self, table: str, keys: Sequence[Any]) -> TableResult:
        return self.read([ReadRequest(table, keys)])[0]

    @abstractmethod
    def drop_table(self, table: str) -> None:
        """Delete every row of `table` and its expiry setting."""

    @abstractmethod
    def set_expiry(self, table: str, seconds: float | None) -> None:
        """Serve rows of `table` only while now < feature_ts + seconds (None: forever)."""

    @abstractmethod
    def get_expiry(self, table: str) -> float | None: ...

    @abstractmethod
    def ping(self) -> bool:
        """True if the backend answers; never raises."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
