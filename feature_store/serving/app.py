"""The serving endpoint: an ASGI app (FastAPI on uvicorn) that predicts with models whose features it
looks up online, and serves feature-table lookups without a model.

The request path is short on purpose: parse with orjson, check the token (one SHA-256 and constant-time
compares) and the principal's SELECT grants (held in memory, serving/grants.py), one `OnlineStore.read` for all of a request's tables through a plan built when the model
was loaded, one predict call on a float matrix, serialize with orjson. FastAPI contributes routing and
the OpenAPI schema; the two POST routes are answered without FastAPI's dependency solving
(`_answer_directly`), bodies are not parsed by pydantic (schemas are declared for the docs only), and
there is no middleware. The predict is short and runs on the event loop; the store call runs in a
small thread pool under one deadline (StoreGuard), so a hung store cannot stall the loop.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Route

from feature_store.governance import PermissionDenied
from feature_store.offline.names import qualified
from feature_store.online.base import OnlineStore
from feature_store.online.catalog import read_published
from feature_store.online.lookup import LookupInputError, OnlineFeatures, OnlineLookupPlan, bind_lookup
from feature_store.online.specs import OnlineStoreSpec
from feature_store.serving import openapi
from feature_store.serving.auth import TokenAuthenticator
from feature_store.serving.grants import ServingGrants
from feature_store.serving.metrics import ServingMetrics
from feature_store.serving.models import ModelWatcher
from feature_store.serving.requests import (
    RequestError,
    bad_request,
    dataframe_rows,
    entity_rows,
    json_object,
    not_found,
    numeric_matrix_rows,
    too_large,
    unavailable,
    with_on_demand_features,
)
from feature_store.training.lookups import FeatureLookup

log = logging.getLogger("feature_store.serving")

INVOCATIONS = "/serving-endpoints/{model}/invocations"
TABLE_LOOKUP = "/feature-tables/{name}/lookup"


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    max_records: int = 1000
    store_cooldown_seconds: float = 1.0  # after a store failure, answer 503 at once for this long
    store_timeout_seconds: float = 0.25  # a store call's deadline, retries included
    table_cache_seconds: float = 30.0  # how long a published table's descriptor is trusted


class _NotStarted(Exception):
    """A store call still waited for a worker when its deadline passed."""


class StoreGuard:
    """Runs store calls off the event loop, each bounded by `timeout` seconds whatever the client's own
    retries do, so a hung store never stalls `/healthz`, `/metrics` or other requests. A failure opens
    the circuit for `cooldown` seconds, during which requests get 503 at once instead of each waiting
    for the timeout. The first request after it tries the store again, so the service recovers by
    itself when the store is back.

    A call that could not even start within the deadline (every worker busy: the server is overloaded,
    not the store) gets 503 too, but leaves the circuit closed: under load, one slow second must not
    turn into a second of refusing everything."""

    def __init__(self, store: OnlineStore, description: str, cooldown: float, timeout: float) -> None:
        self.store, self.description, self.cooldown, self.timeout = store, description, cooldown, timeout
        self._open_until = 0.0
        self._cause = ""
        # Threads stuck on a hung store stay stuck until the client's socket timeout; the circuit keeps
        # new calls from piling up behind them, and a few workers are enough for SQLite/Redis/Cosmos.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="online-store")

    async def execute(self, plan: OnlineLookupPlan, rows: list[dict[str, Any]]) -> OnlineFeatures:
        return await self.call(lambda store: plan.execute(store, rows))

    async def call(self, fn: Callable[[OnlineStore], Any]) -> Any:
        if time.monotonic() < self._open_until:
            raise self._unavailable()
        try:
            return await self._bounded(fn)
        except LookupInputError as exc:  # a bad key in the request, found before the store is asked
            raise bad_request(str(exc)) from None
        except _NotStarted:
            raise unavailable(
                f"server busy: no worker was free to ask online store {self.description} within "
                f"{self.timeout:g}s; retry shortly"
            ) from None
        except TimeoutError:
            raise self._failed(TimeoutError(), f"no answer within {self.timeout:g}s") from None
        except Exception as exc:  # any backend error: the store, not the request, is at fault
            raise self._failed(exc) from None

    async def ping(self) -> bool:
        try:
            return bool(await self._bounded(lambda store: store.ping()))
        except Exception:  # unreachable, hung or failing: not ready either way
            return False

    async def _bounded(self, fn: Callable[[OnlineStore], Any]) -> Any:
        started = threading.Event()

        def run(store: OnlineStore) -> Any:
            started.set()
            return fn(store)

        try:
            # On timeout wait_for cancels the future: a call still queued is dropped, never run late.
            return await asyncio.wait_for(
                asyncio.wrap_future(self._pool.submit(run, self.store)), self.timeout
            )
        except TimeoutError:
            if not started.is_set():
                raise _NotStarted() from None
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    def _failed(self, exc: Exception, cause: str | None = None) -> RequestError:
        self._cause = cause or type(exc).__name__  # not the backend's text: it may name hosts or keys
        self._open_until = time.monotonic() + self.cooldown
        log.warning("online store %s failed: %s: %s", self.description, self._cause, exc)
        return self._unavailable()

    def _unavailable(self) -> RequestError:
        return unavailable(f"online store {self.description} is unavailable ({self._cause}); retry shortly")


def _json(status: int, content: Any) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type="application/json"
    )


def _error(exc: RequestError) -> Response:
    return _json(exc.status, {"error_code": exc.code, "message": exc.message})


class _TablePlans:
    """Lookup plans of feature tables read from the store's published-table descriptors (no Spark)."""

    def __init__(self, ttl_seconds: float, size: int = 256) -> None:
        self.ttl, self.size = ttl_seconds, size
        self._plans: OrderedDict[tuple[str, tuple[str, ...] | None], tuple[float, OnlineLookupPlan]] = (
            OrderedDict()
        )

    async def get(self, guard: StoreGuard, table: str, features: list[str] | None) -> OnlineLookupPlan:
        key = (table, tuple(features) if features else None)
        cached = self._plans.get(key)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        described = (await guard.call(lambda store: read_published(store, [table])))[table]
        if described is None:
            raise not_found(
                f"feature table {table!r} is not published to the online store {guard.description}"
            )
        names = features or described.feature_names
        unknown = [f for f in names if f not in described.feature_names]
        if unknown:
            raise bad_request(f"features {unknown} are not in {table} (it has {described.feature_names})")
        lookup = FeatureLookup(table, list(described.primary_keys), feature_names=names)
        plan = OnlineLookupPlan(
            [bind_lookup(lookup, table, described.primary_keys, described.key_types, names)]
        )
        self._plans[key] = (time.monotonic(), plan)
        self._plans.move_to_end(key)
        while len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan


