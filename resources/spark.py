from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession

from feature_store.spark import build_spark_session


class SparkResource(dg.ConfigurableResource):
    """A Delta-enabled SparkSession with the hadoop-azure connector: local[*] by default, or any master
    URL (spark://host:7077 for a standalone cluster). Storage credentials and FEATURE_STORE_SPARK_CONF
    are read from the environment when the session is built, never from this resource's config, so no
    secret shows in Dagster's UI or run config."""

    master: str = Field(default="local[*]", description="Spark master URL")
    app_name: str = "featurestore"
    conf: dict[str, str] = Field(default_factory=dict, description="Extra spark.* settings")
    ivy_dir: str | None = Field(default=None, description="Where Spark caches the Delta and hadoop-azure jars")

    def get_session(self) -> SparkSession:
        return build_spark_session(
            master=self.master,
            app_name=self.app_name,
            conf=self.conf,
            ivy_dir=Path(self.ivy_dir) if self.ivy_dir else None,
        )
