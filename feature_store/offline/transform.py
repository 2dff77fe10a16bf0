"""Transform tables: a day's snapshot from the user's SQL or DataFrame function, with the engine's rules
enforced whatever the code returns (feature_store/declarations/tables.py: TransformTable).

The transform sees only what day D may use: a source's events before D+1 00:00 UTC (its `date`
partitions up to D) and another feature table's snapshot of D. Its result must have the entity's keys,
none null and each once, and every declared column (cast to its declared type); the engine adds
`feature_ts = D+1 00:00 UTC` and `date = D`, so no transform can stamp a row with a time that leaks the
future into training sets (DESIGN.md, time semantics).
"""

from __future__ import annotations

from datetime import date
from functools import reduce
from operator import or_

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from feature_store.declarations.repo import Repo
from feature_store.declarations.sources import Source
from feature_store.declarations.tables import TransformTable


class TransformOutputError(ValueError):
    """A transform's result breaks the table's contract; the message names the table and the problem."""


def read_inputs(tables, repo: Repo, table: TransformTable, day: date) -> dict[str, DataFrame]:
    """Each input of `table` as day `day` may see it, by short name (`tables`: DeltaTables)."""
    inputs = {}
    for name in table.inputs:
        found = repo.find(name)
        if isinstance(found, Source):
            inputs[found.name] = tables.read(found.table).where(F.col("date") <= F.lit(day).cast("date"))
        else:
            inputs[found.short_name] = tables.read_days(found.name, day, day)
    return inputs


def compute_transform(
    spark: SparkSession, table: TransformTable, inputs: dict[str, DataFrame], day: date
) -> DataFrame:
    """The snapshot of `day`: the transform's rows, checked, typed and stamped (module doc)."""
    if table.sql is not None:
        for name, df in inputs.items():
            df.createOrReplaceTempView(name)
        result = spark.sql(table.sql.replace("{day}", f"DATE'{day.isoformat()}'"))
    else:
        result = table.function(spark, inputs, day)
        if not isinstance(result, DataFrame):  # classic and Connect DataFrames both derive from it
            raise TransformOutputError(
                f"{table.name}: the function returned {type(result).__name__}, not a DataFrame"
            )
    missing = [c for c in (*table.keys, *(c.name for c in table.columns)) if c not in result.columns]
    if missing:
        raise TransformOutputError(
            f"{table.name}: the transform's result has no column(s) {', '.join(missing)} "
            f"(it has {', '.join(result.columns)})"
        )
    typed_keys = [F.col(k).cast(dtype).alias(k) for k, dtype in table.entity.keys]
    rows = result.select(
        *typed_keys,
        F.to_utc_timestamp(F.date_add(F.lit(day).cast("date"), 1).cast("timestamp"), "UTC").alias(
            "feature_ts"
        ),
        F.lit(day).cast("date").alias("date"),
        *(F.col(c.name).cast(c.dtype).alias(c.name) for c in table.columns),
    )
    _check_keys(rows, table, day)
    return rows


def _check_keys(rows: DataFrame, table: TransformTable, day: date) -> None:
    """One job: null keys and keys that appear more than once are refused, with examples."""
    keys = list(table.keys)
    any_null = reduce(or_, (F.col(k).isNull() for k in keys))
    counted = rows.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("n"), F.max(F.when(any_null, 1).otherwise(0)).alias("null_key")
    )
    bad = counted.where((F.col("n") > 1) | (F.col("null_key") == 1)).limit(5).collect()
    nulls = [r for r in bad if r["null_key"] == 1]
    if nulls:
        raise TransformOutputError(
            f"{table.name} {day}: the transform returned rows with a null key ({', '.join(keys)})"
        )
    if bad:
        examples = "; ".join(f"{tuple(r[k] for k in keys)} x{r['n']}" for r in bad)
        raise TransformOutputError(
            f"{table.name} {day}: the transform returned several rows for one key (a snapshot has one row "
            f"per {', '.join(keys)}): {examples}"
        )
