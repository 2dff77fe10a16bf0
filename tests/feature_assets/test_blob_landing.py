"""The Blob landing zone end to end against a real Azurite (blob API) on 127.0.0.1:10000: listing
and quarantine through the blob client, and Spark reading the landed files in place over wasb://
(hadoop-azure's emulator mode) with no copy on the driver's disk. See tests/azurite.py.
"""

import json
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster_azure.blob import (
    AzureBlobStorageDefaultCredential,
    AzureBlobStorageKeyCredential,
    AzureBlobStorageResource,
)

from examples.churn.repo import TRANSACTIONS
from feature_assets.raw.sensors import build_landing_sensor
from feature_store.offline.delta_tables import DeltaTables
from feature_store.offline.ingest import REJECTED_ROWS_TABLE, ingest_days
from feature_store.offline.landing import LandedFile, UnreadableFile, fingerprint
from feature_store.offline.landing_blob import BlobLandingError, BlobLandingZone
from resources import BlobLandingZoneResource
from resources.landing import blob_landing_resource
from tests.azurite import DEVSTORE_KEY, emulator_azurite, use_emulator
from tests.landing_files import TXN_SCHEMA, txn


@pytest.fixture(scope="module")
def azurite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with emulator_azurite(tmp_path_factory.mktemp("azurite")) as url:
        yield url


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
    return table_bytes(pa.table({"transaction_id": [f"t{i}" for i in range(rows)]}))


def table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def upload(storage: AzureBlobStorageResource, container: str, name: str, data: bytes) -> None:
    with storage.get_client() as service:
        service.get_container_client(container).upload_blob(name, data, overwrite=True)


def blob_names(storage: AzureBlobStorageResource, container: str) -> set[str]:
    with storage.get_client() as service:
        return {b.name for b in service.get_container_client(container).list_blobs()}


def zone(storage: AzureBlobStorageResource, container: str, prefix: str = "landing/"):
    return BlobLandingZone(storage.get_client, container, prefix)


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
    landed = zone(storage, container).landed_days("transactions")
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

    without_prefix = zone(storage, container, prefix="").landed_days("transactions")
    assert sorted(without_prefix) == [date(2025, 2, 5)]
    assert zone(storage, container).landed_days("nothing_here") == {}


def test_fingerprint_changes_when_a_file_is_added_or_replaced(storage, container, tmp_path: Path):
    landing = zone(storage, container)
    upload(storage, container, "landing/transactions/date=2025-02-01/part-0.parquet", parquet_bytes(3))
    first = fingerprint(landing.landed_days("transactions")[date(2025, 2, 1)])
    upload(storage, container, "landing/transactions/date=2025-02-01/part-1.parquet", parquet_bytes(3))
    second = fingerprint(landing.landed_days("transactions")[date(2025, 2, 1)])
    assert second != first
    upload(storage, container, "landing/transactions/date=2025-02-01/part-1.parquet", parquet_bytes(30))
    assert fingerprint(landing.landed_days("transactions")[date(2025, 2, 1)]) not in (first, second)


@pytest.mark.slow
def test_stage_returns_wasb_urls_that_spark_reads_in_place(spark, storage, container, tmp_path: Path):
    use_emulator(spark)
    landing = zone(storage, container)
    day = date(2025, 2, 1)
    upload(storage, container, "landing/transactions/date=2025-02-01/b.parquet", parquet_bytes(2))
    upload(storage, container, "landing/transactions/date=2025-02-01/a.parquet", parquet_bytes(4))
    upload(storage, container, "landing/transactions/date=2025-02-02/c.parquet", parquet_bytes(1))
    root = f"wasb://{container}@devstoreaccount1.blob.core.windows.net/landing/transactions/date=2025-02-01/"

    paths = landing.stage("transactions", day)
    assert paths == [f"{root}a.parquet", f"{root}b.parquet"]
    assert spark.read.parquet(paths[0]).count() == 4
    assert spark.read.parquet(*paths).count() == 6

    # A blob replaced or removed since the last call is read as it is now.
    upload(storage, container, "landing/transactions/date=2025-02-01/b.parquet", parquet_bytes(7))
    with storage.get_client() as service:
        service.get_container_client(container).delete_blob("landing/transactions/date=2025-02-01/a.parquet")
    assert landing.stage("transactions", day) == [f"{root}b.parquet"]
    assert spark.read.parquet(f"{root}b.parquet").count() == 7
    assert landing.stage("transactions", date(2025, 2, 9)) == []
    assert list(tmp_path.iterdir()) == []


def test_schema_comes_from_the_blob_footer(storage, container):
    landing = zone(storage, container)
    table = pa.Table.from_pylist([txn("t1", "c1", "p1", 2.0, "2025-02-01 10:00")], schema=TXN_SCHEMA)
    upload(storage, container, "landing/transactions/date=2025-02-01/good.parquet", table_bytes(table))
    for name, data in [
        ("empty", b""),
        ("text", b"not a parquet file at all"),
        ("cut", table_bytes(table)[:-3]),
    ]:
        upload(storage, container, f"landing/transactions/date=2025-02-01/{name}.parquet", data)
    paths = {p.rsplit("/", 1)[1]: p for p in landing.stage("transactions", date(2025, 2, 1))}
    assert landing.schema(paths["good.parquet"]) == TXN_SCHEMA
    for name in ("empty", "text", "cut"):
        with pytest.raises(UnreadableFile):
            landing.schema(paths[f"{name}.parquet"])
    with pytest.raises(BlobLandingError, match="not a file of this landing zone"):
        landing.schema("wasb://elsewhere@devstoreaccount1.blob.core.windows.net/x.parquet")


