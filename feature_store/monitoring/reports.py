"""Where HTML reports (drift) are kept: a local folder, or an Azure Blob container so every run, on any
host, writes to the same place and the Dagster UI links to it.

`FEATURE_STORE_REPORTS_ROOT` is a folder, a Blob URL `https://<account>.blob.core.windows.net/<container>
[/<prefix>]` (Azurite: `http://127.0.0.1:10000/devstoreaccount1/<container>`), or the same place as Spark
names it, `abfss://<container>@<account>.dfs.core.windows.net/<prefix>`. Blob uploads authenticate with
`AZURE_BLOB_ACCOUNT_KEY` when it is set, else with this process's identity
(feature_store/azure/identity.py).
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlsplit

from feature_store.runtime import variables as V


class ReportStore(ABC):
    @abstractmethod
    def save(self, name: str, file: Path) -> str:
        """Keep `file` as `name`; returns where it now is (a path or a URL)."""

    @property
    @abstractmethod
    def is_url(self) -> bool: ...


class LocalReportStore(ReportStore):
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @property
    def is_url(self) -> bool:
        return False

    def save(self, name: str, file: Path) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        shutil.copyfile(file, target)
        return str(target)


class BlobReportStore(ReportStore):
    def __init__(self, url: str, credential: object | None = None) -> None:
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        # Azurite and other emulators put the account in the path: http://host:port/<account>/<container>.
        account_in_path = parts.hostname in ("127.0.0.1", "localhost")
        head = 2 if account_in_path else 1
        if len(segments) < head:
            raise V.SettingsError(f"{V.REPORTS_ROOT.name}={url!r} names no Blob container")
        self.account_url = f"{parts.scheme}://{parts.netloc}" + ("/" + segments[0] if account_in_path else "")
        self.container = segments[head - 1]
        self.prefix = "/".join(segments[head:])
        self.credential = credential

    @property
    def is_url(self) -> bool:
        return True

    def save(self, name: str, file: Path) -> str:
        from azure.storage.blob import BlobServiceClient, ContentSettings

        blob_name = f"{self.prefix}/{name}" if self.prefix else name
        from feature_store.azure.identity import blob_credential

        credential = self.credential if self.credential is not None else blob_credential()
        with BlobServiceClient(self.account_url, credential=credential) as service:
            blob = service.get_blob_client(self.container, blob_name)
            with open(file, "rb") as data:
                blob.upload_blob(data, overwrite=True, content_settings=ContentSettings(content_type="text/html"))
            return blob.url


def report_store(root: str) -> ReportStore:
    """A folder, a Blob URL, or the same container as an ABFS/WASB URI
    (`abfss://<container>@<account>.dfs.core.windows.net/<prefix>`, as Spark names it)."""
    parts = urlsplit(root)
    if parts.scheme in ("http", "https"):
        return BlobReportStore(root)
    if parts.scheme in ("abfs", "abfss", "wasb", "wasbs"):
        container, _, host = parts.netloc.partition("@")
        if not container or not host:
            raise V.SettingsError(f"{V.REPORTS_ROOT.name}={root!r} must look like {parts.scheme}://<container>@<host>/...")
        host = host.replace(".dfs.", ".blob.", 1)
        scheme = "http" if parts.scheme in ("abfs", "wasb") else "https"
        return BlobReportStore(f"{scheme}://{host}/{container}{parts.path}")
    if parts.scheme and len(parts.scheme) > 1:  # not a Windows drive letter
        raise V.SettingsError(f"{V.REPORTS_ROOT.name}={root!r}: use a folder, an https:// Blob URL or abfss://")
    return LocalReportStore(root)
