"""`featurestore serve` end to end over real HTTP: a real process, the SQLite default and a real
redis-server, a real MLflow registry (tests/serving/conftest.py builds the world)."""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import CUSTOMERS, MODEL, PRODUCTS, Server, World, start_server, stop_server

pytestmark = pytest.mark.slow

RECORDS = [
    {"customer_id": "C001", "product_id": 1, "basket_size": 2.0},
    {"customer_id": "C039", "product_id": 9, "basket_size": 0.0},
]


def invoke(server: Server, body, headers=None, model: str = MODEL) -> httpx.Response:
    return httpx.post(
        f"{server.url}/serving-endpoints/{model}/invocations",
        json=body,
        headers=server.headers if headers is None else headers,
        timeout=30,
    )


# How the world's model looks its features up (tests/serving/conftest.py train_and_register), restated
# here so the expected features do not come from the server's own lookup plan.
LOOKUPS = [
    (CUSTOMERS, "customer_id", {}, {"visits": 0}),
    (PRODUCTS, "product_id", {"price": "product_price"}, {}),
]


def latest_rows(spark, world: World, table: str, key: str) -> dict:
    """Each key's latest row of the Delta table, read with Spark: what the online store must serve."""
    from feature_store.offline.delta_tables import DeltaTables
    from feature_store.runtime.settings import Settings

    frame = DeltaTables(spark, Settings.from_env(world.env).delta_root).read(table).toPandas()
    latest = frame.sort_values("feature_ts").groupby(key).tail(1)
    return {row[key]: row.drop(labels=[key, "feature_ts"]).to_dict() for _, row in latest.iterrows()}


def expected_predictions(
    spark, world: World, records: list[dict], overrides: dict | None = None
) -> np.ndarray:
    """The champion loaded as a plain pyfunc, on features recomputed from the Delta snapshot rows: each
    key's latest row, renamed and defaulted as the model's lookups say, in the model's column order."""
    from feature_store.runtime.settings import Settings
    from feature_store.training.models import feature_spec

    Settings.from_env(world.env).configure_mlflow()
    uri = f"models:/{MODEL}@champion"
    columns = feature_spec(uri)["model_columns"]
    tables = {table: latest_rows(spark, world, table, key) for table, key, _, _ in LOOKUPS}
    inputs = []
    for record in records:
        row = dict(record)
        for table, key, renames, defaults in LOOKUPS:
            found = tables[table].get(record[key])
            for name, value in (found or {}).items():
                row[renames.get(name, name)] = value
            for name, value in defaults.items():
                row.setdefault(renames.get(name, name), value)
        row.update(overrides or {})
        inputs.append([row.get(c, np.nan) for c in columns])
    # The restated lookups cover every column the model takes besides the request's basket_size.
    assert set(columns) == {"basket_size", "spend", "visits", "avg_basket", "product_price", "return_rate"}
    frame = pd.DataFrame(inputs, columns=columns, dtype=float)
    return mlflow.pyfunc.load_model(uri).predict(frame)


def test_health_ready_metrics_and_openapi(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "alive"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["ready"] and MODEL in ready["models"]
    schema = httpx.get(server.url + "/openapi.json").json()
    assert {"/serving-endpoints/{model}/invocations", "/feature-tables/{name}/lookup", "/healthz",
            "/readyz", "/metrics", "/admin/reload"} <= set(schema["paths"])  # fmt: skip
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    invoke(server, {"dataframe_records": RECORDS})
    metrics = httpx.get(server.url + "/metrics").text
    assert (
        'featurestore_serving_requests_total{route="/serving-endpoints/{model}/invocations",status="200"}'
        in metrics
    )
    assert "featurestore_serving_request_seconds_bucket" in metrics
    assert f'featurestore_serving_model_version{{model="{MODEL}"}}' in metrics


def test_predictions_match_the_model_on_online_features(spark, server: Server, world: World) -> None:
    records = invoke(server, {"dataframe_records": RECORDS})
    assert records.status_code == 200, records.text
    body = records.json()
    assert body["lookup_misses"] == []
    np.testing.assert_allclose(body["predictions"], expected_predictions(spark, world, RECORDS), rtol=1e-9)
    columns = ["customer_id", "product_id", "basket_size"]
    split = invoke(
        server, {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in RECORDS]}}
    )
    assert split.json()["predictions"] == body["predictions"]


def test_unknown_entity_gets_defaults_and_is_reported(spark, server: Server, world: World) -> None:
    records = [{"customer_id": "C999", "product_id": 1, "basket_size": 1.0}, RECORDS[0]]
    body = invoke(server, {"dataframe_records": records}).json()
    assert body["lookup_misses"] == [{"record": 0, "tables": [CUSTOMERS]}]
    np.testing.assert_allclose(body["predictions"], expected_predictions(spark, world, records), rtol=1e-9)


