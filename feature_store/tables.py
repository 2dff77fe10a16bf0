"""The project's concrete sources and feature tables."""

from __future__ import annotations

from feature_store.specs import Column, RawSource, WindowedFeatureTable

TRANSACTIONS = RawSource(
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

LABELS = RawSource(
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
)

RAW_SOURCES = (TRANSACTIONS, LABELS)

SPEND_FEATURE_NAMES = {"count": "txn_count_{n}d", "sum": "total_spend_{n}d", "avg": "avg_spend_{n}d"}

CUSTOMER_FEATURES = WindowedFeatureTable(
    name="feature_store.customer_features",
    keys=("customer_id",),
    source=TRANSACTIONS,
    value_column="amount",
    windows=(7, 14, 30, 90),
    feature_names=SPEND_FEATURE_NAMES,
    description="Customer spending over trailing 7/14/30/90-day windows, one snapshot per day.",
    owners=("team:customer-analytics",),
    tags={"team": "data-science", "data_owner": "customer-analytics", "domain": "customer"},
)

PRODUCT_FEATURES = WindowedFeatureTable(
    name="feature_store.product_features",
    keys=("product_id",),
    source=TRANSACTIONS,
    value_column="amount",
    windows=(7, 14, 30, 90),
    feature_names=SPEND_FEATURE_NAMES,
    description="Product sales over trailing 7/14/30/90-day windows, one snapshot per day.",
    owners=("team:merchandising",),
    tags={"team": "data-science", "data_owner": "merchandising", "domain": "product"},
)

FEATURE_TABLES = (CUSTOMER_FEATURES, PRODUCT_FEATURES)
