"""`python -m examples.churn generate`: seeded synthetic transactions and churn labels, written as daily
landing files (the data `make demo` and the tests run on)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from examples.churn.generate import DEFAULT_LABEL_FRACTION, GenerationError, generate
from feature_store.runtime.settings import Settings, SettingsError
from feature_store.runtime.timeutil import parse_day

PROG = "python -m examples.churn"
DEFAULT_DAYS = 120

# name: (customers, products, transactions per day)
SIZE_PRESETS: dict[str, tuple[int, int, float]] = {
    "tiny": (50, 20, 12.0),
    "demo": (500, 100, 400.0),
    "large": (50_000, 2_000, 28_000.0),
}
DEFAULT_SIZE = "demo"


class CliError(Exception):
    """A user-facing error: printed on stderr, exit code 1."""


def _day(value: str) -> date:
    try:
        return parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return n


def _non_negative_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not 0 <= x < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number >= 0")
    return x


def _settings_day(value: str, variable: str) -> date:
    try:
        return parse_day(value)
    except ValueError as exc:
        raise CliError(f"{variable}: {exc}") from exc


def _progress_printer(every: int = 10) -> Callable[[int, int], None]:
    tty = sys.stderr.isatty()

    def report(day: int, total: int) -> None:
        if day % every and day != total:
            return
        end = "\n" if day == total or not tty else ""
        prefix = "\r" if tty else ""
        print(f"{prefix}  generated {day}/{total} days", end=end, file=sys.stderr, flush=True)

    return report


# --- generate -----------------------------------------------------------------------------------


def _add_generate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="write seeded synthetic transactions and churn labels to the landing zone",
        description=(
            "Write daily landing files <out>/transactions/date=D/ and <out>/labels/date=D/. "
            "Labels exist only for days D with D+30 <= end. --size picks customers, products and "
            "transactions per day; the explicit flags override it."
        ),
    )
    presets = ", ".join(f"{k}={c}/{p}/{t:g}" for k, (c, p, t) in SIZE_PRESETS.items())
    add = p.add_argument
    add("--out", type=Path, metavar="DIR", help="landing root (default: <FEATURE_STORE_HOME>/landing)")
    add("--start", type=_day, metavar="DATE", help="first day (default: FEATURE_STORE_START_DATE)")
    add(
        "--end",
        type=_day,
        metavar="DATE",
        help=f"last day, inclusive (default: start + {DEFAULT_DAYS - 1} days)",
    )
    add(
        "--size",
        choices=list(SIZE_PRESETS),
        default=DEFAULT_SIZE,
        help=f"customers/products/transactions-per-day preset: {presets} (default: {DEFAULT_SIZE})",
    )
    add("--customers", type=_positive_int, metavar="N", help="overrides the preset")
    add("--products", type=_positive_int, metavar="N", help="overrides the preset")
    add("--transactions-per-day", type=_non_negative_float, metavar="X", help="mean; overrides the preset")
    add("--seed", type=int, default=7, metavar="N", help="random seed: same seed, same rows (default: 7)")
    add(
        "--drift-from",
        type=_day,
        metavar="DATE",
        help="from this day: higher, heavier-tailed spend and a new weekly pattern",
    )
    add(
        "--label-fraction",
        type=float,
        metavar="F",
        help="share of customers active in the last 90 days labelled each day (default: %(default)s)",
        default=DEFAULT_LABEL_FRACTION,
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    out = args.out
    if out is None:
        if "://" in settings.landing_root:
            raise CliError(
                f"the landing root {settings.landing_root} is not a local directory; "
                "generate writes local files, pass --out DIR"
            )
        out = Path(settings.landing_root)
    start = args.start or _settings_day(settings.partitions_start_date, "FEATURE_STORE_START_DATE")
    end = args.end or start + timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise CliError(f"--end {end} is before --start {start}")
    customers, products, per_day = SIZE_PRESETS[args.size]

    summary = generate(
        out_root=out,
        start=start,
        end=end,
        customers=args.customers or customers,
        products=args.products or products,
        transactions_per_day=per_day if args.transactions_per_day is None else args.transactions_per_day,
        seed=args.seed,
        drift_from=args.drift_from,
        label_fraction=args.label_fraction,
        progress=None if args.quiet else _progress_printer(),
    )
    rate = "n/a" if summary.churn_rate is None else f"{summary.churn_rate:.1%}"
    print(f"days:         {summary.days} ({summary.start} .. {summary.end})")
    print(f"transactions: {summary.transactions}")
    print(f"labels:       {summary.labels} on {summary.label_days} days (churn rate {rate})")
    if args.drift_from is not None:
        print(f"drift from:   {args.drift_from}")
    print(f"output:       {summary.out_root.resolve()}")
    if summary.label_days == 0:
        print(
            "note: no labels; they need 30 days of future, so the range must span more than 30 days",
            file=sys.stderr,
        )
    return 0



def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    _add_generate(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage and the error
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.handler(args)
    except (CliError, GenerationError, SettingsError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
