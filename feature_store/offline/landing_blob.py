"""A landing zone in an Azure Blob container: <prefix><source>/date=YYYY-MM-DD/<file>.parquet.

Spark reads the blobs in place through hadoop-azure: `stage` lists a day's blobs and returns their URLs
in the scheme Spark opens them with (`spark_scheme`), with nothing copied to the driver's disk:

| account URL                               | spark_scheme      | path Spark reads                                            |
| ----------------------------------------- | ----------------- | ----------------------------------------------------------- |
| https://<account>.blob.core.windows.net   | abfss (default)   | abfss://<container>@<account>.dfs.core.windows.net/<name>   |
| https://<account>.blob.core.windows.net   | wasbs             | wasbs://<container>@<account>.blob.core.windows.net/<name>  |
| http://127.0.0.1:10000/devstoreaccount1   | (Azurite: always) | wasb://<container>@devstoreaccount1.blob.core.windows.net/<name> |

The Spark session authenticates with the settings of feature_store/azure/storage.py (the landing
account's key, or the configured identity). Schemas are read from each file's parquet footer with two
small range reads through the blob client. `quarantine` moves an unreadable blob aside to
<prefix><source>/_quarantine/date=YYYY-MM-DD/<file> with a server-side copy followed by a delete,
so nothing is lost and a retry of the day no longer sees the file.

`prefix` is prepended verbatim: use "landing/" (with the slash) for a folder-like prefix.
The blob client is opened per operation through `open_service`, a zero-argument context manager
factory yielding a `BlobServiceClient` (dagster-azure's `AzureBlobStorageResource.get_client`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import date
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.parquet as pq
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from feature_store.azure.storage import (
    EMULATOR_BLOB_PORT,
    EMULATOR_HOST,
    blob_account,
    blob_host,
    dfs_host,
    is_emulator_url,
)
from feature_store.offline.landing import (
    DAY_FOLDER,
    QUARANTINE,
    LandedFile,
    LandingZone,
    UnreadableFile,
    footer_problem,
)

OpenService = Callable[[], AbstractContextManager[BlobServiceClient]]

COPY_TIMEOUT_SECONDS = 600.0
SPARK_SCHEMES = ("abfss", "wasbs")
PARQUET_MAGIC = b"PAR1"


class BlobLandingError(RuntimeError):
    """A blob operation of the landing zone did not complete."""


class BlobLandingZone(LandingZone):
    def __init__(
        self,
        open_service: OpenService,
        container: str,
        prefix: str,
        spark_scheme: str = "abfss",
        copy_timeout_seconds: float = COPY_TIMEOUT_SECONDS,
    ) -> None:
        if not container:
            raise ValueError("container must name the Blob container the files land in")
        if spark_scheme not in SPARK_SCHEMES:
            raise ValueError(f"spark_scheme must be one of {', '.join(SPARK_SCHEMES)}, got {spark_scheme!r}")
        self._open_service = open_service
        self.container = container
        self.prefix = prefix
        self.spark_scheme = spark_scheme
        self.copy_timeout_seconds = copy_timeout_seconds
        self._container_url: str | None = None
        self._spark_root: str | None = None

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
    def spark_root(self) -> str:
        """The container's root as Spark addresses it (module doc), ending with a slash."""
        if self._spark_root is None:
            url = self.container_url
            if is_emulator_url(url):
                if urlsplit(url).port != EMULATOR_BLOB_PORT:
                    raise BlobLandingError(
                        f"Spark reaches the storage emulator only at 127.0.0.1:{EMULATOR_BLOB_PORT} (hadoop-azure's "
                        f"WASB emulator endpoint is fixed); this landing zone's account URL is {url}"
                    )
                self._spark_root = f"wasb://{self.container}@{EMULATOR_HOST}/"
            else:
                account = blob_account(url)
                if account is None:
                    raise BlobLandingError(
                        f"{url} is not an Azure Blob endpoint (https://<account>.blob.<suffix>)"
                    )
                host = dfs_host(account) if self.spark_scheme == "abfss" else blob_host(account)
                self._spark_root = f"{self.spark_scheme}://{self.container}@{host}/"
        return self._spark_root

    def _blob_name(self, staged_path: str) -> str:
        """The blob behind a path `stage` returned."""
        if not staged_path.startswith(self.spark_root):
            raise BlobLandingError(f"{staged_path} is not a file of this landing zone ({self.spark_root})")
        return staged_path[len(self.spark_root) :]

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

    def stage(self, source: str, day: date) -> list[str]:
        """URLs Spark reads the day's blobs at, in name order; nothing is downloaded."""
        with self._container() as container:
            names = [
                blob.name
                for blob in container.list_blobs(name_starts_with=self._day_prefix(source, day))
                if self._parse(source, blob.name) is not None
            ]
        return [f"{self.spark_root}{name}" for name in sorted(names)]

    def schema(self, staged_path: str) -> pa.Schema:
        """The parquet schema from the blob's footer: its last 8 bytes give the footer's length, then
        one range read fetches the footer; pyarrow parses it behind a stand-in for the data pages."""
        name = self._blob_name(staged_path)
        with self._container() as container:
            blob = container.get_blob_client(name)
            size = blob.get_blob_properties().size
            if size < 12:  # magic + footer length + magic
                raise UnreadableFile(f"file is {size} bytes, too small for parquet")
            trailer = blob.download_blob(offset=size - 8, length=8).readall()
            footer_length = int.from_bytes(trailer[:4], "little")
            if trailer[4:] != PARQUET_MAGIC or footer_length > size - 12:
                raise UnreadableFile("Parquet magic bytes not found in footer: not a parquet file")
            footer = blob.download_blob(offset=size - 8 - footer_length, length=footer_length + 8).readall()
        try:
            return pq.read_schema(pa.BufferReader(PARQUET_MAGIC + footer))
        except Exception as exc:  # pyarrow raises several types for a corrupt footer
            raise footer_problem(exc) from exc

    def quarantined(self, source: str, day: date) -> list[str]:
        prefix = f"{self.prefix}{source}/{QUARANTINE}/date={day.isoformat()}/"
        with self._container() as container:
            names = sorted(b.name for b in container.list_blobs(name_starts_with=prefix))
        return [f"{self.container_url}/{name}" for name in names]

    def quarantine(self, source: str, day: date, staged_path: str) -> str:
        """Copy the blob behind a staged path to _quarantine/ and delete the original.

        Idempotent: if the original is already gone but its quarantined copy exists (a retry after
        a failure between copy and return), the quarantined location is returned.
        """
        name = self._blob_name(staged_path).rsplit("/", 1)[-1]
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
