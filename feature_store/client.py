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
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType
from pyspark.sql.utils import AnalysisException

from feature_store.client_validation import (
    PRIMARY_KEYS,
    TAG_PREFIX,
    CatalogEntry,
    DuplicateKeys,
    FeatureTableError,
    MissingColumns,
    NotAFeatureTable,
    NullKeys,
    SchemaMismatch,
    TableAlreadyExists,
    as_list,
    check_key_types,
    check_key_values,
    check_tag,
    check_tags,
    col,
    conform,
    decode_properties,
    encode_properties,
    normalize_keys,
    require_columns,
)
from feature_store.delta_tables import DeltaTables, TableNotFound, qualified
from feature_store.governance import AccessControl, AuditEntry, Grant, GrantResult, PermissionDenied
from feature_store.lookups import FeatureLookup
from feature_store.online.base import OnlineStore
from feature_store.online.catalog import read_published
from feature_store.online.lookup import OnlineFeatures, OnlineLookupPlan
from feature_store.online.publish import PublishResult
from feature_store.online.specs import OnlineStoreSpec
from feature_store.online_sync import plan_online_lookup, publish_rows
from feature_store.settings import Settings
from feature_store.spark import build_spark_session
from feature_store.training import TrainingSet, create_training_set

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

WriteMode = Literal["merge", "overwrite"]
WRITE_MODES = ("merge", "overwrite")


class Feature(NamedTuple):
    name: str
    dtype: str  # Spark SQL type, e.g. "double"
    description: str | None


@dataclass(frozen=True)
class FeatureTable:
    name: str  # qualified "schema.table"
    path: str
    primary_keys: list[str]
    timestamp_keys: list[str]
    description: str | None
    tags: dict[str, str]
    owners: list[str]
    features: list[Feature]  # every column except keys, timestamp keys and partition columns
    partition_columns: list[str] = field(default_factory=list)
    version: int | None = None  # Delta version the description was read at (get_table reads it)
    source: str | None = None  # the raw table it is computed from, when the assets wrote it
    key_types: dict[str, str] = field(default_factory=dict)  # primary and timestamp keys -> Spark type
    # The deployment's online store, if the table is published there: {"store", "published_at", "rows"}
    published_to: list[dict[str, Any]] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


