"""`featurestore init DIR`: a new feature repo and Dagster code location, ready to edit.

What it writes is a working example, not a skeleton: one landed source, one entity, a windowed table
(with a filtered feature), a SQL transform built on it, an on-demand feature, sample landing data, a
test that materializes the whole generated graph, and a README. `dagster dev` in DIR loads it (the
code location is this package's `feature_assets.definitions`, which reads the repo named in DIR's
pyproject.toml) and `pytest` in DIR passes.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

PYPROJECT = """\
[project]
name = "$project"
version = "0.1.0"
description = "Feature repo $package: sources, entities and feature tables served by the feature store"
requires-python = ">=3.11,<3.12"
dependencies = ["featurestore"]

[tool.featurestore]
# The module with `repo = Repo(...)`; FEATURE_STORE_REPO overrides it.
repo = "$package.repo"

[tool.dagster]
# The feature store's code location: it generates every asset, check and sensor from the repo above.
module_name = "feature_assets.definitions"
code_location_name = "$package"

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

REPO = '''\
"""$package: what this team declares. Every table below becomes daily-partitioned Dagster assets
(tiles and snapshots, or a transform), checks, an online sync and a drift report, with no glue code."""

from feature_store.declarations import (
    Column,
    Entity,
    Feature,
    FeatureFunction,
    Repo,
    Source,
    TableDocs,
    TransformTable,
    WindowedTable,
)

PAGE_VIEWS = Source(
    name="page_views",
    table="raw.page_views",
    landing_dir="page_views",  # <landing root>/page_views/date=YYYY-MM-DD/*.parquet
    columns=(
        Column("view_id", "string", "Unique id of the page view"),
        Column("user_id", "string", "Who viewed"),
        Column("device", "string", "mobile or desktop"),
        Column("seconds", "double", "Time on the page"),
        Column("viewed_at", "timestamp", "When the view started (UTC)"),
    ),
    required=("view_id", "user_id", "seconds", "viewed_at"),
    non_negative=("seconds",),
    event_time="viewed_at",
    description="Page views, one row each, validated from the daily landing files.",
)

USER = Entity("user", {"user_id": "string"}, "A visitor")

USER_ACTIVITY = WindowedTable(
    name="$package.user_activity",
    entity=USER,
    source=PAGE_VIEWS,
    features=(
        Feature("views", "count", windows=(1, 7)),
        Feature("seconds", "sum", "seconds", windows=(7,)),
        Feature("longest_mobile_view", "max", "seconds", windows=(7,), where="device = 'mobile'"),
    ),
    docs=TableDocs("What each user did over the last 1 and 7 days", owners=("team:$package",)),
    event_noun="view",
)

USER_ENGAGEMENT = TransformTable(
    name="$package.user_engagement",
    entity=USER,
    inputs=("$package.user_activity",),
    columns=(Column("seconds_per_view_7d", "double", "Average time per page view over 7 days"),),
    docs=TableDocs("Engagement ratios derived from user_activity", owners=("team:$package",)),
    sql="SELECT user_id, seconds_7d / NULLIF(views_7d, 0) AS seconds_per_view_7d FROM user_activity",
)


def ratio(current: float, usual: float) -> float | None:
    """How this session compares with the user's usual time per view; None without a usual."""
    return current / usual if usual else None


SESSION_VS_USUAL = FeatureFunction(
    "session_vs_usual",
    ratio,
    "double",
    inputs={"current": "session_seconds", "usual": "seconds_per_view_7d"},
    description="The request's session_seconds over the user's 7-day seconds per view",
)

repo = Repo(
    "$package",
    sources=(PAGE_VIEWS,),
    entities=(USER,),
    tables=(USER_ACTIVITY, USER_ENGAGEMENT),
    functions=(SESSION_VS_USUAL,),
)
'''

SAMPLE_DATA = '''\
"""Sample landing files, so the graph has something to compute: `python -m $package.sample_data`
writes a few days under the landing root (FEATURE_STORE_LANDING_ROOT, default .featurestore/landing)."""

from __future__ import annotations

import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("view_id", pa.string()), ("user_id", pa.string()), ("device", pa.string()),
    ("seconds", pa.float64()), ("viewed_at", pa.timestamp("us", tz="UTC")),
])  # fmt: skip


def land_days(landing: Path, first: date, count: int, users: int = 20, seed: int = 7) -> list[Path]:
    """`count` days of page views from `first`, one parquet file per day; the same files for a seed."""
    rng = random.Random(seed)
    written = []
    for offset in range(count):
        day = first + timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows = [
            {
                "view_id": f"{day:%Y%m%d}-{i}",
                "user_id": f"u{rng.randrange(users):03d}",
                "device": rng.choice(["mobile", "desktop"]),
                "seconds": round(rng.expovariate(1 / 40), 2),
                "viewed_at": start + timedelta(seconds=rng.randrange(86_400)),
            }
            for i in range(rng.randrange(30, 60))
        ]
        folder = landing / "page_views" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "part-0000.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
        written.append(path)
    return written


if __name__ == "__main__":
    from feature_store.runtime.settings import Settings

    settings = Settings.from_env()
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    first = date.fromisoformat(settings.partitions_start_date)
    for path in land_days(Path(settings.landing_root or "landing"), first, days):
        print(path)
'''

