"""Spark's access to Azure Storage: the hadoop-azure settings for the configured authentication.

FEATURE_STORE_STORAGE_AUTH picks how ABFS (`abfss://container@<account>.dfs.core.windows.net/...`)
authenticates to FEATURE_STORE_STORAGE_ACCOUNT (a name, e.g. `mydata`, or a full DFS host for
another cloud, e.g. `mydata.dfs.core.usgovcloudapi.net`; several separated by commas):

| mode                | hadoop-azure 3.4.2 settings (each suffixed with `.<account>.dfs.core.windows.net`) | reads |
| ------------------- | ----------------------------------------------------------------------------------- | ----- |
| `key`               | `fs.azure.account.auth.type` SharedKey, `fs.azure.account.key` (also for WASB on the blob host) | FEATURE_STORE_STORAGE_KEY |
| `sas`               | `fs.azure.account.auth.type` SAS, `fs.azure.sas.fixed.token` (FixedSASTokenProvider) | FEATURE_STORE_STORAGE_SAS |
| `service_principal` | OAuth, `ClientCredsTokenProvider`, `fs.azure.account.oauth2.client.id/.secret/.endpoint` | AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET |
| `managed_identity`  | OAuth, `MsiTokenProvider` (IMDS), `fs.azure.account.oauth2.msi.tenant`, `.client.id` | AZURE_TENANT_ID, AZURE_CLIENT_ID (both optional) |
| `workload_identity` | OAuth, `WorkloadIdentityTokenProvider`, `.msi.tenant`, `.client.id`, `.oauth2.token.file` | AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE |

The key names are hadoop-azure 3.4.2's (`ConfigurationKeys`, `AbfsConfiguration.getTokenProvider`):
every one is looked up with the account suffix first, so accounts with different credentials coexist.
hadoop-azure's `MsiTokenProvider` speaks IMDS (VMs, VM scale sets, AKS node identity), not the
IDENTITY_ENDPOINT protocol of App Service and Container Apps: there use a workload identity or a
service principal.

The landing account (AZURE_BLOB_ACCOUNT_URL) gets settings too, so Spark reads landed files in place:
its account key (AZURE_BLOB_ACCOUNT_KEY) when set, else the identity mode above. Azurite (the landing
URL or the Delta root on `devstoreaccount1`) gets hadoop-azure's WASB emulator setting instead: WASB
then talks to 127.0.0.1:10000 with the emulator's well-known credentials. ABFS cannot reach Azurite
(it has no DFS endpoint), so on the emulator Delta and landing use `wasb://`.

Every setting that carries a secret matches `REDACTION_REGEX`, which `redaction_conf` puts into
`spark.redaction.regex` so Spark's UI, REST API and event logs show `*********(redacted)` for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from feature_store.runtime import variables as V

AUTH_MODES = ("key", "sas", "service_principal", "managed_identity", "workload_identity")
DFS_SUFFIX = "dfs.core.windows.net"
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_HOST = f"{EMULATOR_ACCOUNT}.blob.core.windows.net"
# WASB's storage emulator endpoint is fixed by the azure-storage SDK (getDevelopmentStorageAccount).
EMULATOR_BLOB_PORT = 10000
LOOPBACK = ("127.0.0.1", "localhost")
OAUTH_PROVIDERS = {
    "service_principal": "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
    "managed_identity": "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider",
    "workload_identity": "org.apache.hadoop.fs.azurebfs.oauth2.WorkloadIdentityTokenProvider",
}
ENTRA_AUTHORITY = "https://login.microsoftonline.com/"

# Spark's default `spark.redaction.regex`, extended by the setting names this module fills with a
# secret that the default misses: account keys (WASB and ABFS) and WASB's per-container SAS
# (`fs.azure.sas.<container>.<account>`). `fs.azure.sas.fixed.token` and `oauth2.client.secret` match
# the default already; they are listed so the intent survives a change of Spark's default. A scoped
# flag, (?i:...), so the pattern can follow a user's own regex (Java and Python read it alike).
SPARK_DEFAULT_REDACTION = r"secret|password|token|access[.]?key"
REDACTION_REGEX = (
    rf"(?i:{SPARK_DEFAULT_REDACTION}|account[.]key|fs[.]azure[.]sas[.]|oauth2[.]client[.]secret)"
)
SECRET_SETTINGS = ("fs.azure.account.key.", "fs.azure.sas.", "fs.azure.account.oauth2.client.secret.")


def dfs_host(account: str) -> str:
    """`mydata` -> `mydata.dfs.core.windows.net`; a full host is kept as it is."""
    return account if "." in account else f"{account}.{DFS_SUFFIX}"


def blob_host(account: str) -> str:
    """The same account's blob endpoint host, which WASB addresses."""
    return dfs_host(account).replace(".dfs.", ".blob.", 1)


def _required(variable: V.Variable, env: Mapping[str, str] | None, mode: str) -> str:
    value = variable.value(env)
    if not value:
        raise V.SettingsError(f"{variable.name} must be set for FEATURE_STORE_STORAGE_AUTH={mode}")
    return value


