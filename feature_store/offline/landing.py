"""Landing zones: where daily raw files arrive, as <source>/date=YYYY-MM-DD/<file>.parquet.

The sensors list what has landed; ingestion asks for paths Spark can read in place (local paths, or
wasb(s)://, abfss:// URLs of blobs: nothing is copied to the driver's disk), reads each file's parquet
schema from its footer, and moves unreadable files aside into <source>/_quarantine/ so a retry doesn't
trip on them again and nothing is deleted.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DAY_FOLDER = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
QUARANTINE = "_quarantine"


class UnreadableFile(ValueError):
    """A landed file is not a readable parquet file (it gets quarantined, unlike a storage error)."""


def footer_problem(exc: Exception) -> UnreadableFile:
    """The first line of a parquet reader's error, as an UnreadableFile."""
    return UnreadableFile((str(exc).strip().splitlines() or [type(exc).__name__])[0][:300])


@dataclass(frozen=True, order=True)
class LandedFile:
    name: str
    size: int
    modified: float


def fingerprint(files: list[LandedFile]) -> str:
    """Changes whenever a file of the day is added, replaced or removed."""
    digest = hashlib.sha256()
    for f in sorted(files):
        digest.update(f"{f.name}|{f.size}|{f.modified}\n".encode())
    return digest.hexdigest()[:16]


class LandingZone(ABC):
    @abstractmethod
    def landed_days(self, source: str) -> dict[date, list[LandedFile]]:
        """Every day folder of a source with its parquet files (days with none are left out)."""

    @abstractmethod
    def stage(self, source: str, day: date) -> list[str]:
        """Paths Spark can read for the day's files, in name order."""

    @abstractmethod
    def schema(self, staged_path: str) -> pa.Schema:
        """The parquet schema of a staged file, from its footer; UnreadableFile if it is not parquet."""

    @abstractmethod
    def quarantine(self, source: str, day: date, staged_path: str) -> str:
        """Move one file of the day aside; returns where it went."""

    @abstractmethod
    def quarantined(self, source: str, day: date) -> list[str]:
        """Files of the day quarantined by earlier runs, so a re-run still records them."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Human-readable root, for metadata and errors."""


class LocalLandingZone(LandingZone):
    """A folder (or a mounted container) that Spark reads directly."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def landed_days(self, source: str) -> dict[date, list[LandedFile]]:
        base = self.root / source
        if not base.is_dir():
            return {}
        days: dict[date, list[LandedFile]] = {}
        for folder in base.iterdir():
            match = DAY_FOLDER.match(folder.name)
            if not match or not folder.is_dir():
                continue
            files = [
                LandedFile(p.name, p.stat().st_size, p.stat().st_mtime)
                for p in folder.iterdir()
                if p.is_file() and p.suffix == ".parquet"
            ]
            if files:
                days[date.fromisoformat(match.group(1))] = sorted(files)
        return days

    def stage(self, source: str, day: date) -> list[str]:
        folder = self.root / source / f"date={day.isoformat()}"
        if not folder.is_dir():
            return []
        return [str(p) for p in sorted(folder.glob("*.parquet")) if p.is_file()]

    def schema(self, staged_path: str) -> pa.Schema:
        try:
            return pq.read_schema(staged_path)
        except Exception as exc:  # pyarrow raises several types for a corrupt or empty file
            raise footer_problem(exc) from exc

    def quarantined(self, source: str, day: date) -> list[str]:
        folder = self.root / source / QUARANTINE / f"date={day.isoformat()}"
        return sorted(str(p) for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []

    def quarantine(self, source: str, day: date, staged_path: str) -> str:
        target = self.root / source / QUARANTINE / f"date={day.isoformat()}" / Path(staged_path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged_path, target)
        return str(target)
