"""On-demand features (FeatureFunction) are computed identically by create_training_set, score_batch and
the serving endpoint, and travel with the model's feature spec: the same rows through all three give
the same feature values and the same predictions."""

from __future__ import annotations

import math
from datetime import timedelta

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.on_demand import BASKET_VS_AVERAGE, VISITS_BUCKET
from tests.serving.conftest import CUSTOMERS, PRODUCTS, T2, World, log_champion

pytestmark = pytest.mark.slow

MODEL = "serve_on_demand_model"
EVENT = T2 + timedelta(hours=1)  # after the newest snapshot: point in time sees what online serves
FUNCTIONS = [BASKET_VS_AVERAGE, VISITS_BUCKET]
ON_DEMAND = [f.name for f in FUNCTIONS]
# Known customers with baskets on both sides of their average, and one unknown customer (its average is
# null, so its ratio is null; visits takes the lookup's default 0).
REQUESTS = [(f"C{i:03d}", i % 10, float((i * 7) % 11)) for i in range(0, 40, 3)] + [("C999", 4, 2.0)]


def lookups():
    from feature_store.training.lookups import FeatureLookup

    return [
        FeatureLookup(
            CUSTOMERS, "customer_id", timestamp_lookup_key="event_ts", default_values={"visits": 0}
        ),
        FeatureLookup(
            PRODUCTS, "product_id", timestamp_lookup_key="event_ts", rename_outputs={"price": "product_price"}
        ),
    ]


@pytest.fixture(scope="module")
def client(spark, world: World):
    from feature_store.client.core import FeatureStoreClient
    from feature_store.runtime.settings import Settings

    return FeatureStoreClient(spark=spark, settings=Settings.from_env(world.env))


@pytest.fixture(scope="module")
def model_uri(spark, client) -> str:
    """A model whose label is decided by the on-demand ratio, so a wrong ratio changes its predictions."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rows = [(f"C{i % 40:03d}", i % 10, EVENT, float((i * 7) % 11)) for i in range(240)]
    labels = spark.createDataFrame(
        # basket above the customer's average basket at T2 (0.5 c + 1 for customer C{c}: conftest)
        [(*row, int(row[3] > 0.5 * (i % 40) + 1)) for i, row in enumerate(rows)],
        "customer_id string, product_id bigint, event_ts timestamp, basket_size double, label int",
    )
    training = client.create_training_set(
        labels, [*lookups(), *FUNCTIONS], label="label", exclude_columns=["event_ts"]
    )
    frame = training.load_df().toPandas()
    features = [c for c in frame.columns if c not in ("label", "customer_id", "product_id")]
    assert set(ON_DEMAND) <= set(features)
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(frame[features], frame["label"])
    version = log_champion(client, model, training, MODEL)
    return f"models:/{MODEL}/{version}"


def requests_df(spark):
    return spark.createDataFrame(
        [(c, p, EVENT, b) for c, p, b in REQUESTS],
        "customer_id string, product_id bigint, event_ts timestamp, basket_size double",
    )


def by_customer(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("customer_id").reset_index(drop=True)


def test_the_feature_spec_names_the_functions(model_uri: str) -> None:
    from feature_store.training.models import feature_spec

    spec = feature_spec(model_uri)
    assert spec["functions"] == [f.to_spec() for f in FUNCTIONS]
    assert spec["functions"][0]["function"] == "tests.on_demand:basket_ratio"
    assert set(ON_DEMAND) <= set(spec["model_columns"])


def test_training_set_score_batch_and_endpoint_agree(spark, client, world: World, model_uri: str) -> None:
    from feature_store.serving.process import ServeProcess

    training = client.create_training_set(requests_df(spark), [*lookups(), *FUNCTIONS], label=None)
    offline = by_customer(training.load_df().toPandas())
    # The values by hand from the served world's rows (tests/serving/conftest.py): C{i} at T2 has
    # avg_basket 0.5 i + 1 and visits i % 5.
    for _, row in offline.iterrows():
        if row.customer_id == "C999":
            assert math.isnan(row.basket_vs_average) and row.visits_bucket == 0.0
            continue
        i = int(row.customer_id[1:])
        assert row.basket_vs_average == row.basket_size / (0.5 * i + 1)
        assert row.visits_bucket == float(min(i % 5, 3))

    scored = by_customer(client.score_batch(model_uri, requests_df(spark)).toPandas())
    pd.testing.assert_frame_equal(scored[offline.columns], offline)

    served = ServeProcess(
        [f"{MODEL}@champion"], world.tokens_file, world.home / "serve-on-demand.log",
        {**world.env, "FEATURE_STORE_ONLINE_STORE": "sqlite", "MLFLOW_TRACKING_URI": ""},
    ).start()  # fmt: skip
    try:
        records = [{"customer_id": c, "product_id": p, "basket_size": b} for c, p, b in REQUESTS]
        response = httpx.post(
            f"{served.url}/serving-endpoints/{MODEL}/invocations",
            json={"dataframe_records": records},
            headers={"Authorization": f"Bearer {world.token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        online = pd.Series(response.json()["predictions"], index=[c for c, _, _ in REQUESTS]).sort_index()
        np.testing.assert_allclose(online.to_numpy(), scored["prediction"].to_numpy(), rtol=1e-9)
        assert scored["prediction"].nunique() > 1  # the model does tell the rows apart

        missing = httpx.post(
            f"{served.url}/serving-endpoints/{MODEL}/invocations",
            json={"dataframe_records": [{"customer_id": "C001", "product_id": 1}]},
            headers={"Authorization": f"Bearer {world.token}"},
            timeout=30,
        )
        assert missing.status_code == 400
        assert "'basket_vs_average' needs 'basket_size'" in missing.json()["message"]
    finally:
        served.stop()
