"""Seeded synthetic landing data: daily transaction files and the churn labels derived from them.

Layout (what the landing sensor and `ingest_day` read):
    <out_root>/transactions/date=YYYY-MM-DD/part-0000.parquet
    <out_root>/labels/date=YYYY-MM-DD/part-0000.parquet

Days are generated one at a time with vectorised numpy, so memory is bounded by a 31-day window of
transactions whatever the date range. Every random draw comes from a stream keyed by (seed, purpose,
day), so a seed reproduces the same rows.

Labels: on day D a sample of the customers who transacted in the 90 days before D 00:00 is asked
"will you churn?" at a uniform time t inside D; `is_churned = 1` iff the customer has no
transaction in (t, t + 30 days]. A day's labels are only known once day D+30 has been generated,
so label files exist only for days with D + 30 <= end.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from examples.churn.repo import CHURN_HORIZON_DAYS, LABELS, TRANSACTIONS
from feature_store.declarations import Source
from feature_store.declarations.sources import SparkType

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
ACTIVE_LOOKBACK_DAYS = 90
PART_FILE = "part-0000.parquet"
DEFAULT_LABEL_FRACTION = 0.05

# Population shape. Gamma shape < 1 gives many occasional customers and a few heavy ones.
ACTIVITY_SHAPE = 0.7
LATE_JOIN_SHARE = 0.15
QUIET_SHARE = 0.25  # customers who stop transacting at some day
COMEBACK_SHARE = 0.4  # of the quiet ones, those who return after more than 90 days
COMEBACK_DAYS = (91, 240)
RAMP_DAYS = 30  # activity fades over the month before going quiet, so churn is predictable
RAMP_FLOOR = 0.25
FAVOURITES = 3
FAVOURITE_SHARE = 0.6  # share of purchases from the customer's own favourite products
ZIPF_EXPONENT = 1.1
MEDIAN_SPEND = 30.0
SPEND_SIGMA, PRICE_SIGMA, AMOUNT_SIGMA = 0.5, 0.4, 0.6

# Weekday/weekend rate multipliers, each pair averaging 1.0 over a week so the mean rate holds.
WEEKLY = (0.9, 1.25)
DRIFT_WEEKLY = (1.1, 0.75)  # after drift: busy weekdays, quiet weekends
DRIFT_SPEND_FACTOR = 1.8
DRIFT_AMOUNT_SIGMA = 0.85  # heavier tail on top of the higher median

_HOURLY = np.array(
    [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.8, 2.0, 2.2]
    + [2.5, 2.3, 2.0, 1.9, 2.0, 2.3, 2.6, 2.8, 2.4, 1.8, 1.0, 0.5]
)
_HOUR_CDF = np.cumsum(_HOURLY) / _HOURLY.sum()
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_KEY_SHIFT = 37  # customer index << 37 | microseconds into the day (< 2**37) sorts by (customer, time)

_ARROW_TYPES: dict[SparkType, pa.DataType] = {
    "string": pa.string(),
    "double": pa.float64(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "boolean": pa.bool_(),
}

ProgressCallback = Callable[[int, int], None]


class GenerationError(ValueError):
    """The generator's arguments are inconsistent."""


@dataclass(frozen=True)
class GenerationSummary:
    out_root: Path
    start: date
    end: date
    days: int
    transactions: int
    labels: int
    churned: int
    transaction_files: tuple[Path, ...]
    label_files: tuple[Path, ...]

    @property
    def label_days(self) -> int:
        return len(self.label_files)

    @property
    def counts(self) -> dict[str, int]:
        return {TRANSACTIONS.name: self.transactions, LABELS.name: self.labels}

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.labels if self.labels else None


def arrow_schema(source: Source) -> pa.Schema:
    """The landing-file schema of a raw source, from its declared columns."""
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.dtype]) for c in source.columns])


def partition_file(out_root: Path, source: Source, day: date) -> Path:
    return Path(out_root) / source.landing_dir / f"date={day.isoformat()}" / PART_FILE


