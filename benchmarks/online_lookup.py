"""Online lookup latency: our stores vs raw redis-py doing the minimal equivalent reads, in one run.

Data: 2 feature tables x 50k keys (`customers` keyed by int, `products` by str), 15 features each (12
floats, an int, a str, a bool): 30 features per entity. A lookup of N entities reads N keys from each
table in one `store.read` call and gets decoded, typed rows back.

Baselines (keys pre-built, values left as raw bytes, nothing decoded), on the same Redis, same keys:
- raw MGET: one MGET of all keys (what our store sends, minus building keys and decoding). This is the
  floor the targets refer to: the cheapest way redis-py fetches these rows.
- raw GET pipeline: `pipeline(transaction=False)` with one GET per key (2-3x the MGET in redis-py).
- raw HGETALL pipeline: the same rows stored as hashes (Feast's layout), one HGETALL per key.
Target (vs the MGET floor): p50 <= 1.5x. Sampling interleaves contenders and baselines.

    .venv/bin/python benchmarks/online_lookup.py            # starts redis / cosmos servers if absent

SQLite is a file in a temp dir. Cosmos runs against the @vercel/cosmosdb-server emulator, whose queries
scan the whole container per request (O(items x ids)), so it gets fewer keys and samples and its
numbers say nothing about Azure Cosmos DB.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feature_store.online import OnlineStore, ReadRequest  # noqa: E402
from feature_store.online.encoding import encode_key  # noqa: E402
from feature_store.online.lookup import BoundLookup, OnlineLookupPlan  # noqa: E402
from scripts import devservices  # noqa: E402

SIZES = (1, 100, 1000)
TABLES = ("bench_customers", "bench_products")
DAY = datetime(2025, 6, 1, tzinfo=UTC)


def make_rows(n: int, seed: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)

    def features(prefix: str) -> dict:
        out = {f"{prefix}_f{j}": rng.random() * 1000 for j in range(12)}
        out.update({f"{prefix}_count": rng.randrange(10**6), f"{prefix}_segment": rng.choice("ABCDE") * 3})
        out[f"{prefix}_active"] = rng.random() < 0.5
        return out

    customers = [
        {"customer_id": i, "feature_ts": DAY + timedelta(days=i % 3), **features("c")} for i in range(n)
    ]
    products = [{"sku": f"sku-{i:06d}", "feature_ts": DAY, **features("p")} for i in range(n)]
    return customers, products


def load(store: OnlineStore, customers: list[dict], products: list[dict], batch: int = 5000) -> float:
    started = time.perf_counter()
    for table, key, rows in ((TABLES[0], "customer_id", customers), (TABLES[1], "sku", products)):
        store.drop_table(table)
        for i in range(0, len(rows), batch):
            store.write_batch(table, [key], rows[i : i + batch])
    return time.perf_counter() - started


def entity_sets(n_keys: int, size: int, count: int, seed: int) -> list[tuple[list[int], list[str]]]:
    rng = random.Random(seed + size)
    out = []
    for _ in range(count):
        ids = rng.sample(range(n_keys), size)
        out.append((ids, [f"sku-{i:06d}" for i in ids]))
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def measure(
    fns: dict[str, Callable[[tuple], object]], sets: list[tuple], warmup: int = 5
) -> dict[str, list[float]]:
    """Time each contender on the same entity sets, rotating the order per sample to share noise."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for i, entities in enumerate(sets):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            started = time.perf_counter()
            fns[name](entities)
            if i >= warmup:
                times[name].append(time.perf_counter() - started)
    return times


def store_lookup(store: OnlineStore) -> Callable[[tuple], object]:
    def run(entities: tuple) -> object:
        result = store.read([ReadRequest(TABLES[0], entities[0]), ReadRequest(TABLES[1], entities[1])])
        assert result[0].rows[0] is not None and result[1].rows[-1] is not None
        return result

    return run


