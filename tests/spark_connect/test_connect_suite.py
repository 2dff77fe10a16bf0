"""The engine on a Spark Connect server (conftest.py): the client's create, merge, read, list and drop;
a training set, score_batch and publish_table (to Redis); one day of the asset graph from raw to online
(Redis: the server's executors can't write the driver's SQLite file). Each scenario (scenarios.py) runs
on the test process's classic local session and, in a child process, on a Connect session; the two
must observe the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spark_connect import scenarios

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def on_connect(name: str, url: str, home: Path, redis_server) -> dict:
    out = home.parent / f"{name}-connect.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.spark_connect.scenarios", name, url, str(home), str(redis_server.port),
         str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


def as_json(observed: dict) -> dict:
    return json.loads(json.dumps(observed))


def test_client_calls_equal_local_mode(spark, connect_url, tmp_path, redis_server):
    local = as_json(scenarios.client_scenario(spark, tmp_path / "local"))
    assert on_connect("client", connect_url, tmp_path / "connect", redis_server) == local
    assert len(local["rows"]) == 6 and local["after_drop"] == [] and len(local["recreated"]) == 1


def test_training_set_score_batch_and_publish_equal_local_mode(spark, connect_url, tmp_path, redis_server):
    local = as_json(scenarios.training_scenario(spark, tmp_path / "local", redis_server))
    assert on_connect("training", connect_url, tmp_path / "connect", redis_server) == local
    assert len(local["training"]) == 16 and local["published"] == [4, 4]


def test_one_day_of_the_asset_graph_equals_local_mode(spark, connect_url, tmp_path, redis_server):
    local = as_json(scenarios.graph_scenario(tmp_path / "local", redis_server, master="local[2]"))
    assert on_connect("graph", connect_url, tmp_path / "connect", redis_server) == local
    # The freshness checks judge 2025 data against today's clock: they fail in both modes alike.
    assert local["features"] and all(v for k, v in local["checks"].items() if "freshness" not in k)
