"""A landing zone in an Azure Blob container: <prefix><source>/date=YYYY-MM-DD/<file>.parquet.

Spark reads local (or mounted) paths, so `stage` downloads a day's blobs to
<staging_dir>/<source>/date=YYYY-MM-DD/ first. `quarantine` moves an unreadable blob aside to
<prefix><source>/_quarantine/date=YYYY-MM-DD/<file> with a server-side copy followed by a delete,
so nothing is lost and a retry of the day no longer sees the file.

`prefix` is prepended verbatim: use "landing/" (with the slash) for a folder-like prefix.
The blob client is opened per operation through `open_service`, a zero-argument context manager
factory yielding a `BlobServiceClient` (dagster-azure's `AzureBlobStorageResource.get_client`).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from feature_store.landing import DAY_FOLDER, QUARANTINE, LandedFile, LandingZone

OpenService = Callable[[], AbstractContextManager[BlobServiceClient]]

COPY_TIMEOUT_SECONDS = 600.0


class BlobLandingError(RuntimeError):
    """A blob operation of the landing zone did not complete."""


class BlobLandingZone(LandingZone):
    def __init__(
        self,
        open_service: OpenService,
        container: str,
        prefix: str,
        staging_dir: str | Path,
        copy_timeout_seconds: float = COPY_TIMEOUT_SECONDS,
    ) -> None:
        if not container:
            raise ValueError("container must name the Blob container the files land in")
        self._open_service = open_service
        self.container = container
        self.prefix = prefix
        self.staging_dir = Path(staging_dir)
        self.copy_timeout_seconds = copy_timeout_seconds
        self._container_url: str | None = None

    @contextmanager
    def _container(self) -> Iterator[ContainerClient]:
        with self._open_service() as service:
            yield service.get_container_client(self.container)

    @property
    def container_url(self) -> str:
        """The container's URL without any SAS query string (it may hold a secret)."""
        if self._container_url is None:
            with self._open_service() as service:  # constructing a client makes no request
                parts = urlsplit(service.url)
            base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
            self._container_url = f"{base}/{self.container}"
        return self._container_url

    @property
    def location(self) -> str:
        return f"{self.container_url}/{self.prefix}".rstrip("/")

    def _day_prefix(self, source: str, day: date) -> str:
        return f"{self.prefix}{source}/date={day.isoformat()}/"

    def _parse(self, source: str, blob_name: str) -> tuple[date, str] | None:
        """(day, file name) of a landed parquet blob directly under a day folder, else None."""
        rest = blob_name[len(f"{self.prefix}{source}/") :]
        parts = rest.split("/")
        if len(parts) != 2 or not parts[1].endswith(".parquet"):
            return None
        match = DAY_FOLDER.match(parts[0])
        if not match:
            return None
        try:
            return date.fromisoformat(match.group(1)), parts[1]
        except ValueError:  # date=2025-02-30
            return None

    def landed_days(self, source: str) -> dict[date, list[LandedFile]]:
        days: dict[date, list[LandedFile]] = {}
        with self._container() as container:
            for blob in container.list_blobs(name_starts_with=f"{self.prefix}{source}/"):
                parsed = self._parse(source, blob.name)
                if parsed is None:
                    continue
                day, name = parsed
                days.setdefault(day, []).append(
                    LandedFile(name, int(blob.size or 0), blob.last_modified.timestamp())
                )
        return {day: sorted(files) for day, files in days.items()}

    def _staged_folder(self, source: str, day: date) -> Path:
        return self.staging_dir / source / f"date={day.isoformat()}"

    def stage(self, source: str, day: date) -> list[str]:
        """Download the day's blobs, replacing whatever an earlier attempt staged for that day.

        The files are downloaded into a fresh sibling folder that then replaces the day's
        folder, so a blob removed or replaced since the last attempt is never read stale.
        """
        folder = self._staged_folder(source, day)
        folder.parent.mkdir(parents=True, exist_ok=True)
        fresh = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}")
        fresh.mkdir()
        try:
            names: list[str] = []
            with self._container() as container:
                for blob in container.list_blobs(name_starts_with=self._day_prefix(source, day)):
                    parsed = self._parse(source, blob.name)
                    if parsed is None:
                        continue
                    _, name = parsed
                    with open(fresh / name, "wb") as fh:
                        container.download_blob(blob.name).readinto(fh)
                    names.append(name)
            if folder.exists():
                shutil.rmtree(folder)
            fresh.rename(folder)
        finally:
            if fresh.exists():
                shutil.rmtree(fresh, ignore_errors=True)
        return [str(folder / name) for name in sorted(names)]

    def quarantined(self, source: str, day: date) -> list[str]:
        prefix = f"{self.prefix}{source}/{QUARANTINE}/date={day.isoformat()}/"
        with self._container() as container:
            names = sorted(b.name for b in container.list_blobs(name_starts_with=prefix))
        return [f"{self.container_url}/{name}" for name in names]

    def quarantine(self, source: str, day: date, staged_path: str) -> str:
        """Copy the blob behind a staged file to _quarantine/, delete the original and the staged copy.

        Idempotent: if the original is already gone but its quarantined copy exists (a retry after
        a failure between copy and return), the quarantined location is returned.
        """
        name = Path(staged_path).name
        source_name = f"{self._day_prefix(source, day)}{name}"
        target_name = f"{self.prefix}{source}/{QUARANTINE}/date={day.isoformat()}/{name}"
        with self._container() as container:
            original = container.get_blob_client(source_name)
            target = container.get_blob_client(target_name)
            if original.exists():
                target.start_copy_from_url(original.url)
                self._wait_for_copy(target, source_name)
                with suppress(ResourceNotFoundError):  # deleted concurrently; the copy is in place
                    original.delete_blob()
            elif not target.exists():
                raise BlobLandingError(
                    f"cannot quarantine {source_name} in container {self.container}: the blob does not exist"
                )
        Path(staged_path).unlink(missing_ok=True)
        return f"{self.container_url}/{target_name}"

    def _wait_for_copy(self, target: BlobClient, source_name: str) -> None:
        deadline = time.monotonic() + self.copy_timeout_seconds
        delay = 0.1
        while True:
            copy = target.get_blob_properties().copy
            if copy.status in (None, "success"):
                return
            if copy.status != "pending":
                raise BlobLandingError(
                    f"copying {source_name} to quarantine ended with status {copy.status}: "
                    f"{copy.status_description}; the original is left in place"
                )
            if time.monotonic() > deadline:
                raise BlobLandingError(
                    f"copying {source_name} to quarantine did not finish within "
                    f"{self.copy_timeout_seconds:.0f}s; the original is left in place"
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
