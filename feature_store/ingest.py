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

from feature_store.delta_tables import DeltaTables
from feature_store.landing import LandingZone
from feature_store.specs import Column, RawSource
from feature_store.timeutil import day_end, day_start

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


def raw_table_columns(source: RawSource) -> list[Column]:
    return [*source.columns, Column("date", "date", "UTC day of the event time (partition column)")]


def _file_level_problem(df: DataFrame, source: RawSource) -> str | None:
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


def _row_reasons(df: DataFrame, source: RawSource, day: date) -> tuple[list[SparkColumn], SparkColumn]:
    """Typed columns and a reason column (null when the row is valid)."""
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
            problems.append(
                F.when(
                    F.isnan(typed[c.name]) | (F.abs(typed[c.name]) == float("inf")),
                    F.lit(f"{c.name} is not finite"),
                )
            )
        if c.name in source.non_negative:
            problems.append(F.when(typed[c.name] < 0, F.lit(f"{c.name} is negative")))
    event = typed[source.event_time]
    start, end = day_start(day), day_end(day)
    problems.append(
        F.when(
            (event < F.lit(start)) | (event >= F.lit(end)),
            F.concat(
                F.lit(f"{source.event_time} "), event.cast("string"), F.lit(f" is outside partition {day}")
            ),
        )
    )
    reason = F.concat_ws("; ", *problems)
    return [typed[c.name].alias(c.name) for c in source.columns], F.when(reason != "", reason)


def _validate_file(df: DataFrame, source: RawSource, day: date, path: str) -> DataFrame:
    """Rows of one file with typed columns plus `file`, `reason` and `raw_record`."""
    raw_record = F.to_json(F.struct(*[F.col(c) for c in df.columns]))
    problem = _file_level_problem(df, source)
    if problem is not None:
        nulls = [F.lit(None).cast(c.dtype).alias(c.name) for c in source.columns]
        return df.select(
            *nulls, F.lit(path).alias("file"), F.lit(problem).alias("reason"), raw_record.alias("raw_record")
        )
    typed, reason = _row_reasons(df, source, day)
    return df.select(
        *typed, F.lit(path).alias("file"), reason.alias("reason"), raw_record.alias("raw_record")
    )


def ingest_day(
    spark: SparkSession,
    tables: DeltaTables,
    landing: LandingZone,
    source: RawSource,
    day: date,
    log: Callable[[str], None] = lambda _: None,
) -> IngestResult:
    """Validate one landed day into source.table and the rejected-rows table; idempotent per day."""
    paths = landing.stage(source.landing_dir, day)
    validated: list[DataFrame] = []
    unreadable: list[tuple[str, str]] = []
    for path in paths:
        try:
            df = spark.read.parquet(path)
            df.schema  # noqa: B018 - reading the footer is what surfaces a corrupt file
            validated.append(_validate_file(df, source, day, path))
        except Exception as exc:  # Spark raises several types for unreadable parquet
            moved = landing.quarantine(source.landing_dir, day, path)
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            log(f"quarantined unreadable file {path} -> {moved}: {message}")
            unreadable.append((moved, f"unreadable parquet file: {message}"))

    schema = T.StructType(
        [T.StructField(c.name, T._parse_datatype_string(c.dtype)) for c in source.columns]
        + [T.StructField(n, T.StringType()) for n in ("file", "reason", "raw_record")]
    )
    rows = spark.createDataFrame([], schema)
    for part in validated:
        rows = rows.unionByName(part)
    rows = rows.withColumn("date", F.lit(day).cast("date")).persist()
    try:
        rows_in = rows.count()
        accepted = rows.where(F.col("reason").isNull()).select(*source.column_names, "date")
        rejected_rows = rows.where(F.col("reason").isNotNull()).select(
            F.lit(source.name).alias("source"), "date", "file", "reason", "raw_record"
        )
        if unreadable:
            rejected_rows = rejected_rows.unionByName(
                spark.createDataFrame(
                    [(source.name, day, f, r, None) for f, r in unreadable],
                    "source string, date date, file string, reason string, raw_record string",
                )
            )
        tables.ensure(source.table, raw_table_columns(source), ["date"], comment=source.description)
        tables.ensure(
            REJECTED_ROWS_TABLE,
            REJECTED_COLUMNS,
            ["source", "date"],
            comment="Raw rows that failed validation, with the reason",
        )
        tables.replace_days(source.table, accepted, day, day)
        tables.replace_days(REJECTED_ROWS_TABLE, rejected_rows, day, day, f"source = '{source.name}'")

        reasons = {
            r["reason"]: r["n"]
            for r in rows.where(F.col("reason").isNotNull())
            .groupBy("reason")
            .agg(F.count("*").alias("n"))
            .collect()
        }
        rejected_count = sum(reasons.values())
        accepted_count = tables.read_days(source.table, day, day).count()
    finally:
        rows.unpersist()
    if accepted_count + rejected_count != rows_in:
        raise IngestError(
            f"{source.name} {day}: read {rows_in} rows but stored {accepted_count} accepted + "
            f"{rejected_count} rejected; the day was rewritten, re-run it after checking the landing files"
        )
    for _, reason in unreadable:
        reasons[reason] = reasons.get(reason, 0)
    return IngestResult(
        source=source.name,
        day=day,
        files=len(paths),
        rows_in=rows_in,
        accepted=accepted_count,
        rejected=rejected_count,
        rejection_reasons=reasons,
        quarantined_files=[f for f, _ in unreadable],
    )
