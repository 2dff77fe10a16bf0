from __future__ import annotations

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession

from feature_store.offline.delta_tables import DeltaTables


class DeltaLakeResource(dg.ConfigurableResource):
    """Where Delta tables live: a local folder or an abfss:// URI."""

    root: str = Field(description="Root of all tables; 'schema.table' lives at <root>/<schema>/<table>")

    def tables(self, spark: SparkSession) -> DeltaTables:
        return DeltaTables(spark, self.root)
