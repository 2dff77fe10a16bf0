"""The synthetic data generator and the `python -m examples.churn generate` command."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from examples.churn import generate as gen
from examples.churn.cli import main
from examples.churn.generate import DAY_US, GenerationError, generate, partition_file
from examples.churn.repo import LABELS, TRANSACTIONS

START, END = date(2025, 1, 1), date(2025, 3, 11)  # 70 days: labels for the first 40
DRIFT_FROM = date(2025, 2, 20)
TINY = dict(customers=50, products=20, transactions_per_day=12.0, seed=3, label_fraction=0.5)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _read_all(root: Path, kind: str) -> dict[date, pa.Table]:
    files = sorted((root / kind).glob("date=*/part-0000.parquet"))
    return {date.fromisoformat(f.parent.name.removeprefix("date=")): pq.read_table(f) for f in files}


def _us(ts: datetime) -> int:
    return int((ts - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000 + ts.microsecond


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("landing")
    summary = generate(root, START, END, drift_from=DRIFT_FROM, **TINY)
    return root, summary


def test_files_schema_and_counts(tiny) -> None:
    root, summary = tiny
    txns, labels = _read_all(root, "transactions"), _read_all(root, "labels")
    assert sorted(txns) == _days(START, END)
    assert sorted(labels) == _days(START, END - timedelta(days=30))  # only days whose future is known
    assert summary.days == 70 and summary.label_days == 40
    assert summary.transaction_files == tuple(
        partition_file(root, TRANSACTIONS, d) for d in _days(START, END)
    )
    for table in txns.values():
        assert table.schema == gen.arrow_schema(TRANSACTIONS)
        assert table.schema.field("transaction_ts").type == pa.timestamp("us", tz="UTC")
    for table in labels.values():
        assert table.schema == gen.arrow_schema(LABELS)
    assert summary.transactions == sum(t.num_rows for t in txns.values())
    assert summary.labels == sum(t.num_rows for t in labels.values()) > 50
    churned = sum(pc.sum(t["is_churned"]).as_py() or 0 for t in labels.values())
    assert summary.churned == churned
    assert 0 < summary.churn_rate < 1
    # Poisson total around transactions_per_day * days (840 here)
    assert 0.85 * 840 < summary.transactions < 1.15 * 840


def test_every_row_is_inside_its_partition_day(tiny) -> None:
    root, _ = tiny
    for kind, column in (("transactions", "transaction_ts"), ("labels", "event_timestamp")):
        for day, table in _read_all(root, kind).items():
            lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
            values = table[column].to_pylist()
            assert all(lo <= ts < lo + timedelta(days=1) for ts in values), (kind, day)
            assert table[column].null_count == 0


def test_ids_are_well_formed_and_unique(tiny) -> None:
    root, _ = tiny
    txns = pa.concat_tables(_read_all(root, "transactions").values())
    ids = txns["transaction_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("T") and i[1:].isdigit() for i in ids)
    customers = set(txns["customer_id"].to_pylist())
    products = set(txns["product_id"].to_pylist())
    assert all(len(c) == 7 and c.startswith("C") and c[1:].isdigit() for c in customers)
    assert customers <= {f"C{i:06d}" for i in range(1, 51)}
    assert products <= {f"P{i:05d}" for i in range(1, 21)}
    assert pc.min(txns["amount"]).as_py() > 0


def test_same_seed_same_rows_other_seed_other_rows(tiny, tmp_path: Path) -> None:
    root, _ = tiny
    again = generate(tmp_path / "again", START, END, drift_from=DRIFT_FROM, **TINY)
    for kind in ("transactions", "labels"):
        first, second = _read_all(root, kind), _read_all(tmp_path / "again", kind)
        assert first.keys() == second.keys()
        assert all(first[d].equals(second[d]) for d in first), kind
    for path in tiny[1].transaction_files + tiny[1].label_files:
        assert path.read_bytes() == (tmp_path / "again" / path.relative_to(root)).read_bytes()
    assert again.transactions == tiny[1].transactions
    other = generate(tmp_path / "other", START, END, drift_from=DRIFT_FROM, **{**TINY, "seed": 4})
    a = _read_all(root, "transactions")[START]
    b = _read_all(tmp_path / "other", "transactions")[START]
    assert other.transactions != tiny[1].transactions or not a.equals(b)


def test_labels_match_brute_force_recomputation(tiny) -> None:
    root, _ = tiny
    history: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for table in _read_all(root, "transactions").values():
        for row in table.to_pylist():
            history[row["customer_id"]].append((row["transaction_ts"], row["product_id"]))
    for events in history.values():
        events.sort()
    times = {c: [ts for ts, _ in events] for c, events in history.items()}

    checked, outcomes = 0, set()
    for day, table in _read_all(root, "labels").items():
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for row in table.to_pylist():
            c, t = row["customer_id"], row["event_timestamp"]
            ts = times[c]
            # eligible: a transaction in the 90 days before D 00:00
            assert bisect_left(ts, day_start) > bisect_left(ts, day_start - timedelta(days=90))
            # churned iff no transaction in (t, t + 30 days]
            future = bisect_right(ts, t + timedelta(days=30)) - bisect_right(ts, t)
            assert row["is_churned"] == int(future == 0), (c, t)
            # product: the latest purchase strictly before t
            before = bisect_left(ts, t)
            assert row["product_id"] == (history[c][before - 1][1] if before else None)
            checked += 1
            outcomes.add(row["is_churned"])
    assert checked > 50
    assert outcomes == {0, 1}


def test_label_edges_are_exclusive_at_t_and_inclusive_at_t_plus_30_days() -> None:
    d0, noon = 20_000 * DAY_US, DAY_US // 2
    cases = {  # customer: (day index in window, offset from noon in us, product)
        0: [(0, 0, 1)],  # exactly at t: not after t -> churned, and not before t either
        1: [(0, 1, 1)],  # 1us after t -> active
        2: [(30, 0, 1)],  # exactly t + 30 days -> active
        3: [(30, 1, 1)],  # 1us past the horizon -> churned
        4: [(15, 0, 1)],  # mid-window -> active
        5: [],  # nothing -> churned, product from history
        6: [(0, -1, 9)],  # just before t -> churned, product 9
    }
    n = len(cases) + 1  # customer 7: no history at all -> product null (-1)
    window = []
    for i in range(31):
        rows = sorted(
            (d0 + i * DAY_US + noon + off, c, p) for c, evs in cases.items() for j, off, p in evs if j == i
        )
        ts = np.array([r[0] for r in rows], dtype=np.int64)
        customer = np.array([r[1] for r in rows], dtype=np.int32)
        product = np.array([r[2] for r in rows], dtype=np.int32)
        counts = np.bincount(customer, minlength=n)
        window.append(gen._DayTxns(d0 + i * DAY_US, customer, ts, product, np.ones(len(ts)), counts))
    later = sum(w.counts for w in window[1:30])
    history = gen._History(np.full(n, d0 - DAY_US), np.array([5] * (n - 1) + [-1], dtype=np.int32))
    customer = np.arange(n, dtype=np.int64)
    product, churned = gen._label_outcomes(window, later, history, customer, np.full(n, noon))
    assert churned.tolist() == [1, 0, 0, 1, 0, 1, 1, 1]
    assert product.tolist() == [5, 5, 5, 5, 5, 5, 9, -1]


def test_drift_raises_spend_after_drift_from(tmp_path: Path) -> None:
    start, end, drift = date(2025, 1, 1), date(2025, 2, 11), date(2025, 1, 22)
    generate(tmp_path, start, end, 300, 50, 200.0, seed=1, drift_from=drift)
    before, after = [], []
    for day, table in _read_all(tmp_path, "transactions").items():
        (after if day >= drift else before).extend(table["amount"].to_pylist())
    assert np.mean(after) > 1.5 * np.mean(before)
    assert np.quantile(after, 0.99) / np.median(after) > np.quantile(before, 0.99) / np.median(before)


def test_weekends_are_busier_without_drift(tmp_path: Path) -> None:
    summary = generate(tmp_path, date(2025, 1, 6), date(2025, 2, 2), 300, 50, 300.0, seed=2)
    per_day = {d: t.num_rows for d, t in _read_all(tmp_path, "transactions").items()}
    weekend = np.mean([n for d, n in per_day.items() if d.weekday() >= 5])
    weekday = np.mean([n for d, n in per_day.items() if d.weekday() < 5])
    assert weekend > 1.15 * weekday
    assert summary.label_days == 0 and summary.labels == 0 and summary.churn_rate is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(start=date(2025, 2, 1), end=date(2025, 1, 1)), "before start"),
        (dict(customers=0), "at least one customer"),
        (dict(label_fraction=1.5), "label_fraction"),
        (dict(transactions_per_day=-1.0), "transactions_per_day"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = dict(start=START, end=END, **TINY) | kwargs
    with pytest.raises(GenerationError, match=message):
        generate(tmp_path, **args)
    assert not any(tmp_path.iterdir())


def test_cli_rejects_end_before_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["generate", "--out", str(tmp_path), "--start", "2025-02-01", "--end", "2025-01-01"])
    assert rc != 0
    assert "--end 2025-01-01 is before --start 2025-02-01" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_rejects_a_malformed_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path), "--start", "2025-13-01"]) != 0
    assert "'2025-13-01' is not a date in YYYY-MM-DD form" in capsys.readouterr().err


def test_cli_writes_files_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "generate",
        "--out",
        str(tmp_path),
        "--size",
        "tiny",
        "--start",
        "2025-01-01",
        "--end",
        "2025-02-04",
    ]
    assert main([*argv, "--seed", "5", "--drift-from", "2025-01-20", "--customers", "40"]) == 0
    out, err = capsys.readouterr()
    assert "transactions:" in out and "labels:" in out and str(tmp_path) in out
    assert "35/35 days" in err
    assert len(list((tmp_path / "transactions").glob("date=*/part-0000.parquet"))) == 35
    assert len(list((tmp_path / "labels").glob("date=*/part-0000.parquet"))) == 5
    customers = pq.read_table(tmp_path / "transactions")["customer_id"].to_pylist()
    assert max(customers) <= "C000040"


def test_cli_defaults_to_the_landing_root_under_feature_store_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEATURE_STORE_HOME", str(tmp_path))
    monkeypatch.delenv("FEATURE_STORE_LANDING_ROOT", raising=False)
    monkeypatch.setenv("FEATURE_STORE_START_DATE", "2025-03-01")
    assert main(["generate", "--size", "tiny", "--end", "2025-03-03", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "landing" / "transactions").iterdir()) == [
        "date=2025-03-01",
        "date=2025-03-02",
        "date=2025-03-03",
    ]
    assert "no labels" in capsys.readouterr().err
