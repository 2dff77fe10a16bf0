"""Landing files of one day -> validated raw Delta rows + rejected rows with their reason.

Nothing is lost: every row read is either accepted or rejected (kept as JSON with a reason),
and a file Spark cannot read at all is moved to quarantine and recorded as rejected too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feature_store.declarations import Column, Source
from feature_store.offline.delta_tables import DeltaTables
from feature_store.offline.landing import LandingZone, UnreadableFile
from feature_store.runtime.timeutil import days

REJECTED_ROWS_TABLE = "raw.rejected_rows"
REJECTED_COLUMNS = (
    Column("source", "string", "Raw source the row was landed for"),
    Column("date", "date", "Partition day the file was landed under"),
    Column("file", "string", "Landing file the row came from (its quarantine path if unreadable)"),
    Column("reason", "string", "Why the row was rejected"),
    Column("raw_record", "string", "The row as read, as JSON (null when the file was unreadable)"),
)

NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.BooleanType)
# Which landed types may be converted to each declared type. Strings are parsed per row, so one
# bad value rejects one row; any other type mismatch rejects every row of the file.
ACCEPTED_SOURCE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (T.StringType,),
    "double": (*NUMERIC, T.StringType),
    "bigint": (*INTEGRAL, T.StringType),
    "int": (*INTEGRAL, T.StringType),
    "timestamp": (T.TimestampType, T.TimestampNTZType, T.StringType),
    "date": (T.DateType, T.StringType),
    "boolean": (T.BooleanType, T.StringType),
}


class IngestError(RuntimeError):
    pass


@dataclass
class IngestResult:
    source: str
    day: date
    files: int
    rows_in: int
    accepted: int
    rejected: int
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    quarantined_files: list[str] = field(default_factory=list)


def raw_table_columns(source: Source) -> list[Column]:
    return [*source.columns, Column("date", "date", "UTC day of the event time (partition column)")]


def _file_level_problem(df: DataFrame, source: Source) -> str | None:
    types = {f.name: f.dataType for f in df.schema.fields}
    missing = [c.name for c in source.columns if c.name not in types]
    if missing:
        return f"file is missing column(s) {', '.join(missing)}"
    wrong = [
        f"{c.name} has type {types[c.name].simpleString()}, expected {c.dtype}"
        for c in source.columns
        if not isinstance(types[c.name], ACCEPTED_SOURCE_TYPES[c.dtype])
    ]
    return "; ".join(wrong) or None


def _row_reasons(df: DataFrame, source: Source) -> tuple[list[SparkColumn], SparkColumn]:
    """Typed columns and a reason column (null when the row is valid). Rows carry their
    partition day in `date`, so one pass validates files of many days."""
    typed = {c.name: F.col(c.name).try_cast(c.dtype) for c in source.columns}
    problems: list[SparkColumn] = []
    for c in source.columns:
        raw = F.col(c.name)
        if c.name in source.required:
            problems.append(F.when(raw.isNull(), F.lit(f"null {c.name}")))
        problems.append(
            F.when(
                raw.isNotNull() & typed[c.name].isNull(),
                F.concat(F.lit(f"{c.name} is not a valid {c.dtype}: "), raw.cast("string")),
            )
        )
        if c.dtype == "double":
            non_finite = F.isnan(typed[c.name]) | (F.abs(typed[c.name]) == float("inf"))
            problems.append(F.when(non_finite, F.lit(f"{c.name} is not finite")))
        if c.name in source.non_negative:
            problems.append(F.when(typed[c.name] < 0, F.lit(f"{c.name} is negative")))
    event = typed[source.event_time]
    start = F.col("date").cast("timestamp")
    outside = (event < start) | (event >= F.date_add(F.col("date"), 1).cast("timestamp"))
    problems.append(
        F.when(
            outside,
            F.concat(
                F.lit(f"{source.event_time} "),
                event.cast("string"),
                F.lit(" is outside partition "),
                F.col("date").cast("string"),
            ),
        )
    )
    reason = F.concat_ws("; ", *problems)
    return [typed[c.name].alias(c.name) for c in source.columns], F.when(reason != "", reason)


def _validate_files(df: DataFrame, source: Source) -> DataFrame:
    """Rows of files sharing one schema, with typed columns plus date, file, reason, raw_record."""
    data_columns = [c for c in df.columns if c not in ("date", "file")]
    raw_record = F.to_json(F.struct(*[F.col(c) for c in data_columns]))
    problem = _file_level_problem(df.select(*data_columns), source)
    if problem is not None:
        typed = [F.lit(None).cast(c.dtype).alias(c.name) for c in source.columns]
        reason = F.lit(problem)
    else:
        typed, reason = _row_reasons(df, source)
    return df.select(*typed, "date", "file", reason.alias("reason"), raw_record.alias("raw_record"))


def ingest_days(
    spark: SparkSession,
    tables: DeltaTables,
    landing: LandingZone,
    source: Source,
    first: date,
    last: date,
    log: Callable[[str], None] = lambda _: None,
) -> list[IngestResult]:
    """Validate the landed days first..last into source.table and the rejected-rows table.

    One Spark pass for the whole range; idempotent per day. A day without files is an error,
    raised before anything is written.
    """
    by_schema: dict[str, list[str]] = {}
    files_per_day: dict[date, int] = {}
    unreadable: list[tuple[date, str, str]] = []
    for day in days(first, last):
        # Files quarantined by an earlier run of this day stay recorded when the day is rewritten.
        earlier = landing.quarantined(source.landing_dir, day)
        unreadable += [(day, f, "unreadable parquet file (quarantined by an earlier run)") for f in earlier]
        paths = landing.stage(source.landing_dir, day)
        if not paths and not earlier:
            raise IngestError(
                f"no landing files for {source.name} on {day} under {landing.location}/{source.landing_dir}/"
                f"date={day}; land them first (the sensor requests a day only once it has files)"
            )
        files_per_day[day] = len(paths)
        for path in paths:
            try:
                schema = landing.schema(path).to_string(show_schema_metadata=False)
                by_schema.setdefault(schema, []).append(path)
            except UnreadableFile as exc:  # a storage error propagates: the file may be fine
                moved = landing.quarantine(source.landing_dir, day, path)
                message = str(exc)
                log(f"quarantined unreadable file {path} -> {moved}: {message}")
                unreadable.append((day, moved, f"unreadable parquet file: {message}"))

    schema = T.StructType(
        [T.StructField(c.name, T._parse_datatype_string(c.dtype)) for c in source.columns]
        + [T.StructField("date", T.DateType())]
        + [T.StructField(n, T.StringType()) for n in ("file", "reason", "raw_record")]
    )
    rows = spark.createDataFrame([], schema)
    for paths in by_schema.values():
        df = spark.read.parquet(*paths)
        file_path = F.col("_metadata.file_path")
        df = df.withColumn("file", file_path).withColumn(
            "date", F.to_date(F.regexp_extract(file_path, r"date=(\d{4}-\d{2}-\d{2})", 1))
        )
        rows = rows.unionByName(_validate_files(df, source))
    rows = rows.persist()
    try:
        rejected = rows.where(F.col("reason").isNotNull()).select(
            F.lit(source.name).alias("source"), "date", "file", "reason", "raw_record"
        )
        if unreadable:
            rejected = rejected.unionByName(
                spark.createDataFrame(
                    [(source.name, day, f, r, None) for day, f, r in unreadable],
                    "source string, date date, file string, reason string, raw_record string",
                )
            )
        tables.ensure(source.table, raw_table_columns(source), ["date"], comment=source.description)
        tables.ensure(
            REJECTED_ROWS_TABLE,
            REJECTED_COLUMNS,
            ["source", "date"],
            comment="Raw rows that failed validation",
        )
        tables.replace_days(
            source.table,
            rows.where(F.col("reason").isNull()).select(*source.column_names, "date"),
            first,
            last,
        )
        read_counts = rows.groupBy("date", "reason").agg(F.count("*").alias("n")).collect()
        # A commit only when it changes something: rows rejected now, or rows of an earlier run to remove
        # (the rejected table is partitioned by source and date; its log counts rows per date).
        if (
            unreadable
            or any(r["reason"] is not None for r in read_counts)
            or any(tables.rows_per_day(REJECTED_ROWS_TABLE, first, last).values())
        ):
            tables.replace_days(REJECTED_ROWS_TABLE, rejected, first, last, f"source = '{source.name}'")
    finally:
        rows.unpersist()
    # What the commit holds per day, from its files' row counts in the Delta log (a count job elsewhere).
    stored = {date.fromisoformat(d): n for d, n in tables.rows_per_day(source.table, first, last).items()}
    results = []
    for day in days(first, last):
        reasons: dict[str, int] = {}
        rows_in = 0
        for r in read_counts:
            if r["date"] == day:
                rows_in += r["n"]
                if r["reason"] is not None:
                    reasons[r["reason"]] = r["n"]
        quarantined = [(f, why) for d, f, why in unreadable if d == day]
        for _, why in quarantined:
            reasons[why] = reasons.get(why, 0)
        rejected_count = sum(reasons.values())
        if stored.get(day, 0) + rejected_count != rows_in:
            raise IngestError(
                f"{source.name} {day}: read {rows_in} rows but stored {stored.get(day, 0)} accepted + "
                f"{rejected_count} rejected; re-run the day after checking its landing files"
            )
        results.append(
            IngestResult(
                source.name,
                day,
                files_per_day[day],
                rows_in,
                stored.get(day, 0),
                rejected_count,
                reasons,
                [f for f, _ in quarantined],
            )
        )
    return results