def lookup_plan() -> OnlineLookupPlan:
    """What FeatureStoreClient.get_online_features executes after its first call (the plan is cached)
    and what the serving endpoint holds: entity rows in, renamed features + feature_ts + misses out."""

    def bound(table: str, key: str, kind: type, prefix: str) -> BoundLookup:
        names = [
            *(f"{prefix}_f{j}" for j in range(12)),
            f"{prefix}_count",
            f"{prefix}_segment",
            f"{prefix}_active",
        ]
        return BoundLookup(table, (key,), (kind,), tuple((n, n) for n in names), (None,) * len(names))

    return OnlineLookupPlan([bound(TABLES[0], "customer_id", int, "c"), bound(TABLES[1], "sku", str, "p")])


def plan_lookup(store: OnlineStore) -> Callable[[tuple], object]:
    plan = lookup_plan()
    rows_for: dict[int, list[dict]] = {}

    def run(entities: tuple) -> object:
        rows = rows_for.get(id(entities))
        if rows is None:  # built once per entity set, outside the timing loop's concern (a request body)
            rows = rows_for[id(entities)] = [
                {"customer_id": c, "sku": p} for c, p in zip(entities[0], entities[1], strict=True)
            ]
        result = plan.execute(store, rows)
        assert not result.missing[0]
        return result

    return run


def redis_baselines(client) -> dict[str, Callable[[tuple], object]]:
    prefixes = [f"fs:{t}:" for t in TABLES]

    def keys(entities: tuple) -> list[str]:
        # Built outside the timed call for the baselines: the floor gets its keys for free.
        return [prefixes[0] + encode_key(k) for k in entities[0]] + [
            prefixes[1] + encode_key(k) for k in entities[1]
        ]

    def get_pipeline(prebuilt: list[str]) -> object:
        pipe = client.pipeline(transaction=False)
        for k in prebuilt:
            pipe.get(k)
        return pipe.execute()

    def hgetall_pipeline(prebuilt: list[str]) -> object:
        pipe = client.pipeline(transaction=False)
        for k in prebuilt:
            pipe.hgetall("h" + k)
        return pipe.execute()

    return {
        "raw GET pipeline": (keys, get_pipeline),
        "raw MGET": (keys, client.mget),
        "raw HGETALL pipeline": (keys, hgetall_pipeline),
    }