def test_request_supplied_features_are_used_as_given(spark, server: Server, world: World) -> None:
    records = [{**RECORDS[0], "spend": 1e6, "product_price": -5.0}]
    body = invoke(server, {"dataframe_records": records}).json()
    expected = expected_predictions(
        spark, world, [RECORDS[0]], overrides={"spend": 1e6, "product_price": -5.0}
    )
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-9)


def test_feature_table_lookup(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/feature-tables/{CUSTOMERS}/lookup",
        json={
            "entities": [{"customer_id": "C003"}, {"customer_id": "nobody"}],
            "features": ["spend", "visits"],
        },
        headers=server.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == [{"spend": 4.0, "visits": 3}, {"spend": None, "visits": None}]  # the newer day
    assert body["feature_ts"][0].startswith("2025-03-02") and body["feature_ts"][1] is None
    assert body["lookup_misses"] == [{"record": 1, "tables": [CUSTOMERS]}]
    whole = httpx.post(f"{server.url}/feature-tables/{PRODUCTS}/lookup", json={"entities": [{"product_id": 2}]},
                       headers=server.headers).json()  # fmt: skip
    assert whole["rows"] == [{"price": 12.0, "return_rate": pytest.approx(0.2)}]


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no token"),
        ({"Authorization": "Bearer fst_wrong"}, "bad token"),
        ({"Authorization": "Basic abc"}, "not bearer"),
    ],
)
def test_requests_without_a_valid_token_get_401(server: Server, headers: dict, why: str) -> None:
    for response in (
        invoke(server, {"dataframe_records": RECORDS}, headers=headers),
        httpx.post(
            f"{server.url}/feature-tables/{CUSTOMERS}/lookup",
            json={"entities": [{"customer_id": "C001"}]},
            headers=headers,
        ),
        httpx.post(f"{server.url}/admin/reload", headers=headers),
    ):
        assert response.status_code == 401, why
        assert response.json()["error_code"] == "UNAUTHENTICATED"


def _as(world: World, principal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[principal]}"}


def _lookup(server: Server, table: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/feature-tables/{table}/lookup", json={"entities": [{"customer_id": "C001"}]},
                      headers=headers, timeout=30)  # fmt: skip


def test_principals_need_select_on_every_table_the_request_reads(server: Server, world: World) -> None:
    denied = invoke(server, {"dataframe_records": RECORDS}, headers=_as(world, "intruder"))
    assert denied.status_code == 403, denied.text
    body = denied.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert (
        f"'intruder' lacks SELECT on TABLE {CUSTOMERS}, TABLE {PRODUCTS} (needed by serving {MODEL})"
        in body["message"]
    )
    assert _lookup(server, CUSTOMERS, _as(world, "intruder")).status_code == 403

    # SELECT on one of the model's two tables is not enough to score, but enough to look that table up.
    partial = invoke(server, {"dataframe_records": RECORDS}, headers=_as(world, "partial"))
    assert partial.status_code == 403 and f"on TABLE {PRODUCTS} (" in partial.json()["message"]
    assert CUSTOMERS not in partial.json()["message"]
    assert _lookup(server, CUSTOMERS, _as(world, "partial")).status_code == 200

    # Denials reach the audit log (written off the request path, so poll briefly).
    from feature_store.runtime.settings import Settings

    access = Settings.from_env(world.env).access_control()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = access.audit_log(actor="partial", action="DENY")
        if entries:
            break
        time.sleep(0.1)
    assert (
        entries and entries[0].securable == f"TABLE {PRODUCTS}" and entries[0].operation == f"serving {MODEL}"
    )


def test_grants_and_revokes_reach_a_running_server(server: Server, world: World) -> None:
    from feature_store.runtime.settings import Settings

    def status_within(expected: int, seconds: float = 10.0) -> int:
        deadline = time.monotonic() + seconds
        while True:
            status = invoke(
                server, {"dataframe_records": RECORDS}, headers=_as(world, "latecomer")
            ).status_code
            if status == expected or time.monotonic() > deadline:
                return status
            time.sleep(0.2)

    access, admin = Settings.from_env(world.env).access_control(), getpass.getuser()
    exists = lambda name: True  # noqa: E731 (the tables exist: the world created them)
    assert status_within(403, 0) == 403
    for table in (CUSTOMERS, PRODUCTS):
        access.execute(f"GRANT SELECT ON TABLE {table} TO latecomer", admin, exists)
    assert status_within(200) == 200  # the server re-reads grants every 0.5 s in these tests
    access.execute(f"REVOKE SELECT ON TABLE {PRODUCTS} FROM latecomer", admin, exists)
    assert status_within(403) == 403


