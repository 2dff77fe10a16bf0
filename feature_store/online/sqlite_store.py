"""The embedded online store: one SQLite file, no server (the local profile's default).

Layout: one table per feature table, `"fs:<table>"(k TEXT PRIMARY KEY, ts INTEGER, v TEXT) WITHOUT ROWID`
(k: the encoded key, ts: feature_ts in µs, v: the encoded row, see `encoding.py`), and `fs_meta(name, ttl_us)`
for expiry. WAL mode: readers in other processes (the serving app) never block on a publishing writer.

Monotonic writes: `INSERT ... ON CONFLICT(k) DO UPDATE ... WHERE excluded.ts >= ts` inside
`BEGIN IMMEDIATE`, so concurrent writers (threads or processes) serialize on SQLite's write lock and the
comparison is made against the committed row. Reads: one `SELECT ... WHERE k IN (SELECT value FROM
json_each(?))` per table (constant SQL text, so the statement cache always hits), with expiry applied
in SQL from `fs_meta`; several tables are read in one transaction, i.e. one consistent snapshot.

Thread safety: one connection per store, guarded by a lock; calls from several threads are safe but
serialize. For parallel readers open one store per thread (WAL lets them read concurrently).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from feature_store.online.base import (
    DEFAULT_MAX_ROW_BYTES,
    EncodedBatch,
    OnlineStore,
    ReadRequest,
    TableResult,
    check_table,
    check_ttl,
)
from feature_store.online.encoding import decode_rows, dumps, encode_key

_NO_CUTOFF = -(2**63)
_META_DDL = (
    "CREATE TABLE IF NOT EXISTS fs_meta (name TEXT PRIMARY KEY, ttl_us INTEGER NOT NULL) WITHOUT ROWID"
)


class SqliteOnlineStore(OnlineStore):
    def __init__(
        self, path: str | Path, *, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES, timeout: float = 30.0
    ):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.max_row_bytes = max_row_bytes
        # Autocommit mode: transactions are explicit below, so a read never holds a lock it doesn't need.
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; an online store is a cache
        self._conn.execute(_META_DDL)
        self._lock = threading.Lock()
        self._sql: dict[str, tuple[str, str, str]] = {}

    def _statements(self, table: str) -> tuple[str, str, str]:
        sql = self._sql.get(table)
        if sql is None:
            q = f'"fs:{check_table(table)}"'
            sql = self._sql[table] = (
                f"CREATE TABLE IF NOT EXISTS {q} (k TEXT PRIMARY KEY, ts INTEGER NOT NULL, v TEXT NOT NULL) WITHOUT ROWID",
                f"INSERT INTO {q} (k, ts, v) VALUES (?, ?, ?) "
                f"ON CONFLICT (k) DO UPDATE SET ts = excluded.ts, v = excluded.v WHERE excluded.ts >= {q}.ts",
                f"SELECT k, v FROM {q} WHERE k IN (SELECT value FROM json_each(?1)) "
                f"AND ts > coalesce((SELECT ?2 - ttl_us FROM fs_meta WHERE name = ?3), {_NO_CUTOFF})",
            )
        return sql

    def _write(self, batch: EncodedBatch) -> int:
        create, upsert, _ = self._statements(batch.table)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(create)
                written = self._conn.executemany(
                    upsert, zip(batch.keys, batch.ts, batch.values, strict=True)
                ).rowcount
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return written

    def read(self, requests: Sequence[ReadRequest]) -> list[TableResult]:
        now_us = int(time.time() * 1_000_000)
        prepared = []
        for table, keys in requests:
            encoded = [encode_key(k) for k in keys]
            prepared.append((table, keys, encoded, self._statements(table)[2], dumps(encoded)))
        results = []
        with self._lock:
            many = len(prepared) > 1
            if many:
                self._conn.execute("BEGIN")  # one snapshot across tables
            try:
                for table, keys, encoded, select, key_json in prepared:
                    try:
                        found = dict(self._conn.execute(select, (key_json, now_us, table)).fetchall())
                    except sqlite3.OperationalError as exc:
                        if "no such table" not in str(exc):
                            raise
                        found = {}  # never written (or dropped): every key is missing
                    get = found.get
                    rows = decode_rows([get(k) for k in encoded])
                    results.append(TableResult(table, keys, rows))
            finally:
                if many:
                    self._conn.execute("COMMIT")
        return results

    def drop_table(self, table: str) -> None:
        q = f'"fs:{check_table(table)}"'
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(f"DROP TABLE IF EXISTS {q}")
            self._conn.execute("DELETE FROM fs_meta WHERE name = ?", (table,))
            self._conn.execute("COMMIT")

    def set_expiry(self, table: str, seconds: float | None) -> None:
        check_table(table)
        seconds = check_ttl(seconds)
        with self._lock:
            if seconds is None:
                self._conn.execute("DELETE FROM fs_meta WHERE name = ?", (table,))
            else:
                self._conn.execute(
                    "INSERT OR REPLACE INTO fs_meta (name, ttl_us) VALUES (?, ?)",
                    (table, int(seconds * 1_000_000)),
                )

    def get_expiry(self, table: str) -> float | None:
        with self._lock:
            row = self._conn.execute("SELECT ttl_us FROM fs_meta WHERE name = ?", (table,)).fetchone()
        return None if row is None else row[0] / 1_000_000

    def ping(self) -> bool:
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()