def create_app(
    watcher: ModelWatcher,
    store_spec: OnlineStoreSpec,
    auth: TokenAuthenticator,
    grants: ServingGrants,
    limits: Limits = Limits(),  # noqa: B008 (frozen)
) -> FastAPI:
    metrics = ServingMetrics()
    plans = _TablePlans(limits.table_cache_seconds)
    state: dict[str, StoreGuard] = {}

    def version_changed(model: Any) -> None:
        metrics.model_version.labels(model.name).set(float(model.version))
        gc.freeze()  # the new model's objects too (see lifespan); no collect: it would stall requests

    watcher.on_change = version_changed

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        grants.start()  # no grants read, no serving: every request would be decided blind
        store = store_spec.open()
        state["guard"] = StoreGuard(
            store, store_spec.describe(), limits.store_cooldown_seconds, limits.store_timeout_seconds
        )
        watcher.refresh()
        missing = [str(r) for name, r in watcher.refs.items() if name not in watcher.models]
        if missing:
            state["guard"].close()
            raise RuntimeError(f"could not load {missing}: {watcher.last_error}")
        # A loaded server holds ~400k long-lived objects (models, libraries); a full collection scans
        # them all, ~300 ms here, longer than the store deadline: every request then waiting fails.
        # Frozen, they are never scanned again, and collections see only what requests allocate.
        gc.collect()
        gc.freeze()
        watcher.start()
        log.info("serving %s from %s", watcher.refresh(), store_spec.describe())
        try:
            yield
        finally:
            watcher.stop()
            state["guard"].close()
            grants.stop()

    app = FastAPI(
        title="Feature store serving endpoint",
        version="1",
        description=openapi.DESCRIPTION,
        lifespan=lifespan,
    )

    def principal(request: Request) -> str:
        found = auth.principal(request.headers.get("authorization"))
        if found is None:
            raise RequestError(
                401, "UNAUTHENTICATED", "a valid bearer token is required (Authorization: Bearer <token>)"
            )
        return found

    def authorize(who: str, tables: Sequence[str], operation: str) -> None:
        """403 unless the token's principal holds SELECT on every table."""
        try:
            grants.require_select(who, tables, operation)
        except PermissionDenied as exc:
            raise RequestError(403, "PERMISSION_DENIED", str(exc)) from None

    async def body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise too_large(f"body of {declared} bytes; at most {limits.max_body_bytes}")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limits.max_body_bytes:
                raise too_large(f"body over {limits.max_body_bytes} bytes")
        return bytes(data)

    def count_misses(looked_up: OnlineFeatures) -> list[dict[str, Any]]:
        misses = []
        for i, tables in enumerate(looked_up.missing):
            if tables:
                misses.append({"record": i, "tables": tables})
                for table in tables:
                    metrics.lookup_misses.labels(table).inc()
        return misses

    def measured(route: str) -> Callable:
        """Answer a RequestError with its status and error body, and time every answer by route."""

        def wrap(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
            @functools.wraps(handler)
            async def answer(*args: Any, **kwargs: Any) -> Response:
                started, status = time.perf_counter(), 500
                try:
                    response = await handler(*args, **kwargs)
                    status = response.status_code
                    return response
                except RequestError as exc:
                    status = exc.status
                    metrics.errors.labels(exc.code).inc()
                    return _error(exc)
                finally:
                    metrics.observe(route, status, time.perf_counter() - started)

            return answer

        return wrap

    @app.post(INVOCATIONS, **openapi.INVOCATIONS)
    @measured(INVOCATIONS)
    async def invocations(model: str, request: Request) -> Response:
        started = time.perf_counter()
        who = principal(request)
        served = watcher.models.get(model)
        if served is None:
            raise not_found(f"model {model!r} is not served here (serving {sorted(watcher.models)})")
        authorize(who, served.tables, f"serving {model}")
        rows = dataframe_rows(json_object(await body(request)), limits.max_records)
        parsed = time.perf_counter()
        looked_up = await state["guard"].execute(served.plan, rows)
        if served.functions:
            with_on_demand_features(rows, looked_up.rows, served.functions)
        matrix = np.array(numeric_matrix_rows(rows, looked_up.rows, served.columns), dtype=float)
        lookup_done = time.perf_counter()
        predictions = served.predict(matrix)
        response = _json(200, {
            "predictions": predictions,
            "model_version": served.version,
            "lookup_misses": count_misses(looked_up),
        })  # fmt: skip
        # Where the time went, for clients and browser dev tools (no secrets, only durations).
        response.headers["server-timing"] = (
            f"parse;dur={(parsed - started) * 1000:.3f}, lookup;dur={(lookup_done - parsed) * 1000:.3f}, "
            f"predict;dur={(time.perf_counter() - lookup_done) * 1000:.3f}"
        )
        return response

    @app.post(TABLE_LOOKUP, **openapi.TABLE_LOOKUP)
    @measured(TABLE_LOOKUP)
    async def lookup(name: str, request: Request) -> Response:
        who = principal(request)
        try:
            table = qualified(name)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        authorize(who, [table], f"serving {TABLE_LOOKUP}")
        entities, features = entity_rows(json_object(await body(request)), limits.max_records)
        plan = await plans.get(state["guard"], table, features)
        looked_up = await state["guard"].execute(plan, entities)
        return _json(200, {
            "rows": looked_up.rows,
            "feature_ts": [stamps[table] for stamps in looked_up.feature_ts],
            "lookup_misses": count_misses(looked_up),
        })  # fmt: skip

    @app.post("/admin/reload", **openapi.RELOAD)
    async def reload(request: Request) -> Response:
        try:
            principal(request)
        except RequestError as exc:
            return _error(exc)
        versions = watcher.refresh()  # blocks the loop while loading: reloads are rare and explicit
        return _json(200, {"models": versions, "error": watcher.last_error})

    @app.get("/healthz", **openapi.HEALTHZ)
    async def healthz() -> Response:
        return _json(200, {"status": "alive"})

    @app.get("/readyz", **openapi.READYZ)
    async def readyz() -> Response:
        problems = [f"model {r} not loaded" for name, r in watcher.refs.items() if name not in watcher.models]
        guard = state.get("guard")
        if guard is None or not await guard.ping():
            problems.append(f"online store {store_spec.describe()} not reachable")
        body = {"ready": not problems, "models": {n: m.version for n, m in watcher.models.items()}}
        return _json(503 if problems else 200, {**body, "problems": problems})

    @app.get("/metrics", **openapi.METRICS)
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    def served() -> dict[str, Any]:
        tables = {t for m in watcher.models.values() for t in m.tables}
        paths = {"model": list(watcher.models), "name": sorted(tables)}
        if len(watcher.models) != 1:
            return {"paths": paths}
        (model,) = watcher.models.values()
        keys = {
            c: kind
            for lk in model.plan.lookups
            for c, kind in zip(lk.request_keys, lk.key_kinds, strict=True)
        }
        provided = {*model.plan.output_names, *(f.name for f in model.functions)}
        request_inputs = [s for f in model.functions for s in f.inputs.values() if s not in provided]
        columns = list(dict.fromkeys([*model.columns, *request_inputs]))
        record = openapi.record_schema(keys, columns, provided)
        return {"paths": paths, "record": record}

    app.openapi = openapi.with_security(app, served)  # type: ignore[method-assign]
    _answer_directly(app, (INVOCATIONS, TABLE_LOOKUP))
    return app


def _answer_directly(app: FastAPI, paths: Sequence[str]) -> None:
    """Route these paths through plain Starlette routes placed first; their FastAPI routes stay, and
    document them in the OpenAPI schema. The handlers read the Request themselves, so FastAPI's
    per-request dependency solving buys nothing and costs ~0.2 ms, a fifth of a one-record prediction."""
    for route in [r for r in app.router.routes if isinstance(r, APIRoute) and r.path in paths]:

        async def direct(
            request: Request, endpoint: Callable[..., Awaitable[Response]] = route.endpoint
        ) -> Response:
            return await endpoint(request=request, **request.path_params)

        app.router.routes.insert(0, Route(route.path, direct, methods=sorted(route.methods)))
