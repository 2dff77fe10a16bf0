"""One row encoding shared by every online store, so a value reads back with the same type everywhere.

A stored row is compact JSON text: `[<feature_ts as µs since epoch>,{"<feature>":<value>,...}]`.
- int, float, str, bool and None are plain JSON. NaN and ±inf use Python's JSON literals (`NaN`,
  `Infinity`): the text is only ever parsed by this module, never by the backend.
- datetime is `{"t":<µs since epoch, UTC>}` and date is `{"d":<proleptic ordinal>}`. Only these tags are
  ever JSON objects *as values* (dicts are rejected on write), so decoding walks a row's values only when
  its text contains `:{`, and feature names need no escaping or reserved words.
- The leading integer lets the Redis write script compare timestamps with one pattern match, without a
  JSON parser in Lua.
Timezone-naive datetimes are UTC (DESIGN.md); aware ones are converted to UTC. Sub-microsecond precision
(pandas nanoseconds) is truncated. Reads return tz-aware UTC datetimes.

Keys: a key tuple of int/str parts is encoded as the body of a JSON array (`42`, `"a",7`): injective,
readable in `redis-cli`, and typed (`1` and `"1"` are different keys, as they are in Spark).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from json.encoder import encode_basestring_ascii as _quote
from json.scanner import make_scanner
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False, allow_nan=True).encode
_scan = make_scanner(json.JSONDecoder())  # the C scanner when the accelerator is built (always on CPython)
_PLAIN = frozenset({int, float, str, bool, type(None)})


class OnlineStoreError(Exception):
    """Base class of the online store's errors."""


class InvalidRowError(OnlineStoreError, ValueError):
    """A row can't be stored: unsupported value type, oversized, bad key or timestamp. Nothing was written."""


def to_micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive means UTC, never the machine's zone
    return (value - EPOCH) // _US


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _numpy_item(value: Any) -> Any:
    """numpy scalars (from pandas rows) become their Python value; anything else is returned as is."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        item = value.item()
        if isinstance(item, int | float | bool | str) or item is None:
            return item
    return value


def encode_key(key: Any) -> str:
    """The canonical text of one key (a tuple, or a bare value for a one-column key)."""
    if type(key) is int:
        return str(key)
    if type(key) is str:
        return _quote(key)
    if type(key) is not tuple:
        key = tuple(key) if isinstance(key, list) else (key,)
    parts = []
    for part in key:
        t = type(part)
        if t is not int and t is not str:
            part = _numpy_item(part)
            t = type(part)
            if t is not int and t is not str:
                raise InvalidRowError(
                    f"key part {part!r} has type {t.__name__}; key parts must be int or str"
                )
        parts.append(str(part) if t is int else _quote(part))
    return ",".join(parts)


def _encode_value(value: Any) -> Any:
    t = type(value)
    if t in _PLAIN:
        return value
    if isinstance(value, datetime):
        # pandas.NaT is a datetime that is not equal to itself: it is a missing value.
        return None if value != value else {"t": to_micros(value)}
    if isinstance(value, date):
        return {"d": value.toordinal()}
    item = _numpy_item(value)
    if item is not value:
        return item
    raise TypeError(t.__name__)


def encode_row(
    features: Mapping[str, Any], ts_micros: int, skip: frozenset[str], max_bytes: int, where: str
) -> str:
    """Encode one row's features (all columns but `skip`); `where` names table and key for errors."""
    out: dict[str, Any] = {}
    for name, value in features.items():
        if name in skip:
            continue
        if type(name) is not str or not name:
            raise InvalidRowError(f"{where}: column name {name!r} must be a non-empty str")
        if type(value) in _PLAIN:
            out[name] = value
            continue
        try:
            out[name] = _encode_value(value)
        except TypeError:
            raise InvalidRowError(
                f"{where}, column {name!r}: unsupported value type {type(value).__name__} ({value!r:.80}); "
                "supported: int, float, str, bool, datetime, date, None"
            ) from None
    text = dumps([ts_micros, out])
    if len(text) > max_bytes:  # ASCII-only output, so characters == bytes
        raise InvalidRowError(f"{where}: encoded row is {len(text)} bytes, over the limit of {max_bytes}")
    return text


def _untag(features: dict[str, Any]) -> None:
    for name, value in features.items():
        if type(value) is dict:
            if "t" in value:
                features[name] = EPOCH + timedelta(microseconds=value["t"])
            else:
                features[name] = date.fromordinal(value["d"])


_TS_CACHE: dict[int, datetime] = {}


def _timestamp(micros: int) -> datetime:
    # Rows of one snapshot share their feature_ts: reuse the (immutable) datetime instead of rebuilding it.
    dt = _TS_CACHE.get(micros)
    if dt is None:
        if len(_TS_CACHE) >= 4096:
            _TS_CACHE.clear()
        dt = _TS_CACHE[micros] = EPOCH + timedelta(microseconds=micros)
    return dt


def decode_row(text: str | bytes, ts_name: str = "feature_ts") -> dict[str, Any]:
    """The features of a stored row plus `ts_name` as a tz-aware UTC datetime."""
    if type(text) is bytes:
        text = text.decode()
    try:
        # The C scanner itself: json.loads adds encoding sniffing and whitespace regexes, ~3 µs a row.
        ts, features = _scan(text, 0)[0]
    except (StopIteration, ValueError, TypeError):
        raise OnlineStoreError(f"stored value is not a feature row: {text[:80]!r}") from None
    # Only tags are JSON objects among values; `:{` may also occur inside a string (harmless extra walk).
    if ":{" in text:
        _untag(features)
    features[ts_name] = _timestamp(ts)
    return features


def row_ts(text: str | bytes) -> int:
    """The stored row's feature_ts in µs, without decoding its features."""
    head = text[1 : text.index(b"," if type(text) is bytes else ",")]
    return int(head)