class FeatureStoreClient:
    def __init__(
        self, spark: SparkSession | None = None, settings: Settings | None = None, principal: str | None = None
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
        self._require("create_table", table)
        if self.tables.exists(table):
            raise self._already_exists(table)

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
            self._merge(table, data, keys)
        return self.tables.version(table)

    def _merge(self, table: str, data: DataFrame, keys: Sequence[str]) -> None:
        def q(c: str) -> str:
            return "`" + c.replace("`", "``") + "`"

        condition = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in keys)  # keys are non-null: checked
        columns = data.columns
        updates = {q(c): f"s.{q(c)}" for c in columns if c not in keys}
        merge = (
            DeltaTable.forPath(self.spark, self.tables.path(table))
            .alias("t")
            .merge(data.alias("s"), condition)
        )
        if updates:  # a df of keys only inserts new keys and changes nothing else
            merge = merge.whenMatchedUpdate(set=updates)
        merge.whenNotMatchedInsert(values={q(c): f"s.{q(c)}" for c in columns}).execute()

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
            table, version=self.tables.version(table.name), published_to=self._published_to(table.name)
        )

    def describe_table(self, name: str) -> FeatureTable:
        """Keys, types, features and tags, without get_table's version job and online-store lookup:
        what planning lookups and training sets need."""
        return self._open(name)[0]

    def _published_to(self, table: str) -> list[dict[str, Any]]:
        """Where the table is published, from the descriptor each publish writes into the store."""
        spec = self.settings.online_store_spec()
        try:
            with spec.open() as store:
                described = read_published(store, [table])[table]
        except Exception as exc:  # the catalog stays readable while the store is down
            return [{"store": spec.describe(), "error": f"{type(exc).__name__}: {exc}"[:200]}]
        if described is None:
            return []
        return [{"store": spec.describe(), "published_at": described.published_at.isoformat(),
                 "rows": described.rows_published}]  # fmt: skip

    def _open(self, name: str) -> tuple[FeatureTable, DataFrame]:
        """The table's description (without its version: that is one more Delta job) and its rows,
        from one catalog read and one Delta log replay; training sets join the DataFrame they checked."""
        table = qualified(name)
        entry, detail = self._entry(table)
        partitions = list(detail["partitionColumns"] or [])
        not_features = {*entry.primary_keys, *entry.timestamp_keys, *partitions}
        df = self.tables.read(table)
        described = FeatureTable(
            name=table,
            path=self.tables.path(table),
            primary_keys=entry.primary_keys,
            timestamp_keys=entry.timestamp_keys,
            description=detail["description"] or None,
            tags=entry.tags,
            owners=entry.owners,
            features=[
                Feature(f.name, f.dataType.simpleString(), f.metadata.get("comment"))
                for f in df.schema.fields
                if f.name not in not_features
            ],
            partition_columns=partitions,
            source=entry.source,
            key_types={
                f.name: f.dataType.simpleString()
                for f in df.schema.fields
                if f.name in {*entry.primary_keys, *entry.timestamp_keys}
            },
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
        self.tables.drop(table)
        self.access.drop_table(table, self.principal)

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

    # ----------------------------------------------------------------------------- training sets

    def create_training_set(
        self,
        df: DataFrame,
        feature_lookups: Sequence[FeatureLookup],
        label: str | None,
        exclude_columns: Sequence[str] | None = None,
        record_feature_ts: Mapping[str, str] | None = None,
    ) -> TrainingSet:
        """df joined point-in-time to every lookup's table (feature_store/pit_join.py); `load_df()`.
        record_feature_ts {table: column} also outputs the matched snapshot's feature_ts (leakage checks)."""
        return self._training_set(
            "create_training_set", df, feature_lookups, label, exclude_columns, record_feature_ts
        )

    def _training_set(
        self,
        operation: str,
        df: DataFrame,
        feature_lookups: Sequence[FeatureLookup],
        label: str | None,
        exclude_columns: Sequence[str] | None = None,
        record_feature_ts: Mapping[str, str] | None = None,
    ) -> TrainingSet:
        def open_readable(name: str) -> tuple[FeatureTable, DataFrame]:
            opened = self._open(name)  # TableNotFound before PermissionDenied, as for read_table
            self._require(operation, opened[0].name)
            return opened

        return create_training_set(df, feature_lookups, label, exclude_columns, open_readable, record_feature_ts)

    def log_model(
        self,
        model: Any,
        artifact_path: str,
        flavor: Any,
        training_set: TrainingSet,
        registered_model_name: str | None = None,
        save_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Log model with the feature spec of training_set (feature_store/models.py); MLflow ModelInfo."""
        from feature_store import models  # MLflow is imported only by the calls that need it

        self.settings.configure_mlflow()
        return models.log_model(
            model, artifact_path, flavor, training_set, registered_model_name, save_kwargs, **kwargs
        )

    def score_batch(self, model_uri: str, df: DataFrame, result_type: str = "double") -> DataFrame:
        """df (keys, event times) joined point-in-time to the model's features, plus `prediction`."""
        from feature_store import models

        self.settings.configure_mlflow()
        return models.score_batch(model_uri, df, functools.partial(self._training_set, "score_batch"), result_type)

    # ----------------------------------------------------------------------------- online store

    @property
    def online_store(self) -> OnlineStore:
        """The deployment's online store (FEATURE_STORE_ONLINE_STORE), opened on first use."""
        if self._online_store is None:
            self._online_store = self.settings.online_store_spec().open()
        return self._online_store

    def publish_table(
        self,
        name: str,
        online_store_spec: OnlineStoreSpec | None = None,
        filter_condition: str | None = None,
        mode: WriteMode = "merge",
        features: Sequence[str] | None = None,
    ) -> PublishResult:
        """Publish each key's latest row to the online store (default: the deployment's), from the Spark
        executors. merge: monotonic by the timestamp key, so re-publishing or publishing an older state
        never replaces newer values. overwrite: the store's copy of the table is dropped first."""
        table = qualified(name)
        if mode not in WRITE_MODES:
            raise ValueError(f"{table}: mode must be one of {', '.join(WRITE_MODES)}, got {mode!r}")
        if online_store_spec is not None and not isinstance(online_store_spec, OnlineStoreSpec):
            raise TypeError(
                f"{table}: online_store_spec must be an online store spec (SqliteStoreSpec, RedisStoreSpec, "
                f"CosmosStoreSpec, AzureCosmosDBSpec), got {type(online_store_spec).__name__}"
            )
        described, _ = self._open(table)  # get_table's version and store lookup are not needed here
        self._require("publish_table", table)
        if len(described.timestamp_keys) > 1:
            raise ValueError(
                f"{table}: an online row has one timestamp; the table has {described.timestamp_keys}"
            )
        if features is not None:
            unknown = sorted(set(as_list(features, "features")) - set(described.feature_names))
            if unknown:
                raise ValueError(
                    f"{table}: unknown features {unknown}; the table has {described.feature_names}"
                )
        spec = online_store_spec or self.settings.online_store_spec()
        if mode == "overwrite":
            with spec.open() as store:
                store.drop_table(table)
        return publish_rows(
            self.tables,
            table,
            described.primary_keys,
            described.timestamp_keys[0] if described.timestamp_keys else None,
            spec,
            exclude=described.partition_columns,
            filter_condition=filter_condition,
            features=features,
        )

    def plan_online_lookup(self, feature_lookups: Sequence[FeatureLookup]) -> OnlineLookupPlan:
        """Resolve lookups once (keys, features, types); serving holds the plan, the client caches it."""
        cache_key = repr(list(feature_lookups))
        plan = self._plans.get(cache_key)
        if plan is None:
            plan = self._plans[cache_key] = plan_online_lookup(list(feature_lookups), self.describe_table)
        return plan

    def get_online_features(
        self,
        feature_lookups: Sequence[FeatureLookup],
        entity_rows: Sequence[Mapping[str, Any]],
        online_store: OnlineStore | OnlineStoreSpec | None = None,
    ) -> OnlineFeatures:
        """The latest published features for each entity row, in one round trip to the store: values
        (renamed, defaults where the key is missing), each table's feature_ts, and the missing tables."""
        plan = self.plan_online_lookup(feature_lookups)
        self._require("get_online_features", *plan.tables)
        if isinstance(online_store, OnlineStoreSpec):
            with online_store.open() as store:
                return plan.execute(store, entity_rows)
        return plan.execute(online_store or self.online_store, entity_rows)

    # ----------------------------------------------------------------------------- grants

    def sql(self, statement: str) -> GrantResult | list[Grant]:
        """GRANT / REVOKE (-> GrantResult: what changed, and who still holds a revoked privilege through
        a group or the schema) or SHOW GRANTS (-> the grants), in Unity Catalog's syntax, as the acting
        principal. Other SQL is refused: run queries with client.spark.sql on tables you may read."""
        return self.access.execute(statement, self.principal, self.tables.exists)

    def audit_log(self, limit: int = 100, actor: str | None = None, action: str | None = None) -> list[AuditEntry]:
        """Grants, revokes, drops and denials, newest first."""
        return self.access.audit_log(limit, actor, action)

    def close(self) -> None:
        """Close the online store connection, if one was opened (the SparkSession is shared, not closed)."""
        if self._online_store is not None:
            self._online_store.close()
            self._online_store = None

    # ----------------------------------------------------------------------------- helpers

    def _entry(self, table: str) -> tuple[CatalogEntry, dict]:
        """The table's catalog entry and Delta detail; TableNotFound names the table and its path."""
        detail = (
            self.tables.table(table).detail().select("properties", "description", "partitionColumns").first()
        )
        entry = decode_properties(dict(detail["properties"] or {}))
        if not entry.primary_keys:
            raise NotAFeatureTable(
                f"{table} at {self.tables.path(table)} is a Delta table but not a feature table "
                f"(no {PRIMARY_KEYS} property); create feature tables with create_table"
            )
        return entry, detail.asDict()

    def _identifier(self, table: str) -> str:
        path = self.tables.path(table).replace("`", "``")
        return f"delta.`{path}`"

    def _already_exists(self, table: str) -> TableAlreadyExists:
        return TableAlreadyExists(
            f"{table} already exists at {self.tables.path(table)}; use write_table(name, df, mode='merge' "
            "or 'overwrite') to add or replace rows, or drop_table(name) first to recreate it"
        )