def account_conf(
    mode: str, account: str, env: Mapping[str, str] | None = None, key: str | None = None
) -> dict[str, str]:
    """The hadoop-azure settings (without `spark.hadoop.`) giving `account` the `mode` authentication.

    `key` overrides FEATURE_STORE_STORAGE_KEY for mode `key` (the landing account's own key)."""
    if mode not in AUTH_MODES:
        raise V.SettingsError(f"FEATURE_STORE_STORAGE_AUTH={mode!r} is not one of {', '.join(AUTH_MODES)}")
    host = dfs_host(account)
    if mode == "key":
        secret = key or _required(V.STORAGE_KEY, env, mode)
        return {
            f"fs.azure.account.auth.type.{host}": "SharedKey",
            f"fs.azure.account.key.{host}": secret,
            f"fs.azure.account.key.{blob_host(account)}": secret,  # WASB (wasbs://) on the same account
        }
    if mode == "sas":
        return {
            f"fs.azure.account.auth.type.{host}": "SAS",
            f"fs.azure.sas.fixed.token.{host}": _required(V.STORAGE_SAS, env, mode).lstrip("?"),
        }
    conf = {
        f"fs.azure.account.auth.type.{host}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{host}": OAUTH_PROVIDERS[mode],
    }
    if mode == "service_principal":
        tenant = _required(V.AZURE_TENANT_ID, env, mode)
        conf[f"fs.azure.account.oauth2.client.id.{host}"] = _required(V.AZURE_CLIENT_ID, env, mode)
        conf[f"fs.azure.account.oauth2.client.secret.{host}"] = _required(V.AZURE_CLIENT_SECRET, env, mode)
        conf[f"fs.azure.account.oauth2.client.endpoint.{host}"] = f"{ENTRA_AUTHORITY}{tenant}/oauth2/token"
    elif mode == "managed_identity":
        # Both optional: no client id means the system-assigned identity.
        if V.AZURE_TENANT_ID.value(env):
            conf[f"fs.azure.account.oauth2.msi.tenant.{host}"] = V.AZURE_TENANT_ID.value(env)
        if V.AZURE_CLIENT_ID.value(env):
            conf[f"fs.azure.account.oauth2.client.id.{host}"] = V.AZURE_CLIENT_ID.value(env)
    else:  # workload_identity: the AKS webhook sets all three variables in the pod
        conf[f"fs.azure.account.oauth2.msi.tenant.{host}"] = _required(V.AZURE_TENANT_ID, env, mode)
        conf[f"fs.azure.account.oauth2.client.id.{host}"] = _required(V.AZURE_CLIENT_ID, env, mode)
        conf[f"fs.azure.account.oauth2.token.file.{host}"] = _required(
            V.AZURE_FEDERATED_TOKEN_FILE, env, mode
        )
    return conf


def emulator_conf() -> dict[str, str]:
    """WASB on Azurite: `wasb://<container>@devstoreaccount1.blob.core.windows.net/...` goes to
    127.0.0.1:10000 with the emulator's development credentials."""
    return {"fs.azure.storage.emulator.account.name": EMULATOR_HOST}


def is_emulator_url(account_url: str) -> bool:
    """An Azurite blob endpoint: http://127.0.0.1:<port>/devstoreaccount1."""
    parts = urlsplit(account_url)
    return parts.hostname in LOOPBACK and parts.path.strip("/").split("/")[0] == EMULATOR_ACCOUNT


def blob_account(account_url: str) -> str | None:
    """The account name of an `https://<account>.blob.<suffix>` endpoint (None for the emulator)."""
    host = urlsplit(account_url).hostname or ""
    name, _, rest = host.partition(".")
    return f"{name}.{rest.replace('blob.', 'dfs.', 1)}" if rest.startswith("blob.") else None


def storage_hadoop_conf(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every hadoop-azure setting this deployment's storage needs (module doc), unprefixed."""
    conf: dict[str, str] = {}
    mode = V.STORAGE_AUTH.value(env)
    accounts = [a.strip() for a in (V.STORAGE_ACCOUNT.value(env) or "").split(",") if a.strip()]
    if mode:
        if not accounts:
            raise V.SettingsError(
                f"FEATURE_STORE_STORAGE_ACCOUNT must name the storage account(s) of FEATURE_STORE_STORAGE_AUTH={mode}"
            )
        for account in accounts:
            conf.update(account_conf(mode, account, env))
    landing_url = V.BLOB_ACCOUNT_URL.value(env) or ""
    delta_root = V.DELTA_ROOT.value(env) or ""
    if is_emulator_url(landing_url) or f"@{EMULATOR_HOST}" in delta_root:
        conf.update(emulator_conf())
    landing = blob_account(landing_url)
    if landing and dfs_host(landing) not in {dfs_host(a) for a in accounts}:
        landing_key = V.BLOB_ACCOUNT_KEY.value(env)
        if landing_key:
            conf.update(account_conf("key", landing, env, key=landing_key))
        elif mode and mode not in ("key", "sas"):  # an identity reaches every account it has a role on
            conf.update(account_conf(mode, landing, env))
    return conf


def storage_spark_conf(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`storage_hadoop_conf` as Spark settings (`spark.hadoop.` puts them into the Hadoop configuration)."""
    return {f"spark.hadoop.{key}": value for key, value in storage_hadoop_conf(env).items()}


def redaction_conf(conf: Mapping[str, str]) -> dict[str, str]:
    """`spark.redaction.regex` covering our secret settings, keeping a regex the user configured."""
    user = conf.get("spark.redaction.regex")
    return {"spark.redaction.regex": f"(?:{user})|{REDACTION_REGEX}" if user else REDACTION_REGEX}


def is_secret_setting(key: str) -> bool:
    """Whether a setting this module produces carries a secret (the redaction regex must match it)."""
    bare = key.removeprefix("spark.hadoop.")
    return bare.startswith(SECRET_SETTINGS)
