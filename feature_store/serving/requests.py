"""Request bodies of the serving endpoint: parsed with orjson, checked, and refused with a message that
names the field. Formats are MLflow's and Databricks': `dataframe_records` and `dataframe_split`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from feature_store.declarations.functions import FeatureFunction, FeatureFunctionError, apply_functions


class RequestError(Exception):
    """Answered with `status` and `{"error_code": code, "message": message}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message: str) -> RequestError:
    return RequestError(400, "BAD_REQUEST", message)


def too_large(message: str) -> RequestError:
    return RequestError(413, "REQUEST_TOO_LARGE", message)


def not_found(message: str) -> RequestError:
    return RequestError(404, "RESOURCE_DOES_NOT_EXIST", message)


def unavailable(message: str) -> RequestError:
    return RequestError(503, "TEMPORARILY_UNAVAILABLE", message)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise bad_request(f"body must be a JSON object, got {_json_type(payload)}")
    return payload


def dataframe_rows(payload: dict[str, Any], max_records: int) -> list[dict[str, Any]]:
    """The records of a `dataframe_records` or `dataframe_split` body, as dicts."""
    formats = [f for f in ("dataframe_records", "dataframe_split") if f in payload]
    if len(formats) != 1:
        raise bad_request(
            "body must have exactly one of 'dataframe_records' or 'dataframe_split'"
            + (", got both" if len(formats) == 2 else f", got keys {sorted(payload)[:10]}")
        )
    if formats[0] == "dataframe_records":
        return _objects(payload["dataframe_records"], "dataframe_records", max_records)
    split = payload["dataframe_split"]
    if not isinstance(split, dict):
        raise bad_request(
            f"dataframe_split must be an object with 'columns' and 'data', got {_json_type(split)}"
        )
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise bad_request("dataframe_split.columns must be a list of column names")
    if len(set(columns)) != len(columns):
        raise bad_request("dataframe_split.columns has duplicate names")
    if not isinstance(data, list):
        raise bad_request(f"dataframe_split.data must be a list of rows, got {_json_type(data)}")
    _check_count(len(data), max_records, "dataframe_split.data")
    rows = []
    for i, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise bad_request(
                f"dataframe_split.data[{i}] must be a list of {len(columns)} values (one per column)"
            )
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def entity_rows(payload: dict[str, Any], max_records: int) -> tuple[list[dict[str, Any]], list[str] | None]:
    """`{"entities": [{key: value}, ...], "features": [...] (optional)}` of a feature-table lookup."""
    entities = _objects(payload.get("entities"), "entities", max_records)
    features = payload.get("features")
    if features is not None and (
        not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features)
    ):
        raise bad_request("'features' must be a non-empty list of feature names")
    return entities, features


def _objects(value: Any, field: str, max_records: int) -> list[dict[str, Any]]:
    """A non-empty list of at most max_records JSON objects, else 400/413 naming `field`."""
    if not isinstance(value, list):
        raise bad_request(f"{field} must be a list of objects, got {_json_type(value)}")
    _check_count(len(value), max_records, field)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad_request(f"{field}[{i}] must be an object, got {_json_type(item)}")
    return value


def _check_count(count: int, max_records: int, field: str) -> None:
    if count == 0:
        raise bad_request(f"{field} is empty: send at least one record")
    if count > max_records:
        raise too_large(f"{field} has {count} records; at most {max_records} per request")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def with_on_demand_features(
    rows: Sequence[dict[str, Any]], looked_up: Sequence[dict[str, Any]], functions: Sequence[FeatureFunction]
) -> None:
    """Add each on-demand feature to the record's looked-up features, from its request fields and
    features (a request field wins over a feature of the same name, as it does for the model's
    inputs). A missing input or a failing function is the request's fault: 400, naming both."""
    for i, (record, features) in enumerate(zip(rows, looked_up, strict=True)):
        values = {**features, **record}
        try:
            apply_functions(functions, values)
        except FeatureFunctionError as exc:
            raise bad_request(f"dataframe record {i}: {exc}") from None
        for function in functions:
            features[function.name] = values[function.name]


def numeric_matrix_rows(
    rows: Sequence[dict[str, Any]], looked_up: Sequence[dict[str, Any]], columns: Sequence[str]
) -> list[list[float]]:
    """Model input rows: a request-supplied value where the record has the column, else the looked-up
    feature. Values must be numbers (booleans count) or null (NaN for the model)."""
    matrix = []
    for i, (record, features) in enumerate(zip(rows, looked_up, strict=True)):
        out = []
        for column in columns:
            value = record[column] if column in record else features.get(column, _ABSENT)
            if value is _ABSENT:
                raise bad_request(
                    f"dataframe record {i} has no column {column!r}: the model takes it and no feature "
                    "lookup provides it"
                )
            if value is None:
                out.append(float("nan"))
            elif isinstance(value, int | float):
                out.append(float(value))
            else:
                raise bad_request(
                    f"dataframe record {i}: column {column!r} must be a number or null, got {_json_type(value)}"
                )
        matrix.append(out)
    return matrix


_ABSENT = object()
