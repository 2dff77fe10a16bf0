"""Landing files -> raw rows: every row read is accepted or rejected with a reason; bad files are
quarantined, never deleted."""

from datetime import date

import pyarrow as pa
import pytest

from examples.churn.repo import TRANSACTIONS
from feature_store.offline.ingest import REJECTED_ROWS_TABLE, IngestError, ingest_days
from feature_store.offline.landing import LocalLandingZone
from tests.landing_files import ts, txn, write_landing

DAY = date(2025, 1, 2)


def ingest(spark, tables, landing, first=DAY, last=DAY):
    return ingest_days(spark, tables, LocalLandingZone(landing), TRANSACTIONS, first, last)


def rejected(tables):
    return {r["reason"]: r for r in tables.read(REJECTED_ROWS_TABLE).collect()}


def test_bad_rows_are_rejected_with_reasons(spark, tables, home):
    landing = home / "landing"
    write_landing(
        landing,
        "transactions",
        "2025-01-02",
        [
            txn("t1", "c1", "p1", 10.0, "2025-01-02 00:00"),
            txn("t2", None, "p1", 10.0, "2025-01-02 01:00"),
            txn("t3", "c1", "p1", -1.0, "2025-01-02 02:00"),
            txn("t4", "c1", "p1", float("nan"), "2025-01-02 03:00"),
            txn("t5", "c1", "p1", 3.0, "2025-01-03 00:00"),  # the next day's midnight is outside D
            txn("t6", "c1", "p1", 3.0, "2025-01-01 23:59:59"),
        ],
    )
    [result] = ingest(spark, tables, landing)
    assert (result.rows_in, result.accepted, result.rejected) == (6, 1, 5)
    reasons = rejected(tables)
    assert "null customer_id" in reasons
    assert "amount is negative" in reasons
    assert "amount is not finite" in reasons
    assert "transaction_ts 2025-01-03 00:00:00 is outside partition 2025-01-02" in reasons
    assert '"transaction_id":"t2"' in reasons["null customer_id"]["raw_record"]
    assert [r["transaction_id"] for r in tables.read("raw.transactions").collect()] == ["t1"]


def test_unparseable_values_in_string_columns_reject_only_their_rows(spark, tables, home):
    landing = home / "landing"
    schema = pa.schema(
        [
            ("transaction_id", pa.string()),
            ("customer_id", pa.string()),
            ("product_id", pa.string()),
            ("amount", pa.string()),
            ("transaction_ts", pa.string()),
        ]
    )
    write_landing(
        landing,
        "transactions",
        "2025-01-02",
        [
            {
                "transaction_id": "t1",
                "customer_id": "c1",
                "product_id": "p",
                "amount": "12.5",
                "transaction_ts": "2025-01-02 10:00:00",
            },
            {
                "transaction_id": "t2",
                "customer_id": "c1",
                "product_id": "p",
                "amount": "abc",
                "transaction_ts": "2025-01-02 10:00:00",
            },
            {
                "transaction_id": "t3",
                "customer_id": "c1",
                "product_id": "p",
                "amount": "1",
                "transaction_ts": "yesterday-ish",
            },
        ],
        schema=schema,
    )
    [result] = ingest(spark, tables, landing)
    assert (result.accepted, result.rejected) == (1, 2)
    assert set(rejected(tables)) == {
        "amount is not a valid double: abc",
        "transaction_ts is not a valid timestamp: yesterday-ish",
    }
    row = tables.read("raw.transactions").first()
    assert row["amount"] == 12.5 and row["transaction_ts"] == ts("2025-01-02 10:00").replace(tzinfo=None)


@pytest.mark.parametrize(
    "schema, rows, reason",
    [
        (
            pa.schema([("transaction_id", pa.string()), ("customer_id", pa.string())]),
            [{"transaction_id": "t1", "customer_id": "c1"}],
            "file is missing column(s) product_id, amount, transaction_ts",
        ),
        (
            pa.schema(
                [
                    ("transaction_id", pa.string()),
                    ("customer_id", pa.string()),
                    ("product_id", pa.string()),
                    ("amount", pa.bool_()),
                    ("transaction_ts", pa.timestamp("us", tz="UTC")),
                ]
            ),
            [
                {
                    "transaction_id": "t1",
                    "customer_id": "c1",
                    "product_id": "p",
                    "amount": True,
                    "transaction_ts": ts("2025-01-02 10:00"),
                }
            ],
            "amount has type boolean, expected double",
        ),
    ],
)
def test_wrong_schema_rejects_every_row_of_the_file(spark, tables, home, schema, rows, reason):
    landing = home / "landing"
    write_landing(landing, "transactions", "2025-01-02", [txn("ok", "c1", "p1", 1.0, "2025-01-02 05:00")])
    write_landing(landing, "transactions", "2025-01-02", rows, schema=schema, name="bad.parquet")
    [result] = ingest(spark, tables, landing)
    assert (result.rows_in, result.accepted, result.rejected) == (2, 1, 1)
    assert set(rejected(tables)) == {reason}


