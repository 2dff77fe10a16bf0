"""The serving endpoint's OpenAPI declarations: request and response schemas per route, and bearer
security. Bodies are parsed by `serving/requests.py`, not from these schemas; the tests run
schemathesis against the served schema so the two can't drift apart silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

DESCRIPTION = """Predictions with online features, and online feature lookups.

Authenticate with `Authorization: Bearer <token>` (tokens are configured as SHA-256 hashes).
An entity whose key has no online row gets the lookup's default values (else null) and is listed in
`lookup_misses` with the tables that missed. Features supplied in a record are used as given.
`/healthz`, `/readyz` and `/metrics` need no token."""

_SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}
_ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}
_MISSES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["record", "tables"],
        "properties": {
            "record": {"type": "integer"},
            "tables": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Malformed body, wrong type or missing key column; the message names the field",
        401: "Missing or invalid bearer token",
        403: "The token's principal lacks SELECT on a feature table the request reads",
        404: "Unknown model or feature table",
        413: "Body over the size limit or too many records",
        503: "The online store is unavailable (answered within the store timeout)",
    }
    return {code: _json(_ERROR, text[code]) for code in codes}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_SECURED = {"security": [{"bearer": []}]}

INVOCATIONS: dict[str, Any] = {
    "summary": "Predict: look up the model's online features for each record, then predict",
    "responses": {
        200: _json(
            {
                "type": "object",
                "required": ["predictions", "model_version", "lookup_misses"],
                "properties": {
                    "predictions": {"type": "array", "items": {"type": ["number", "null"]}},
                    "model_version": {"type": "string"},
                    "lookup_misses": _MISSES,
                },
            },
            "One prediction per record, in order",
        ),
        **_errors(400, 401, 403, 404, 413, 503),
    },
    "openapi_extra": {
        **_SECURED,
        **_body(
            {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["dataframe_records"],
                        "properties": {
                            "dataframe_records": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "object", "additionalProperties": _SCALAR},
                            }
                        },
                    },
                    {
                        "type": "object",
                        "required": ["dataframe_split"],
                        "properties": {
                            "dataframe_split": {
                                "type": "object",
                                "required": ["columns", "data"],
                                "properties": {
                                    "columns": {"type": "array", "items": {"type": "string"}},
                                    "data": {"type": "array", "items": {"type": "array", "items": _SCALAR}},
                                },
                            }
                        },
                    },
                ],
                "example": {"dataframe_records": [{"customer_id": "C00042", "product_id": "P0042"}]},
            }
        ),
    },
}

TABLE_LOOKUP: dict[str, Any] = {
    "summary": "Look up the latest online features of a published feature table",
    "responses": {
        200: _json(
            {
                "type": "object",
                "required": ["rows", "feature_ts", "lookup_misses"],
                "properties": {
                    "rows": {"type": "array", "items": {"type": "object"}},
                    "feature_ts": {"type": "array", "items": {"type": ["string", "null"]}},
                    "lookup_misses": _MISSES,
                },
            },
            "Features per entity, in order; feature_ts is null where the key has no row",
        ),
        **_errors(400, 401, 403, 404, 413, 503),
    },
    "openapi_extra": {
        **_SECURED,
        **_body(
            {
                "type": "object",
                "required": ["entities"],
                "properties": {
                    "entities": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                    "features": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                },
                "example": {"entities": [{"customer_id": "C00042"}]},
            }
        ),
    },
}

RELOAD: dict[str, Any] = {
    "summary": "Re-resolve the served models' aliases now and load any new version",
    "responses": {
        200: _json({"type": "object", "properties": {"models": {"type": "object"}}}, "Versions served now"),
        **_errors(401),
    },
    "openapi_extra": _SECURED,
}

HEALTHZ: dict[str, Any] = {"summary": "Alive", "responses": {200: _json({"type": "object"}, "Alive")}}
READYZ: dict[str, Any] = {
    "summary": "Ready: every model loaded and the online store reachable",
    "responses": {200: _json({"type": "object"}, "Ready"), 503: _json({"type": "object"}, "Not ready")},
}
METRICS: dict[str, Any] = {
    "summary": "Prometheus metrics",
    "responses": {200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
}


def record_schema(
    request_keys: dict[str, type], model_columns: list[str], looked_up: set[str]
) -> dict[str, Any]:
    """One record of a served model: its key columns (required, typed) and its model columns (numbers;
    required when no lookup provides them)."""
    properties: dict[str, Any] = {
        k: {"type": "integer" if kind is int else "string"} for k, kind in request_keys.items()
    }
    properties.update({c: {"type": ["number", "null"]} for c in model_columns if c not in properties})
    required = [*request_keys, *(c for c in model_columns if c not in looked_up and c not in request_keys)]
    return {"type": "object", "required": required, "properties": properties}


def with_security(app: FastAPI, served: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """app.openapi with the bearer scheme declared (routes opt in with `security`), the path parameters
    limited to what is served (`served()["paths"]`: {"model": [...], "name": [...]}), and, when one
    model is served, its record schema (`served()["record"]`): the schema documents what a client can
    call, and schemathesis generates requests that reach the model."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            now = served()
            for path, operations in schema["paths"].items():
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        if parameter["in"] == "path" and now["paths"].get(parameter["name"]):
                            parameter["schema"]["enum"] = sorted(now["paths"][parameter["name"]])
                    if path.endswith("/invocations") and now.get("record"):
                        body = operation["requestBody"]["content"]["application/json"]["schema"]
                        body["oneOf"][0]["properties"]["dataframe_records"]["items"] = now["record"]
            app.openapi_schema = schema
        return app.openapi_schema

    return build
