"""Online feature lookups, planned once and executed per request with one store round trip.

Feast resolves its registry and builds protobufs on every `get_online_features` call, which is most of
its latency. Here `OnlineLookupPlan` is built once from `FeatureLookup`s and each table's keys and
features (the client caches it; the serving endpoint holds one per model), and `execute` only builds
keys, issues one `OnlineStore.read` for every table and copies values into plain dicts.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feature_store.online.base import TS_COLUMN, OnlineStore, ReadRequest
from feature_store.training.lookups import FeatureLookup


class LookupInputError(ValueError):
    """An entity row can't be looked up: a key column is missing or has the wrong type."""


@dataclass(frozen=True)
class BoundLookup:
    """One lookup resolved against its table: store table, request key columns and their types."""

    table: str  # the table's name in the online store (its qualified name)
    request_keys: tuple[str, ...]  # entity-row columns, in the table's primary-key order
    key_kinds: tuple[type, ...]  # int or str per key column
    features: tuple[tuple[str, str], ...]  # (feature in the table, output name)
    defaults: tuple[Any, ...]  # per feature, used when the key has no row

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(output for _, output in self.features)

    def values_getter(self) -> Callable[[Mapping[str, Any]], Any]:
        """A stored row's feature values in `features` order, in one C call: a tuple when there are two
        or more features, else the one value (operator.itemgetter's convention)."""
        return operator.itemgetter(*(feature for feature, _ in self.features))


@dataclass(frozen=True)
class OnlineFeatures:
    """Aligned with the entity rows: output features, each table's feature_ts (None when missing), and
    the tables whose key was not found (their features took defaults)."""

    rows: list[dict[str, Any]]
    feature_ts: list[dict[str, datetime | None]]
    missing: list[list[str]]

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


_KEY_KINDS = {"bigint": int, "int": int, "smallint": int, "tinyint": int, "string": str}


def bind_lookup(
    lookup: FeatureLookup,
    table: str,
    primary_keys: Sequence[str],
    key_types: Sequence[str],
    features: Sequence[str],
) -> BoundLookup:
    """A lookup (already checked against the table's keys and features) bound for online reads."""
    kinds = []
    for key, spark_type in zip(primary_keys, key_types, strict=True):
        kind = _KEY_KINDS.get(spark_type)
        if kind is None:
            raise ValueError(
                f"FeatureLookup({table}): primary key {key!r} has type {spark_type or 'unknown'}; "
                "online keys are int or str"
            )
        kinds.append(kind)
    defaults = lookup.default_values or {}
    return BoundLookup(
        table=table,
        request_keys=lookup.lookup_keys,
        key_kinds=tuple(kinds),
        features=tuple((n, lookup.output_name(n)) for n in features),
        defaults=tuple(defaults.get(n) for n in features),
    )


def _coerce_key(value: Any, kind: type, column: str, row: int) -> Any:
    if value is None:
        return None
    if type(value) is kind:
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)  # JSON clients and pandas send 42.0 for an integer key
    if kind is int and type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _coerce_key(value.item(), kind, column, row)
    raise LookupInputError(
        f"entity row {row}: key column {column!r} must be {'an integer' if kind is int else 'a string'}, "
        f"got {type(value).__name__} {value!r:.40}"
    )


def _column(row: Mapping[str, Any], column: str, i: int, lookup: BoundLookup) -> Any:
    try:
        return row[column]
    except KeyError:
        raise LookupInputError(
            f"entity row {i} has no column {column!r}, a lookup key of {lookup.table}"
        ) from None
    except TypeError:
        raise LookupInputError(f"entity row {i} must be a mapping of column to value") from None


class OnlineLookupPlan:
    def __init__(self, lookups: Sequence[BoundLookup]) -> None:
        outputs: dict[str, str] = {}
        for lookup in lookups:
            for _feature, output in lookup.features:
                if output in outputs:
                    raise ValueError(
                        f"output column {output!r} comes from both {outputs[output]} and {lookup.table}; "
                        "rename one with rename_outputs"
                    )
                outputs[output] = lookup.table
        self.lookups = tuple(lookups)
        self.output_names = tuple(outputs)
        self.request_columns = tuple(dict.fromkeys(c for lk in lookups for c in lk.request_keys))
        self.tables = tuple(dict.fromkeys(lk.table for lk in lookups))
        # Per lookup, what copies a found row's features into an output row (built once, not per request).
        self._copies = [(lk.output_names, lk.values_getter() if lk.features else None) for lk in lookups]

    def keys_for(self, entity_rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        """Per lookup, the store key of every entity row (None where a key value is null)."""
        result = []
        for lookup in self.lookups:
            if len(lookup.request_keys) == 1:
                result.append(self._single_keys(lookup, entity_rows))
                continue
            keys = []
            for i, row in enumerate(entity_rows):
                parts = [
                    _coerce_key(_column(row, c, i, lookup), kind, c, i)
                    for c, kind in zip(lookup.request_keys, lookup.key_kinds, strict=True)
                ]
                keys.append(None if None in parts else tuple(parts))
            result.append(keys)
        return result

    @staticmethod
    def _single_keys(lookup: BoundLookup, entity_rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        # The common case, on every request's path: one key column, values already of the right type.
        column, kind = lookup.request_keys[0], lookup.key_kinds[0]
        keys = []
        for i, row in enumerate(entity_rows):
            value = _column(row, column, i, lookup)
            keys.append(value if type(value) is kind else _coerce_key(value, kind, column, i))
        return keys

    def execute(self, store: OnlineStore, entity_rows: Sequence[Mapping[str, Any]]) -> OnlineFeatures:
        keys = self.keys_for(entity_rows)
        # Null keys are not sent: they are missing by definition.
        requests = [
            ReadRequest(lk.table, [k for k in ks if k is not None])
            for lk, ks in zip(self.lookups, keys, strict=True)
        ]
        results = store.read(requests)
        n = len(entity_rows)
        rows: list[dict[str, Any]] = [{} for _ in range(n)]
        stamps: list[dict[str, datetime | None]] = [{} for _ in range(n)]
        missing: list[list[str]] = [[] for _ in range(n)]
        for lookup, (outputs, values_of), lookup_keys, result in zip(
            self.lookups, self._copies, keys, results, strict=True
        ):
            found = iter(result.rows)
            for i, key in enumerate(lookup_keys):
                stored = None if key is None else next(found)
                out = rows[i]
                if stored is None:
                    for (_, output), default in zip(lookup.features, lookup.defaults, strict=True):
                        out[output] = default
                    stamps[i][lookup.table] = None
                    if lookup.table not in missing[i]:
                        missing[i].append(lookup.table)
                else:
                    try:
                        if len(outputs) > 1:
                            out.update(zip(outputs, values_of(stored), strict=True))
                        elif outputs:
                            out[outputs[0]] = values_of(stored)
                    except KeyError:  # a row written before a feature was added to its table
                        for feature, output in lookup.features:
                            out[output] = stored.get(feature)
                    stamps[i][lookup.table] = stored[TS_COLUMN]
        return OnlineFeatures(rows, stamps, missing)
