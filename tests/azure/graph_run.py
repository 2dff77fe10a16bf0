"""The azure profile's whole graph, run as a deployment runs it: `python -m tests.azure.graph_run FIRST LAST`
in a process whose environment is the deployment's (tests/azure/conftest.py), so the code location loads
its azure resources, runs land in the Dagster instance of $DAGSTER_HOME (PostgreSQL), and nothing is
shared with the test process but the servers.

After the graph: the seed's publish to Cosmos DB with keys from Key Vault (`dbutils.secrets`,
`AzureCosmosDBSpec`), lookups from both stores, a GRANT, and one run that fails on a wrong Redis password
(its error must not show the password). Prints a JSON summary as the last line of stdout.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta

import dagster as dg


def main(first: date, last: date) -> dict:
    from examples.churn.demo import materialize_graph, run_partition
    from examples.churn.repo import CUSTOMER_FEATURES, FEATURE_TABLES
    from feature_assets.definitions import defs
    from feature_store import AzureCosmosDBSpec, FeatureLookup, FeatureStoreClient, dbutils
    from feature_store.runtime.settings import Settings

    with dg.DagsterInstance.get() as instance:
        results, drift_runs = materialize_graph(
            instance, first, last, model_config={"train_days": 10, "holdout_days": 4, "min_auc": 0.0}
        )
        fe = FeatureStoreClient(settings=Settings.from_env())
        tables = {
            name: fe.tables.read(name).count()
            for name in [*(s for t in FEATURE_TABLES for s in (t.tiles_table, t.name)),
                         "raw.transactions", "raw.labels", "ml.churn_training_set", "ml.churn_scores"]
        }  # fmt: skip

        cosmos = AzureCosmosDBSpec(
            account_uri=dbutils.secrets.get("keyvault", "cosmos-uri"),
            write_secret_prefix="keyvault/cosmos-write",
            read_secret_prefix="keyvault/cosmos-read",
            database_name=os.environ["E2E_COSMOS_DATABASE"],
            container_name="online_features",
            enable_endpoint_discovery=False,  # the protocol server speaks HTTP
        )
        fe.publish_table(name=CUSTOMER_FEATURES.name, online_store_spec=cosmos)
        customer = fe.tables.read_days(CUSTOMER_FEATURES.name, last, last).orderBy("customer_id").first()
        lookups = [FeatureLookup(CUSTOMER_FEATURES.name, "customer_id")]
        entity = [{"customer_id": customer["customer_id"]}]
        from_cosmos = fe.get_online_features(lookups, entity, online_store=cosmos).rows[0]
        from_redis = fe.get_online_features(lookups, entity).rows[0]
        grant = f"GRANT SELECT ON TABLE {CUSTOMER_FEATURES.name} TO `data-scientists`"
        fe.sql(grant)

        # A run that fails on a wrong password: resources resolve their dg.EnvVars when the run starts.
        os.environ["FEATURE_STORE_REDIS_PASSWORD"] = os.environ["E2E_WRONG_REDIS_PASSWORD"]
        job = defs.resolve_implicit_global_asset_job_def()
        failed = run_partition(job, instance, "customer_features_online", last)

    drift_meta = [e for r in drift_runs for e in r.asset_materializations_for_node("customer_features_drift")][-1].metadata
    return {
        "pipeline_runs": [r.run_id for r in results],
        "succeeded": all(r.success for r in [*results, *drift_runs]),
        "drift_report": drift_meta["report"].value,
        "tables": tables,
        "expected_txn_count_7d": customer["txn_count_7d"],
        "cosmos_txn_count_7d": from_cosmos["txn_count_7d"],
        "redis_txn_count_7d": from_redis["txn_count_7d"],
        "grant": grant,
        "failed_run": {"id": failed.run_id, "success": failed.success},
    }


if __name__ == "__main__":
    first, last = (date.fromisoformat(a) for a in sys.argv[1:3])
    assert last - first >= timedelta(days=44), "the model needs 15 days of labels, each with 30 days of future"
    print(json.dumps(main(first, last), default=str))
