"""Crash consistency (issue 15): a run SIGKILLed at a random point while it writes, then retried, leaves
every table equal to a clean run's, row for row, with nothing duplicated or lost, and the online store
holding each key's latest row. One asset kind at a time: raw ingest, tiles, snapshots, online publish,
training set, scores and drift; each killed run is a process of its own (its Spark JVM dies with it).

Kill times are drawn from a seeded RNG (FEATURE_STORE_CRASH_SEED to replay another draw): a uniform
fraction of the step's duration in the clean run, counted from the moment the killed process is ready
to run it. A process that finishes before its kill time is run again with half the delay."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.feature_assets.crash_graph import STEPS, contents, generate_landing, run_step
from tests.spark_cluster import stop_group

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
KILLED = ["raw_transactions", "customer_daily_tiles", "customer_features", "customer_features_online",
          "churn_training_set", "churn_scores", "customer_features_drift"]  # fmt: skip
SEED = int(os.environ.get("FEATURE_STORE_CRASH_SEED", "20261130"))


class StepProcess:
    """A step in a new process group, started ahead of its turn so its JVM warms up while the steps
    before it run; `kill_during` lets it run and SIGKILLs the group."""

    def __init__(self, home: Path, asset: str, first: date, last: date, log: Path) -> None:
        self.asset = asset
        with open(log, "a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.feature_assets.crash_run", str(home), asset, str(first), str(last)],
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, text=True,
                start_new_session=True,
            )  # fmt: skip
        self.log = log

    def kill_during(self, delay: float) -> bool:
        """Wait until it is ready, let it run the step and SIGKILL the group `delay` s later; False when
        the step finished first."""
        try:
            deadline = time.monotonic() + 240
            while True:
                ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
                line = self.proc.stdout.readline() if ready else ""
                if line.strip() == "READY":
                    break
                if not ready or self.proc.poll() is not None:
                    raise AssertionError(f"{self.asset}: the process never got ready; see {self.log}")
            self.proc.stdin.write("GO\n")
            self.proc.stdin.flush()
            time.sleep(delay)
            if self.proc.poll() is not None:
                return False
            os.killpg(self.proc.pid, signal.SIGKILL)
            return True
        finally:
            self.close()

    def close(self) -> None:
        stop_group(self.proc)  # the whole group, its JVM included, is gone before the retry starts


def test_every_asset_kind_killed_mid_write_then_retried_equals_a_clean_run(spark, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    log = tmp_path / "killed-runs.log"
    for home in (reference, crashed):
        generate_landing(home)
    killed_steps = [step for step in STEPS if step[0] in KILLED]
    # The next step to kill always has a process warming up: its JVM start overlaps the runs before it.
    warming = [StepProcess(crashed, *killed_steps[0], log)]
    durations: dict[str, float] = {}
    drift: dict[str, object] = {}
    for asset, first, last in STEPS:
        started = time.monotonic()
        result = run_step(reference, asset, first, last)
        assert result.success, f"clean run of {asset} failed"
        durations[asset] = time.monotonic() - started
        if asset.endswith("_drift"):
            drift["reference"] = result.asset_materializations_for_node(asset)[-1].metadata["drifted_share"]

    kills = []
    try:
        for asset, first, last in STEPS:
            if asset in KILLED:
                process = warming.pop()
                fraction = rng.uniform(0.1, 0.9)
                delay = fraction * durations[asset]
                while not process.kill_during(delay):
                    delay /= 2  # the cold process was quicker than the draw: kill it earlier
                    process = StepProcess(crashed, asset, first, last, log)
                kills.append(f"{asset} at {delay:.1f}s of ~{durations[asset]:.1f}s")
                index = killed_steps.index((asset, first, last))
                if index + 1 < len(killed_steps):
                    warming.append(StepProcess(crashed, *killed_steps[index + 1], log))
            result = run_step(crashed, asset, first, last)  # the retry, or the plain run of a step not killed
            assert result.success, f"{asset}: the retry after the kill failed ({kills[-1] if kills else ''})"
            if asset.endswith("_drift"):
                drift["crashed"] = result.asset_materializations_for_node(asset)[-1].metadata["drifted_share"]
    finally:
        for process in warming:
            process.close()

    expected, got = contents(spark, reference), contents(spark, crashed)
    assert sorted(got) == sorted(expected), f"tables differ; kills: {kills}"
    for name in expected:
        assert got[name] == expected[name], (
            f"{name} differs from the clean run's; kills (seed {SEED}): {kills}"
        )
    assert drift["crashed"] == drift["reference"]
