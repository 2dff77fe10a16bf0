"""FeatureStoreClient: the Databricks Feature Engineering client calls, on our Delta tables.

The seed snippets run with only the import and the construction changed:

    from feature_store import FeatureStoreClient
    fe = FeatureStoreClient()          # current profile: FEATURE_STORE_PROFILE / FEATURE_STORE_HOME / ...
    fe.create_table(name="feature_store.customer_features", primary_keys=["customer_id"], ...)

The client and the Dagster assets both go through DeltaTables(spark, settings.delta_root), so the
client sees exactly the tables the assets wrote. A feature table describes itself in its Delta
properties (featurestore.primary_keys, .timestamp_keys, .owners, .source, .tag.<k>), its table
comment (the description) and its column comments (feature descriptions); there is no separate
metastore to drift out of sync, and the catalog moves with the files (local path or abfss://).

Every call validates its input completely before the first Delta commit: a refused call leaves the
table at the same version.

Every read and write is authorized for the acting principal (`principal=`, else FEATURE_STORE_PRINCIPAL,
else the OS user) against the grants (feature_store/governance): a call without the privilege raises
PermissionDenied before touching data, and the denial is audited. `sql()` runs GRANT, REVOKE and
SHOW GRANTS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType
from pyspark.sql.utils import AnalysisException

from feature_store.client.catalog import (
    Feature,
    FeatureTable,
    catalog_entry,
    feature_table,
    published_to,
)
from feature_store.client.online import OnlineMethods
from feature_store.client.training import TrainingMethods
from feature_store.client.validation import (
    PRIMARY_KEYS,
    TAG_PREFIX,
    WRITE_MODES,
    CatalogEntry,
    DuplicateKeys,
    FeatureTableError,
    MissingColumns,
    NotAFeatureTable,
    NullKeys,
    SchemaMismatch,
    TableAlreadyExists,
    WriteMode,
    as_list,
    check_key_types,
    check_key_values,
    check_tag,
    check_tags,
    col,
    conform,
    encode_properties,
    normalize_keys,
    require_columns,
)
from feature_store.governance import AccessControl, AuditEntry, Grant, GrantResult, PermissionDenied
from feature_store.offline.delta_tables import DeltaTables, TableNotFound, qualified
from feature_store.online.base import OnlineStore
from feature_store.online.lookup import OnlineLookupPlan
from feature_store.runtime.settings import Settings
from feature_store.runtime.spark import build_spark_session
from feature_store.training.lookups import FeatureLookup

__all__ = [
    "DuplicateKeys",
    "Feature",
    "FeatureLookup",
    "FeatureStoreClient",
    "FeatureTable",
    "FeatureTableError",
    "MissingColumns",
    "NotAFeatureTable",
    "NullKeys",
    "PermissionDenied",
    "SchemaMismatch",
    "TableAlreadyExists",
    "TableNotFound",
]


class FeatureStoreClient(TrainingMethods, OnlineMethods):
    """The Databricks Feature Engineering client's calls. Table and grant calls are here; training sets
    and models are in client_training.py, the online store in client_online.py."""

    def __init__(
        self,
        spark: SparkSession | None = None,
        settings: Settings | None = None,
        principal: str | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.principal = principal or self.settings.acting_principal
        # getOrCreate underneath: inside a Spark job or a Dagster run this reuses the live session.
        self.spark = spark or build_spark_session(self.settings.spark_master, ivy_dir=self.settings.ivy_dir)
        self.tables = DeltaTables(self.spark, self.settings.delta_root)
        self._online_store: OnlineStore | None = None
        self._plans: dict[str, OnlineLookupPlan] = {}
        self._access: AccessControl | None = None

    @property
    def access(self) -> AccessControl:
        """Grants and the audit log of this deployment (opened on first use)."""
        if self._access is None:
            self._access = self.settings.access_control()
        return self._access

    def _require(self, operation: str, *tables: str) -> None:
        self.access.require(self.principal, operation, tables)

    # ----------------------------------------------------------------------------- create / write

    def create_table(
        self,
        name: str,
        primary_keys: str | Sequence[str],
        df: DataFrame | None = None,
        schema: StructType | None = None,
        timestamp_keys: str | Sequence[str] | None = None,
        partition_columns: str | Sequence[str] | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> FeatureTable:
        """Create a feature table from df (its rows are written) or from schema alone (empty table).

        With both, df must fit schema (same columns; types equal or safely widened) and the table
        takes schema's types and column comments. A timestamp key may also be listed in
        primary_keys (Unity Catalog style); it is stored as the timestamp key only. The table is
        created and filled in one Delta commit, so a failure leaves no half-made table.
        """
        table = qualified(name)
        if df is None and schema is None:
            raise ValueError(f"{table}: pass df (rows to write) or schema (to create an empty table)")
        if df is not None and not isinstance(df, DataFrame):
            raise TypeError(f"{table}: df must be a Spark DataFrame, got {type(df).__name__}")
        if schema is not None and not isinstance(schema, StructType):
            raise TypeError(f"{table}: schema must be a pyspark StructType, got {type(schema).__name__}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"{table}: description must be a string")
        keys, timestamps = normalize_keys(primary_keys, timestamp_keys)
        partitions = as_list(partition_columns, "partition_columns")
        tags = check_tags(tags)
        if self.tables.exists(table):
            raise self._already_exists(table)
        self.access.forget_table(table, self.principal, "create_table")  # none left by an earlier table
        self._require("create_table", table)

        target = schema if schema is not None else df.schema
        where = "schema" if schema is not None else "DataFrame"
        require_columns(
            target, {"primary key": keys, "timestamp key": timestamps, "partition": partitions}, table, where
        )
        check_key_types(target, keys, timestamps, table)
        if df is None:
            data = self.spark.createDataFrame([], target)
        else:
            data = conform(df, target, table) if schema is not None else df
            check_key_values(data, keys, timestamps, table)

        writer = data.writeTo(self._identifier(table)).using("delta")
        for key, value in encode_properties(keys, timestamps, tags).items():
            writer = writer.tableProperty(key, value)
        if description:
            writer = writer.tableProperty("comment", description)
        if partitions:
            writer = writer.partitionedBy(*(col(p) for p in partitions))
        try:
            writer.create()  # fails if a concurrent caller created the table since the check above
        except AnalysisException as exc:
            if self.tables.exists(table):
                raise self._already_exists(table) from exc
            raise
        return self.get_table(table)

    def write_table(self, name: str, df: DataFrame, mode: WriteMode = "merge") -> int:
        """Write df into an existing feature table; returns the new Delta version.

        merge: upsert on primary + timestamp keys (Delta MERGE): a row whose keys exist replaces the
        stored values of the columns df has, other rows are inserted. df may omit non-key feature
        columns: matched rows keep their stored values for them, inserted rows get null (a partial
        update, e.g. a second job computing one more feature).
        overwrite: replace every row with df. df must have every column, since an omitted feature
        would silently become null in every row.
        Both: df may not have columns the table lacks (no implicit schema evolution: the assets'
        tables have the schema their spec declares), and each type must equal the table's or widen
        safely (int -> bigint/double, float -> double, ...); widened columns are cast.
        """
        table = qualified(name)
        if mode not in WRITE_MODES:
            raise ValueError(f"{table}: mode must be one of {', '.join(WRITE_MODES)}, got {mode!r}")
        if not isinstance(df, DataFrame):
            raise TypeError(f"{table}: df must be a Spark DataFrame, got {type(df).__name__}")
        self._require("write_table", table)
        entry, detail = self._entry(table)
        keys = [*entry.primary_keys, *entry.timestamp_keys]
        partitions = list(detail["partitionColumns"] or [])
        target = self.tables.read(table).schema
        require_columns(
            df.schema,
            {
                "primary key": entry.primary_keys,
                "timestamp key": entry.timestamp_keys,
                "partition": partitions,
            },
            table,
            "DataFrame",
        )
        # Keys and partition columns are needed to place a row; only plain features may be omitted.
        optional = (
            [] if mode == "overwrite" else [c for c in target.fieldNames() if c not in {*keys, *partitions}]
        )
        data = conform(df, target, table, allowed_missing=optional)
        check_key_values(data, entry.primary_keys, entry.timestamp_keys, table)

        if mode == "overwrite":
            # Table properties, comments and partitioning are kept by a plain Delta overwrite.
            data.write.format("delta").mode("overwrite").save(self.tables.path(table))
        else:
            self.tables.merge(table, data, keys)
        return self.tables.version(table)

    # ----------------------------------------------------------------------------- read / describe

    def read_table(self, name: str) -> DataFrame:
        table = qualified(name)
        self._entry(table)  # TableNotFound / NotAFeatureTable, rather than a bare Spark error
        self._require("read_table", table)
        return self.tables.read(table)

    def get_table(self, name: str) -> FeatureTable:
        """The full catalog entry: describe_table plus the Delta version and where it is published."""
        table, _ = self._open(name)
        return dataclasses.replace(
            table,
            version=self.tables.version(table.name),
            published_to=published_to(self.settings, table.name),
        )

    def describe_table(self, name: str) -> FeatureTable:
        """Keys, types, features and tags, without get_table's version job and online-store lookup:
        what planning lookups and training sets need."""
        return self._open(name)[0]

    def _open(self, name: str) -> tuple[FeatureTable, DataFrame]:
        """The table's description (without its version: that is one more Delta job) and its rows,
        from one catalog read and one Delta log replay; training sets join the DataFrame they checked."""
        table = qualified(name)
        entry, detail = self._entry(table)
        df = self.tables.read(table)
        columns = [
            Feature(f.name, f.dataType.simpleString(), f.metadata.get("comment")) for f in df.schema.fields
        ]
        described = feature_table(
            table,
            self.tables.path(table),
            entry,
            detail["description"],
            list(detail["partitionColumns"] or []),
            columns,
        )
        return described, df

    def list_tables(self, schema: str | None = None) -> list[str]:
        """Feature tables under the Delta root (those with primary keys), not raw or tile tables."""
        names = []
        for table in self.tables.list(schema):
            try:
                if self.tables.properties(table).get(PRIMARY_KEYS):
                    names.append(table)
            except TableNotFound:  # dropped while we were listing
                continue
        return names

    def drop_table(self, name: str) -> None:
        """Delete the feature table's files and with them its catalog entry. Copies already
        published to an online store are not touched."""
        table = qualified(name)
        self._entry(table)  # refuse to delete raw or tile tables through the feature store API
        self._require("drop_table", table)
        # Grants go first: if deleting the files then fails, access fails closed.
        self.access.forget_table(table, self.principal, "drop_table")
        self.tables.drop(table)

    # ----------------------------------------------------------------------------- tags

    def set_feature_table_tag(self, name: str, key: str, value: str) -> None:
        table = qualified(name)
        check_tag(key, value)
        self._entry(table)
        self._require("set_feature_table_tag", table)
        self.tables.set_properties(table, {f"{TAG_PREFIX}{key}": value})

    def delete_feature_table_tag(self, name: str, key: str) -> None:
        """Idempotent: deleting a tag that is not set is not an error, so retries are safe."""
        table = qualified(name)
        check_tag(key)
        self._entry(table)
        self._require("delete_feature_table_tag", table)
        self.tables.unset_properties(table, [f"{TAG_PREFIX}{key}"])

    # ----------------------------------------------------------------------------- grants

    def sql(self, statement: str) -> GrantResult | list[Grant]:
        """GRANT / REVOKE (-> GrantResult: what changed, and who still holds a revoked privilege through
        a group or the schema) or SHOW GRANTS (-> the grants), in Unity Catalog's syntax, as the acting
        principal. Other SQL is refused: run queries with client.spark.sql on tables you may read."""
        return self.access.execute(statement, self.principal, self.tables.exists)

    def audit_log(
        self, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """Grants, revokes, drops and denials, newest first."""
        return self.access.audit_log(limit, actor, action)

    # ----------------------------------------------------------------------------- helpers

    def _entry(self, table: str) -> tuple[CatalogEntry, dict]:
        """The table's catalog entry and Delta detail; TableNotFound names the table and its path."""
        detail = self.tables.detail(table)
        return catalog_entry(table, self.tables.path(table), detail["properties"] or {}), detail.asDict()

    def _identifier(self, table: str) -> str:
        path = self.tables.path(table).replace("`", "``")
        return f"delta.`{path}`"

    def _already_exists(self, table: str) -> TableAlreadyExists:
        return TableAlreadyExists(
            f"{table} already exists at {self.tables.path(table)}; use write_table(name, df, mode='merge' "
            "or 'overwrite') to add or replace rows, or drop_table(name) first to recreate it"
        )
