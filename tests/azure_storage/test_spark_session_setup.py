"""The session as build_spark_session makes it, in a child process (the test process keeps its one
shared SparkSession): storage secrets redacted by Spark itself in its event log, the
FEATURE_STORE_SPARK_CONF file merged in, and `featurestore fetch-jars` filling the ivy cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feature_store.cli.main import main
from feature_store.runtime.spark import (
    HADOOP_AZURE_COORDINATE,
    RESOLVE_LOG,
    delta_maven_coordinate,
    ivy_dir_from_env,
)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

# Builds the session with the modes `key` (from the environment) plus `sas` and `service_principal` on
# other accounts (through `conf`), so every kind of secret setting is in one event log.
CHILD = """
import json
from feature_store.azure.storage import account_conf
from feature_store.runtime.spark import build_spark_session

extra = {}
for mode, account in [("sas", "sasaccount"), ("service_principal", "spaccount")]:
    extra.update({f"spark.hadoop.{k}": v for k, v in account_conf(mode, account).items()})
spark = build_spark_session(master="local[1]", app_name="redaction-check", conf=extra)
print(json.dumps({"app": spark.sparkContext.applicationId,
                  "marker": spark.conf.get("spark.featurestore.test.marker"),
                  "regex": spark.conf.get("spark.redaction.regex")}))
spark.stop()
"""


def test_storage_secrets_are_redacted_in_the_event_log(tmp_path: Path):
    secrets = {
        "FEATURE_STORE_STORAGE_KEY": "a2V5LXNlY3JldC1hbHBoYQ==",
        "FEATURE_STORE_STORAGE_SAS": "sv=2024-01-01&sig=sas-secret-bravo",
        "AZURE_CLIENT_SECRET": "client-secret-charlie",
        "AZURE_BLOB_ACCOUNT_KEY": "bGFuZGluZy1zZWNyZXQtZGVsdGE=",
    }
    events = tmp_path / "events"
    events.mkdir()
    conf_file = tmp_path / "spark-defaults.conf"
    conf_file.write_text(
        f"spark.eventLog.enabled true\nspark.eventLog.dir {events.as_uri()}\nspark.eventLog.compress false\n"
        "spark.featurestore.test.marker from-the-file\n"
    )
    env = {
        **os.environ,
        **secrets,
        "FEATURE_STORE_STORAGE_AUTH": "key",
        "FEATURE_STORE_STORAGE_ACCOUNT": "keyaccount",
        "AZURE_TENANT_ID": "tenant-guid",
        "AZURE_CLIENT_ID": "client-guid",
        "AZURE_BLOB_ACCOUNT_URL": "https://landingaccount.blob.core.windows.net",
        "FEATURE_STORE_SPARK_CONF": str(conf_file),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["marker"] == "from-the-file"  # FEATURE_STORE_SPARK_CONF reached the session
    # Spark 4 writes a rolling event log: a folder eventlog_v2_<app id> of events_<n>_... files.
    logs = [p for p in events.rglob("*") if p.is_file()]
    assert logs and all(result["app"] in str(p) for p in logs)
    text = "".join(p.read_text() for p in logs)
    for name, value in secrets.items():
        assert value not in text, f"{name} leaked into Spark's event log"
        assert value not in done.stdout + done.stderr
    environment = next(json.loads(line) for line in text.splitlines() if "EnvironmentUpdate" in line)
    spark_props = dict(environment["Spark Properties"])
    redacted = {
        "spark.hadoop.fs.azure.account.key.keyaccount.dfs.core.windows.net",
        "spark.hadoop.fs.azure.account.key.keyaccount.blob.core.windows.net",
        "spark.hadoop.fs.azure.account.key.landingaccount.dfs.core.windows.net",
        "spark.hadoop.fs.azure.sas.fixed.token.sasaccount.dfs.core.windows.net",
        "spark.hadoop.fs.azure.account.oauth2.client.secret.spaccount.dfs.core.windows.net",
    }
    for key in redacted:
        assert spark_props[key] == "*********(redacted)", key
    assert (
        spark_props["spark.hadoop.fs.azure.account.auth.type.keyaccount.dfs.core.windows.net"] == "SharedKey"
    )
    assert spark_props["spark.hadoop.fs.azure.account.oauth2.client.id.spaccount.dfs.core.windows.net"] == (
        "client-guid"
    )


def test_fetch_jars_resolves_every_package_into_the_ivy_dir(capsys):
    ivy_dir = ivy_dir_from_env()
    # --refresh: resolve again with a child SparkSession (from ivy's cache, which the test session filled).
    assert main(["fetch-jars", "--refresh"]) == 0
    out, err = capsys.readouterr()
    jars = out.split()
    names = {Path(j).name for j in jars}
    delta = delta_maven_coordinate().split(":")
    assert f"{delta[0]}_{delta[1]}-{delta[2]}.jar" in names
    assert "org.apache.hadoop_hadoop-azure-3.4.2.jar" in names and HADOOP_AZURE_COORDINATE.endswith("3.4.2")
    # hadoop-azure's runtime dependencies come with it
    for dependency in ("com.microsoft.azure_azure-storage-", "org.eclipse.jetty_jetty-util-ajax-",
                       "org.wildfly.openssl_wildfly-openssl-", "org.apache.hadoop.thirdparty_hadoop-shaded-guava-"):  # fmt: skip
        assert any(n.startswith(dependency) for n in names), dependency
    assert all(Path(j).exists() and Path(j).is_relative_to(ivy_dir.resolve()) for j in jars)
    # ivy's resolution report went to its log, not to the terminal
    assert ":: resolution report ::" in (ivy_dir / RESOLVE_LOG).read_text()
    assert ":: resolution report ::" not in out + err
    assert f"{len(jars)} jar(s) cached in {ivy_dir.resolve()}" in err
