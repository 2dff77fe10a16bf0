"""Soak: `featurestore serve` under steady load for 10 minutes, with a model alias move and a GRANT/REVOKE
while it runs (issue 15, serving under stress).

    make demo                                   # once: data, published features, the champion model
    .venv/bin/python benchmarks/soak.py         # 10 minutes at 500 requests/s
    .venv/bin/python benchmarks/soak.py --minutes 2 --rate 200      # quicker
    .venv/bin/python benchmarks/soak.py --workers 2                 # featurestore serve --workers 2

Load: an open loop at --rate requests/s from its own process (benchmarks/serving.py's generator: latency
counts from the scheduled send time), one request in --batch-every a 100-record one, the rest single
records, entities from the demo's labels. The server is the demo's: churn_model@champion on the
embedded SQLite store, polling the registry every 5 s.
Events: at 1/3 of the run the champion alias moves to a new version of the same model (the server
swaps models while it serves); at 2/3 an admin GRANTs SELECT on the feature_store schema to another
principal and REVOKEs it 30 s later (the server's grants change under it).
Reported per minute: requests, p50/p99, errors by status, the server's RSS (all its processes). Targets: no 5xx; p99 of
the last minute within 20% of the first; RSS growth from the first minute to the last under 10%.
The baseline of each ratio is the run's own first minute.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import serving as serving_bench  # noqa: E402  (benchmarks/serving.py: the load generator's parts)

MODEL = "churn_model"
OTHER_PRINCIPAL = "data-scientists"


async def soak_loop(port: int, singles: list[bytes], batches: list[bytes], rate: float, seconds: float,
                    batch_every: int) -> dict:  # fmt: skip
    """serving.open_loop, bucketed by the minute of each request's scheduled time."""
    idle: list[tuple[serving_bench.Connection, float]] = []
    latencies: dict[int, list[float]] = defaultdict(list)
    statuses: dict[int, Counter] = defaultdict(Counter)
    start = time.perf_counter() + 0.05

    async def one(i: int, scheduled: float) -> None:
        minute = int((scheduled - start) // 60)
        raw = batches[i % len(batches)] if i % batch_every == 0 else singles[i % len(singles)]
        try:
            conn = await serving_bench.reuse_or_open(idle, port)
            status = await asyncio.wait_for(conn.request(raw), timeout=10)
            statuses[minute][str(status)] += 1
            idle.append((conn, time.perf_counter()))
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            statuses[minute][type(exc).__name__] += 1
        latencies[minute].append(time.perf_counter() - scheduled)

    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    for conn, _ in idle:
        conn.writer.close()
    return {
        str(m): {**serving_bench.percentiles(latencies[m]), "statuses": dict(statuses[m])}
        for m in sorted(latencies)
    }


def rss_mb(pid: int) -> float:
    """The server's resident memory: the process and, with --workers, every process it spawned."""
    total = 0.0
    for process in [pid, *children(pid)]:
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *children(int(child))]
    return found


