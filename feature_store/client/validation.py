"""What FeatureStoreClient checks before it writes anything, and the table-property format it shares
with the Dagster assets (feature_store.offline.feature_tables.catalog_properties).

Every check here runs before the first Delta commit, so a rejected call leaves the table exactly as it
was, and every error names the table and the offending columns or key values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Literal

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StructType

from feature_store.offline.feature_tables import TABLE_PROPERTIES_PREFIX

WriteMode = Literal["merge", "overwrite"]
WRITE_MODES = ("merge", "overwrite")

PRIMARY_KEYS = f"{TABLE_PROPERTIES_PREFIX}primary_keys"
TIMESTAMP_KEYS = f"{TABLE_PROPERTIES_PREFIX}timestamp_keys"
OWNERS = f"{TABLE_PROPERTIES_PREFIX}owners"
SOURCE = f"{TABLE_PROPERTIES_PREFIX}source"
TAG_PREFIX = f"{TABLE_PROPERTIES_PREFIX}tag."

# Tag keys become part of a Delta property name inside ALTER TABLE ... SET TBLPROPERTIES ('key' = ...),
# so they are restricted to characters that need no quoting (values are escaped, keys are not).
TAG_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]*$")
TIMESTAMP_TYPES = {"timestamp", "timestamp_ntz", "date"}
# Source type -> table types it is cast to without losing meaning; anything else is a mismatch.
# Delta itself rejects even int -> double on append, so the client casts these explicitly.
WIDENING: dict[str, set[str]] = {
    "tinyint": {"smallint", "int", "bigint", "float", "double"},
    "smallint": {"int", "bigint", "float", "double"},
    "int": {"bigint", "double"},
    "bigint": {"double"},
    "float": {"double"},
}
EXAMPLES = 5
_ROWS = "__featurestore_rows"


class FeatureTableError(ValueError):
    """A call the client refused before writing anything."""


class TableAlreadyExists(FeatureTableError):
    pass


class NotAFeatureTable(FeatureTableError):
    pass


class MissingColumns(FeatureTableError):
    pass


class SchemaMismatch(FeatureTableError):
    pass


class NullKeys(FeatureTableError):
    pass


class DuplicateKeys(FeatureTableError):
    pass


@dataclass(frozen=True)
class CatalogEntry:
    """The featurestore.* Delta properties of a table, decoded."""

    primary_keys: list[str]
    timestamp_keys: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def catalog_tags(props: Mapping[str, str]) -> dict[str, str]:
    """The tags among a table's properties (set_feature_table_tag), without their prefix."""
    return {k.removeprefix(TAG_PREFIX): v for k, v in sorted(props.items()) if k.startswith(TAG_PREFIX)}


def decode_properties(props: Mapping[str, str]) -> CatalogEntry:
    return CatalogEntry(
        primary_keys=split_list(props.get(PRIMARY_KEYS)),
        timestamp_keys=split_list(props.get(TIMESTAMP_KEYS)),
        owners=split_list(props.get(OWNERS)),
        source=props.get(SOURCE) or None,
        tags=catalog_tags(props),
    )


def encode_properties(
    primary_keys: Sequence[str], timestamp_keys: Sequence[str], tags: Mapping[str, str]
) -> dict[str, str]:
    """Same keys and comma-joined values as catalog_properties(), so both writers read back alike."""
    props = {PRIMARY_KEYS: ",".join(primary_keys)}
    if timestamp_keys:
        props[TIMESTAMP_KEYS] = ",".join(timestamp_keys)
    props.update({f"{TAG_PREFIX}{k}": v for k, v in tags.items()})
    return props


def as_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    """Databricks accepts a column name or a list of them; so do we."""
    if value is None:
        return []
    names = [value] if isinstance(value, str) else list(value)
    bad = [n for n in names if not isinstance(n, str) or not n or "," in n]
    if bad:
        raise ValueError(f"{what} must be non-empty column names without commas, got {bad!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} lists a column twice: {names}")
    return names