def load_hashes(client, customers: list[dict], products: list[dict]) -> None:
    """The same rows as hashes (Feast-style layout) for the HGETALL floor."""
    for table, key, rows in ((TABLES[0], "customer_id", customers), (TABLES[1], "sku", products)):
        pipe = client.pipeline(transaction=False)
        for n, row in enumerate(rows):
            mapping = {k: str(v) for k, v in row.items() if k != key}
            pipe.hset(f"hfs:{table}:{encode_key(row[key])}", mapping=mapping)
            if n % 5000 == 4999:
                pipe.execute()
        pipe.execute()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--cosmos-keys", type=int, default=5_000)
    parser.add_argument(
        "--samples", type=int, nargs=3, default=[2000, 1000, 300], metavar=("N1", "N100", "N1000")
    )
    parser.add_argument("--cosmos-samples", type=int, nargs=3, default=[100, 30, 8])
    parser.add_argument("--stores", default="redis,sqlite,cosmos")
    args = parser.parse_args()
    stores = args.stores.split(",")
    root = Path(
        os.environ.get("FEATURE_STORE_SERVICES_DIR", Path(__file__).resolve().parents[1] / ".services")
    )
    state = Path(tempfile.mkdtemp(prefix="online-bench-"))

    def loaded(load_into: Callable[[list[dict], list[dict]], float], n: int = args.keys) -> float:
        """Load freshly made rows and drop them before timing: a serving process does not hold the source
        rows, and 100k dicts left on the heap would make every garbage collection during a read (ours
        allocates a dict per row; raw MGET only bytes) scan them."""
        customers, products = make_rows(n, seed=7)
        seconds = load_into(customers, products)
        del customers, products
        gc.collect()
        return seconds
    print(
        f"# online lookup benchmark: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{args.keys} keys x 2 tables, 15 features each; lookups of N entities read both tables in one call\n"
    )
    print("| store | entities | p50 ms | p99 ms | p50 vs MGET floor | p99 vs MGET floor |")
    print("|---|---|---|---|---|---|")
    floor: dict[int, tuple[float, float]] = {}

    def report(name: str, size: int, samples: list[float]) -> None:
        p50, p99 = percentiles(samples)
        base = floor.get(size)
        ratio = f"{p50 / base[0]:.2f}x | {p99 / base[1]:.2f}x" if base else "- | -"
        print(f"| {name} | {size} | {p50:.3f} | {p99:.3f} | {ratio} |", flush=True)

    loads = []
    if "redis" in stores:
        import redis

        from feature_store.online.redis_store import RedisOnlineStore

        with devservices.running("redis", root, state, reuse_port=devservices.DEFAULT_PORTS["redis"]) as svc:
            store = RedisOnlineStore(svc.host, svc.port)
            client = redis.Redis(svc.host, svc.port)

            def load_both(c: list[dict], p: list[dict]) -> float:
                seconds = load(store, c, p)
                load_hashes(client, c, p)  # the HGETALL floor's rows; not part of the load time
                return seconds

            loads.append(("redis", loaded(load_both)))
            baselines = redis_baselines(client)
            for size, count in zip(SIZES, args.samples, strict=True):
                sets = entity_sets(args.keys, size, count, seed=1)
                prebuilt = {id(s): baselines["raw GET pipeline"][0](s) for s in sets}
                fns = {name: (lambda s, f=f, p=prebuilt: f(p[id(s)])) for name, (_, f) in baselines.items()}
                fns["ours: RedisOnlineStore.read"] = store_lookup(store)
                fns["ours: get_online_features plan"] = plan_lookup(store)
                for s in sets:  # build each set's entity rows before timing
                    fns["ours: get_online_features plan"](s)
                times = measure(fns, sets)
                floor[size] = percentiles(times["raw MGET"])
                for name in (
                    "raw MGET",
                    "raw GET pipeline",
                    "raw HGETALL pipeline",
                    "ours: RedisOnlineStore.read",
                    "ours: get_online_features plan",
                ):
                    report(name, size, times[name])
            for table in TABLES:
                store.drop_table(table)
                for key in client.scan_iter(match=f"hfs:{table}:*", count=5000):
                    client.unlink(key)
            store.close()
    if "sqlite" in stores:
        from feature_store.online.sqlite_store import SqliteOnlineStore

        store = SqliteOnlineStore(state / "online.db")
        loads.append(("sqlite", loaded(lambda c, p: load(store, c, p))))
        for size, count in zip(SIZES, args.samples, strict=True):
            sets = entity_sets(args.keys, size, count, seed=1)
            plan = plan_lookup(store)
            for s in sets:
                plan(s)
            times = measure({"sqlite": store_lookup(store), "plan": plan}, sets)
            report("ours: SqliteOnlineStore.read", size, times["sqlite"])
            report("ours: get_online_features plan (sqlite)", size, times["plan"])
        store.close()
    if "cosmos" in stores:
        from feature_store.online.cosmos_store import CosmosOnlineStore

        n = min(args.cosmos_keys, args.keys)
        with devservices.running(
            "cosmos", root, state, reuse_port=devservices.DEFAULT_PORTS["cosmos"]
        ) as svc:
            store = CosmosOnlineStore(
                svc.url,
                devservices.COSMOS_EMULATOR_KEY,
                database="online_bench",
                enable_endpoint_discovery=False,
                use_env_proxies=False,
            )
            loads.append((f"cosmos emulator ({n} keys/table)", loaded(lambda c, p: load(store, c, p), n)))
            for size, count in zip(SIZES, args.cosmos_samples, strict=True):
                times = measure(
                    {"cosmos": store_lookup(store)}, entity_sets(n, size, count, seed=1), warmup=2
                )
                report(f"ours: CosmosOnlineStore.read (emulator, {n} keys)", size, times["cosmos"])
            store._client.delete_database("online_bench")
            store.close()
    print()
    for name, seconds in loads:
        rows = 2 * (min(args.cosmos_keys, args.keys) if name.startswith("cosmos") else args.keys)
        print(f"- load {name}: {rows} rows in {seconds:.1f}s ({rows / seconds:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
