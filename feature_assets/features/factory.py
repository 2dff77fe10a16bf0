"""One WindowedTable declaration -> its tiles asset, snapshot asset and checks."""

from dataclasses import dataclass

import dagster as dg

from feature_assets.automation import with_own_day_tile
from feature_assets.features.checks import build_snapshot_checks
from feature_assets.lib.metadata import column_schema, table_metadata
from feature_assets.lib.policies import DAILY_FRESHNESS, SPARK_POOL
from feature_assets.partitions import daily_partitions, partition_days
from feature_assets.raw.assets import raw_asset_key
from feature_store.client.validation import catalog_tags
from feature_store.declarations import Repo, Source, TransformTable, WindowedTable
from feature_store.declarations.tables import fingerprint
from feature_store.offline.feature_tables import (
    ALLOW_SCHEMA_CHANGE_TAG,
    write_snapshots,
    write_tiles,
    write_transform,
)
from feature_store.offline.windowed import tile_schema
from resources import DeltaLakeResource, SparkResource

FEATURES_GROUP = "features"


@dataclass(frozen=True)
class FeatureTableDefs:
    tiles: dg.AssetsDefinition | None  # None: a transform table has no tiles
    snapshots: dg.AssetsDefinition
    checks: list[dg.AssetChecksDefinition]

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        return [a for a in (self.tiles, self.snapshots) if a is not None]


def tiles_key(spec: WindowedTable) -> dg.AssetKey:
    return dg.AssetKey(spec.tiles_table.split(".")[-1])


def snapshots_key(spec: WindowedTable) -> dg.AssetKey:
    return dg.AssetKey(spec.short_name)


def build_feature_table(
    spec: WindowedTable,
    tiles_condition: dg.AutomationCondition | None = None,
    snapshot_condition: dg.AutomationCondition | None = None,
) -> FeatureTableDefs:
    @dg.asset(
        pool=SPARK_POOL,
        key=tiles_key(spec),
        deps=[raw_asset_key(spec.source)],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=tiles_condition,
        freshness_policy=DAILY_FRESHNESS,
        group_name=FEATURES_GROUP,
        kinds={"spark", "delta"},
        description=f"Per-{'/'.join(spec.keys)} daily partial aggregates (tiles) that {spec.short_name} combines into windows.",
        metadata={**table_metadata(spec.tiles_table), **column_schema(tile_schema(spec))},
        code_version=tiles_code_version(spec),
        owners=list(spec.owners),
        tags={"layer": "tiles"},
    )
    def tiles(
        context: dg.AssetExecutionContext, spark: SparkResource, delta: DeltaLakeResource
    ) -> dg.MaterializeResult:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        result = write_tiles(
            tables, spec, day_list[0], day_list[-1], allowed_changes(context), context.log.info
        )
        return dg.MaterializeResult(metadata=_write_metadata(result))

    @dg.asset(
        deps=[
            dg.AssetDep(
                tiles_key(spec),
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-spec.lookback_days, end_offset=0
                ),
            )
        ],
        # The snapshot for D also waits for the tile of D itself (feature_assets/automation.py).
        automation_condition=with_own_day_tile(
            snapshot_condition, tiles_key(spec), raw_asset_key(spec.source)
        ),
        **snapshot_asset_arguments(spec, {"windows_days": dg.MetadataValue.json(spec.windows())}),
    )
    def snapshots(
        context: dg.AssetExecutionContext, spark: SparkResource, delta: DeltaLakeResource
    ) -> dg.MaterializeResult:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        result = write_snapshots(
            tables, spec, day_list[0], day_list[-1], allowed_changes(context), context.log.info
        )
        if result.missing_input_days:
            context.log.warning(
                f"{spec.short_name}: computed without tiles for {len(result.missing_input_days)} lookback day(s) "
                f"{result.missing_input_days[:10]}; windows covering them undercount until they are backfilled"
            )
        return dg.MaterializeResult(
            metadata={
                **_write_metadata(result),
                "missing_tile_days": dg.MetadataValue.json(result.missing_input_days),
                # tags set with FeatureStoreClient.set_feature_table_tag, as they are now in the catalog
                "catalog_tags": dg.MetadataValue.json(catalog_tags(tables.properties(spec.name))),
            }
        )

    return FeatureTableDefs(tiles, snapshots, build_snapshot_checks(spec, snapshots_key(spec)))


def snapshot_asset_arguments(spec: WindowedTable | TransformTable, metadata: dict) -> dict:
    """What every feature table's snapshot asset declares, whatever computes it."""
    return {
        "pool": SPARK_POOL,
        "key": snapshots_key(spec),
        "partitions_def": daily_partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "freshness_policy": DAILY_FRESHNESS,
        "group_name": FEATURES_GROUP,
        "kinds": {"spark", "delta"},
        "description": spec.description,
        "metadata": {
            **table_metadata(spec.name),
            **column_schema(spec.schema()),
            "primary_keys": dg.MetadataValue.json(list(spec.keys)),
            "timestamp_key": spec.timestamp_key,
            **metadata,
        },
        "code_version": spec.code_version,
        "owners": list(spec.owners),
        "tags": {**spec.tags, "layer": "features"},
    }


def tiles_code_version(spec: WindowedTable) -> str:
    """Changes when the tile components do (a new aggregation, column or filter), not for a new window."""
    components = sorted(repr(component) for component in spec.tile_components())
    return fingerprint(repr((spec.entity.keys, spec.source.table, spec.source.event_time, components)))


def allowed_changes(context: dg.AssetExecutionContext) -> list[str]:
    """Columns this run may drop or retype (run tag `featurestore/allow_schema_change=a,b` or `*`): set
    on purpose per run, in the launchpad or the backfill dialog, never by default."""
    tag = context.run.tags.get(ALLOW_SCHEMA_CHANGE_TAG, "")
    return [c.strip() for c in tag.split(",") if c.strip()]


def _write_metadata(result) -> dict:
    metadata = {
        "dagster/row_count": result.rows,
        "rows_by_day": dg.MetadataValue.json(result.rows_by_day),
        "table_version": result.version,
    }
    if result.schema_changes:
        metadata["schema_changes"] = dg.MetadataValue.json(result.schema_changes)
    return metadata


def build_transform_table(spec: TransformTable, repo: Repo) -> FeatureTableDefs:
    """A transform table's snapshot asset and checks; its inputs (sources and tables) are its lineage."""
    deps = [
        raw_asset_key(found) if isinstance(found, Source) else snapshots_key(found)
        for found in (repo.find(name) for name in spec.inputs)
    ]

    @dg.asset(
        deps=deps,
        automation_condition=dg.AutomationCondition.eager(),
        **snapshot_asset_arguments(
            spec, {"transform": "sql" if spec.sql is not None else spec.function.__qualname__}
        ),
    )
    def transform(
        context: dg.AssetExecutionContext, spark: SparkResource, delta: DeltaLakeResource
    ) -> dg.MaterializeResult:
        day_list = partition_days(context)
        tables = delta.tables(spark.get_session())
        result = write_transform(
            tables, repo, spec, day_list[0], day_list[-1], allowed_changes(context), context.log.info
        )
        return dg.MaterializeResult(metadata=_write_metadata(result))

    return FeatureTableDefs(None, transform, build_snapshot_checks(spec, snapshots_key(spec)))