def test_spark_urls_follow_the_account(storage, container):
    def spark_root(account_url: str, scheme: str = "abfss") -> str:
        service = AzureBlobStorageResource(
            account_url=account_url, credential=AzureBlobStorageKeyCredential(key="a2V5")
        )
        return BlobLandingZone(service.get_client, "landing", "", scheme).spark_root

    assert spark_root("https://acct.blob.core.windows.net") == "abfss://landing@acct.dfs.core.windows.net/"
    assert (
        spark_root("https://acct.blob.core.windows.net", "wasbs")
        == "wasbs://landing@acct.blob.core.windows.net/"
    )
    assert spark_root("http://127.0.0.1:10000/devstoreaccount1") == (
        "wasb://landing@devstoreaccount1.blob.core.windows.net/"
    )
    with pytest.raises(BlobLandingError, match="only at 127.0.0.1:10000"):
        spark_root("http://127.0.0.1:10001/devstoreaccount1")
    with pytest.raises(ValueError, match="spark_scheme"):
        BlobLandingZone(storage.get_client, container, "", "https")


@pytest.mark.slow
def test_ingest_reads_a_landed_day_from_azurite_with_no_local_copy(spark, storage, container, tmp_path: Path):
    use_emulator(spark)
    landing = zone(storage, container)
    good = [txn("t1", "c1", "p1", 2.0, "2025-02-01 10:00"), txn("t2", "c2", "p1", -1.0, "2025-02-01 11:00")]
    upload(storage, container, "landing/transactions/date=2025-02-01/part-0.parquet",
           table_bytes(pa.Table.from_pylist(good, schema=TXN_SCHEMA)))  # fmt: skip
    upload(storage, container, "landing/transactions/date=2025-02-01/broken.parquet", b"junk")
    tables = DeltaTables(spark, str(tmp_path / "delta"))
    before = set(os.listdir(tmp_path))

    [result] = ingest_days(spark, tables, landing, TRANSACTIONS, date(2025, 2, 1), date(2025, 2, 1))
    assert (result.files, result.rows_in, result.accepted, result.rejected) == (2, 2, 1, 1)  # the unreadable file has no rows
    quarantined = f"{landing.container_url}/landing/transactions/_quarantine/date=2025-02-01/broken.parquet"
    assert result.quarantined_files == [quarantined]
    assert "landing/transactions/date=2025-02-01/broken.parquet" not in blob_names(storage, container)
    files = {r["file"] for r in tables.read(REJECTED_ROWS_TABLE).collect()}
    root = f"wasb://{container}@devstoreaccount1.blob.core.windows.net/landing/transactions/date=2025-02-01/"
    assert files == {f"{root}part-0.parquet", quarantined}
    # Nothing landed was copied to local disk: only the Delta tables were written under the test dir.
    assert set(os.listdir(tmp_path)) - before == {"delta"}
    local = [p for p in tmp_path.rglob("*") if p.name in ("part-0.parquet", "broken.parquet")]
    assert local == []


def test_quarantine_moves_the_blob_aside(storage, container, azurite_url: str):
    landing = zone(storage, container)
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
    assert good_path.endswith("/good.parquet")
    assert [f.name for f in landing.landed_days("transactions")[day]] == ["good.parquet"]

    # A retry after the move finds the quarantined copy; an unknown file is an error.
    assert landing.quarantine("transactions", day, bad_path) == moved
    with pytest.raises(BlobLandingError, match="does not exist"):
        landing.quarantine("transactions", day, bad_path.replace("bad.parquet", "never-landed.parquet"))


def test_location_names_the_container_and_prefix(storage, container, azurite_url: str):
    assert zone(storage, container).location == f"{azurite_url}/{container}/landing"
    assert zone(storage, container, prefix="").location == f"{azurite_url}/{container}"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def test_sensor_requests_partitions_through_the_blob_resource(storage, container, instance):
    resource = BlobLandingZoneResource(storage=storage, container=container, prefix="landing/")
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


def test_blob_landing_resource_uses_the_key_when_set_else_default_credential(azurite_url, container):
    env = {"AZURE_BLOB_ACCOUNT_URL": azurite_url, "FEATURE_STORE_LANDING_CONTAINER": container,
           "FEATURE_STORE_LANDING_PREFIX": "landing/", "AZURE_BLOB_ACCOUNT_KEY": DEVSTORE_KEY}  # fmt: skip
    with_key = blob_landing_resource(env)
    assert isinstance(with_key.storage.credential, AzureBlobStorageKeyCredential)
    assert (with_key.container, with_key.prefix) == (container, "landing/")
    # The key is an EnvVar reference, so Dagster's UI and run config show its name, never its value.
    assert DEVSTORE_KEY not in repr(with_key)
    without_key = blob_landing_resource({k: v for k, v in env.items() if k != "AZURE_BLOB_ACCOUNT_KEY"})
    assert isinstance(without_key.storage.credential, AzureBlobStorageDefaultCredential)
    assert without_key.storage.account_url == azurite_url
