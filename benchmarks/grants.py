"""What enforcing grants costs per call, against not enforcing them, with many grants in the database.

    .venv/bin/python benchmarks/grants.py                 # 10,000 grants, 2,000 calls per variant

Variants (each timed in the same run on the same SQLite governance database):
- admin:            AccessControl.require for an admin: the baseline (no query, the client's fast path)
- client check:     AccessControl.require for a group member reading 2 tables: one indexed query
- serving, cached:  ServingGrants.require_select, the serving endpoint's per-request check
- serving, re-read: the same right after a refresh (the first decision after each re-read)
- poll:             ServingGrants.refresh when nothing changed (a background thread, every
                    --grants-refresh-seconds): one query for the newest change
- reload:           ServingGrants.refresh after a change: reading every grant
Prints the median and p99 per call in microseconds and each variant's ratio to the admin baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from feature_store.governance import AccessConfig, AccessControl, GrantStore
from feature_store.serving.grants import ServingGrants

TABLES = ["feature_store.customer_features", "feature_store.product_features"]


def timed(fn: Callable[[], object], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grants", type=int, default=10_000, help="grants in the database")
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-grants-"))
    users = [f"user{i}" for i in range(200)]
    config = AccessConfig.from_mapping(
        {"admins": ["admin"], "users": users, "groups": {"data-scientists": ["alice"]}}, "bench"
    )
    access = AccessControl(config, GrantStore(f"sqlite:///{home / 'governance.db'}"))
    tables = [f"schema{i % 50}.table{i}" for i in range(args.grants // len(users) + 1)]
    made = 0
    for table in tables:  # other principals' grants on other tables: what a real database holds
        if made >= args.grants:
            break
        access.execute(f"GRANT SELECT ON {table} TO {', '.join(users)}", "admin", lambda name: True)
        made += len(users)
    for table in TABLES:
        access.execute(f"GRANT SELECT ON {table} TO `data-scientists`", "admin", lambda name: True)
    serving = ServingGrants(access, refresh_seconds=0)  # refreshed by hand below
    serving.refresh()

    def reload() -> None:
        serving._version = -1  # as if a GRANT had just been made
        serving.refresh()

    def reread() -> None:
        serving._snapshot.missing.clear()  # the decision cache, as a refresh leaves it
        serving.require_select("alice", TABLES, "bench")

    variants = {
        "admin": lambda: access.require("admin", "read_table", TABLES),
        "client check": lambda: access.require("alice", "create_training_set", TABLES),
        "serving, cached": lambda: serving.require_select("alice", TABLES, "bench"),
        "serving, re-read": reread,
        "poll": serving.refresh,
        "reload": reload,
    }
    print(f"{len(access.store.grants())} grants in {home / 'governance.db'}; {args.calls} calls per variant")
    results = {}
    for name, fn in variants.items():
        calls = args.calls if name != "reload" else max(args.calls // 100, 5)
        samples = sorted(timed(fn, calls))
        results[name] = (statistics.median(samples), samples[int(len(samples) * 0.99) - 1])
    base = results["admin"][0]
    print(f"\n{'variant':18} {'median us':>10} {'p99 us':>10} {'x admin':>8}")
    for name, (median, p99) in results.items():
        print(f"{name:18} {median:>10.1f} {p99:>10.1f} {median / base:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
