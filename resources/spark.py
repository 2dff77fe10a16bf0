from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import SparkSession

from feature_store.runtime.spark import build_spark_session


class SparkResource(LazyPySparkResource):
    """A Delta-enabled SparkSession with the hadoop-azure connector: local[*] by default, any master URL
    (spark://host:7077 for a standalone cluster, k8s://...), or a Spark Connect server (`remote`, or
    SPARK_REMOTE in the environment). Storage credentials and FEATURE_STORE_SPARK_CONF are read from the
    environment when the session is built, never from this resource's config, so no secret shows in
    Dagster's UI or run config.

    Built on dagster-pyspark's LazyPySparkResource (the session starts on first use, not for every run
    that merely has the resource), with one override: its session comes from
    `feature_store.runtime.spark.build_spark_session`, not dagster-pyspark's `SparkSession.builder` over
    `spark_config`, because that builder can express neither the Delta and hadoop-azure jars (resolved
    once into the ivy dir and passed as `spark.jars`) nor a Spark Connect session (a different builder
    that takes no master, no jars and applies settings after it connects). `spark_config` still works:
    its entries are merged under `conf`.
    """

    spark_config: dict[str, Any] = Field(default_factory=dict, description="spark.* settings (as `conf`)")
    master: str = Field(default="local[*]", description="Spark master URL")
    remote: str | None = Field(
        default=None, description="Spark Connect URL (sc://host:15002); else SPARK_REMOTE, else `master`"
    )
    app_name: str = "featurestore"
    conf: dict[str, str] = Field(default_factory=dict, description="Extra spark.* settings")
    ivy_dir: str | None = Field(default=None, description="Where Spark caches the Delta and hadoop-azure jars")

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def _init_session(self) -> None:
        if self._spark_session is None:
            self._spark_session = build_spark_session(
                master=self.master,
                app_name=self.app_name,
                conf={**{k: str(v) for k, v in self.spark_config.items()}, **self.conf},
                ivy_dir=Path(self.ivy_dir) if self.ivy_dir else None,
                remote=self.remote,
            )

    def get_session(self) -> SparkSession:
        """The session (built on first call): what every asset and the client use."""
        return self.spark_session
