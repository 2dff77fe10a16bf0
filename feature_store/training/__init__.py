"""Training sets: feature lookups, the point-in-time join, and MLflow models that carry their lookups."""
