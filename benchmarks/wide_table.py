"""Benchmark: a wide declared feature table (40 features) vs the churn example's 14-feature table, on
the same data and snapshot day, both tiled.

Run from the repo root:

    .venv/bin/python benchmarks/wide_table.py --small     # 200k transactions, 120 days
    .venv/bin/python benchmarks/wide_table.py             # windows.py's full size (10M, 365 days)

Data: windows.py's cached raw transactions, widened once per run (outside the timing) with three more
columns derived from each transaction id: `items` (1..5), `discount` (0..25% of the amount) and
`channel` (web or store). Both tables read this wide raw table.

- narrow: the churn example's customer table, 3 features (count, sum, avg of amount) x 4 windows
  {7,14,30,90}, plus its activity columns: 14 feature columns.
- wide: 10 features x the same 4 windows = 40 feature columns, over 3 value columns (amount, items,
  discount) and product_id: count; sum, avg, max, stddev of amount; sum of items; avg of discount;
  approximate distinct products; and two filtered features (web revenue; largest discount on baskets
  of 3+ items). Its tiles carry count, sum, m2, max, HLL sketch and filtered components.

Each variant computes tile D from raw day D and snapshot D from the tiles D-90..D, both written to
Delta (the tiles of earlier days are written once beforehand, as production has them). One warm-up,
then --repeats timed runs, round-robin; medians. Target: wide <= 2x narrow.

Correctness: every feature of the wide snapshot for D, for every customer, is compared with a direct
aggregation of the raw rows of its window (a plain Spark groupBy, not tiles): exact for counts, min,
max and filtered values, 1e-9 relative for sums, means, stddev; distinct counts within 4 standard
errors of the sketch. Any mismatch fails the run and no ratio is reported as a win.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from pyspark.sql import functions as F  # noqa: E402
from windows import (  # noqa: E402
    DATA_DIR,
    LAST_DAY,
    RAW,
    bench_session,
    ensure_dataset,
    fmt_parts,
    machine,
    parse_args,
    tiled_run,
)

from examples.churn.repo import CUSTOMER_FEATURES, TRANSACTIONS  # noqa: E402
from feature_store.declarations import HLL_RELATIVE_STANDARD_ERROR, Column, Feature  # noqa: E402
from feature_store.offline.delta_tables import DeltaTables  # noqa: E402
from feature_store.offline.feature_tables import catalog_properties, write_tiles  # noqa: E402
from feature_store.offline.ingest import raw_table_columns  # noqa: E402
from feature_store.offline.windowed import tile_schema  # noqa: E402

TARGET_WIDE_OVER_NARROW = 2.0
WINDOWS = (7, 14, 30, 90)
WIDE_SOURCE = dataclasses.replace(
    TRANSACTIONS,
    table="raw.transactions_wide",
    columns=(
        *TRANSACTIONS.columns,
        Column("items", "int", "Items in the basket"),
        Column("discount", "double", "Discount granted"),
        Column("channel", "string", "web or store"),
    ),
)
WIDE_FEATURES = (
    Feature("txn_count", "count", windows=WINDOWS),
    Feature("total_spend", "sum", "amount", windows=WINDOWS),
    Feature("avg_spend", "avg", "amount", windows=WINDOWS),
    Feature("max_spend", "max", "amount", windows=WINDOWS),
    Feature("spend_sd", "stddev", "amount", windows=WINDOWS),
    Feature("items", "sum", "items", windows=WINDOWS),
    Feature("avg_discount", "avg", "discount", windows=WINDOWS),
    Feature("products", "approx_count_distinct", "product_id", windows=WINDOWS),
    Feature("web_spend", "sum", "amount", windows=WINDOWS, where="channel = 'web'"),
    Feature("max_big_basket_discount", "max", "discount", windows=WINDOWS, where="items >= 3"),
)
NARROW = dataclasses.replace(CUSTOMER_FEATURES, name="bench.narrow_features", source=WIDE_SOURCE)
WIDE = dataclasses.replace(
    CUSTOMER_FEATURES, name="bench.wide_features", source=WIDE_SOURCE, features=WIDE_FEATURES
)

# The oracle: each feature straight from the raw rows of its window.
ORACLE = {
    "count": lambda f: F.count(F.when(_keep(f), F.lit(1))),
    "sum": lambda f: F.sum(F.when(_keep(f), F.col(f.column)).cast("double")),
    "avg": lambda f: F.avg(F.when(_keep(f), F.col(f.column))),
    "max": lambda f: F.max(F.when(_keep(f), F.col(f.column))),
    "stddev": lambda f: F.stddev_samp(F.when(_keep(f), F.col(f.column))),
    "approx_count_distinct": lambda f: F.count_distinct(F.when(_keep(f), F.col(f.column))),
}


def _keep(feature: Feature):
    return F.expr(feature.where) if feature.where else F.lit(True)


def widen(raw: DeltaTables, out: DeltaTables) -> int:
    """The wide raw table, under this run's root (setup, not timed)."""
    rows = raw.read(RAW)
    h = F.abs(F.xxhash64("transaction_id"))
    wide = rows.withColumns({
        "items": (h % 5 + 1).cast("int"),
        "discount": F.round(F.col("amount") * (F.abs(F.xxhash64("transaction_id", F.lit("d"))) % 26) / 100, 2),
        "channel": F.when(h % 3 == 0, "web").otherwise("store"),
    })  # fmt: skip
    out.ensure(WIDE_SOURCE.table, raw_table_columns(WIDE_SOURCE), ["date"])
    wide.select(*WIDE_SOURCE.column_names, "date").write.format("delta").mode("overwrite").save(
        out.path(WIDE_SOURCE.table)
    )
    return out.read(WIDE_SOURCE.table).count()


