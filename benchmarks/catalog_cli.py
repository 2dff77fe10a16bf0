"""The catalog commands a person types: `featurestore tables` and `featurestore describe NAME`, each a
fresh process as from a shell, on the demo's data dir (run `make demo` once).

Contender: the commands as shipped (the Delta log read by delta-rs, no JVM). Baseline: the same
answers from the Spark-backed FeatureStoreClient (`list_tables` + `get_table` per table), which is
what the commands did before, also a fresh process each time. Prints wall-clock medians and the ratio;
the target is under 2 s per command.

    .venv/bin/python benchmarks/catalog_cli.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

SPARK_TABLES = (
    "from feature_store.cli.catalog import start_client; c = start_client(); "
    "[print(n, c.get_table(n).version) for n in c.list_tables()]"
)
SPARK_DESCRIBE = (
    "import sys; from feature_store.cli.catalog import print_description, start_client; "
    "print_description(start_client().get_table(sys.argv[1]))"
)
TABLE = "feature_store.customer_features"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(command)}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    featurestore = [sys.executable, "-m", "feature_store.cli.main"]
    cases = {
        "tables": (featurestore + ["tables"], [sys.executable, "-c", SPARK_TABLES]),
        "describe": (featurestore + ["describe", TABLE], [sys.executable, "-c", SPARK_DESCRIBE, TABLE]),
    }
    print(f"load average {os.getloadavg()}; {args.repeats} runs each, interleaved", flush=True)
    print("| command | ours (delta-rs) s | Spark client s | Spark / ours | target < 2 s |\n|---|---:|---:|---:|---|")
    for name, (ours, spark) in cases.items():
        runs: dict[str, list[float]] = {"ours": [], "spark": []}
        for _ in range(args.repeats):
            runs["ours"].append(timed(ours))
            runs["spark"].append(timed(spark))
        o, s = statistics.median(runs["ours"]), statistics.median(runs["spark"])
        print(f"| {name} | {o:.2f} | {s:.2f} | {s / o:.1f}x | {'met' if o < 2 else 'MISSED'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
