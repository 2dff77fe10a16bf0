"""Named Delta tables under one root, with day-partitioned idempotent writes.

"schema.name" lives at <root>/<schema>/<name>, so a two-part name from the seed maps to a
folder, and the same names work on a local path and on abfss://. Table-level facts (keys,
description, tags) are Delta table properties: the table describes itself wherever it lives.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.utils import AnalysisException

from feature_store.specs import Column

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
DEFAULT_SCHEMA = "default"


class TableNotFound(LookupError):
    pass


def qualified(name: str) -> str:
    """ "customer_features" -> "default.customer_features"; rejects anything but one or two identifiers."""
    if not TABLE_NAME.match(name or ""):
        raise ValueError(f"{name!r} is not a table name: use 'schema.table' or 'table' (letters, digits, _)")
    return name if "." in name else f"{DEFAULT_SCHEMA}.{name}"


def day_predicate(first: date, last: date, column: str = "date") -> str:
    return f"{column} >= '{first.isoformat()}' AND {column} <= '{last.isoformat()}'"


class DeltaTables:
    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark = spark
        self.root = root.rstrip("/")

    def path(self, name: str) -> str:
        schema, table = qualified(name).split(".")
        return f"{self.root}/{schema}/{table}"

    def exists(self, name: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def table(self, name: str) -> DeltaTable:
        if not self.exists(name):
            raise TableNotFound(f"table {qualified(name)} does not exist at {self.path(name)}")
        return DeltaTable.forPath(self.spark, self.path(name))

    def ensure(
        self,
        name: str,
        columns: Sequence[Column],
        partition_by: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
        comment: str | None = None,
    ) -> None:
        """Create the table if missing, so concurrent first writes of different days don't race on it."""
        if self.exists(name):
            return
        builder = DeltaTable.createIfNotExists(self.spark).location(self.path(name))
        for column in columns:
            builder = builder.addColumn(column.name, column.dtype, comment=column.description)
        if partition_by:
            builder = builder.partitionedBy(*partition_by)
        for key, value in (properties or {}).items():
            builder = builder.property(key, value)
        if comment:
            builder = builder.comment(comment)
        for attempt in range(3):
            try:
                builder.execute()
                return
            except Exception:  # a concurrent creator won; anything else fails the retry below
                if self.exists(name):
                    return
                if attempt == 2:
                    raise
                time.sleep(0.5)

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
        (df.write.format("delta").mode("overwrite").option("replaceWhere", predicate).save(self.path(name)))
        return self.version(name)

    def read(self, name: str) -> DataFrame:
        try:
            return self.spark.read.format("delta").load(self.path(name))
        except AnalysisException as exc:
            raise TableNotFound(f"table {qualified(name)} does not exist at {self.path(name)}") from exc

    def read_days(self, name: str, first: date, last: date) -> DataFrame:
        return self.read(name).where(day_predicate(first, last))

    def version(self, name: str) -> int:
        return int(self.table(name).history(1).select("version").first()[0])

    def properties(self, name: str) -> dict[str, str]:
        detail = self.table(name).detail().select("properties", "description").first()
        props = dict(detail["properties"] or {})
        if detail["description"]:
            props["comment"] = detail["description"]
        return props

    def set_properties(self, name: str, properties: Mapping[str, str]) -> None:
        if not properties:
            return
        assignments = ", ".join(f"'{k}' = '{_escape(v)}'" for k, v in properties.items())
        self.spark.sql(f"ALTER TABLE delta.`{self.path(name)}` SET TBLPROPERTIES ({assignments})")

    def unset_properties(self, name: str, keys: Sequence[str]) -> None:
        if keys:
            listed = ", ".join(f"'{k}'" for k in keys)
            self.spark.sql(f"ALTER TABLE delta.`{self.path(name)}` UNSET TBLPROPERTIES IF EXISTS ({listed})")

    def drop(self, name: str) -> None:
        path = self.path(name)
        jvm = self.spark.sparkContext._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        fs = hadoop_path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        fs.delete(hadoop_path, True)

    def list(self, schema: str | None = None) -> list[str]:
        """Every Delta table under the root, as "schema.table"."""
        jvm = self.spark.sparkContext._jvm
        root = jvm.org.apache.hadoop.fs.Path(self.root)
        fs = root.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        if not fs.exists(root):
            return []
        names = []
        for schema_status in fs.listStatus(root):
            schema_name = schema_status.getPath().getName()
            if not schema_status.isDirectory() or (schema and schema != schema_name):
                continue
            for table_status in fs.listStatus(schema_status.getPath()):
                log = jvm.org.apache.hadoop.fs.Path(table_status.getPath(), "_delta_log")
                if table_status.isDirectory() and fs.exists(log):
                    names.append(f"{schema_name}.{table_status.getPath().getName()}")
        return sorted(names)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")
