"""`FeatureLookup`: which features of which table to join to a row, by which key (Databricks' class).

Used offline (training sets, batch scoring: point in time when `timestamp_lookup_key` is set) and online
(`FeatureStoreClient.get_online_features`, the serving endpoint: always the latest published values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


def _names(value: str | Sequence[str] | None, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ValueError(
            f"FeatureLookup: {what} must be a column name or a non-empty list of names, got {value!r}"
        )
    if len(set(items)) != len(items):
        raise ValueError(f"FeatureLookup: {what} lists a column twice: {list(items)}")
    return items


@dataclass(frozen=True)
class FeatureLookup:
    """Join `feature_names` (default: every feature) of `table_name` on `lookup_key`.

    lookup_key: the caller's columns holding the table's primary keys, in the table's key order.
    rename_outputs: {feature: output column}. default_values: {feature: value} used when the key has no
    row (keyed by the feature's name in the table, before renaming); without one the value is null.
    timestamp_lookup_key / lookback_window: point-in-time semantics offline (DESIGN.md, Time semantics).
    """

    table_name: str
    lookup_key: str | Sequence[str]
    feature_names: str | Sequence[str] | None = None
    rename_outputs: Mapping[str, str] | None = None
    timestamp_lookup_key: str | None = None
    lookback_window: timedelta | None = None
    default_values: Mapping[str, Any] | None = None
    lookup_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    features: tuple[str, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.table_name, str) or not self.table_name:
            raise ValueError(f"FeatureLookup: table_name must be a table name, got {self.table_name!r}")
        object.__setattr__(self, "lookup_keys", _names(self.lookup_key, "lookup_key"))
        if self.lookup_keys is None:
            raise ValueError(f"FeatureLookup({self.table_name}): lookup_key is required")
        object.__setattr__(self, "features", _names(self.feature_names, "feature_names"))
        for what, value in (("rename_outputs", self.rename_outputs), ("default_values", self.default_values)):
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"FeatureLookup({self.table_name}): {what} must be a dict, got {value!r}")
        if self.rename_outputs and not all(isinstance(v, str) and v for v in self.rename_outputs.values()):
            raise ValueError(f"FeatureLookup({self.table_name}): rename_outputs values must be column names")
        if self.lookback_window is not None and (
            not isinstance(self.lookback_window, timedelta) or self.lookback_window <= timedelta(0)
        ):
            raise ValueError(
                f"FeatureLookup({self.table_name}): lookback_window must be a positive timedelta, "
                f"got {self.lookback_window!r}"
            )

    def output_name(self, feature: str) -> str:
        return (self.rename_outputs or {}).get(feature, feature)


def resolve_lookup(
    lookup: FeatureLookup,
    table_name: str,
    primary_keys: Sequence[str],
    feature_names: Sequence[str],
    error: type[ValueError] = ValueError,
) -> list[str]:
    """Check a lookup against its table (key count, features, renames and defaults of looked-up features
    only) and return the features it looks up; raises `error` naming the table."""
    where = f"FeatureLookup({table_name})"
    if len(lookup.lookup_keys) != len(primary_keys):
        raise error(
            f"{where}: lookup_key {list(lookup.lookup_keys)} must name one column per primary key "
            f"{list(primary_keys)}, in that order"
        )
    names = list(lookup.features) if lookup.features is not None else list(feature_names)
    unknown = [n for n in names if n not in feature_names]
    if unknown:
        raise error(f"{where}: unknown features {unknown}; the table has {list(feature_names)}")
    for what, mapping in (
        ("rename_outputs", lookup.rename_outputs),
        ("default_values", lookup.default_values),
    ):
        stray = sorted(set(mapping or {}) - set(names))
        if stray:
            raise error(f"{where}: {what} names features that are not looked up: {stray}")
    return names
