"""The Delta catalog without a JVM: a table's version, properties, comment, partitioning and columns,
read from its `_delta_log` by delta-rs (the `deltalake` package).

What `featurestore tables`, `describe` and `sql` need is metadata, and starting Spark for it costs
~30 s (the JVM, the Delta jars, a session) for what the log answers in milliseconds. The assets use
it too, for what a write needs to report: the new version and the rows per day, from the files'
statistics in the log (no Spark job reading back what was just written). Writes, and reads of rows,
stay with Spark (offline/delta_tables.py): this module never writes.

Roots on the local filesystem only. A Delta root on Azure (`abfss://`, `wasb://`) is authenticated
through hadoop-azure's settings (azure/storage.py); those readers keep Spark (`is_readable_here`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from feature_store.offline.names import TableNotFound, qualified, table_path

# Delta's type names (the protocol's schema JSON) -> Spark's simpleString, where they differ.
_SPARK_NAMES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # Spark SQL type, as Spark's simpleString prints it
    comment: str | None


@dataclass(frozen=True)
class TableLog:
    """One table's metadata at its latest version."""

    version: int
    properties: dict[str, str]
    description: str | None
    partition_columns: list[str]
    columns: list[Column]


def spark_type(delta_type: str | Mapping[str, Any]) -> str:
    """A Delta schema type as Spark's simpleString: long -> bigint, array<...>, struct<a:int,...>."""
    if isinstance(delta_type, str):
        return _SPARK_NAMES.get(delta_type, delta_type)  # decimal(p,s), timestamp_ntz, ... are equal
    kind = delta_type["type"]
    if kind == "array":
        return f"array<{spark_type(delta_type['elementType'])}>"
    if kind == "map":
        return f"map<{spark_type(delta_type['keyType'])},{spark_type(delta_type['valueType'])}>"
    if kind == "struct":
        return (
            "struct<" + ",".join(f"{f['name']}:{spark_type(f['type'])}" for f in delta_type["fields"]) + ">"
        )
    raise ValueError(f"unknown Delta type {delta_type!r}")


def local_path(root: str) -> Path | None:
    """The root as a local directory, or None when it is remote (abfss://, wasb://, s3a://, ...)."""
    if root.startswith("file:"):
        return Path(root.removeprefix("file:").removeprefix("//") or "/")
    return None if "://" in root else Path(root)


class DeltaLog:
    """Read-only catalog of the Delta tables under a local root laid out as <root>/<schema>/<table>."""

    def __init__(self, root: str) -> None:
        path = local_path(root)
        if path is None:
            raise ValueError(f"{root} is not a local path: its tables are read with Spark")
        self.root = path

    @staticmethod
    def is_readable_here(root: str) -> bool:
        return local_path(root) is not None

    def path(self, name: str) -> Path:
        return Path(table_path(str(self.root), name))

    def list(self, schema: str | None = None) -> list[str]:
        """Every Delta table under the root, as "schema.table" (what DeltaTables.list finds with Spark)."""
        return sorted(
            f"{log.parent.parent.name}.{log.parent.name}"
            for log in self.root.glob(f"{schema or '*'}/*/_delta_log")
            if log.is_dir() and any(log.iterdir())
        )

    def exists(self, name: str) -> bool:
        try:
            self.read(name)
        except TableNotFound:
            return False
        return True

    def version(self, name: str) -> int:
        return self._open(name).version()

    def rows_per_day(
        self, name: str, first: date, last: date, column: str = "date"
    ) -> dict[date, int] | None:
        """Rows of each day first..last of a table partitioned by `column`, summed from its files'
        statistics (days without files are absent); None when a file in range has no row count."""
        import pyarrow as pa
        import pyarrow.compute as pc

        files = pa.table(self._open(name).get_add_actions(flatten=True))
        partition = f"partition.{column}"
        if partition not in files.column_names:
            return None
        files = files.select([partition, "num_records"])
        files = files.filter(
            pc.and_(pc.greater_equal(files[partition], first), pc.less_equal(files[partition], last))
        )
        if files["num_records"].null_count:
            return None
        counted = files.group_by(partition).aggregate([("num_records", "sum")])
        return dict(zip(counted[partition].to_pylist(), counted["num_records_sum"].to_pylist(), strict=True))

    def _open(self, name: str) -> Any:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        path = self.path(name)
        try:
            return DeltaTable(str(path))
        except TableNotFoundError:
            raise TableNotFound(f"table {qualified(name)} does not exist at {path}") from None

    def read(self, name: str) -> TableLog:
        table = self._open(name)
        metadata = table.metadata()
        schema = json.loads(table.schema().to_json())
        return TableLog(
            version=table.version(),
            properties=dict(metadata.configuration),
            description=metadata.description or None,
            partition_columns=list(metadata.partition_columns),
            columns=[
                Column(f["name"], spark_type(f["type"]), (f.get("metadata") or {}).get("comment"))
                for f in schema["fields"]
            ],
        )
