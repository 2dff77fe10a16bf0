"""Policies applied to every asset: the Spark concurrency pool that deploy/dagster/dagster.yaml limits."""

import yaml

from feature_assets.definitions import all_assets
from feature_assets.lib.policies import SPARK_POOL
from tests.services import REPO


def test_every_asset_takes_a_spark_pool_slot() -> None:
    assert {a.key.to_user_string(): a.op.pool for a in all_assets} == {
        a.key.to_user_string(): SPARK_POOL for a in all_assets
    }


def test_the_production_instance_limits_that_pool() -> None:
    instance = yaml.safe_load((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())
    pools = instance["concurrency"]["pools"]
    assert pools["default_limit"] >= 1 and pools["granularity"] == "op"
