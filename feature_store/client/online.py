"""FeatureStoreClient's online-store calls (mixed into the client in feature_store/client/core.py): publish
a table's latest rows, plan and run online lookups, each authorized for the acting principal."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame

from feature_store.client.validation import WRITE_MODES, WriteMode, as_list
from feature_store.offline.delta_tables import DeltaTables, qualified
from feature_store.online.base import OnlineStore
from feature_store.online.lookup import OnlineFeatures, OnlineLookupPlan
from feature_store.online.publish import PublishResult
from feature_store.online.specs import OnlineStoreSpec
from feature_store.online.sync import plan_online_lookup, publish_rows
from feature_store.runtime.settings import Settings
from feature_store.training.lookups import FeatureLookup

if TYPE_CHECKING:
    from feature_store.client.core import FeatureTable


class OnlineMethods:
    settings: Settings
    tables: DeltaTables
    _online_store: OnlineStore | None
    _plans: dict[str, OnlineLookupPlan]
    _open: Callable[[str], tuple[FeatureTable, DataFrame]]
    _require: Callable[..., None]
    describe_table: Callable[[str], FeatureTable]

    @property
    def online_store(self) -> OnlineStore:
        """The deployment's online store (FEATURE_STORE_ONLINE_STORE), opened on first use."""
        if self._online_store is None:
            self._online_store = self.settings.online_store_spec().for_reading().open()
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
            with online_store.for_reading().open() as store:
                return plan.execute(store, entity_rows)
        return plan.execute(online_store or self.online_store, entity_rows)

    def close(self) -> None:
        """Close the online store connection, if one was opened (the SparkSession is shared, not closed)."""
        if self._online_store is not None:
            self._online_store.close()
            self._online_store = None
