"""The hadoop-azure settings each storage auth mode generates (key names checked against hadoop-azure
3.4.2's ConfigurationKeys and AbfsConfiguration.getTokenProvider), the redaction regex covering every
secret among them, and the FEATURE_STORE_SPARK_CONF file hook. No Spark here: see the slow tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from feature_store.azure.storage import (
    REDACTION_REGEX,
    SPARK_DEFAULT_REDACTION,
    account_conf,
    is_secret_setting,
    redaction_conf,
    storage_hadoop_conf,
    storage_spark_conf,
)
from feature_store.runtime.spark import SparkSetupError, environment_conf, read_conf_file
from feature_store.runtime.variables import SettingsError

HOST = "mydata.dfs.core.windows.net"
IDENTITY = {"AZURE_TENANT_ID": "tenant-guid", "AZURE_CLIENT_ID": "client-guid"}
SECRETS = {
    "FEATURE_STORE_STORAGE_KEY": "S0VZLXNlY3JldC0x",
    "FEATURE_STORE_STORAGE_SAS": "?sv=2024-01-01&sig=SAS-secret-2",
    "AZURE_CLIENT_SECRET": "sp-secret-3",
}


def env(mode: str, **extra: str) -> dict[str, str]:
    return {"FEATURE_STORE_STORAGE_AUTH": mode, "FEATURE_STORE_STORAGE_ACCOUNT": "mydata", **IDENTITY,
            **SECRETS, "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
            **extra}  # fmt: skip


def test_account_key() -> None:
    assert storage_hadoop_conf(env("key")) == {
        f"fs.azure.account.auth.type.{HOST}": "SharedKey",
        f"fs.azure.account.key.{HOST}": SECRETS["FEATURE_STORE_STORAGE_KEY"],
        # the same key for WASB (wasbs://) on the account's blob endpoint
        "fs.azure.account.key.mydata.blob.core.windows.net": SECRETS["FEATURE_STORE_STORAGE_KEY"],
    }


def test_fixed_sas_token_without_its_question_mark() -> None:
    assert storage_hadoop_conf(env("sas")) == {
        f"fs.azure.account.auth.type.{HOST}": "SAS",
        f"fs.azure.sas.fixed.token.{HOST}": "sv=2024-01-01&sig=SAS-secret-2",
    }


def test_service_principal_client_credentials() -> None:
    assert storage_hadoop_conf(env("service_principal")) == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
        f"fs.azure.account.oauth2.client.id.{HOST}": "client-guid",
        f"fs.azure.account.oauth2.client.secret.{HOST}": "sp-secret-3",
        f"fs.azure.account.oauth2.client.endpoint.{HOST}": "https://login.microsoftonline.com/tenant-guid/oauth2/token",
    }


def test_managed_identity_user_assigned_or_system_assigned() -> None:
    provider = {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider",
    }
    assert storage_hadoop_conf(env("managed_identity")) == {
        **provider,
        f"fs.azure.account.oauth2.msi.tenant.{HOST}": "tenant-guid",
        f"fs.azure.account.oauth2.client.id.{HOST}": "client-guid",
    }
    system = {"FEATURE_STORE_STORAGE_AUTH": "managed_identity", "FEATURE_STORE_STORAGE_ACCOUNT": "mydata"}
    assert storage_hadoop_conf(system) == provider


def test_aks_workload_identity() -> None:
    assert storage_hadoop_conf(env("workload_identity")) == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": (
            "org.apache.hadoop.fs.azurebfs.oauth2.WorkloadIdentityTokenProvider"
        ),
        f"fs.azure.account.oauth2.msi.tenant.{HOST}": "tenant-guid",
        f"fs.azure.account.oauth2.client.id.{HOST}": "client-guid",
        f"fs.azure.account.oauth2.token.file.{HOST}": "/var/run/secrets/azure/tokens/azure-identity-token",
    }


def test_several_accounts_and_other_clouds() -> None:
    conf = storage_hadoop_conf(
        env("workload_identity", FEATURE_STORE_STORAGE_ACCOUNT="a, b.dfs.core.usgovcloudapi.net")
    )
    hosts = {
        k.removeprefix("fs.azure.account.auth.type.")
        for k in conf
        if k.startswith("fs.azure.account.auth.type.")
    }
    assert hosts == {"a.dfs.core.windows.net", "b.dfs.core.usgovcloudapi.net"}


@pytest.mark.parametrize(
    ("mode", "missing"),
    [
        ("key", "FEATURE_STORE_STORAGE_KEY"),
        ("sas", "FEATURE_STORE_STORAGE_SAS"),
        ("service_principal", "AZURE_CLIENT_SECRET"),
        ("service_principal", "AZURE_TENANT_ID"),
        ("workload_identity", "AZURE_FEDERATED_TOKEN_FILE"),
        ("workload_identity", "AZURE_CLIENT_ID"),
    ],
)
def test_a_missing_setting_is_named_and_no_secret_shown(mode: str, missing: str) -> None:
    settings = {k: v for k, v in env(mode).items() if k != missing}
    with pytest.raises(
        SettingsError, match=f"{missing} must be set for FEATURE_STORE_STORAGE_AUTH={mode}"
    ) as err:
        storage_hadoop_conf(settings)
    assert not any(secret in str(err.value) for secret in SECRETS.values())


def test_unknown_mode_and_missing_account() -> None:
    with pytest.raises(SettingsError, match="'oauth' is not one of key, sas"):
        storage_hadoop_conf(env("oauth"))
    with pytest.raises(SettingsError, match="FEATURE_STORE_STORAGE_ACCOUNT must name"):
        storage_hadoop_conf({"FEATURE_STORE_STORAGE_AUTH": "key", "FEATURE_STORE_STORAGE_KEY": "x"})


def test_nothing_configured_means_no_settings() -> None:
    assert storage_hadoop_conf({}) == {}


def test_landing_account_gets_its_key_or_the_identity() -> None:
    landing = {
        "AZURE_BLOB_ACCOUNT_URL": "https://landed.blob.core.windows.net",
        "AZURE_BLOB_ACCOUNT_KEY": "bGFuZA==",
    }
    conf = storage_hadoop_conf({**env("workload_identity"), **landing})
    assert conf["fs.azure.account.key.landed.dfs.core.windows.net"] == "bGFuZA=="
    assert conf["fs.azure.account.key.landed.blob.core.windows.net"] == "bGFuZA=="
    no_key = {"AZURE_BLOB_ACCOUNT_URL": landing["AZURE_BLOB_ACCOUNT_URL"]}
    conf = storage_hadoop_conf({**env("workload_identity"), **no_key})
    assert conf["fs.azure.account.oauth2.client.id.landed.dfs.core.windows.net"] == "client-guid"
    # The storage account's own settings win when landing lives in it.
    same = {
        "AZURE_BLOB_ACCOUNT_URL": "https://mydata.blob.core.windows.net",
        "AZURE_BLOB_ACCOUNT_KEY": "b3RoZXI=",
    }
    assert storage_hadoop_conf({**env("key"), **same}) == storage_hadoop_conf(env("key"))


def test_azurite_gets_the_wasb_emulator_setting() -> None:
    emulator = {"fs.azure.storage.emulator.account.name": "devstoreaccount1.blob.core.windows.net"}
    assert (
        storage_hadoop_conf({"AZURE_BLOB_ACCOUNT_URL": "http://127.0.0.1:10000/devstoreaccount1"}) == emulator
    )
    delta = {"FEATURE_STORE_DELTA_ROOT": "wasb://features@devstoreaccount1.blob.core.windows.net/delta"}
    assert storage_hadoop_conf(delta) == emulator
    spark = storage_spark_conf(delta)
    assert spark == {
        "spark.hadoop.fs.azure.storage.emulator.account.name": "devstoreaccount1.blob.core.windows.net"
    }


ALL_MODES = ("key", "sas", "service_principal", "managed_identity", "workload_identity")


def test_the_redaction_regex_covers_every_secret_setting() -> None:
    """Spark matches spark.redaction.regex against each key with Java's find(); Python's re.search
    has the same semantics for this pattern. tests/azure_storage/test_spark_session_setup.py shows
    Spark itself redacting them."""
    pattern = re.compile(REDACTION_REGEX)
    default = re.compile(f"(?i){SPARK_DEFAULT_REDACTION}")
    secret_values = set(SECRETS.values()) | {SECRETS["FEATURE_STORE_STORAGE_SAS"].lstrip("?")}
    carrying_secrets = []
    for mode in ALL_MODES:
        for key, value in storage_spark_conf(env(mode)).items():
            assert is_secret_setting(key) == (value in secret_values), key
            if is_secret_setting(key):
                assert pattern.search(key), key
            else:  # our additions hide no plain setting (Spark's default hides `...oauth2.token.file...`)
                assert not pattern.search(key) or default.search(key), key
            if is_secret_setting(key):
                carrying_secrets.append(key)
    assert len(carrying_secrets) == 4  # key (ABFS and WASB), fixed SAS token, client secret
    # Spark's default alone would show the account keys; WASB's per-container SAS needs our pattern too.
    assert not default.search(f"spark.hadoop.fs.azure.account.key.{HOST}")
    assert pattern.search("spark.hadoop.fs.azure.sas.landing.mydata.blob.core.windows.net")
    assert all(
        pattern.search(k) for k in ("spark.hadoop.x.password", "spark.some.token", "fs.s3a.access.key")
    )


def test_a_users_redaction_regex_is_kept() -> None:
    assert redaction_conf({}) == {"spark.redaction.regex": REDACTION_REGEX}
    combined = redaction_conf({"spark.redaction.regex": "mycompany[.]private"})["spark.redaction.regex"]
    assert re.search(combined, "spark.mycompany.private") and re.search(
        combined, f"fs.azure.account.key.{HOST}"
    )


def test_conf_file_json_and_spark_defaults(tmp_path: Path) -> None:
    as_json = tmp_path / "spark.json"
    as_json.write_text(
        json.dumps({"spark.executor.memory": "4g", "spark.eventLog.enabled": True, "spark.x": 3})
    )
    assert read_conf_file(as_json) == {
        "spark.executor.memory": "4g",
        "spark.eventLog.enabled": "true",
        "spark.x": "3",
    }
    defaults = tmp_path / "spark-defaults.conf"
    defaults.write_text(
        "# comment\n\nspark.executor.memory   4g\nspark.driver.extraJavaOptions -Da=1 -Db=2\n"
        "spark.hadoop.fs.azure.account.key.x.dfs.core.windows.net\tS0VZ\n"
    )
    assert read_conf_file(defaults) == {
        "spark.executor.memory": "4g",
        "spark.driver.extraJavaOptions": "-Da=1 -Db=2",
        "spark.hadoop.fs.azure.account.key.x.dfs.core.windows.net": "S0VZ",
    }


def test_conf_file_errors_name_the_variable(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    no_value = tmp_path / "no-value.conf"
    no_value.write_text("spark.executor.memory\n")
    nested = tmp_path / "nested.json"
    nested.write_text('{"spark.a": {"b": 1}}')
    for path, message in [(broken, "not valid JSON"), (no_value, "line 1 has a key but no value"),
                          (nested, "must be strings"), (tmp_path / "absent.conf", "cannot read")]:  # fmt: skip
        with pytest.raises(SparkSetupError, match=f"FEATURE_STORE_SPARK_CONF: .*{message}"):
            read_conf_file(path)


def test_the_file_overrides_the_storage_settings(tmp_path: Path) -> None:
    conf_file = tmp_path / "spark-defaults.conf"
    conf_file.write_text(
        f"spark.hadoop.fs.azure.account.auth.type.{HOST} Custom\nspark.sql.shuffle.partitions 64\n"
    )
    merged = environment_conf({**env("key"), "FEATURE_STORE_SPARK_CONF": str(conf_file)})
    assert merged[f"spark.hadoop.fs.azure.account.auth.type.{HOST}"] == "Custom"
    assert merged[f"spark.hadoop.fs.azure.account.key.{HOST}"] == SECRETS["FEATURE_STORE_STORAGE_KEY"]
    assert merged["spark.sql.shuffle.partitions"] == "64"


def test_account_conf_key_override() -> None:
    assert account_conf("key", "other", {}, key="b3RoZXI=")[
        "fs.azure.account.key.other.dfs.core.windows.net"
    ] == ("b3RoZXI=")