def normalize_keys(
    primary_keys: str | Sequence[str], timestamp_keys: str | Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The stored primary keys exclude the timestamp key (the assets' format); Unity Catalog style
    calls list it in both, which is accepted and normalized here."""
    timestamps = as_list(timestamp_keys, "timestamp_keys")
    if len(timestamps) > 1:
        raise ValueError(
            f"at most one timestamp key is supported (point-in-time lookups use one), got {timestamps}"
        )
    keys = [k for k in as_list(primary_keys, "primary_keys") if k not in timestamps]
    if not keys:
        raise ValueError("primary_keys must name at least one column besides the timestamp key")
    return keys, timestamps


def check_tag(key: str, value: str | None = None) -> None:
    if not isinstance(key, str) or not TAG_KEY.match(key):
        raise ValueError(
            f"tag key {key!r} must be letters, digits and _ . : - (starting with a letter/digit/_)"
        )
    if value is not None and not isinstance(value, str):
        raise TypeError(f"tag {key!r}: value must be a string, got {type(value).__name__}")


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    tags = dict(tags or {})
    for key, value in tags.items():
        check_tag(key, value)
    return tags


def require_columns(schema: StructType, groups: Mapping[str, Iterable[str]], table: str, where: str) -> None:
    """groups: role -> column names, e.g. {"primary key": [...]}, so the error says which role is missing."""
    present = set(schema.fieldNames())
    missing = {role: [c for c in cols if c not in present] for role, cols in groups.items()}
    missing = {role: cols for role, cols in missing.items() if cols}
    if missing:
        listed = "; ".join(f"{role} column(s) {', '.join(cols)}" for role, cols in missing.items())
        raise MissingColumns(f"{table}: {where} lacks {listed} (it has: {', '.join(schema.fieldNames())})")


def check_key_types(
    schema: StructType, primary_keys: Sequence[str], timestamp_keys: Sequence[str], table: str
) -> None:
    types = {f.name: f.dataType for f in schema.fields}
    for key in primary_keys:
        if isinstance(types[key], MapType | ArrayType | StructType):
            raise SchemaMismatch(
                f"{table}: primary key {key} has type {types[key].simpleString()}; use a scalar type"
            )
    for key in timestamp_keys:
        if types[key].simpleString() not in TIMESTAMP_TYPES:
            raise SchemaMismatch(
                f"{table}: timestamp key {key} has type {types[key].simpleString()}; use timestamp or date"
            )


def _compatible(source: DataType, target: DataType) -> bool:
    src, dst = source.simpleString(), target.simpleString()  # simpleString ignores nullability
    return src == dst or src == "void" or dst in WIDENING.get(src, set())


def conform(df: DataFrame, target: StructType, table: str, allowed_missing: Iterable[str] = ()) -> DataFrame:
    """df's columns in the table's order and types, with the table's column comments.

    Raises SchemaMismatch naming every extra column, every incompatible type and every missing
    column not in allowed_missing. Matching is by exact name: Spark would silently match
    `Amount` to `amount`, the client asks the caller to say which one is meant.
    """
    source = {f.name: f for f in df.schema.fields}
    wanted = {f.name: f for f in target.fields}
    problems = []
    extra = [c for c in source if c not in wanted]
    if extra:
        lowered = {c.lower(): c for c in wanted}
        hints = [f"{c} (table has {lowered[c.lower()]})" if c.lower() in lowered else c for c in extra]
        problems.append(f"columns not in the table: {', '.join(hints)}")
    missing = [c for c in wanted if c not in source and c not in set(allowed_missing)]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)} (add them, e.g. F.lit(None).cast(<type>))")
    bad_types = [
        f"{c} is {source[c].dataType.simpleString()}, table has {wanted[c].dataType.simpleString()}"
        for c in wanted
        if c in source and not _compatible(source[c].dataType, wanted[c].dataType)
    ]
    if bad_types:
        problems.append(f"incompatible types: {'; '.join(bad_types)}")
    if problems:
        raise SchemaMismatch(f"{table}: DataFrame does not match the table schema: {'. '.join(problems)}")
    return df.select(
        *(
            col(f.name).cast(f.dataType).alias(f.name, metadata=f.metadata)
            for f in target.fields
            if f.name in source
        )
    )


def col(name: str) -> SparkColumn:
    """A column by its literal name (dots and spaces included)."""
    return F.col("`" + name.replace("`", "``") + "`")


def check_key_values(
    df: DataFrame, primary_keys: Sequence[str], timestamp_keys: Sequence[str], table: str
) -> None:
    """Null keys and duplicate (primary + timestamp) keys, found with one aggregation.

    A duplicate would make MERGE fail half-way through planning or, on create/overwrite, store two
    rows that a point-in-time lookup could not choose between; so it is refused up front.
    """
    keys = [*primary_keys, *timestamp_keys]
    grouped = df.groupBy(*(col(k) for k in keys)).agg(F.count(F.lit(1)).alias(_ROWS))
    pk_null = reduce(lambda a, b: a | b, (col(k).isNull() for k in primary_keys))
    ts_null = reduce(lambda a, b: a | b, (col(k).isNull() for k in timestamp_keys), F.lit(False))
    duplicate = ~pk_null & ~ts_null & (F.col(_ROWS) > 1)
    stats = grouped.agg(
        F.sum(F.when(pk_null, F.col(_ROWS))).alias("pk_null"),
        F.sum(F.when(ts_null, F.col(_ROWS))).alias("ts_null"),
        F.count(F.when(duplicate, True)).alias("duplicates"),
    ).first()
    if stats["pk_null"]:
        raise NullKeys(
            f"{table}: {stats['pk_null']} row(s) have a null primary key ({', '.join(primary_keys)}); "
            "primary keys must be non-null"
        )
    if stats["ts_null"]:
        raise NullKeys(
            f"{table}: {stats['ts_null']} row(s) have a null timestamp key ({', '.join(timestamp_keys)}); "
            "point-in-time lookups could never match them"
        )
    if stats["duplicates"]:
        # Keys are rendered by Spark (session time zone, i.e. UTC), not by Python's local zone.
        examples = (
            grouped.where(duplicate)
            .orderBy(F.col(_ROWS).desc())
            .limit(EXAMPLES)
            .select(*(col(k).cast("string").alias(k) for k in keys), _ROWS)
            .collect()
        )
        shown = "; ".join(
            ", ".join(f"{k}={row[k]!r}" for k in keys) + f" ({row[_ROWS]} rows)" for row in examples
        )
        raise DuplicateKeys(
            f"{table}: {stats['duplicates']} ({', '.join(keys)}) key(s) occur more than once in the "
            f"DataFrame, e.g. {shown}; each key must identify one row, deduplicate before writing"
        )
