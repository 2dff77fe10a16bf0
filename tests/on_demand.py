"""On-demand features for the tests, importable by name from the test process, Spark's Python workers
and the `featurestore serve` process alike (all run from the repository root): a FeatureFunction's
code must be importable wherever it is computed, as it must be in production."""

from __future__ import annotations

from feature_store.declarations import FeatureFunction


def basket_ratio(basket: float, average: float) -> float | None:
    """The request's basket size relative to the customer's average basket; None for a zero average."""
    return basket / average if average else None


def visits_bucket(visits: int) -> int:
    """Returns an int for a `double` feature: the cast in FeatureFunction keeps Spark from nulling it."""
    return min(int(visits), 3)


BASKET_VS_AVERAGE = FeatureFunction(
    "basket_vs_average",
    basket_ratio,
    "double",
    inputs={"basket": "basket_size", "average": "avg_basket"},
    description="Request basket size over the customer's average basket",
)
VISITS_BUCKET = FeatureFunction("visits_bucket", visits_bucket, "double", inputs={"visits": "visits"})


def per(amount: float, visits: int) -> float:
    """Returns int 0 for no visits: the result is a double everywhere all the same."""
    return amount / visits if visits else 0
