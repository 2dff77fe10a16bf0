"""Policies applied to every asset: the Spark concurrency pool that deploy/dagster/dagster.yaml limits,
freshness, and the executor of their runs."""

import yaml

from feature_assets.definitions import all_assets
from feature_assets.freshness import freshness_checks
from feature_assets.lib.policies import DAILY_FRESHNESS, LATE_PARTITIONS_TAG, SPARK_POOL
from feature_assets.partitions import daily_partitions
from tests.services import REPO


def test_every_asset_takes_a_spark_pool_slot() -> None:
    assert {a.key.to_user_string(): a.op.pool for a in all_assets} == {
        a.key.to_user_string(): SPARK_POOL for a in all_assets
    }


def test_the_production_instance_limits_that_pool() -> None:
    instance = yaml.safe_load((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())
    pools = instance["concurrency"]["pools"]
    assert pools["default_limit"] >= 1 and pools["granularity"] == "op"


def test_every_daily_asset_has_a_freshness_policy() -> None:
    """README: every daily asset has a FreshnessPolicy (issue 15: the churn and drift assets had none)."""
    daily = [s for a in all_assets for s in a.specs if a.partitions_def == daily_partitions]
    assert {s.key.to_user_string() for s in daily} == {a.key.to_user_string() for a in all_assets}
    assert {s.key.to_user_string(): s.freshness_policy for s in daily} == {
        s.key.to_user_string(): DAILY_FRESHNESS for s in daily
    }


def test_every_asset_due_the_day_after_has_a_freshness_check() -> None:
    """And a time-partition freshness check, except where the day is complete only later: the churn
    labels' source declares complete_after_days, and the training set and model built on them carry
    the late-partitions tag."""
    checked = {k.asset_key for check in freshness_checks for k in check.check_keys}
    late = {a.key for a in all_assets if LATE_PARTITIONS_TAG in a.tags_by_key[a.key]}
    assert checked == {a.key for a in all_assets} - late
    assert {k.to_user_string() for k in late} == {"raw_labels", "churn_training_set", "churn_model"}


def test_steps_share_the_run_process_unless_spark_is_remote() -> None:
    """A step process of its own would start a Spark driver of its own (resources/profiles.py)."""
    import dagster as dg

    from feature_assets.definitions import defs
    from resources.profiles import executor_for

    assert executor_for({"FEATURE_STORE_SPARK_MASTER": "local[2]"}) is dg.in_process_executor
    assert executor_for({"FEATURE_STORE_SPARK_MASTER": "spark://127.0.0.1:7077"}) is dg.in_process_executor
    assert executor_for({"SPARK_REMOTE": "sc://127.0.0.1:15002"}) is dg.multiprocess_executor
    assert defs.executor is dg.in_process_executor
