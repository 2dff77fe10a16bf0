"""`featurestore serve` and `featurestore serve-token` (registered in feature_store/cli/main.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import tempfile
from typing import Any

from feature_store.runtime import variables as V
from feature_store.runtime.settings import Settings
from feature_store.serving.metrics import MULTIPROCESS_METRICS_DIR

SERVE_ARGUMENTS = V.SERVE_ARGUMENTS.name  # --workers: the parent's arguments, for each worker


def add_serve(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve models and feature lookups over HTTP",
        description=(
            "Start the real-time endpoint: POST /serving-endpoints/{model}/invocations, "
            "POST /feature-tables/{name}/lookup, /healthz, /readyz, /metrics, /docs. Models come from "
            "the MLflow registry (MLFLOW_TRACKING_URI, else the embedded store); features from the "
            "configured online store (FEATURE_STORE_ONLINE_STORE). Tokens: --tokens-file or "
            "FEATURE_STORE_SERVING_TOKENS (lines 'sha256:<hex> <principal>', see serve-token)."
        ),
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME[@ALIAS|/VERSION]",
        help="a model to serve, e.g. churn_model@champion (repeatable; default alias champion)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--tokens-file", help="bearer token hashes and principals, one per line")
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=10.0,
        help="how often to re-resolve model aliases (0: only on POST /admin/reload)",
    )
    p.add_argument(
        "--store-timeout",
        type=float,
        default=0.25,
        help="seconds before an online store call fails with 503, retries included (every store)",
    )
    p.add_argument(
        "--grants-refresh-seconds",
        type=float,
        default=5.0,
        help="how often to re-read grants and group membership (a revoke takes effect within this)",
    )
    p.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    p.add_argument("--max-records", type=int, default=1000)
    p.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs ~10%% at high rates)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (each loads the models; /metrics adds up all of them). "
        "On Kubernetes prefer one per pod and scale pods",
    )
    p.set_defaults(handler=run_serve)  # fmt: skip


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    # One predict per request on 1-100 rows: a thread pool only adds hand-off latency and, on a
    # busy machine, multi-millisecond stalls. Must be set before numpy/sklearn start their pools.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = {"host": args.host, "port": args.port, "loop": "uvloop", "http": "httptools",
               "access_log": args.access_log, "log_level": "info"}  # fmt: skip
    if args.workers <= 1:
        uvicorn.run(build_app(args), **options)
        return 0
    # Worker processes are spawned: each rebuilds the app from these arguments (app_from_environment),
    # and they count into one set of Prometheus files, so /metrics adds up every worker's requests.
    arguments = {k: v for k, v in vars(args).items() if k != "handler"}
    os.environ[SERVE_ARGUMENTS] = json.dumps(arguments)
    metrics_dir = (
        None if os.environ.get(MULTIPROCESS_METRICS_DIR) else tempfile.mkdtemp(prefix="featurestore-")
    )
    if metrics_dir:
        os.environ[MULTIPROCESS_METRICS_DIR] = metrics_dir
    try:
        uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=args.workers, **options)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def app_from_environment() -> Any:
    """The app of one worker process of `featurestore serve --workers N` (uvicorn calls it)."""
    return build_app(argparse.Namespace(**json.loads(os.environ[SERVE_ARGUMENTS])))


def build_app(args: argparse.Namespace) -> Any:
    from feature_store.online.specs import RedisStoreSpec
    from feature_store.serving.app import Limits, create_app
    from feature_store.serving.auth import TokenAuthenticator
    from feature_store.serving.grants import ServingGrants
    from feature_store.serving.models import ModelRef, ModelWatcher

    settings = Settings.from_env()
    settings.configure_mlflow()
    spec = settings.online_store_spec().for_reading()  # a read-only key where the spec has one
    if isinstance(spec, RedisStoreSpec):
        spec = dataclasses.replace(spec, socket_timeout=args.store_timeout, retries=1)
    refs = [ModelRef.parse(m) for m in args.model]
    return create_app(
        ModelWatcher(refs, poll_seconds=args.poll_seconds),
        spec,
        TokenAuthenticator.from_config(args.tokens_file),
        ServingGrants(settings.access_control(), args.grants_refresh_seconds),
        Limits(
            max_body_bytes=args.max_body_bytes,
            max_records=args.max_records,
            store_timeout_seconds=args.store_timeout,
        ),
    )


def add_serve_token(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve-token",
        help="make a bearer token for the serving endpoint",
        description="Print a new random token (give it to the client) and the line that configures its "
        "hash on the server (add it to --tokens-file or FEATURE_STORE_SERVING_TOKENS). The server never "
        "stores the token itself.",
    )
    p.add_argument("--principal", required=True, help="who the token stands for (a user or service)")
    p.set_defaults(handler=run_serve_token)


def run_serve_token(args: argparse.Namespace) -> int:
    from feature_store.serving.auth import new_token

    token, line = new_token(args.principal)
    print(f"token:  {token}")
    print(f"config: {line}")
    return 0