@pytest.mark.parametrize("content", [b"", b"this is not parquet"])
def test_unreadable_files_are_quarantined_and_recorded(spark, tables, home, content):
    landing = home / "landing"
    write_landing(landing, "transactions", "2025-01-02", [txn("ok", "c1", "p1", 1.0, "2025-01-02 05:00")])
    bad = landing / "transactions" / "date=2025-01-02" / "broken.parquet"
    bad.write_bytes(content)
    [result] = ingest(spark, tables, landing)
    assert result.accepted == 1
    quarantined = landing / "transactions" / "_quarantine" / "date=2025-01-02" / "broken.parquet"
    assert not bad.exists() and quarantined.read_bytes() == content
    assert result.quarantined_files == [str(quarantined)]
    [record] = [r for r in tables.read(REJECTED_ROWS_TABLE).collect()]
    assert record["file"] == str(quarantined) and record["reason"].startswith("unreadable parquet file")


def test_day_without_files_fails_before_writing(spark, tables, home):
    with pytest.raises(IngestError, match="no landing files for transactions on 2025-01-02"):
        ingest(spark, tables, home / "landing")
    assert not tables.exists("raw.transactions")


def test_reingesting_a_range_is_idempotent(spark, tables, home):
    landing = home / "landing"
    write_landing(landing, "transactions", "2025-01-01", [txn("a", "c1", "p1", 1.0, "2025-01-01 05:00")])
    write_landing(
        landing,
        "transactions",
        "2025-01-02",
        [txn("b", "c1", "p1", 2.0, "2025-01-02 05:00"), txn("c", None, "p1", 2.0, "2025-01-02 05:00")],
    )
    first = ingest(spark, tables, landing, date(2025, 1, 1), DAY)
    rows_before = sorted(tables.read("raw.transactions").collect())
    again = ingest(spark, tables, landing, date(2025, 1, 1), DAY)
    assert [(r.day, r.accepted, r.rejected) for r in first] == [
        (r.day, r.accepted, r.rejected) for r in again
    ]
    assert sorted(tables.read("raw.transactions").collect()) == rows_before
    assert tables.read(REJECTED_ROWS_TABLE).count() == 1


def test_rerun_keeps_the_record_of_files_quarantined_earlier(spark, tables, home):
    landing = home / "landing"
    write_landing(landing, "transactions", "2025-01-02", [txn("ok", "c1", "p1", 1.0, "2025-01-02 05:00")])
    (landing / "transactions" / "date=2025-01-02" / "broken.parquet").write_bytes(b"junk")
    ingest(spark, tables, landing)
    [again] = ingest(spark, tables, landing)
    assert again.accepted == 1 and again.rejected == 0
    [record] = tables.read(REJECTED_ROWS_TABLE).collect()
    assert record["file"].endswith("_quarantine/date=2025-01-02/broken.parquet")


def test_the_rejected_rows_table_gets_a_commit_only_when_it_changes(spark, tables, home):
    landing = home / "landing"
    write_landing(landing, "transactions", "2025-01-01", [txn("a", "c1", "p1", 1.0, "2025-01-01 05:00")])
    bad_day = landing / "transactions" / "date=2025-01-02"
    write_landing(landing, "transactions", "2025-01-02", [txn("b", None, "p1", 2.0, "2025-01-02 05:00")])
    ingest(spark, tables, landing, DAY, DAY)
    assert tables.read(REJECTED_ROWS_TABLE).count() == 1
    version = tables.version(REJECTED_ROWS_TABLE)

    ingest(spark, tables, landing, date(2025, 1, 1), date(2025, 1, 1))  # clean, nothing stored: no commit
    assert tables.version(REJECTED_ROWS_TABLE) == version

    for f in bad_day.iterdir():  # the day's file is fixed upstream and the day re-run
        f.unlink()
    write_landing(landing, "transactions", "2025-01-02", [txn("b", "c1", "p1", 2.0, "2025-01-02 05:00")])
    [result] = ingest(spark, tables, landing, DAY, DAY)
    assert (result.accepted, result.rejected) == (1, 0)
    assert tables.version(REJECTED_ROWS_TABLE) == version + 1  # the earlier rejection is removed
    assert tables.read(REJECTED_ROWS_TABLE).count() == 0
