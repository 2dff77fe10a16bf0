"""An abfss:// path on the shared session with key auth: Spark loads hadoop-azure's ABFS filesystem
and fails at the network (the account cannot resolve), never with a missing class. Production's
ABFS path short of a real account."""

from __future__ import annotations

import time
import uuid

import pytest

from feature_store.azure.storage import account_conf

pytestmark = pytest.mark.slow


def test_abfss_loads_the_filesystem_and_fails_at_the_network(spark):
    account = f"nx{uuid.uuid4().hex[:20]}"  # not an existing storage account: its host does not resolve
    settings = {
        **account_conf("key", account, key="a2V5LW9mLWFuLWFjY291bnQtdGhhdC1kb2VzLW5vdC1leGlzdA=="),
        "fs.azure.io.retry.max.retries": "0",  # fail on the first error instead of backing off for minutes
        "fs.azure.http.connection.timeout": "2000",
    }
    for key, value in settings.items():
        spark.conf.set(key, value)
    started = time.monotonic()
    with pytest.raises(Exception) as err:  # noqa: PT011 (py4j wraps the Java exception)
        spark.read.parquet(f"abfss://features@{account}.dfs.core.windows.net/delta/x").count()
    message = str(err.value)
    assert "ClassNotFound" not in message and "No FileSystem for scheme" not in message
    assert f"{account}.dfs.core.windows.net" in message
    assert "UnknownHostException" in message
    assert time.monotonic() - started < 120
