"""Build a Delta-enabled SparkSession.

Everything time-related in this project assumes the session time zone is UTC (DESIGN.md: naive
timestamps are UTC), so it is set here and nowhere else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

from pyspark.sql import SparkSession

SCALA_VERSION = "2.13"

# Small-data defaults that make a 2-core laptop and a test suite fast; a cluster overrides them.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.stalenessLimit": "0",
}


def delta_maven_coordinate() -> str:
    """The delta-spark jar that matches the installed pyspark and delta-spark wheels."""
    spark_major_minor = ".".join(version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark_major_minor}_{SCALA_VERSION}:{version('delta-spark')}"


def build_spark_session(
    master: str = "local[*]",
    app_name: str = "featurestore",
    conf: Mapping[str, str] | None = None,
    ivy_dir: Path | None = None,
) -> SparkSession:
    """Return the process's SparkSession, creating it with Delta Lake configured if needed."""
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.jars.packages", delta_maven_coordinate())
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    if ivy_dir is not None:
        builder = builder.config("spark.jars.ivy", str(ivy_dir))
    # Python tasks (online publishing) must run in this interpreter, which has the project installed, not
    # whatever `python3` is on PATH; SparkContext reads the variable, not spark.pyspark.python. A cluster
    # whose workers have their own environment sets PYSPARK_PYTHON itself.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = dict(LOCAL_DEFAULTS) if master.startswith("local") else {}
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
