"""Named Delta tables under one root, with day-partitioned idempotent writes.

"schema.name" lives at <root>/<schema>/<name>, so a two-part name from the seed maps to a
folder, and the same names work on a local path and on abfss://. Table-level facts (keys,
description, tags) are Delta table properties: the table describes itself wherever it lives.

Only DataFrame reads/writes and Delta SQL (`CREATE TABLE delta.\`path\``, `DESCRIBE DETAIL`, `DESCRIBE
HISTORY`, `ALTER TABLE ... SET TBLPROPERTIES`, `MERGE INTO`) are used, so the same code runs on a classic
session and on Spark Connect (Databricks Connect, serverless): no JVM gateway (Hadoop FileSystem) and no
delta-spark `DeltaTable`, which on a remote session needs the Delta Connect server plugin. Two
operations have no SQL form for path tables, and are done with plain Spark I/O on the server, with its
storage credentials, so they work on local paths and abfss:// alike:
- `list` reads the file names (binaryFile, path column only: no content is read) under
  `<root>/*/*/_delta_log`; a directory is a table exactly when it has a Delta log.
- `drop` overwrites the table's directory with an empty, partitioned text write: Spark's overwrite
  deletes the directory's contents, and an empty partitioned write leaves no file behind (no part
  file, no _SUCCESS), so the location is empty and a later `ensure` can create a table there again.
  (`DROP TABLE` only forgets catalog entries; path tables have none.)
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession

from feature_store.declarations import Column
from feature_store.offline import quality
from feature_store.offline.delta_log import DeltaLog
from feature_store.offline.names import TableNotFound, qualified, table_path

# Delta's commit conflicts (io.delta.exceptions.*): another writer committed to the same files first.
CONFLICTS = (
    "ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
    "ProtocolChangedException", "DELTA_CONCURRENT_",
)  # fmt: skip
CONFLICT_RETRIES = 5
CONFLICT_BACKOFF_SECONDS = 0.5
log = logging.getLogger(__name__)


class ConcurrentWriteConflict(RuntimeError):
    """Another writer kept committing to the same days; this write committed nothing."""


def is_conflict(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {str(exc)[:2000]}"
    return any(name in text for name in CONFLICTS)


def retry_conflicts(write: Callable[[], None], what: str, retries: int = CONFLICT_RETRIES) -> None:
    """Run a Delta write, again after a commit conflict (a conflicting commit leaves nothing behind: the
    transaction's files are never referenced by the log), with jittered exponential backoff."""
    for attempt in range(retries + 1):
        try:
            write()
            return
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if attempt == retries:
                raise ConcurrentWriteConflict(
                    f"{what}: another run kept writing the same days ({retries + 1} attempts, each losing a "
                    f"commit conflict); nothing of this write was committed. Re-run it, or keep runs of the "
                    f"same partitions from overlapping (docs/design.md, concurrency)"
                ) from None
            delay = CONFLICT_BACKOFF_SECONDS * 2**attempt * (0.5 + random.random())
            log.warning("%s: commit conflict with another writer (%s); retrying in %.1fs", what,
                        type(exc).__name__, delay)  # fmt: skip
            time.sleep(delay)


class SchemaChangeRefused(ValueError):
    """A declaration drops or retypes a column that holds data; the message names the columns and how to
    force the change."""


ALLOW_ALL = "*"


def day_predicate(first: date, last: date, column: str = "date") -> str:
    return f"{column} >= '{first.isoformat()}' AND {column} <= '{last.isoformat()}'"


class DeltaTables:
    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark = spark
        self.root = root.rstrip("/")
        # Metadata a write reports (version, rows per day) comes from the log itself where it is local.
        self._log = DeltaLog(self.root) if DeltaLog.is_readable_here(self.root) else None

    def path(self, name: str) -> str:
        return table_path(self.root, name)

    def sql_name(self, name: str) -> str:
        """The table as Delta SQL names a path table: delta.`<path>`."""
        return "delta.`" + self.path(name).replace("`", "``") + "`"

    def _detail(self, name: str) -> Row | None:
        try:
            return self.spark.sql(f"DESCRIBE DETAIL {self.sql_name(name)}").first()
        except AnalysisException:  # no such path, or not a Delta table
            return None

    def exists(self, name: str) -> bool:
        return self._detail(name) is not None

    def detail(self, name: str) -> Row:
        """DESCRIBE DETAIL's row (location, partitionColumns, properties, description, numFiles, ...)."""
        detail = self._detail(name)
        if detail is None:
            raise TableNotFound(f"table {qualified(name)} does not exist at {self.path(name)}")
        return detail

    def ensure(
        self,
        name: str,
        columns: Sequence[Column],
        partition_by: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
        comment: str | None = None,
        evolve: bool = False,
        allow_changes: Sequence[str] = (),
    ) -> list[str]:
        """Create the table if missing, so concurrent first writes of different days don't race on it.
        With `evolve`, an existing table is brought in line with `columns` (`evolve`). Returns what
        changed."""
        if self.exists(name):
            return self.evolve(name, columns, allow_changes) if evolve else []
        statement = f"CREATE TABLE IF NOT EXISTS {self.sql_name(name)} ({_column_ddl(columns)}) USING delta"
        if partition_by:
            statement += " PARTITIONED BY (" + ", ".join(f"`{c}`" for c in partition_by) + ")"
        if comment:
            statement += f" COMMENT '{_escape(comment)}'"
        if properties:
            statement += f" TBLPROPERTIES ({_assignments(properties)})"
        for attempt in range(3):
            try:
                self.spark.sql(statement)
                return []
            except Exception:  # a concurrent creator won; anything else fails the retry below
                if self.exists(name):
                    return []
                if attempt == 2:
                    raise
                time.sleep(0.5)
        return []

    def evolve(self, name: str, columns: Sequence[Column], allow_changes: Sequence[str] = ()) -> list[str]:
        """Make the table's columns the declared ones. A new column is added (null on the days written
        before it, until they are rewritten). A column the declaration no longer has, or has with
        another type, holds data: that is refused unless `allow_changes` names it (or is "*"); then it
        is dropped, and re-added with its new type. Returns the changes made, e.g. ["+avg_spend_60d"]."""
        have = {f.name: f.dataType.simpleString() for f in self.read(name).schema.fields}
        want = {c.name: c.dtype for c in columns}
        removed = [c for c in have if c not in want]
        retyped = [c for c in have if c in want and have[c] != want[c]]
        refused = [c for c in (*removed, *retyped) if ALLOW_ALL not in allow_changes and c not in allow_changes]
        if refused:
            described = ", ".join(
                f"{c} ({have[c]} -> {want[c]})" if c in want else f"{c} ({have[c]}, no longer declared)"
                for c in refused
            )
            raise SchemaChangeRefused(
                f"table {qualified(name)}: the declaration drops or retypes column(s) that hold data: "
                f"{described}. Their values would be lost. To go ahead, allow the change for these "
                f"columns (Dagster run tag featurestore/allow_schema_change={','.join(refused)}, or * for "
                "all), then backfill the days you need."
            )
        dropped = [*removed, *retyped]
        if dropped:
            # Delta drops a column only with column mapping by name (a metadata change; files stay).
            self.set_properties(name, {
                "delta.columnMapping.mode": "name", "delta.minReaderVersion": "2", "delta.minWriterVersion": "5"
            })  # fmt: skip
            listed = ", ".join(f"`{c}`" for c in dropped)
            self.spark.sql(f"ALTER TABLE {self.sql_name(name)} DROP COLUMNS ({listed})")
        added = [c for c in columns if c.name not in have or c.name in retyped]
        if added:
            self.spark.sql(f"ALTER TABLE {self.sql_name(name)} ADD COLUMNS ({_column_ddl(added)})")
        return [*(f"-{c}" for c in removed), *(f"~{c}" for c in retyped),
                *(f"+{c.name}" for c in added if c.name not in retyped)]  # fmt: skip

    def replace_days(
        self, name: str, df: DataFrame, first: date, last: date, extra_predicate: str | None = None
    ) -> int:
        """Replace exactly the rows of days first..last (and extra_predicate) with df.

        Re-running gives the same rows, never duplicates; Delta rejects rows outside the predicate,
        and writers of disjoint days don't conflict. Returns the new table version.
        """
        predicate = day_predicate(first, last)
        if extra_predicate:
            predicate = f"({predicate}) AND ({extra_predicate})"

        def write() -> None:
            df.write.format("delta").mode("overwrite").option("replaceWhere", predicate).save(self.path(name))

        retry_conflicts(write, f"{qualified(name)} days {first}..{last}")
        return self.version(name)

    def read(self, name: str) -> DataFrame:
        try:
            return self.spark.read.format("delta").load(self.path(name))
        except AnalysisException as exc:
            raise TableNotFound(f"table {qualified(name)} does not exist at {self.path(name)}") from exc

    def read_days(self, name: str, first: date, last: date) -> DataFrame:
        return self.read(name).where(day_predicate(first, last))

    def version(self, name: str) -> int:
        if self._log is not None:
            try:
                return self._log.version(name)
            except Exception as exc:  # unreadable by delta-rs here (a feature it lacks, a path it can't see)
                log.debug("%s: version from DESCRIBE HISTORY (%s)", name, exc)
        try:
            return int(self.spark.sql(f"DESCRIBE HISTORY {self.sql_name(name)} LIMIT 1").first()["version"])
        except AnalysisException as exc:
            raise TableNotFound(f"table {qualified(name)} does not exist at {self.path(name)}") from exc

    def rows_per_day(self, name: str, first: date, last: date) -> dict[str, int]:
        """Rows of each day first..last ("YYYY-MM-DD" -> n, 0 for a day without rows). On a local root
        from the Delta log's file statistics (no Spark job); else, or for files without statistics,
        by counting the rows."""
        wanted = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        if self._log is not None:
            try:
                counts = self._log.rows_per_day(name, first, last)
                if counts is not None:
                    return {d.isoformat(): counts.get(d, 0) for d in wanted}
            except Exception as exc:  # as in version(): Spark can still answer
                log.debug("%s: rows per day by a count job (%s)", name, exc)
        return quality.rows_per_day(self.read_days(name, first, last), wanted)

    def properties(self, name: str) -> dict[str, str]:
        detail = self.detail(name)
        props = dict(detail["properties"] or {})
        if detail["description"]:
            props["comment"] = detail["description"]
        return props

    def set_properties(self, name: str, properties: Mapping[str, str]) -> None:
        if properties:
            self.spark.sql(
                f"ALTER TABLE {self.sql_name(name)} SET TBLPROPERTIES ({_assignments(properties)})"
            )

    def unset_properties(self, name: str, keys: Sequence[str]) -> None:
        if keys:
            listed = ", ".join(f"'{_escape(k)}'" for k in keys)
            self.spark.sql(f"ALTER TABLE {self.sql_name(name)} UNSET TBLPROPERTIES IF EXISTS ({listed})")

    def merge(self, name: str, data: DataFrame, keys: Sequence[str]) -> None:
        """Upsert data into the table by keys (non-null): matched rows get data's columns, new keys are
        inserted. SQL MERGE over a temp view of data: Connect-safe, unlike DeltaTable.merge."""

        def q(c: str) -> str:
            return "`" + c.replace("`", "``") + "`"

        view = f"featurestore_merge_{uuid.uuid4().hex}"
        data.createOrReplaceTempView(view)
        columns = data.columns
        updates = ", ".join(f"t.{q(c)} = s.{q(c)}" for c in columns if c not in keys)
        statement = (
            f"MERGE INTO {self.sql_name(name)} t USING {view} s ON "
            + " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in keys)
            # a df of keys only inserts new keys and changes nothing else
            + (f" WHEN MATCHED THEN UPDATE SET {updates}" if updates else "")
            + f" WHEN NOT MATCHED THEN INSERT ({', '.join(map(q, columns))})"
            + f" VALUES ({', '.join(f's.{q(c)}' for c in columns)})"
        )
        try:
            self.spark.sql(statement)
        finally:
            self.spark.catalog.dropTempView(view)

    def drop(self, name: str) -> None:
        """Delete the table's files (module doc: an overwrite by an empty partitioned write)."""
        empty = self.spark.createDataFrame([], "value string, featurestore_dropped string")
        (
            empty.write.format("text").mode("overwrite").partitionBy("featurestore_dropped")
            .option("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
            .save(self.path(name))
        )  # fmt: skip

    def list(self, schema: str | None = None) -> list[str]:
        """Every Delta table under the root, as "schema.table" (module doc)."""
        pattern = f"{self.root}/{schema or '*'}/*/_delta_log"
        try:
            paths = self.spark.read.format("binaryFile").load(pattern).select("path").collect()
        except AnalysisException:  # nothing matches: no root, or no table in it
            return []
        names = set()
        for row in paths:
            parts = row["path"].rstrip("/").split("/")
            log = len(parts) - 1 - parts[::-1].index("_delta_log")  # <schema>/<table>/_delta_log/<file>
            names.add(f"{parts[log - 2]}.{parts[log - 1]}")
        return sorted(names)


def _assignments(properties: Mapping[str, str]) -> str:
    return ", ".join(f"'{_escape(k)}' = '{_escape(v)}'" for k, v in properties.items())


def _column_ddl(columns: Sequence[Column]) -> str:
    return ", ".join(
        f"`{c.name}` {c.dtype}" + (f" COMMENT '{_escape(c.description)}'" if c.description else "")
        for c in columns
    )


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")
