"""`make demo` starts the partitions at its data's first day, and `make ui` (a fresh process loading the
definitions) sees the same start (issue 15: the UI showed 578 missing partitions before the demo data)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from feature_store.runtime.settings import Settings, record_start_date

pytestmark = pytest.mark.slow  # fresh Python processes importing Dagster
LOAD = "from feature_assets.partitions import daily_partitions; print(daily_partitions.start.date())"


def load_in_fresh_process(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def test_definitions_start_where_the_demo_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("FEATURE_STORE_START_DATE")
    assert Settings.from_env().partitions_start_date == "2025-01-01"  # nothing recorded: the default
    record_start_date(tmp_path, "2026-08-02")
    assert Settings.from_env().partitions_start_date == "2026-08-02"
    assert load_in_fresh_process(LOAD) == "2026-08-02"  # what `make ui` loads
    monkeypatch.setenv("FEATURE_STORE_START_DATE", "2026-01-01")  # set explicitly: it wins
    assert Settings.from_env().partitions_start_date == "2026-01-01"


def test_demo_loads_the_definitions_only_after_recording_the_start():
    """Importing the demo must not build the partitions yet: main() records the start first."""
    code = "import sys, examples.churn.demo; print('feature_assets.partitions' in sys.modules)"
    assert load_in_fresh_process(code) == "False"
