"""Write hand-made landing files for tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
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


def land_three_days(home: Path) -> None:
    """Generated landing files for 2025-01-01..03 under home/landing: 40 customers, 10 products."""
    from examples.churn.generate import generate

    generate(home / "landing", date(2025, 1, 1), date(2025, 1, 3), customers=40, products=10,
             transactions_per_day=30, seed=3)  # fmt: skip