TEST = '''\
"""The repo's declarations load, and its whole generated graph materializes on sample data."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg
import pytest

from $package.sample_data import land_days

DAYS = ("2025-01-01", "2025-01-03")


def test_declarations_are_valid() -> None:
    from feature_store.declarations import load_repo

    repo = load_repo("$package.repo")
    assert [t.name for t in repo.table_order()] == ["$package.user_activity", "$package.user_engagement"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    os.environ["FEATURE_STORE_HOME"] = str(home)  # before the definitions load
    land_days(home / "landing", date.fromisoformat(DAYS[0]), 3)
    return home


def test_the_generated_graph_materializes(home) -> None:
    from feature_assets.definitions import all_assets, all_checks
    from feature_store.runtime.settings import Settings
    from resources.profiles import resources_for

    resources = resources_for(Settings.from_env())  # the local profile, inside FEATURE_STORE_HOME
    graph = ["raw_page_views", "user_activity_daily_tiles", "user_activity", "user_engagement",
             "user_activity_online", "user_engagement_online"]  # fmt: skip
    result = dg.materialize(
        [*all_assets, *all_checks],
        selection=graph,
        resources=resources,
        tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]},
    )
    assert result.success
    # Freshness is about today, and the sample days are in the past: every other check must pass.
    failed = [
        f"{e.asset_key.to_user_string()}.{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.check_name != "freshness_check"
    ]
    assert failed == []
    engagement = resources["delta"].tables(resources["spark"].get_session()).read("$package.user_engagement")
    assert engagement.count() > 0
    assert engagement.where("seconds_per_view_7d IS NULL OR seconds_per_view_7d < 0").count() == 0
'''

README = """\
# $package

A feature repo for the feature store: `$package/repo.py` declares a source (page views), an entity
(user), a windowed table, a SQL transform on it and an on-demand feature. The feature store generates
every Dagster asset, check, online sync and drift report from it.

    pip install -e .              # with the featurestore package installed (Java 17 for Spark)
    pytest                        # the declarations load; the whole graph materializes on sample data
    python -m $package.sample_data 7   # a week of sample landing files under .featurestore/landing
    dagster dev                   # the assets, grouped, daily-partitioned; materialize or backfill them

Change `repo.py` and reload: a new feature or window adds its column (Delta schema evolution) and a
new code version, so the UI shows which days to backfill. Removing or retyping a feature is refused
unless the run carries the tag `featurestore/allow_schema_change=<column,...>`.
"""

FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "$package/__init__.py": "",
    "$package/repo.py": REPO,
    "$package/sample_data.py": SAMPLE_DATA,
    "tests/__init__.py": "",
    "tests/test_repo.py": TEST,
}


class ScaffoldError(ValueError):
    """The target can't be scaffolded; the message says why."""


def package_name(directory: Path) -> str:
    """DIR's name as a Python package name: `my-features` -> `my_features`."""
    name = re.sub(r"\W+", "_", directory.name.strip().lower()).strip("_")
    if not name or name[0].isdigit() or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{directory.name!r} does not make a Python package name; choose a directory name such as "
            "my_features"
        )
    return name


def scaffold(directory: Path, package: str | None = None) -> list[Path]:
    """Write the repo into `directory` (new or empty); returns the files written."""
    directory = directory.expanduser()
    if directory.exists() and any(directory.iterdir()):
        raise ScaffoldError(f"{directory} is not empty: init writes a new repo into a new or empty folder")
    package = package or package_name(directory)
    values = {"package": package, "project": package.replace("_", "-")}
    written = []
    for relative, text in FILES.items():
        path = directory / Template(relative).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values))
        written.append(path)
    return written


def add_init(subparsers) -> None:
    p = subparsers.add_parser(
        "init",
        help="scaffold a new feature repo and code location",
        description="Write a working feature repo into DIR (new or empty): a source, an entity, a windowed "
        "table, a SQL transform, an on-demand feature, sample data, a test and a README. Then, in DIR: "
        "`pytest`, and `dagster dev`.",
    )
    p.add_argument("directory", type=Path, metavar="DIR")
    p.add_argument("--package", help="Python package name (default: from DIR's name)")
    p.set_defaults(handler=run_init)


def run_init(args) -> int:
    import sys

    try:
        written = scaffold(args.directory, args.package)
    except ScaffoldError as exc:
        print(f"featurestore init: error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"\nNext: cd {args.directory} && pytest && dagster dev", file=sys.stderr)
    return 0