def check_wide(out: DeltaTables, day: date) -> list[str]:
    """Every wide feature of every customer on D against the raw rows of its window."""
    snapshot = out.read_days(WIDE.name, day, day)
    problems: list[str] = []
    for n in WINDOWS:
        events = out.read_days(WIDE_SOURCE.table, day - timedelta(days=n - 1), day)
        expected = events.groupBy("customer_id").agg(
            *(ORACLE[f.aggregation](f).alias(f"{f.name}_{n}d") for f in WIDE_FEATURES)
        )
        columns = [f"{f.name}_{n}d" for f in WIDE_FEATURES]
        got = snapshot.select("customer_id", *(F.col(c).alias(f"got_{c}") for c in columns))
        joined = expected.join(got, "customer_id", "full_outer").collect()
        for row in joined:
            for f in WIDE_FEATURES:
                c = f"{f.name}_{n}d"
                want, have = row[c], row[f"got_{c}"]
                if not _agrees(f.aggregation, want, have):
                    problems.append(f"{row['customer_id']} {c}: raw {want!r}, table {have!r}")
    return problems


def _agrees(aggregation: str, want, have) -> bool:
    if want is None or have is None:
        # a key absent from the window: no row (None) or zero/null features are the same answer
        return (want or 0) == (have or 0)
    if aggregation == "approx_count_distinct":
        return abs(have - want) <= max(1.0, 4 * HLL_RELATIVE_STANDARD_ERROR * want)
    if aggregation in ("count", "max"):
        return want == have
    return abs(have - want) <= 1e-9 * max(1.0, abs(want))


def main() -> int:
    args = parse_args()
    run_dir = DATA_DIR / "runs" / f"wide-{os.getpid()}"
    spark = bench_session(args, "bench-wide-table")
    print("machine:", machine())
    raw, info = ensure_dataset(spark, args)
    out = DeltaTables(spark, str(run_dir))
    day, start = LAST_DAY, date.fromisoformat(info["start"])
    t0 = time.perf_counter()
    wide_rows = widen(raw, out)
    for spec in (NARROW, WIDE):
        write_tiles(out, spec, start, day - timedelta(days=1))
        out.ensure(spec.name, spec.schema(), ["date"], properties=catalog_properties(spec))
    print(
        f"setup: wide raw table ({wide_rows:,} rows) and tiles before {day} in {time.perf_counter() - t0:.1f}s"
    )

    variants = {
        f"narrow: {len(NARROW.feature_columns())} features, {len(tile_schema(NARROW))} tile columns": tiled_run(
            out, out, NARROW, NARROW.tiles_table, day
        ),
        f"wide: {len(WIDE.feature_columns())} features, {len(tile_schema(WIDE))} tile columns": tiled_run(
            out, out, WIDE, WIDE.tiles_table, day
        ),
    }
    for name, run in variants.items():
        print(f"warm-up {name}: {sum(run().values()):.2f}s", flush=True)
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for r in range(args.repeats):
        for name, run in variants.items():
            t = run()
            timings[name].append(t)
            print(f"  run {r + 1}/{args.repeats} {name}: {sum(t.values()):.2f}s {fmt_parts(t)}", flush=True)

    problems = check_wide(out, day)
    medians = {name: statistics.median(sum(t.values()) for t in ts) for name, ts in timings.items()}
    print(f"\nSnapshot day D = {day}; raw: {wide_rows:,} rows {info['start']}..{info['end']}; "
          f"{args.repeats} timed runs after a warm-up; local[{os.cpu_count()}]\n")  # fmt: skip
    print("| variant | median s | min s | max s | median parts |")
    print("|---|---:|---:|---:|---|")
    for name, ts in timings.items():
        totals = [sum(t.values()) for t in ts]
        parts = {k: statistics.median(t[k] for t in ts) for k in ts[0]}
        print(
            f"| {name} | {medians[name]:.2f} | {min(totals):.2f} | {max(totals):.2f} | {fmt_parts(parts)} |"
        )
    narrow, wide = medians.values()
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    spark.stop()
    if problems:
        print(
            f"\nCHECK FAILED: {len(problems)} wide feature values differ from the raw rows; no ratio reported"
        )
        for p in problems[:20]:
            print("  ", p)
        return 1
    ratio = wide / narrow
    verdict = "met" if ratio <= TARGET_WIDE_OVER_NARROW else "MISSED"
    print(f"\n| ratio | value | target |\n|---|---:|---|\n| wide / narrow | {ratio:.2f}x | "
          f"<= {TARGET_WIDE_OVER_NARROW:g}x {verdict} |")  # fmt: skip
    print(f"\ncheck: every customer's 40 wide features on {day}, for each window, equal the raw rows' direct "
          "aggregation (distinct counts within 4 sketch standard errors)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
