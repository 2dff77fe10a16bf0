"""Delta Lake on Azurite through hadoop-azure's WASB driver (emulator mode), with the shared test
SparkSession: what runs on ADLS Gen2 through ABFS in production runs here on the blob API, since Azurite
has no DFS endpoint (tests/azurite.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from azure.storage.blob import BlobServiceClient

from feature_store.declarations import Column
from feature_store.offline.delta_tables import DeltaTables
from tests.azurite import DEVSTORE_KEY, emulator_azurite, use_emulator

pytestmark = pytest.mark.slow
COLUMNS = (Column("id", "string", "key"), Column("value", "double", "value"), Column("date", "date", "day"))


@pytest.fixture(scope="module")
def blob_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlobServiceClient]:
    with emulator_azurite(tmp_path_factory.mktemp("azurite")) as url:
        yield BlobServiceClient(
            url, credential={"account_name": "devstoreaccount1", "account_key": DEVSTORE_KEY}
        )


@pytest.fixture
def wasb_root(spark, blob_service: BlobServiceClient) -> Iterator[str]:
    use_emulator(spark)
    container = f"delta-{uuid.uuid4().hex[:12]}"
    blob_service.create_container(container)
    yield f"wasb://{container}@devstoreaccount1.blob.core.windows.net/delta"
    blob_service.delete_container(container)


def test_create_write_merge_and_read_a_delta_table(spark, wasb_root: str, blob_service: BlobServiceClient):
    tables = DeltaTables(spark, wasb_root)
    tables.ensure("feature_store.scores", COLUMNS, ["date"], comment="on Azurite")
    assert tables.exists("feature_store.scores")
    day1, day2 = date(2025, 1, 1), date(2025, 1, 2)
    rows = spark.createDataFrame(
        [("a", 1.0, day1), ("b", 2.0, day1), ("a", 3.0, day2)], "id string, value double, date date"
    )
    tables.replace_days("feature_store.scores", rows, day1, day2)
    again = spark.createDataFrame([("a", 10.0, day1)], "id string, value double, date date")
    tables.replace_days("feature_store.scores", again, day1, day1)  # idempotent day replacement
    path = tables.path("feature_store.scores")
    spark.sql(
        f"MERGE INTO delta.`{path}` t USING (SELECT 'c' AS id, 5.0 AS value, DATE'2025-01-02' AS date) s "
        "ON t.id = s.id AND t.date = s.date WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    got = sorted((r["id"], r["value"], r["date"]) for r in tables.read("feature_store.scores").collect())
    assert got == [("a", 3.0, day2), ("a", 10.0, day1), ("c", 5.0, day2)]
    assert tables.version("feature_store.scores") == 3
    assert tables.properties("feature_store.scores")["comment"] == "on Azurite"
    # The table really lives in the container: its log and partition folders are blobs.
    container = path.split("@")[0].removeprefix("wasb://")
    names = [b.name for b in blob_service.get_container_client(container).list_blobs()]
    assert "delta/feature_store/scores/_delta_log/00000000000000000003.json" in names
    assert any(n.startswith("delta/feature_store/scores/date=2025-01-02/") for n in names)
