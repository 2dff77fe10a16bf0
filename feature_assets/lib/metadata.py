"""Catalog metadata shared by every asset: where its table lives and its documented columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from feature_store.declarations import Column
from feature_store.runtime.settings import Settings


def table_metadata(table: str) -> dict[str, Any]:
    schema, name = table.split(".")
    location = f"{Settings.from_env().delta_root}/{schema}/{name}"
    return {
        "dagster/table_name": table,
        "delta_table": table,
        "delta_location": dg.MetadataValue.path(location),
    }


def column_schema(columns: Sequence[Column]) -> dict[str, Any]:
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(c.name, c.dtype, description=c.description) for c in columns]
        )
    }
