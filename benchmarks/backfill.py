"""A year's backfill on this machine: every asset of the churn graph up to the online stores, timed.

What runs is what `make backfill FROM=... TO=...` runs: one single-run range backfill per asset, in
dependency order, on `local[2]` with the embedded SQLite online store: raw_transactions, then for each
feature table its daily tiles, snapshots and online publish. Each range is written a chunk at a time
(FEATURE_STORE_RANGE_CHUNK_DAYS, default 31) and logs its progress after each chunk; those lines are
printed after each asset with the time each chunk took.

Baseline, in the same run: the daily schedule's way, one run per day and asset. It re-runs the last
`--daily-samples` days one partition at a time and extrapolates their median to the whole range, so
the ratio says what one range run per asset buys over a year of daily runs. The re-run of the last
day must leave that day's customer snapshot rows as the range wrote them (exact, but doubles to 1e-9
relative: a range sums in another order); if it does not, or a run fails, the benchmark says FAILED
and reports no ratio.

    .venv/bin/python benchmarks/backfill.py             # 10M transactions, 50k customers, 365 days
    .venv/bin/python benchmarks/backfill.py --small     # 200k transactions, 2k customers, 30 days

Landed files are generated once and cached under benchmarks/.data/ (shared with scale_out.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from scale_out import DATA_DIR, LAST_DAY, SHUFFLE, SMALL, ensure_landing  # noqa: E402

TARGET_MINUTES = 10


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", action="store_true", help=f"quick run: {SMALL}")
    p.add_argument("--customers", type=int, default=50_000)
    p.add_argument("--transactions", type=int, default=10_000_000, help="total over all days")
    p.add_argument("--days", type=int, default=365, help=f"days of history, ending {LAST_DAY}")
    p.add_argument("--products", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--memory", default="8g", help="driver heap (local[2])")
    p.add_argument("--daily-samples", type=int, default=3, help="days re-run one by one for the baseline")
    p.add_argument("--keep", action="store_true", help="keep the output tables under .data/")
    args = p.parse_args()
    if args.small:
        for key, value in SMALL.items():
            setattr(args, key, value)
    return args


def asset_order(feature_tables) -> list[str]:
    keys = ["raw_transactions"]
    for spec in feature_tables:
        keys += [spec.tiles_table.split(".")[1], spec.short_name, f"{spec.short_name}_online"]
    return keys


def main() -> int:
    args = parse_args()
    landing = ensure_landing(args)
    first = LAST_DAY - timedelta(days=args.days - 1)
    os.environ["FEATURE_STORE_START_DATE"] = first.isoformat()  # read when the partitions are defined

    import dagster as dg
    import numpy as np

    from examples.churn.repo import FEATURE_TABLES
    from feature_assets.definitions import all_assets
    from feature_store.runtime.progress import chunk_days
    from resources import (
        DeltaLakeResource,
        LocalLandingZoneResource,
        MLflowResource,
        SparkResource,
        SqliteOnlineStoreResource,
    )

    home = Path(tempfile.mkdtemp(prefix="backfill-", dir=DATA_DIR))
    spark = SparkResource(master="local[2]", app_name="backfill-benchmark",
                          conf={**SHUFFLE, "spark.driver.memory": args.memory})  # fmt: skip
    resources = {
        "spark": spark,
        "delta": DeltaLakeResource(root=str(home / "delta")),
        "landing": LocalLandingZoneResource(root=str(landing)),
        "online_store": SqliteOnlineStoreResource(path=str(home / "online.db")),
        "mlflow_tracking": MLflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}"),
    }
    session = spark.get_session()  # outside the timing, as in a running code location
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    print(f"# backfill benchmark: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{first}..{LAST_DAY} ({args.days} days), {args.customers:,} customers, {args.products:,} products, "
          f"chunks of {chunk_days()} days, driver {args.memory}\n")  # fmt: skip

    def run(key: str, **partitions) -> tuple[float, list]:
        instance = dg.DagsterInstance.ephemeral()
        started = time.perf_counter()
        result = dg.materialize(all_assets, selection=[key], resources=resources, run_config=quiet,
                                instance=instance, raise_on_error=False, **partitions)  # fmt: skip
        seconds = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"FAILED: {key} {partitions}")
        return seconds, [e for e in instance.all_logs(result.run_id) if " days (" in (e.user_message or "")]

    def day_rows(day: date):
        """The customer snapshot of `day`, sorted by key, as pandas."""
        spec = FEATURE_TABLES[0]
        df = resources["delta"].tables(session).read_days(spec.name, day, day)
        return df.toPandas().sort_values(list(spec.keys)).reset_index(drop=True)

    def differences(before, after) -> str | None:
        """None if the two are the same rows: exact on every column but doubles, which may differ in the
        last bits (a range sums a day's windows in another order than a daily run) up to 1e-9 relative."""
        if list(before.columns) != list(after.columns) or len(before) != len(after):
            return f"{len(before)} rows / {list(before.columns)} -> {len(after)} rows / {list(after.columns)}"
        for column in before.columns:
            a, b = before[column], after[column]
            if a.dtype.kind == "f":
                same = np.isclose(a, b, rtol=1e-9, atol=0, equal_nan=True)
            else:
                same = (a == b) | (a.isna() & b.isna())
            if not same.all():
                return f"column {column}: {int((~same).sum())} rows differ"
        return None

    keys = asset_order(FEATURE_TABLES)
    range_tags = {"dagster/asset_partition_range_start": first.isoformat(),
                  "dagster/asset_partition_range_end": LAST_DAY.isoformat()}  # fmt: skip
    timings: dict[str, float] = {}
    failed = None
    try:
        for key in keys:
            print(f"{key}: range {first}..{LAST_DAY} ...", flush=True)
            seconds, progress = run(key, tags=range_tags)
            timings[key] = seconds
            previous = None
            for entry in progress:
                chunk = "" if previous is None else f" (+{entry.timestamp - previous:.0f}s)"
                print(f"    {entry.user_message}{chunk}")
                previous = entry.timestamp
            print(f"  {seconds:.1f}s", flush=True)
        before = day_rows(LAST_DAY)
        daily: dict[str, list[float]] = {key: [] for key in keys}
        for offset in range(args.daily_samples - 1, -1, -1):
            day = LAST_DAY - timedelta(days=offset)
            for key in keys:
                daily[key].append(run(key, partition_key=day.isoformat())[0])
            print(f"daily runs of {day}: {sum(daily[k][-1] for k in keys):.1f}s", flush=True)
        differ = differences(before, day_rows(LAST_DAY))
        if differ:
            failed = f"the daily re-run of {LAST_DAY} changed its snapshot rows: {differ}"
        else:
            print(
                f"the daily re-run of {LAST_DAY} left its {len(before):,} snapshot rows as the range wrote them"
            )
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)

    total = sum(timings.values())
    print(
        f"\n| asset | one range run s | daily run s (median of {args.daily_samples}) | x {args.days} days s | ratio |"
    )
    print("|---|---:|---:|---:|---:|")
    for key in keys:
        median = statistics.median(daily[key])
        print(f"| {key} | {timings[key]:.1f} | {median:.2f} | {median * args.days:.0f} | "
              f"{median * args.days / timings[key]:.1f}x |")  # fmt: skip
    daily_total = sum(statistics.median(daily[k]) for k in keys) * args.days
    print(f"| **all** | **{total:.1f}** | | **{daily_total:.0f}** | **{daily_total / total:.1f}x** |")
    if failed:
        print(f"\nFAILED: {failed}; no ratio stands")
        return 1
    verdict = "met" if total < TARGET_MINUTES * 60 else "missed"
    print(f"\nrange backfill {total / 60:.1f} min: target < {TARGET_MINUTES} min {verdict}; "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
