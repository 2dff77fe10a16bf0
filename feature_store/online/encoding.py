"""One row encoding shared by every online store, so a value reads back with the same type everywhere.

A stored row is compact JSON text: `[<feature_ts as µs since epoch>,{"<feature>":<value>,...}]`.
- int, float, str, bool and None are plain JSON. NaN and ±inf use Python's JSON literals (`NaN`,
  `Infinity`): the text is only ever parsed by this module, never by the backend.
- datetime is `{"t":<µs since epoch, UTC>}`, date is `{"d":<proleptic ordinal>}` and an int beyond 64 bits
  is `{"i":"<decimal digits>"}` (a parser may read long number literals as floats). Only these tags are
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
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from json.encoder import encode_basestring_ascii as _quote
from json.scanner import make_scanner
from typing import Any

import orjson

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False, allow_nan=True).encode
_scan = make_scanner(json.JSONDecoder())  # for what orjson refuses: NaN/Infinity literals, lone surrogates
_PLAIN = frozenset({int, float, str, bool, type(None)})
# The ints orjson reads back exactly (Spark's LongType, numpy's int64 and uint64); it would read a longer
# literal as a float, so ints beyond this range are stored tagged, as text.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1


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
            out[name] = value if type(value) is not int or INT_MIN <= value <= INT_MAX else {"i": str(value)}
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
            elif "d" in value:
                features[name] = date.fromordinal(value["d"])
            else:
                features[name] = int(value["i"])


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
    try:
        # orjson reads a 15-feature row in ~2 µs (it caches the feature names as dict keys); the stdlib
        # scanner took ~10, most of a Redis read of many rows.
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError:
        # NaN/Infinity literals and escaped lone surrogates are ours but not strict JSON: the stdlib parser
        # reads them (and names a value that is not a row at all).
        return _decode_row_leniently(text, ts_name)
    # Only tags are JSON objects among values; `:{` may also occur inside a string (harmless extra walk).
    return _as_row(decoded, text, (b":{" if type(text) is bytes else ":{") in text, ts_name)


def decode_rows(
    values: Sequence[str | bytes | None], ts_name: str = "feature_ts"
) -> list[dict[str, Any] | None]:
    """decode_row of each stored value (None stays None), parsed as one JSON array: one orjson call for
    a whole read instead of a call per row."""
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return [None if v is None else decode_row(v, ts_name) for v in values]
    try:
        joined = b",".join(present) if type(present[0]) is bytes else ",".join(present)
        parsed = orjson.loads(b"[%s]" % joined if type(joined) is bytes else f"[{joined}]")
    except (orjson.JSONDecodeError, TypeError):  # a lenient row, or str and bytes mixed: one by one
        parsed = None
    if parsed is None or len(parsed) != len(present):
        return [None if v is None else decode_row(v, ts_name) for v in values]
    tagged = (b":{" if type(joined) is bytes else ":{") in joined
    found = iter(parsed)
    return [None if v is None else _as_row(next(found), v, tagged, ts_name) for v in values]


def _decode_row_leniently(text: str | bytes, ts_name: str) -> dict[str, Any]:
    if type(text) is bytes:
        text = text.decode()
    try:
        decoded, end = _scan(text, 0)
    except (StopIteration, ValueError):
        raise _not_a_row(text) from None
    if end != len(text):
        raise _not_a_row(text)
    return _as_row(decoded, text, ":{" in text, ts_name)


def _as_row(decoded: Any, text: str | bytes, tagged: bool, ts_name: str) -> dict[str, Any]:
    """A parsed `[ts, {features}]` as the row's features plus `ts_name`; `text` names it if it is not one."""
    if type(decoded) is not list or len(decoded) != 2:
        raise _not_a_row(text)
    ts, features = decoded
    if type(features) is not dict or type(ts) is not int:
        raise _not_a_row(text)
    if tagged:
        _untag(features)
    features[ts_name] = _timestamp(ts)
    return features


def _not_a_row(text: str | bytes) -> OnlineStoreError:
    return OnlineStoreError(f"stored value is not a feature row: {text[:80]!r}")


def row_ts(text: str | bytes) -> int:
    """The stored row's feature_ts in µs, without decoding its features."""
    head = text[1 : text.index(b"," if type(text) is bytes else ",")]
    return int(head)
