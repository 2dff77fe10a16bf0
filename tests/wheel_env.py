"""Python environments that hold the project only as its built wheel: what a cluster's workers have.

`build_wheel` runs `pip wheel --no-deps .` on this checkout (the command docs/spark.md gives users).
`wheel_env` makes a venv with that wheel installed and, through a `.pth` line, this venv's
site-packages for the third-party dependencies (pyarrow, pandas, redis, ...): installing those again
per environment would copy about 1 GB and prove nothing more. A plain path line in a `.pth` file is
added to sys.path without processing that directory's own `.pth` files, so this checkout's editable
install hook is not run there, and the project's modules can come only from the wheel.
`with_project=False` leaves the wheel out: an executor Python that cannot import the project.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# Not part of a build: setuptools would otherwise copy stale modules from a previous build/ into the wheel.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".featurestore", ".services", "node_modules",
    ".data", "spark-warehouse", ".pytest_cache", ".ruff_cache", ".hypothesis",
)  # fmt: skip


def build_wheel(dest: Path) -> Path:
    """The wheel of this checkout's working tree, built from a clean copy of it."""
    source = dest / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dest), str(source)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (wheel,) = dest.glob("featurestore-*.whl")
    return wheel


def wheel_env(dest: Path, wheel: Path | None) -> Path:
    """A venv at `dest` with `wheel` installed (none if None); returns its python executable."""
    subprocess.run([_base_python(), "-m", "venv", "--without-pip", str(dest)], check=True, timeout=120)
    python = dest / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if wheel is not None:
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
             "--no-index", str(wheel)],
            check=True, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    return python


def _base_python() -> str:
    """The interpreter this venv was made from (a venv of a venv would chain their site-packages)."""
    return str(Path(sys._base_executable).resolve()) if hasattr(sys, "_base_executable") else sys.executable