def move_alias(client, name: str, alias: str) -> tuple[str, str]:
    """A new version of the champion's own model, made the champion: (old version, new version)."""
    current = client.get_model_version_by_alias(name, alias)
    new = client.create_model_version(name, current.source, run_id=current.run_id)
    while client.get_model_version(name, new.version).status != "READY":
        time.sleep(0.2)
    client.set_registered_model_alias(name, alias, new.version)
    return current.version, new.version


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--batch-every", type=int, default=20, help="one request in N has 100 records")
    parser.add_argument("--workers", type=int, default=1, help="featurestore serve --workers")
    args = parser.parse_args()
    if args.loadgen:
        spec = json.load(sys.stdin)
        result = asyncio.run(soak_loop(spec["port"], [bytes.fromhex(r) for r in spec["singles"]],
                                       [bytes.fromhex(r) for r in spec["batches"]], spec["rate"],
                                       spec["seconds"], spec["batch_every"]))  # fmt: skip
        print(json.dumps(result))
        return 0

    import mlflow

    from feature_store.runtime.settings import Settings
    from feature_store.serving.auth import new_token
    from feature_store.serving.process import ServeProcess

    settings = Settings.from_env()
    settings.configure_mlflow()
    registry = mlflow.MlflowClient()
    access = settings.access_control()
    admin = getpass.getuser()
    rows = serving_bench.entities(settings.home, 2000, seed=3)
    token, line = new_token("churn-service")  # `make demo` grants it SELECT on schema feature_store
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    (tmp / "tokens").write_text(line + "\n")
    path = f"/serving-endpoints/{MODEL}/invocations"
    seconds = args.minutes * 60
    print(f"load average {os.getloadavg()}; server log {tmp / 'serve.log'}", flush=True)

    samples: list[tuple[float, float]] = []
    events: list[str] = []
    with ServeProcess([f"{MODEL}@champion"], tmp / "tokens", tmp / "serve.log",
                      extra_args=["--poll-seconds", "5", "--workers", str(args.workers)]) as server:  # fmt: skip
        spec = {
            "port": server.port, "rate": args.rate, "seconds": seconds, "batch_every": args.batch_every,
            "singles": [serving_bench.request_bytes(path, b, token).hex() for b in serving_bench.bodies(rows, 1, 2000)],
            "batches": [serving_bench.request_bytes(path, b, token).hex() for b in serving_bench.bodies(rows, 100, 100)],
        }  # fmt: skip
        loadgen = subprocess.Popen([sys.executable, __file__, "--loadgen"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)  # fmt: skip
        loadgen.stdin.write(json.dumps(spec))
        loadgen.stdin.close()
        started = time.perf_counter()
        plan = [
            (seconds / 3, "alias"),
            (2 * seconds / 3, "grant"),
            (2 * seconds / 3 + 30, "revoke"),
        ]
        restore: tuple[str, str] | None = None
        next_sample = 30.0  # mid-minute, so each sample describes its minute
        while loadgen.poll() is None:
            now = time.perf_counter() - started
            while plan and plan[0][0] <= now:
                _, event = plan.pop(0)
                if event == "alias":
                    restore = move_alias(registry, MODEL, "champion")
                    events.append(f"{now:.0f}s: champion v{restore[0]} -> v{restore[1]}")
                else:
                    statement = (f"GRANT SELECT ON SCHEMA feature_store TO `{OTHER_PRINCIPAL}`" if event == "grant"
                                 else f"REVOKE SELECT ON SCHEMA feature_store FROM `{OTHER_PRINCIPAL}`")  # fmt: skip
                    access.execute(statement, admin, lambda _: True)
                    events.append(f"{now:.0f}s: {statement}")
                print(events[-1], flush=True)
            if now >= next_sample:
                samples.append((now, rss_mb(server.process.pid)))
                print(f"{now:.0f}s: server RSS {samples[-1][1]:.1f} MB", flush=True)
                next_sample += 60
            time.sleep(0.2)
        minutes = json.loads(loadgen.stdout.read())
        if restore is not None:
            registry.set_registered_model_alias(MODEL, "champion", restore[0])
    report(minutes, samples, events, args)
    return 0


def report(minutes: dict, samples: list[tuple[float, float]], events: list[str], args) -> None:
    print(
        f"\nsoak: {args.rate:.0f} req/s for {args.minutes:g} min, 1 in {args.batch_every} a 100-record request, "
        f"{args.workers} server worker(s)"
    )
    print(
        "| minute | requests | p50 ms | p99 ms | statuses | server RSS MB |\n|---:|---:|---:|---:|---|---:|"
    )
    rss = {int(at // 60): mb for at, mb in samples}
    for m, stats in minutes.items():
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(stats["statuses"].items()))
        print(f"| {int(m) + 1} | {stats['n']} | {stats['p50_ms']} | {stats['p99_ms']} | {statuses} | "
              f"{rss.get(int(m), float('nan')):.1f} |")  # fmt: skip
    for event in events:
        print(f"- {event}")
    first, last = minutes[min(minutes, key=int)], minutes[max(minutes, key=int)]
    server_errors = sum(
        n for s in minutes.values() for k, n in s["statuses"].items() if not k.startswith(("2", "4"))
    )
    p99_drift = last["p99_ms"] / first["p99_ms"] - 1
    rss_growth = samples[-1][1] / samples[0][1] - 1 if len(samples) > 1 else float("nan")
    verdicts = [
        ("no 5xx or transport errors", server_errors == 0, f"{server_errors}"),
        ("p99 last vs first minute < +20%", p99_drift < 0.2, f"{first['p99_ms']} -> {last['p99_ms']} ms ({p99_drift:+.0%})"),
        ("RSS growth first to last minute < 10%", rss_growth < 0.1, f"{samples[0][1]:.1f} -> {samples[-1][1]:.1f} MB ({rss_growth:+.1%})"),
    ]  # fmt: skip
    for target, met, value in verdicts:
        print(f"{target}: {value}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
