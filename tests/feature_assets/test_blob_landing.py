"""The Blob landing zone end to end against a real Azurite (blob API) on 127.0.0.1.

Azurite comes from `scripts/install_services.sh` (.services/node_modules/.bin/azurite-blob). With
AZURITE_BLOB_URL set (e.g. http://127.0.0.1:10000/devstoreaccount1) that server is used instead.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster_azure.blob import AzureBlobStorageKeyCredential, AzureBlobStorageResource

from feature_assets.raw.sensors import build_landing_sensor
from feature_store.landing import LandedFile, fingerprint
from feature_store.landing_blob import BlobLandingError, BlobLandingZone
from feature_store.tables import TRANSACTIONS
from resources import BlobLandingZoneResource

REPO = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO / ".services" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account key (public, documented by Microsoft; not a secret).
DEVSTORE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
        return True
    return False


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL it (node may ignore SIGTERM)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@pytest.fixture(scope="module")
def azurite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("AZURITE_BLOB_URL"):
        yield os.environ["AZURITE_BLOB_URL"].rstrip("/")
        return
    if not AZURITE_BLOB.exists():
        pytest.fail(f"{AZURITE_BLOB} not found: run scripts/install_services.sh (or set AZURITE_BLOB_URL)")
    data = tmp_path_factory.mktemp("azurite")
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        port = _free_port()
        log_path = data / f"azurite-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    str(AZURITE_BLOB),
                    "--blobHost",
                    HOST,
                    "--blobPort",
                    str(port),
                    "--location",
                    str(data),
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                ],  # fmt: skip
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a group
            )
        deadline = time.monotonic() + 30
        while not _port_open(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if _port_open(port):
            break
        _stop_group(proc)
    else:
        pytest.fail(
            f"Azurite did not start; last log {log_path}:\n{log_path.read_text(errors='replace')[-2000:]}"
        )
    try:
        yield f"http://{HOST}:{port}/devstoreaccount1"
    finally:
        _stop_group(proc)


@pytest.fixture
def storage(azurite_url: str) -> AzureBlobStorageResource:
    return AzureBlobStorageResource(
        account_url=azurite_url, credential=AzureBlobStorageKeyCredential(key=DEVSTORE_KEY)
    )


@pytest.fixture
def container(storage: AzureBlobStorageResource) -> Iterator[str]:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    with storage.get_client() as service:
        service.create_container(name)
    yield name
    with storage.get_client() as service:
        service.delete_container(name)


def parquet_bytes(rows: int) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"transaction_id": [f"t{i}" for i in range(rows)]}), sink)
    return sink.getvalue().to_pybytes()


def upload(storage: AzureBlobStorageResource, container: str, name: str, data: bytes) -> None:
    with storage.get_client() as service:
        service.get_container_client(container).upload_blob(name, data, overwrite=True)


def blob_names(storage: AzureBlobStorageResource, container: str) -> set[str]:
    with storage.get_client() as service:
        return {b.name for b in service.get_container_client(container).list_blobs()}


def zone(storage: AzureBlobStorageResource, container: str, staging: Path, prefix: str = "landing/"):
    return BlobLandingZone(storage.get_client, container, prefix, staging)


def test_landed_days_lists_parquet_files_of_day_folders(storage, container, tmp_path: Path):
    files = {
        "landing/transactions/date=2025-02-01/part-0.parquet": parquet_bytes(3),
        "landing/transactions/date=2025-02-01/part-1.parquet": parquet_bytes(5),
        "landing/transactions/date=2025-02-02/part-0.parquet": parquet_bytes(1),
        # none of these is a landed file of transactions:
        "landing/transactions/date=2025-02-01/README.txt": b"notes",
        "landing/transactions/date=2025-02-01/nested/part-9.parquet": b"x",
        "landing/transactions/_quarantine/date=2025-02-01/bad.parquet": b"x",
        "landing/transactions/date=2025-02-30/part-0.parquet": b"x",
        "landing/transactions/part-0.parquet": b"x",
        "landing/transactions_old/date=2025-02-03/part-0.parquet": b"x",
        "landing/labels/date=2025-02-04/part-0.parquet": b"x",
        "transactions/date=2025-02-05/part-0.parquet": b"x",  # outside the prefix
    }
    for name, data in files.items():
        upload(storage, container, name, data)
    landed = zone(storage, container, tmp_path).landed_days("transactions")
    assert sorted(landed) == [date(2025, 2, 1), date(2025, 2, 2)]
    assert [f.name for f in landed[date(2025, 2, 1)]] == ["part-0.parquet", "part-1.parquet"]
    with storage.get_client() as service:
        props = (
            service.get_container_client(container)
            .get_blob_client("landing/transactions/date=2025-02-01/part-1.parquet")
            .get_blob_properties()
        )
    assert landed[date(2025, 2, 1)][1] == LandedFile(
        "part-1.parquet", props.size, props.last_modified.timestamp()
    )
    assert props.size == len(files["landing/transactions/date=2025-02-01/part-1.parquet"])

    without_prefix = zone(storage, container, tmp_path, prefix="").landed_days("transactions")
    assert sorted(without_prefix) == [date(2025, 2, 5)]
    assert zone(storage, container, tmp_path).landed_days("nothing_here") == {}


def test_fingerprint_changes_when_a_file_is_added_or_replaced(storage, container, tmp_path: Path):
    landing = zone(storage, container, tmp_path)
    upload(storage, container, "landing/transactions/date=2025-02-01/part-0.parquet", parquet_bytes(3))
    first = fingerprint(landing.landed_days("transactions")[date(2025, 2, 1)])
    upload(storage, container, "landing/transactions/date=2025-02-01/part-1.parquet", parquet_bytes(3))
    second = fingerprint(landing.landed_days("transactions")[date(2025, 2, 1)])
    assert second != first
    upload(storage, container, "landing/transactions/date=2025-02-01/part-1.parquet", parquet_bytes(30))
    assert fingerprint(landing.landed_days("transactions")[date(2025, 2, 1)]) not in (first, second)


def test_stage_downloads_the_day_and_replaces_stale_copies(storage, container, tmp_path: Path):
    staging = tmp_path / "staging"
    landing = zone(storage, container, staging)
    day = date(2025, 2, 1)
    upload(storage, container, "landing/transactions/date=2025-02-01/b.parquet", parquet_bytes(2))
    upload(storage, container, "landing/transactions/date=2025-02-01/a.parquet", parquet_bytes(4))
    upload(storage, container, "landing/transactions/date=2025-02-02/c.parquet", parquet_bytes(1))
    folder = staging / "transactions" / "date=2025-02-01"
    folder.mkdir(parents=True)
    (folder / "stale.parquet").write_bytes(b"from an earlier attempt")

    paths = landing.stage("transactions", day)
    assert paths == [str(folder / "a.parquet"), str(folder / "b.parquet")]
    assert sorted(p.name for p in folder.iterdir()) == ["a.parquet", "b.parquet"]
    assert pq.read_table(paths[0]).num_rows == 4
    assert pq.read_table(paths[1]).num_rows == 2

    # A blob replaced or removed since the last attempt is not read stale.
    upload(storage, container, "landing/transactions/date=2025-02-01/b.parquet", parquet_bytes(7))
    with storage.get_client() as service:
        service.get_container_client(container).delete_blob("landing/transactions/date=2025-02-01/a.parquet")
    assert landing.stage("transactions", day) == [str(folder / "b.parquet")]
    assert pq.read_table(folder / "b.parquet").num_rows == 7
    assert sorted(p.name for p in (staging / "transactions").iterdir()) == ["date=2025-02-01"]

    assert landing.stage("transactions", date(2025, 2, 9)) == []


def test_quarantine_moves_the_blob_aside(storage, container, azurite_url: str, tmp_path: Path):
    landing = zone(storage, container, tmp_path / "staging")
    day = date(2025, 2, 1)
    bad = b"not a parquet file"
    upload(storage, container, "landing/transactions/date=2025-02-01/bad.parquet", bad)
    upload(storage, container, "landing/transactions/date=2025-02-01/good.parquet", parquet_bytes(1))
    bad_path, good_path = sorted(landing.stage("transactions", day))

    moved = landing.quarantine("transactions", day, bad_path)
    target = "landing/transactions/_quarantine/date=2025-02-01/bad.parquet"
    assert moved == f"{azurite_url}/{container}/{target}"
    assert blob_names(storage, container) == {target, "landing/transactions/date=2025-02-01/good.parquet"}
    with storage.get_client() as service:
        assert service.get_container_client(container).download_blob(target).readall() == bad
    assert not Path(bad_path).exists()
    assert Path(good_path).exists()
    assert [f.name for f in landing.landed_days("transactions")[day]] == ["good.parquet"]

    # A retry after the move finds the quarantined copy; an unknown file is an error.
    assert landing.quarantine("transactions", day, bad_path) == moved
    with pytest.raises(BlobLandingError, match="does not exist"):
        landing.quarantine("transactions", day, str(tmp_path / "never-landed.parquet"))


def test_location_names_the_container_and_prefix(storage, container, azurite_url: str, tmp_path: Path):
    assert zone(storage, container, tmp_path).location == f"{azurite_url}/{container}/landing"
    assert zone(storage, container, tmp_path, prefix="").location == f"{azurite_url}/{container}"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def test_sensor_requests_partitions_through_the_blob_resource(storage, container, instance, tmp_path: Path):
    resource = BlobLandingZoneResource(
        storage=storage, container=container, prefix="landing/", staging_dir=str(tmp_path / "staging")
    )
    sensor = build_landing_sensor(TRANSACTIONS)
    upload(storage, container, "landing/transactions/date=2025-02-01/part-0.parquet", parquet_bytes(1))
    upload(storage, container, "landing/transactions/date=2025-02-02/part-0.parquet", parquet_bytes(1))

    def tick(cursor: str | None) -> dg.SensorResult:
        # the nested AzureBlobStorageResource is a context-managed resource
        with dg.build_sensor_context(
            cursor=cursor, resources={"landing": resource}, instance=instance
        ) as context:
            result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    first = tick(None)
    assert [r.partition_key for r in first.run_requests] == ["2025-02-01", "2025-02-02"]
    assert sorted(json.loads(first.cursor)) == ["2025-02-01", "2025-02-02"]
    assert tick(first.cursor).run_requests == []

    upload(storage, container, "landing/transactions/date=2025-02-02/part-1.parquet", parquet_bytes(1))
    third = tick(first.cursor)
    assert [r.partition_key for r in third.run_requests] == ["2025-02-02"]
    assert tick(third.cursor).run_requests == []
