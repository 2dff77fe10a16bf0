"""Table names and the error for a missing table: shared by the Spark reader/writer (delta_tables.py)
and the JVM-free catalog reader (delta_log.py), and importable without Spark."""

from __future__ import annotations

import re

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
DEFAULT_SCHEMA = "default"


class TableNotFound(LookupError):
    pass


def qualified(name: str) -> str:
    """ "customer_features" -> "default.customer_features"; rejects anything but one or two identifiers."""
    if not TABLE_NAME.match(name or ""):
        raise ValueError(f"{name!r} is not a table name: use 'schema.table' or 'table' (letters, digits, _)")
    return name if "." in name else f"{DEFAULT_SCHEMA}.{name}"


def table_path(root: str, name: str) -> str:
    """Where table `name` lives under a Delta root: <root>/<schema>/<table>."""
    schema, table = qualified(name).split(".")
    return f"{root.rstrip('/')}/{schema}/{table}"
