"""Where features come from (sources) and what they are about (entities)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from feature_store.declarations.errors import DeclarationError, require

SparkType = Literal["string", "double", "bigint", "int", "timestamp", "date", "boolean"]
SPARK_TYPES: tuple[str, ...] = ("string", "double", "bigint", "int", "timestamp", "date", "boolean")
NUMERIC_TYPES: tuple[str, ...] = ("double", "bigint", "int")
KEY_TYPES: tuple[str, ...] = ("string", "bigint", "int")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")


def check_identifier(value: str, declaration: str, field: str) -> None:
    require(bool(_IDENTIFIER.fullmatch(value)), declaration, field, f"{value!r} is not a column-style name")


def check_table_name(value: str, declaration: str, field: str) -> None:
    require(
        bool(_TABLE_NAME.fullmatch(value)),
        declaration,
        field,
        f"{value!r} is not a two-part name 'schema.table'",
    )


@dataclass(frozen=True)
class Column:
    name: str
    dtype: SparkType
    description: str = ""


@dataclass(frozen=True)
class Source:
    """A dataset features are computed from, with its schema and event time.

    Landed (`landing_dir` set): daily files `landing/<landing_dir>/date=YYYY-MM-DD/*.parquet`, validated
    into the raw Delta table `table` (rows with a null `required` column or a negative `non_negative`
    one are rejected with the reason). Existing (`landing_dir` None): a Delta table someone else writes,
    partitioned by `date`, read as it is.
    """

    name: str
    table: str
    columns: tuple[Column, ...]
    event_time: str
    description: str = ""
    landing_dir: str | None = None
    required: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    # Days after day D ends before D's data is complete (labels, known only after their horizon).
    complete_after_days: int = 0

    def __post_init__(self) -> None:
        where = f"source {self.name!r}"
        require(self.complete_after_days >= 0, where, "complete_after_days",
                f"{self.complete_after_days} is negative")  # fmt: skip
        check_identifier(self.name, where, "name")
        check_table_name(self.table, where, "table")
        require(bool(self.columns), where, "columns", "a source needs at least one column")
        seen: set[str] = set()
        for i, column in enumerate(self.columns):
            check_identifier(column.name, where, f"columns[{i}].name")
            require(column.name not in seen, where, f"columns[{i}].name", f"duplicate column {column.name!r}")
            require(column.dtype in SPARK_TYPES, where, f"columns[{i}].dtype",
                    f"{column.dtype!r} is not one of {', '.join(SPARK_TYPES)}")  # fmt: skip
            seen.add(column.name)
        self.check_column(self.event_time, "event_time", ("timestamp",))
        for field in ("required", "non_negative"):
            for column in getattr(self, field):
                self.check_column(column, field, NUMERIC_TYPES if field == "non_negative" else None)

    @property
    def landed(self) -> bool:
        return self.landing_dir is not None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def check_column(
        self, name: str, field: str, types: tuple[str, ...] | None = None, declaration: str | None = None
    ) -> Column:
        """The column `name`, or a DeclarationError on `declaration`.`field` naming what is wrong."""
        where = declaration or f"source {self.name!r}"
        column = self.column(name)
        if column is None:
            raise DeclarationError(
                where,
                field,
                f"unknown column {name!r} of source {self.name!r} (columns: {', '.join(self.column_names)})",
            )
        if types is not None and column.dtype not in types:
            raise DeclarationError(
                where,
                field,
                f"column {name!r} of source {self.name!r} is {column.dtype}, expected {' or '.join(types)}",
            )
        return column


@dataclass(frozen=True)
class Entity:
    """What features describe: a name and its key columns with their types, e.g.
    Entity("customer", {"customer_id": "string"}) or Entity("store_day", {"store_id": "bigint", "region": "string"})."""

    name: str
    keys: tuple[tuple[str, str], ...]
    description: str = ""

    def __init__(
        self, name: str, keys: dict[str, str] | tuple[tuple[str, str], ...], description: str = ""
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "keys", tuple(keys.items()) if isinstance(keys, dict) else tuple(keys))
        object.__setattr__(self, "description", description)
        where = f"entity {name!r}"
        check_identifier(name, where, "name")
        require(bool(self.keys), where, "keys", "an entity needs at least one key column")
        names = [k for k, _ in self.keys]
        require(len(set(names)) == len(names), where, "keys", f"duplicate key column in {names}")
        for key, dtype in self.keys:
            check_identifier(key, where, f"keys[{key!r}]")
            require(
                dtype in KEY_TYPES,
                where,
                f"keys[{key!r}]",
                f"key type {dtype!r} is not one of {', '.join(KEY_TYPES)}",
            )

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.keys)

    def check_keys_in(self, source: Source, declaration: str) -> None:
        """Every key is a column of `source` with the entity's type."""
        for key, dtype in self.keys:
            column = source.check_column(key, f"entity {self.name!r} key {key!r}", declaration=declaration)
            require(
                _same_key_type(column.dtype, dtype), declaration, f"entity {self.name!r} key {key!r}",
                f"key type mismatch: the entity says {dtype}, source {source.name!r} has {column.dtype}",
            )  # fmt: skip


def _same_key_type(source_type: str, entity_type: str) -> bool:
    integers = ("int", "bigint")
    return source_type == entity_type or (source_type in integers and entity_type in integers)
