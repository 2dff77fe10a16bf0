"""Reports kept in a folder or in a Blob container (a real Azurite), read back byte for byte."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from feature_store.monitoring.reports import BlobReportStore, LocalReportStore, report_store
from feature_store.runtime.variables import SettingsError
from scripts import devservices


def _report(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text("<html><body>drift: 23%</body></html>")
    return path


def test_local_store_copies_the_report(tmp_path: Path) -> None:
    store = report_store(str(tmp_path / "reports" / "drift"))
    assert isinstance(store, LocalReportStore) and not store.is_url
    saved = store.save("a.html", _report(tmp_path))
    assert Path(saved).read_text() == _report(tmp_path).read_text()


def test_blob_urls_name_account_container_and_prefix() -> None:
    store = BlobReportStore("https://acct.blob.core.windows.net/reports/drift/daily")
    assert (store.account_url, store.container, store.prefix) == (
        "https://acct.blob.core.windows.net", "reports", "drift/daily",
    )  # fmt: skip
    emulated = BlobReportStore("http://127.0.0.1:10000/devstoreaccount1/reports")
    assert (emulated.account_url, emulated.container, emulated.prefix) == (
        "http://127.0.0.1:10000/devstoreaccount1", "reports", "",
    )  # fmt: skip
    with pytest.raises(SettingsError, match="names no Blob container"):
        BlobReportStore("https://acct.blob.core.windows.net/")


def test_abfss_and_wasbs_roots_name_the_same_blobs() -> None:
    for root in ("abfss://reports@acct.dfs.core.windows.net/drift", "wasbs://reports@acct.blob.core.windows.net/drift"):
        store = report_store(root)
        assert isinstance(store, BlobReportStore)
        assert (store.account_url, store.container, store.prefix) == (
            "https://acct.blob.core.windows.net", "reports", "drift",
        )  # fmt: skip
    with pytest.raises(SettingsError, match="must look like abfss://<container>@<host>"):
        report_store("abfss://acct.dfs.core.windows.net/drift")
    with pytest.raises(SettingsError, match="use a folder, an https:// Blob URL or abfss://"):
        report_store("s3://bucket/reports")


@pytest.mark.slow
def test_blob_store_uploads_to_azurite(azurite: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_BLOB_ACCOUNT_KEY", devservices.AZURITE_KEY)
    container = f"reports-{uuid.uuid4().hex[:8]}"
    account_url = azurite
    with BlobServiceClient(account_url, credential=devservices.AZURITE_KEY) as service:
        service.create_container(container)
        store = report_store(f"{account_url}/{container}/drift")
        url = store.save("customer_features_drift_2025-03-01.html", _report(tmp_path))
        assert url == f"{account_url}/{container}/drift/customer_features_drift_2025-03-01.html"
        blob = service.get_blob_client(container, "drift/customer_features_drift_2025-03-01.html")
        assert blob.download_blob().readall() == _report(tmp_path).read_bytes()
        assert blob.get_blob_properties().content_settings.content_type == "text/html"
