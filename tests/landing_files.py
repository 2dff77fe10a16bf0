"""Write hand-made landing files for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def ts(text: str) -> datetime:
    """'2025-01-02 10:00' -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def txn(tid: str, customer: str, product: str, amount: float, at: str) -> dict[str, Any]:
    return {
        "transaction_id": tid,
        "customer_id": customer,
        "product_id": product,
        "amount": amount,
        "transaction_ts": ts(at),
    }


TXN_SCHEMA = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("customer_id", pa.string()),
        ("product_id", pa.string()),
        ("amount", pa.float64()),
        ("transaction_ts", pa.timestamp("us", tz="UTC")),
    ]
)


def write_landing(
    root: Path,
    source: str,
    day: str,
    rows: list[dict[str, Any]],
    schema: pa.Schema | None = None,
    name: str = "part-0000.parquet",
) -> Path:
    folder = root / source / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(
        rows, schema=schema if schema is not None else (TXN_SCHEMA if source == "transactions" else None)
    )
    path = folder / name
    pq.write_table(table, path)
    return path
