"""The engine on a Spark Connect server (conftest.py): the client's create, merge, read, list and drop;
a training set, score_batch and publish_table (to Redis); one day of the asset graph from raw to online
(Redis: the server's executors can't write the driver's SQLite file). Each scenario (scenarios.py) runs
on the test process's classic local session and, at the same time in a child process, on a Connect
session; the two must observe the same."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.spark_cluster import stop_group
from tests.spark_connect import scenarios

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LOCAL_DB, CONNECT_DB = 5, 6  # Redis databases: one per side


class OnConnect:
    """A scenario on a Connect session in a child process, started before the local run so the two
    overlap (each side mostly waits on its own driver). The sides write Redis databases of their own."""

    def __init__(self, name: str, url: str, home: Path, redis_server) -> None:
        self.out, self.log = home.parent / f"{name}-connect.json", home.parent / f"{name}-connect.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.spark_connect.scenarios", name, url, str(home),
                 str(redis_server.port), str(CONNECT_DB), str(self.out)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def observed(self) -> dict:
        self.proc.wait(timeout=900)
        assert self.proc.returncode == 0, self.log.read_text()[-4000:]
        return json.loads(self.out.read_text())

    def stop(self) -> None:
        stop_group(self.proc)


@pytest.fixture
def on_connect(connect_url: str, tmp_path: Path, redis_server) -> Iterator[Callable[[str], OnConnect]]:
    """`on_connect(scenario)` starts it on the Connect server; a child still running at teardown (the
    local side failed first) is killed."""
    started: list[OnConnect] = []

    def start(name: str) -> OnConnect:
        started.append(OnConnect(name, connect_url, tmp_path / "connect", redis_server))
        return started[-1]

    yield start
    for child in started:
        child.stop()


def local_redis(redis_server) -> SimpleNamespace:
    return SimpleNamespace(host=redis_server.host, port=redis_server.port, db=LOCAL_DB)


def as_json(observed: dict) -> dict:
    return json.loads(json.dumps(observed))


def test_client_calls_equal_local_mode(spark, on_connect, tmp_path):
    connect = on_connect("client")
    local = as_json(scenarios.client_scenario(spark, tmp_path / "local"))
    assert connect.observed() == local
    assert len(local["rows"]) == 6 and local["after_drop"] == [] and len(local["recreated"]) == 1


def test_training_set_score_batch_and_publish_equal_local_mode(spark, on_connect, tmp_path, redis_server):
    connect = on_connect("training")
    local = as_json(scenarios.training_scenario(spark, tmp_path / "local", local_redis(redis_server)))
    assert connect.observed() == local
    assert len(local["training"]) == 16 and local["published"] == [4, 4]


def test_one_day_of_the_asset_graph_equals_local_mode(spark, on_connect, tmp_path, redis_server):
    connect = on_connect("graph")
    local = as_json(scenarios.graph_scenario(tmp_path / "local", local_redis(redis_server), master="local[2]"))
    assert connect.observed() == local
    # The freshness checks judge 2025 data against today's clock: they fail in both modes alike.
    assert local["features"] and all(v for k, v in local["checks"].items() if "freshness" not in k)
