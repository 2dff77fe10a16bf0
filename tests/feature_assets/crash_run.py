"""One step of the crash-consistency test in a process of its own, to be SIGKILLed mid-run:
`python -m tests.feature_assets.crash_run HOME ASSET FIRST LAST`. Prints READY once Spark and the
definitions are up, then runs the step when GO arrives on stdin (the test starts the process while the
steps before it still run, so its JVM start overlaps them); exits without running it on anything else."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path


def main(home: str, asset: str, first: str, last: str) -> int:
    from feature_store.runtime.spark import build_spark_session
    from tests.feature_assets.crash_graph import run_step

    build_spark_session(master="local[2]", app_name="crash-run", conf={"spark.driver.memory": "1g"})
    import feature_assets.definitions  # noqa: F401  (loaded before READY: the kill lands in the run)

    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return 2
    result = run_step(Path(home), asset, date.fromisoformat(first), date.fromisoformat(last))
    print("DONE" if result.success else "FAILED", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