BAD_REQUESTS = {
    "malformed JSON": (b'{"dataframe_records": [', 400, ["not valid JSON"]),
    "not an object": (b"[1, 2]", 400, ["JSON object"]),
    "no format": (b'{"records": []}', 400, ["dataframe_records", "dataframe_split"]),
    "both formats": (b'{"dataframe_records": [{}], "dataframe_split": {}}', 400, ["got both"]),
    "record not an object": (b'{"dataframe_records": [1]}', 400, ["dataframe_records[0]"]),
    "missing key column": (b'{"dataframe_records": [{"product_id": 1, "basket_size": 1}]}', 400, ["customer_id"]),
    "key of the wrong type": (b'{"dataframe_records": [{"customer_id": 5, "product_id": 1, "basket_size": 1}]}', 400,
                              ["customer_id", "string"]),
    "int key as text": (b'{"dataframe_records": [{"customer_id": "C001", "product_id": "one", "basket_size": 1}]}', 400,
                        ["product_id", "integer"]),
    "model column missing": (b'{"dataframe_records": [{"customer_id": "C001", "product_id": 1}]}', 400, ["basket_size"]),
    "feature of the wrong type": (b'{"dataframe_records": [{"customer_id": "C001", "product_id": 1, "basket_size": "x"}]}',
                                  400, ["basket_size", "number"]),
    "split row too short": (b'{"dataframe_split": {"columns": ["customer_id", "product_id"], "data": [["C001"]]}}', 400,
                            ["dataframe_split.data[0]"]),
    "empty records": (b'{"dataframe_records": []}', 400, ["empty"]),
    "too many records": (b'{"dataframe_records": [' + b",".join([b"{}"] * 1001) + b"]}", 413, ["1001", "1000"]),
    "body too large": (b'{"dataframe_records": [{"customer_id": "' + b"x" * (1024 * 1024) + b'"}]}', 413, ["bytes"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_REQUESTS), ids=list(BAD_REQUESTS))
def test_bad_requests_name_the_problem(server: Server, case: str) -> None:
    body, status, fragments = BAD_REQUESTS[case]
    response = httpx.post(
        f"{server.url}/serving-endpoints/{MODEL}/invocations",
        content=body,
        headers={**server.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_unknown_model_table_or_feature(server: Server) -> None:
    assert invoke(server, {"dataframe_records": RECORDS}, model="nope").status_code == 404
    lookup = f"{server.url}/feature-tables/fs.unpublished/lookup"
    assert httpx.post(lookup, json={"entities": [{"k": 1}]}, headers=server.headers).status_code == 404
    unknown = httpx.post(f"{server.url}/feature-tables/{CUSTOMERS}/lookup", headers=server.headers,
                         json={"entities": [{"customer_id": "C001"}], "features": ["nope"]})  # fmt: skip
    assert unknown.status_code == 400 and "nope" in unknown.json()["message"]


def test_tokens_never_reach_the_log(server: Server, world: World) -> None:
    invoke(server, {"dataframe_records": RECORDS})
    invoke(server, {"dataframe_records": RECORDS}, headers={"Authorization": "Bearer fst_not_a_real_token"})
    log = server.log.read_text()
    assert world.token not in log and "fst_not_a_real_token" not in log


def test_schemathesis_finds_no_server_error(server: Server, world: World) -> None:
    """A bounded schemathesis run (examples, then fuzzed bodies) against the served OpenAPI schema."""
    argv = [
        os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", f"{server.url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "40", "--seed", "7",
        "--header", f"Authorization: Bearer {world.token}", "--suppress-health-check", "all",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_online_store_down_gives_503_fast_and_recovers(world: World) -> None:
    """A hung Redis (SIGSTOP): answers are 503 within the store timeout, not stuck; once Redis is back
    (SIGCONT), requests succeed again without restarting the endpoint."""
    from scripts import devservices

    server = start_server(world, "redis", ["--store-timeout", "0.3"])
    pid = _redis_pid(world)
    try:
        assert invoke(server, {"dataframe_records": RECORDS}).status_code == 200
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.perf_counter()
            responses = [invoke(server, {"dataframe_records": RECORDS}) for _ in range(5)]
            elapsed = time.perf_counter() - started
            assert [r.status_code for r in responses] == [503] * 5
            assert "unavailable" in responses[0].json()["message"]
            assert elapsed < 5, f"5 requests took {elapsed:.1f}s with the store down"
            assert httpx.get(server.url + "/readyz", timeout=10).status_code == 503
        finally:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while invoke(server, {"dataframe_records": RECORDS}).status_code != 200:
            assert time.monotonic() < deadline, "did not recover within 10 s of the store coming back"
            time.sleep(0.2)
        assert devservices.port_open(world.redis_port)
    finally:
        stop_server(server.process)


def test_a_hung_store_stalls_neither_health_nor_metrics_and_costs_one_timeout(world: World) -> None:
    """Store calls run off the event loop with a deadline: while a request waits on a hung Redis,
    /healthz and /metrics answer at once, and the request gets 503 after one store timeout, not the
    two that the client's socket timeout and its retry would cost."""
    timeout = 1.5
    server = start_server(world, "redis", ["--store-timeout", str(timeout)])
    pid = _redis_pid(world)
    try:
        assert invoke(server, {"dataframe_records": RECORDS}).status_code == 200
        os.kill(pid, signal.SIGSTOP)
        try:
            waiting: dict = {}

            def hung_request() -> None:
                started = time.perf_counter()
                waiting["response"] = invoke(server, {"dataframe_records": RECORDS})
                waiting["seconds"] = time.perf_counter() - started

            request = threading.Thread(target=hung_request)
            request.start()
            time.sleep(0.3)  # the request is now waiting on the store
            for path in ("/healthz", "/metrics"):
                started = time.perf_counter()
                assert httpx.get(server.url + path, timeout=10).status_code == 200
                assert time.perf_counter() - started < 0.5, f"{path} waited on the hung store"
            assert request.is_alive(), "the request should still be waiting on the store"
            request.join(20)
            assert waiting["response"].status_code == 503
            assert "no answer within 1.5s" in waiting["response"].json()["message"]
            assert timeout - 0.1 < waiting["seconds"] < 1.6 * timeout, waiting["seconds"]
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        stop_server(server.process)


def _redis_pid(world: World) -> int:
    out = subprocess.run(
        ["redis-cli", "-p", str(world.redis_port), "info", "server"], capture_output=True, text=True
    )
    return int(next(line.split(":")[1] for line in out.stdout.splitlines() if line.startswith("process_id:")))


def test_alias_move_is_picked_up_while_requests_keep_succeeding(spark, world: World) -> None:
    from feature_store.client.core import FeatureStoreClient
    from feature_store.runtime.settings import Settings
    from tests.serving.conftest import train_and_register

    server = start_server(world, "sqlite", ["--poll-seconds", "0.5"])
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(headers=server.headers, timeout=30) as http:
            while not stop.is_set():
                response = http.post(
                    f"{server.url}/serving-endpoints/{MODEL}/invocations", json={"dataframe_records": RECORDS}
                )
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions.add(response.json()["model_version"])

    thread = threading.Thread(target=load)
    thread.start()
    try:
        time.sleep(1)
        new_version = train_and_register(
            FeatureStoreClient(spark=spark, settings=Settings.from_env(world.env)), spark, seed=1
        )
        deadline = time.monotonic() + 60
        while new_version not in versions:
            assert time.monotonic() < deadline, f"version {new_version} never served (saw {versions})"
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
        stop_server(server.process)
    assert statuses and set(statuses) == {200}, f"non-200 answers during the reload: {set(statuses)}"
    assert len(versions) >= 2
    reloaded = start_server(world, "sqlite", ["--poll-seconds", "0"])
    try:
        answer = httpx.post(f"{reloaded.url}/admin/reload", headers=reloaded.headers).json()
        assert answer["models"] == {MODEL: new_version}
    finally:
        stop_server(reloaded.process)


def test_several_workers_answer_alike_and_metrics_add_up(server: Server, world: World) -> None:
    """`--workers 2`: two spawned server processes share the port, answer what one worker answers, and
    /metrics (whichever worker serves it) counts the requests of both."""
    if getattr(server, "store", "sqlite") != "sqlite":
        pytest.skip("one store is enough: the workers share the app, not the store")
    workers = start_server(world, "sqlite", ["--workers", "2", "--poll-seconds", "0"])
    try:
        children = subprocess.run(["ps", "--ppid", str(workers.process.process.pid), "-o", "args="],
                                  capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert children.count("multiprocessing.spawn") == 2, children
        requests = 24
        for i in range(requests):  # a new connection each time: the kernel spreads them over the workers
            body = {"dataframe_records": [RECORDS[i % len(RECORDS)]]}
            got, single = invoke(workers, body), invoke(server, body)
            assert got.status_code == 200, got.text
            assert got.json()["predictions"] == single.json()["predictions"]
        metrics = httpx.get(workers.url + "/metrics").text
        route = (
            'featurestore_serving_requests_total{route="/serving-endpoints/{model}/invocations",status="200"}'
        )
        assert f"{route} {float(requests)}" in metrics, metrics
        assert f'featurestore_serving_model_version{{model="{MODEL}"}}' in metrics
    finally:
        stop_server(workers.process)
