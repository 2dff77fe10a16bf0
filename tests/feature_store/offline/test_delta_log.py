"""What a write reports without reading back what it wrote: the version and rows per day from the
Delta log (delta-rs), equal to what Spark counts, and Spark's count when the log can't say."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from feature_store.declarations import Column
from feature_store.offline import quality
from feature_store.offline.delta_tables import DeltaTables

D1 = date(2025, 3, 1)
COLUMNS = [Column("key", "bigint"), Column("date", "date")]


def write(spark, tables: DeltaTables, name: str, per_day: list[int]) -> int:
    rows = [(k, D1 + timedelta(days=i)) for i, n in enumerate(per_day) for k in range(n)]
    df = spark.createDataFrame(rows, "key bigint, date date").repartition(3)  # several files per day
    return tables.replace_days(name, df, D1, D1 + timedelta(days=len(per_day) - 1))


@settings(max_examples=8, deadline=None)
@given(
    first=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    second=st.lists(st.integers(0, 40), max_size=4),
)
def test_rows_per_day_from_the_log_equal_spark_counts(spark, tmp_path_factory, first, second) -> None:
    tables = DeltaTables(spark, str(tmp_path_factory.mktemp("delta")))
    tables.ensure("fs.counts", COLUMNS, ["date"])
    version = write(spark, tables, "fs.counts", first)
    if second:  # a second write replaces the first days: the counts are the table's, not the commit's
        version = write(spark, tables, "fs.counts", second)
    last = D1 + timedelta(days=7)
    wanted = [D1 + timedelta(days=i) for i in range(8)]
    assert tables.rows_per_day("fs.counts", D1, last) == quality.rows_per_day(
        tables.read_days("fs.counts", D1, last), wanted
    )
    assert (
        version
        == tables.version("fs.counts")
        == int(spark.sql(f"DESCRIBE HISTORY {tables.sql_name('fs.counts')} LIMIT 1").first()["version"])
    )


def test_files_without_statistics_are_counted_by_spark(spark, tmp_path) -> None:
    tables = DeltaTables(spark, str(tmp_path))
    tables.ensure("fs.nostats", COLUMNS, ["date"])
    spark.conf.set("spark.databricks.delta.stats.collect", "false")
    try:
        write(spark, tables, "fs.nostats", [3, 0, 5])
    finally:
        spark.conf.unset("spark.databricks.delta.stats.collect")
    assert tables._log.rows_per_day("fs.nostats", D1, D1 + timedelta(days=2)) is None
    assert tables.rows_per_day("fs.nostats", D1, D1 + timedelta(days=2)) == {
        "2025-03-01": 3, "2025-03-02": 0, "2025-03-03": 5,
    }  # fmt: skip
