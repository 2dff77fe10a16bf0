"""The churn example's sources, entities and feature tables, declared (feature_store/declarations)."""

from __future__ import annotations

from feature_store.declarations import (
    Column,
    Entity,
    Feature,
    FeatureFunction,
    Repo,
    Source,
    TableDocs,
    WindowedTable,
)

TRANSACTIONS = Source(
    name="transactions",
    table="raw.transactions",
    landing_dir="transactions",
    columns=(
        Column("transaction_id", "string", "Unique id of the transaction"),
        Column("customer_id", "string", "Customer who paid"),
        Column("product_id", "string", "Product bought"),
        Column("amount", "double", "Amount paid, in the account currency"),
        Column("transaction_ts", "timestamp", "When the transaction happened (UTC)"),
    ),
    required=("transaction_id", "customer_id", "product_id", "amount", "transaction_ts"),
    event_time="transaction_ts",
    description="Card transactions, one row each, validated from the daily landing files.",
    non_negative=("amount",),
)

# A label of day D asks whether the customer transacts in the CHURN_HORIZON_DAYS after D.
CHURN_HORIZON_DAYS = 30
MODEL_NAME = "churn_model"

LABELS = Source(
    name="labels",
    table="raw.labels",
    landing_dir="labels",
    columns=(
        Column("customer_id", "string", "Customer the label is about"),
        Column("product_id", "string", "The customer's most recent product at event time"),
        Column("event_timestamp", "timestamp", "When the label's question was asked (UTC)"),
        Column(
            "is_churned", "int", "1 if the customer made no transaction in the 30 days after event_timestamp"
        ),
    ),
    required=("customer_id", "event_timestamp", "is_churned"),
    event_time="event_timestamp",
    description="Churn labels: did the customer transact in the 30 days after the event time.",
    complete_after_days=CHURN_HORIZON_DAYS,
)

RAW_SOURCES = (TRANSACTIONS, LABELS)

CUSTOMER = Entity("customer", {"customer_id": "string"}, "A card holder")
PRODUCT = Entity("product", {"product_id": "string"}, "A product sold")

WINDOWS = (7, 14, 30, 90)
SPEND_FEATURES = (
    Feature("txn_count", "count", windows=WINDOWS),
    Feature("total_spend", "sum", "amount", windows=WINDOWS),
    Feature("avg_spend", "avg", "amount", windows=WINDOWS),
)

CUSTOMER_FEATURES = WindowedTable(
    name="feature_store.customer_features",
    entity=CUSTOMER,
    source=TRANSACTIONS,
    features=SPEND_FEATURES,
    docs=TableDocs(
        "Customer spending over trailing 7/14/30/90-day windows, one snapshot per day.",
        owners=("team:customer-analytics",),
        tags={"team": "data-science", "data_owner": "customer-analytics", "domain": "customer"},
    ),
    event_noun="transaction",
    activity_name="txn",
)

PRODUCT_FEATURES = WindowedTable(
    name="feature_store.product_features",
    entity=PRODUCT,
    source=TRANSACTIONS,
    features=SPEND_FEATURES,
    docs=TableDocs(
        "Product sales over trailing 7/14/30/90-day windows, one snapshot per day.",
        owners=("team:merchandising",),
        tags={"team": "data-science", "data_owner": "merchandising", "domain": "product"},
    ),
    event_noun="transaction",
    activity_name="txn",
)

FEATURE_TABLES = (CUSTOMER_FEATURES, PRODUCT_FEATURES)



def spend_ratio(recent: float, baseline: float) -> float | None:
    """Recent average spend relative to a longer baseline: >1 spending up, <1 slowing down."""
    return recent / baseline if baseline else None


SPEND_TREND = FeatureFunction(
    "avg_spend_7d_vs_30d",
    spend_ratio,
    "double",
    inputs={"recent": "avg_spend_7d", "baseline": "avg_spend_30d"},
    description="The customer's 7-day average spend over their 30-day average (on demand)",
)

repo = Repo(
    "churn",
    sources=RAW_SOURCES,
    entities=(CUSTOMER, PRODUCT),
    tables=FEATURE_TABLES,
    functions=(SPEND_TREND,),
    asset_modules=("examples.churn.assets",),
    drift_reference_model=MODEL_NAME,
)