def _id_array(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Fixed-width ids like C000123 built as raw bytes: no Python string per row."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    n, size = len(numbers), len(head) + width
    buf = np.empty((n, size), dtype=np.uint8)
    buf[:, : len(head)] = head
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    buf[:, len(head) :] = (numbers.astype(np.int64)[:, None] // powers) % 10 + ord("0")
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype(np.int64), type=pa.int64()).cast(_ARROW_TYPES["timestamp"])


def _write(table: pa.Table, path: Path) -> None:
    # Write beside the target and rename, so a landing sensor never sees a half-written file
    # (Spark and the sensor skip names starting with a dot).
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


@dataclass(frozen=True)
class _Population:
    weight: np.ndarray  # relative activity rate (gamma)
    join: np.ndarray  # day index of the first possible transaction
    stop: np.ndarray  # day index the customer goes quiet (beyond the range: never)
    back: np.ndarray  # day index a quiet customer returns (beyond the range: never)
    log_spend: np.ndarray  # log median amount per customer
    favourites: np.ndarray  # (customers, FAVOURITES) product indices
    product_cdf: np.ndarray  # Zipf popularity
    log_price: np.ndarray  # per-product log price factor

    def activity(self, i: int) -> np.ndarray:
        fading = np.clip((self.stop - i) / RAMP_DAYS, RAMP_FLOOR, 1.0)
        return np.where(i < self.join, 0.0, np.where(i < self.stop, fading, (i >= self.back) * 1.0))


def _population(rng: np.random.Generator, customers: int, products: int, n_days: int) -> _Population:
    never = n_days + 10 * RAMP_DAYS + COMEBACK_DAYS[1]
    late = rng.random(customers) < LATE_JOIN_SHARE
    join = np.where(late, rng.integers(1, max(n_days, 2), customers), 0)
    quiet = rng.random(customers) < QUIET_SHARE
    stop = np.where(quiet, np.maximum(rng.integers(0, n_days, customers), join + 14), never)
    returns = quiet & (rng.random(customers) < COMEBACK_SHARE)
    back = np.where(returns, stop + rng.integers(*COMEBACK_DAYS, customers), never)
    popularity = 1.0 / np.arange(1, products + 1) ** ZIPF_EXPONENT
    popularity = popularity[rng.permutation(products)]  # the most popular product is not P00001
    cdf = np.cumsum(popularity) / popularity.sum()
    return _Population(
        weight=rng.gamma(ACTIVITY_SHAPE, 1.0 / ACTIVITY_SHAPE, customers),
        join=join,
        stop=stop,
        back=back,
        log_spend=np.log(MEDIAN_SPEND) + SPEND_SIGMA * rng.standard_normal(customers),
        favourites=_pick(cdf, rng.random((customers, FAVOURITES))).astype(np.int32),
        product_cdf=cdf,
        log_price=PRICE_SIGMA * rng.standard_normal(products),
    )


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def _weekly_factor(day: date, drifted: bool) -> float:
    weekday, weekend = DRIFT_WEEKLY if drifted else WEEKLY
    return weekend if day.weekday() >= 5 else weekday


@dataclass(frozen=True)
class _DayTxns:
    day_us: int  # D 00:00 UTC in microseconds since the epoch
    customer: np.ndarray  # int32, sorted by ts
    ts: np.ndarray  # int64 microseconds
    product: np.ndarray  # int32
    amount: np.ndarray  # float64
    counts: np.ndarray  # transactions per customer this day

    def by_customer(self) -> tuple[np.ndarray, np.ndarray]:
        """Keys sorting (customer, time of day), and the products in that order."""
        keys = (self.customer.astype(np.int64) << _KEY_SHIFT) | (self.ts - self.day_us)
        order = np.argsort(keys, kind="stable")
        return keys[order], self.product[order]


def _day_transactions(
    pop: _Population, i: int, day_us: int, rate: np.ndarray, drifted: bool, rng: np.random.Generator
) -> _DayTxns:
    counts = rng.poisson(rate)
    customer = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    m = customer.size
    ts = day_us + _pick(_HOUR_CDF, rng.random(m)) * HOUR_US + rng.integers(0, HOUR_US, m)
    favourite = pop.favourites[customer, rng.integers(0, FAVOURITES, m)]
    popular = _pick(pop.product_cdf, rng.random(m))
    product = np.where(rng.random(m) < FAVOURITE_SHARE, favourite, popular).astype(np.int32)
    shift, sigma = (np.log(DRIFT_SPEND_FACTOR), DRIFT_AMOUNT_SIGMA) if drifted else (0.0, AMOUNT_SIGMA)
    log_amount = pop.log_spend[customer] + pop.log_price[product] + shift + sigma * rng.standard_normal(m)
    amount = np.maximum(np.round(np.exp(log_amount), 2), 0.01)
    order = np.argsort(ts, kind="stable")
    return _DayTxns(day_us, customer[order], ts[order], product[order], amount[order], counts)


def _has_key(keys: np.ndarray, idx: np.ndarray, customer: np.ndarray) -> np.ndarray:
    """Whether keys[idx] exists and belongs to `customer` (idx may be -1 or len(keys))."""
    if len(keys) == 0:
        return np.zeros(len(idx), dtype=bool)
    safe = np.clip(idx, 0, len(keys) - 1)
    return (idx >= 0) & (idx < len(keys)) & ((keys[safe] >> _KEY_SHIFT) == customer)


@dataclass
class _History:
    """Each customer's latest transaction before the current label day (all days so far)."""

    last_ts: np.ndarray
    last_product: np.ndarray

    def fold(self, txns: _DayTxns) -> None:
        # The last occurrence per customer is the first one in the reversed (time-sorted) day.
        rev = txns.customer[::-1]
        customers, first = np.unique(rev, return_index=True)
        self.last_ts[customers] = txns.ts[::-1][first]
        self.last_product[customers] = txns.product[::-1][first]


def _sample_labels(
    history: _History, day_us: int, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Who is asked on day D and when: a `fraction` of the customers with a transaction in the 90 days
    before D 00:00, each at a uniform offset into D. Returns (customer, offset in us), by offset."""
    eligible = np.flatnonzero(history.last_ts >= day_us - ACTIVE_LOOKBACK_DAYS * DAY_US)
    customer = eligible[rng.random(len(eligible)) < fraction].astype(np.int64)
    offset = rng.integers(0, DAY_US, len(customer))
    order = np.argsort(offset, kind="stable")
    return customer[order], offset[order]


def _label_outcomes(
    window: Sequence[_DayTxns], later: np.ndarray, history: _History, customer: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(product or -1, is_churned) for labels at t = D 00:00 + offset, given window = days D..D+30,
    `later` = per-customer transaction counts on days D+1..D+29, and the history before D."""
    query = (customer << _KEY_SHIFT) | offset
    keys, products = window[0].by_customer()
    before = np.searchsorted(keys, query, side="left") - 1  # the customer's latest txn < t on D
    has_before = _has_key(keys, before, customer)
    same_day = products[np.clip(before, 0, None)] if len(keys) else np.full(len(customer), -1)
    product = np.where(has_before, same_day, history.last_product[customer])
    after_t_on_d = _has_key(keys, np.searchsorted(keys, query, side="right"), customer)
    # t + 30 days is the same offset into day D+30, and it is inside the horizon (inclusive).
    last_keys, _ = window[-1].by_customer()
    by_horizon = _has_key(last_keys, np.searchsorted(last_keys, query, side="right") - 1, customer)
    active = after_t_on_d | (later[customer] > 0) | by_horizon
    return product, (~active).astype(np.int32)


def _validate(
    start: date, end: date, customers: int, products: int, tpd: float, seed: int, fraction: float
) -> None:
    if end < start:
        raise GenerationError(f"end {end} is before start {start}")
    if customers < 1 or products < 1:
        raise GenerationError(f"need at least one customer and one product, got {customers} and {products}")
    if not np.isfinite(tpd) or tpd < 0:
        raise GenerationError(f"transactions_per_day must be a finite number >= 0, got {tpd}")
    if seed < 0:
        raise GenerationError(f"seed must be >= 0, got {seed}")
    if not 0.0 <= fraction <= 1.0:
        raise GenerationError(f"label_fraction must be between 0 and 1, got {fraction}")


def generate(
    out_root: Path,
    start: date,
    end: date,
    customers: int,
    products: int,
    transactions_per_day: float,
    seed: int,
    drift_from: date | None = None,
    label_fraction: float = DEFAULT_LABEL_FRACTION,
    progress: ProgressCallback | None = None,
) -> GenerationSummary:
    """Write daily transaction and label files for start..end (inclusive) under out_root.

    Same arguments, same rows. Existing files for the same days are replaced; other files are left.
    """
    _validate(start, end, customers, products, transactions_per_day, seed, label_fraction)
    out_root = Path(out_root)
    n_days = (end - start).days + 1
    pop = _population(np.random.default_rng([seed, 0]), customers, products, n_days)
    all_days = [start + timedelta(days=i) for i in range(n_days)]
    drifted = [drift_from is not None and d >= drift_from for d in all_days]
    weekly = np.array([_weekly_factor(d, x) for d, x in zip(all_days, drifted, strict=True)])
    # Scale rates so the expected total is exactly transactions_per_day * days, whatever the share
    # of customers who have not joined yet or went quiet.
    expected = sum(weekly[i] * float(pop.weight @ pop.activity(i)) for i in range(n_days))
    scale = transactions_per_day * n_days / expected if expected > 0 else 0.0

    customer_ids = _id_array("C", np.arange(1, customers + 1), max(6, len(str(customers))))
    product_ids = _id_array("P", np.arange(1, products + 1), max(5, len(str(products))))
    history = _History(np.full(customers, np.iinfo(np.int64).min), np.full(customers, -1, np.int32))
    window: deque[_DayTxns] = deque()
    window_counts = np.zeros(customers, dtype=np.int64)  # transactions per customer over the window
    txn_files: list[Path] = []
    label_files: list[Path] = []
    n_txns = n_labels = n_churned = 0

    for i, day in enumerate(all_days):
        day_us = (day.toordinal() - _EPOCH_ORDINAL) * DAY_US
        rng = np.random.default_rng([seed, 1, day.toordinal()])
        rate = scale * weekly[i] * pop.weight * pop.activity(i)
        txns = _day_transactions(pop, i, day_us, rate, drifted[i], rng)
        txn_files.append(_write_transactions(out_root, day, txns, customer_ids, product_ids))
        n_txns += txns.customer.size
        window.append(txns)
        window_counts += txns.counts

        if len(window) == CHURN_HORIZON_DAYS + 1:
            label_day = day - timedelta(days=CHURN_HORIZON_DAYS)
            later = window_counts - window[0].counts - window[-1].counts
            label_rng = np.random.default_rng([seed, 2, label_day.toordinal()])
            customer, offset = _sample_labels(history, window[0].day_us, label_fraction, label_rng)
            product, churned = _label_outcomes(window, later, history, customer, offset)
            labels = (customer, window[0].day_us + offset, product, churned)
            label_files.append(_write_labels(out_root, label_day, labels, customer_ids, product_ids))
            n_labels += customer.size
            n_churned += int(churned.sum())
            done = window.popleft()
            window_counts -= done.counts
            history.fold(done)
        if progress is not None:
            progress(i + 1, n_days)

    return GenerationSummary(
        out_root=out_root,
        start=start,
        end=end,
        days=n_days,
        transactions=n_txns,
        labels=n_labels,
        churned=n_churned,
        transaction_files=tuple(txn_files),
        label_files=tuple(label_files),
    )


def _write_transactions(
    out_root: Path, day: date, txns: _DayTxns, customer_ids: pa.Array, product_ids: pa.Array
) -> Path:
    m = txns.customer.size
    digits = max(7, len(str(m)))
    serial = int(day.strftime("%Y%m%d")) * 10**digits + np.arange(m, dtype=np.int64)
    table = pa.Table.from_arrays(
        [
            _id_array("T", serial, 8 + digits),
            customer_ids.take(pa.array(txns.customer)),
            product_ids.take(pa.array(txns.product)),
            pa.array(txns.amount, type=pa.float64()),
            _timestamps(txns.ts),
        ],
        schema=arrow_schema(TRANSACTIONS),
    )
    path = partition_file(out_root, TRANSACTIONS, day)
    _write(table, path)
    return path


def _write_labels(
    out_root: Path,
    day: date,
    labels: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    customer_ids: pa.Array,
    product_ids: pa.Array,
) -> Path:
    customer, t, product, churned = labels
    table = pa.Table.from_arrays(
        [
            customer_ids.take(pa.array(customer)),
            product_ids.take(pa.array(product, mask=product < 0)),  # null before any purchase
            _timestamps(t),
            pa.array(churned, type=pa.int32()),
        ],
        schema=arrow_schema(LABELS),
    )
    path = partition_file(out_root, LABELS, day)
    _write(table, path)
    return path
