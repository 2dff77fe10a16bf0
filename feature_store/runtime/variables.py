"""Every environment variable the project reads, declared once.

A `Variable` knows its default on each profile, whether it is a secret and what it is for. The
engine reads settings through these declarations (`Variable.value`), `featurestore config` prints
the effective values with secrets redacted, and `docs/configuration.md` is generated from this
module (`featurestore config --reference`), so the reference cannot drift from the code: a test
checks that every variable named in the code is declared here and that the committed reference
equals the generated one.

Defaults may name `{home}`, the data dir (`FEATURE_STORE_HOME`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("local", "azure")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class _Marker:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


REQUIRED = _Marker("required")  # the profile cannot run without it
SAME = _Marker("same as local")  # azure_default only: the local default applies


@dataclass(frozen=True)
class Variable:
    name: str
    group: str
    description: str
    default: str | _Marker | None = None
    azure_default: str | _Marker | None = SAME
    secret: bool = False

    def default_for(self, profile: str) -> str | _Marker | None:
        return self.default if profile == "local" or self.azure_default is SAME else self.azure_default

    def is_set(self, env: Mapping[str, str] | None = None) -> bool:
        return bool((os.environ if env is None else env).get(self.name))

    def value(
        self, env: Mapping[str, str] | None = None, profile: str = "local", home: Path | str = ""
    ) -> str | None:
        """The variable's value if set (an empty value counts as unset), else the profile's default."""
        env = os.environ if env is None else env
        if env.get(self.name):
            return env[self.name]
        default = self.default_for(profile)
        if default is REQUIRED:
            raise SettingsError(f"{self.name} must be set on the {profile} profile: {self.description}")
        return default.format(home=home) if isinstance(default, str) else None

    def flag(self, env: Mapping[str, str] | None = None, profile: str = "local") -> bool:
        raw = self.value(env, profile) or "false"
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{self.name}={raw!r} is not a boolean; use true or false")

    def integer(self, env: Mapping[str, str] | None = None, profile: str = "local") -> int | None:
        raw = self.value(env, profile)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{self.name}={raw!r} is not an integer") from None


REGISTRY: dict[str, Variable] = {}


def declare(
    name: str,
    group: str,
    description: str,
    default: str | _Marker | None = None,
    azure_default: str | _Marker | None = SAME,
    secret: bool = False,
) -> Variable:
    if name in REGISTRY:
        raise ValueError(f"{name} is declared twice")
    variable = Variable(name, group, description, default, azure_default, secret)
    REGISTRY[name] = variable
    return variable


# -- deployment ------------------------------------------------------------------------------------
PROFILE = declare(
    "FEATURE_STORE_PROFILE", "deployment", "Resource set: local (embedded default) or azure", "local"
)
HOME = declare(
    "FEATURE_STORE_HOME", "deployment", "Data dir: local Delta, SQLite stores, reports, DAGSTER_HOME", ".featurestore"
)
REPO = declare(
    "FEATURE_STORE_REPO",
    "deployment",
    "The feature repo module the code location loads (`package.module` with a module-level `repo = Repo(...)`)",
    "examples.churn.repo",
)
START_DATE = declare(
    "FEATURE_STORE_START_DATE",
    "deployment",
    "First daily partition (YYYY-MM-DD); unset: the day `make demo` recorded in {home}/partitions_start_date, "
    "else the default",
    "2025-01-01",
)
FRESHNESS_HOURS = declare(
    "FEATURE_STORE_FRESHNESS_HOURS", "deployment", "Hours after a day ends before its partition is overdue", "6"
)
RANGE_CHUNK_DAYS = declare(
    "FEATURE_STORE_RANGE_CHUNK_DAYS",
    "deployment",
    "Days a range run (a backfill) writes per Spark job and commit; it logs progress and an ETA after each",
    "31",
)
DAGSTER_HOME = declare(
    "DAGSTER_HOME", "deployment", "Dagster instance dir (dagster.yaml); `make` sets it", "{home}/dagster"
)
DEMO_DAYS = declare("FEATURE_STORE_DEMO_DAYS", "deployment", "Days of sample data `make demo` generates", "120")

# -- spark -----------------------------------------------------------------------------------------
SPARK_MASTER = declare(
    "FEATURE_STORE_SPARK_MASTER",
    "spark",
    "Spark master URL (spark://host:7077, k8s://..., local[*]); on azure this or SPARK_REMOTE is required",
    "local[*]",
    azure_default=None,
)
SPARK_REMOTE = declare(
    "SPARK_REMOTE", "spark", "Spark Connect URL (sc://host:15002); used instead of a master URL when set"
)
IVY_DIR = declare(
    "FEATURE_STORE_IVY_DIR", "spark", "Spark's package cache: Delta and hadoop-azure jars, fetched once", "~/.ivy2.5.2"
)

# -- tables and landing ----------------------------------------------------------------------------
DELTA_ROOT = declare(
    "FEATURE_STORE_DELTA_ROOT",
    "storage",
    "Root of all Delta tables (abfss://container@account.dfs.core.windows.net/delta on Azure)",
    "{home}/delta",
    azure_default=REQUIRED,
)
LANDING_ROOT = declare(
    "FEATURE_STORE_LANDING_ROOT", "landing", "Folder of landed files (local profile)", "{home}/landing", None
)
LANDING_CONTAINER = declare(
    "FEATURE_STORE_LANDING_CONTAINER", "landing", "Blob container of landed files (azure profile)", None, "landing"
)
LANDING_PREFIX = declare(
    "FEATURE_STORE_LANDING_PREFIX", "landing", "Blob name prefix of landed files, e.g. 'landing/'", None, ""
)
BLOB_ACCOUNT_URL = declare(
    "AZURE_BLOB_ACCOUNT_URL",
    "landing",
    "Blob endpoint of the landing account, e.g. https://<account>.blob.core.windows.net",
    None,
    REQUIRED,
)
BLOB_ACCOUNT_KEY = declare(
    "AZURE_BLOB_ACCOUNT_KEY",
    "landing",
    "Landing account key; unset: DefaultAzureCredential (managed or workload identity)",
    secret=True,
)

REPORTS_ROOT = declare(
    "FEATURE_STORE_REPORTS_ROOT",
    "storage",
    "Where HTML reports (drift) go: a folder, a Blob URL https://<account>.blob.core.windows.net/<container>, "
    "or abfss://<container>@<account>.dfs.core.windows.net/<prefix>",
    "{home}/reports",
    azure_default=REQUIRED,
)

# -- online store ----------------------------------------------------------------------------------
ONLINE_STORE = declare(
    "FEATURE_STORE_ONLINE_STORE", "online store", "sqlite, redis or cosmos", "sqlite", azure_default="redis"
)
SQLITE_PATH = declare(
    "FEATURE_STORE_SQLITE_PATH", "online store", "SQLite online store file", "{home}/online/features.db"
)
REDIS_HOST = declare("FEATURE_STORE_REDIS_HOST", "online store", "Redis host", "127.0.0.1")
REDIS_PORT = declare(
    "FEATURE_STORE_REDIS_PORT", "online store", "Redis port (Azure Cache for Redis: 6380 with TLS)", "6379"
)
REDIS_DB = declare("FEATURE_STORE_REDIS_DB", "online store", "Redis database number", "0")
REDIS_USERNAME = declare("FEATURE_STORE_REDIS_USERNAME", "online store", "Redis ACL user")
REDIS_PASSWORD = declare(
    "FEATURE_STORE_REDIS_PASSWORD", "online store", "Redis password (Azure Cache: the access key)", secret=True
)
REDIS_SSL = declare("FEATURE_STORE_REDIS_SSL", "online store", "TLS to Redis (true on Azure Cache)", "false")
REDIS_SSL_CA_CERTS = declare(
    "FEATURE_STORE_REDIS_SSL_CA_CERTS", "online store", "CA bundle (PEM) for Redis TLS; unset: the system's"
)
COSMOS_ENDPOINT = declare(
    "FEATURE_STORE_COSMOS_ENDPOINT", "online store", "Cosmos DB account URI (online store cosmos)"
)
COSMOS_KEY = declare("FEATURE_STORE_COSMOS_KEY", "online store", "Cosmos DB account key", secret=True)
COSMOS_DATABASE = declare("FEATURE_STORE_COSMOS_DATABASE", "online store", "Cosmos DB database", "feature_store")
COSMOS_CONTAINER = declare(
    "FEATURE_STORE_COSMOS_CONTAINER", "online store", "Cosmos DB container", "online_features"
)
COSMOS_ENDPOINT_DISCOVERY = declare(
    "FEATURE_STORE_COSMOS_ENDPOINT_DISCOVERY",
    "online store",
    "Cosmos SDK endpoint discovery (false for the emulator over HTTP)",
    "true",
)

# -- mlflow ----------------------------------------------------------------------------------------
MLFLOW_TRACKING_URI = declare(
    "MLFLOW_TRACKING_URI",
    "mlflow",
    "MLflow tracking server or database; unset: SQLite under the data dir (local only)",
    "sqlite:///{home}/mlflow/mlflow.db",
    azure_default=REQUIRED,
)

MLFLOW_ARTIFACT_ROOT = declare(
    "FEATURE_STORE_MLFLOW_ARTIFACT_ROOT",
    "mlflow",
    "Artifact location of new experiments when MLFLOW_TRACKING_URI is a database, e.g. "
    "wasbs://mlflow@<account>.blob.core.windows.net/artifacts (MLflow reads AZURE_STORAGE_CONNECTION_STRING, "
    "AZURE_STORAGE_ACCESS_KEY or Entra ID); an MLflow server decides for itself",
    "file://{home}/mlflow/artifacts",
    azure_default=None,
)
MLFLOW_AZURE_CONNECTION_STRING = declare(
    "AZURE_STORAGE_CONNECTION_STRING",
    "mlflow",
    "Read by MLflow for wasbs:// artifacts (with an AccountKey it is a secret; prefer Entra ID)",
    secret=True,
)
MLFLOW_AZURE_ACCESS_KEY = declare(
    "AZURE_STORAGE_ACCESS_KEY", "mlflow", "Read by MLflow for wasbs:// artifacts: the account key", secret=True
)

# -- governance ------------------------------------------------------------------------------------
PRINCIPAL = declare(
    "FEATURE_STORE_PRINCIPAL", "governance", "Who this process acts as for grants; default the OS user"
)
ACCESS_CONFIG = declare(
    "FEATURE_STORE_ACCESS_CONFIG", "governance", "Principals and groups (access.toml)", "{home}/access.toml"
)
GOVERNANCE_URI = declare(
    "FEATURE_STORE_GOVERNANCE_URI",
    "governance",
    "SQLAlchemy URL of the grants and audit database (may hold a password)",
    "sqlite:///{home}/governance/governance.db",
    azure_default=REQUIRED,
    secret=True,
)

# -- serving ---------------------------------------------------------------------------------------
SERVING_TOKENS = declare(
    "FEATURE_STORE_SERVING_TOKENS",
    "serving",
    "Token hashes of the serving endpoint, one 'sha256:<hex> <principal>' a line",
    secret=True,
)
SERVE_ARGUMENTS = declare(
    "FEATURE_STORE_SERVE_ARGUMENTS",
    "serving",
    "Internal: `featurestore serve --workers N` passes its arguments to its worker processes here "
    "(JSON); never set by hand",
)

# -- secrets and identity (feature_store/runtime/secrets.py, feature_store/azure/identity.py) -------------------
KEY_VAULT_URL = declare(
    "FEATURE_STORE_KEY_VAULT_URL",
    "secrets",
    "Key Vault of every secret scope, e.g. https://<vault>.vault.azure.net; unset: secrets come from "
    "<SCOPE>_<KEY> environment variables",
)
KEY_VAULT_SCOPES = declare(
    "FEATURE_STORE_KEY_VAULT_SCOPES",
    "secrets",
    "Per-scope vaults, 'scope=https://<vault>.vault.azure.net,other=env' ('env': that scope reads the "
    "environment); other scopes use FEATURE_STORE_KEY_VAULT_URL",
)
KEY_VAULT_VERIFY_CHALLENGE = declare(
    "FEATURE_STORE_KEY_VAULT_VERIFY_CHALLENGE",
    "secrets",
    "Check that the vault host lies in the auth challenge's resource domain; false only for a vault "
    "outside *.vault.azure.net (the test fake on 127.0.0.1)",
    "true",
)
SECRETS_CACHE_SECONDS = declare(
    "FEATURE_STORE_SECRETS_CACHE_SECONDS",
    "secrets",
    "How long a value read from Key Vault is reused before it is read again (rotation delay)",
    "60",
)
AZURE_CREDENTIAL = declare(
    "FEATURE_STORE_AZURE_CREDENTIAL",
    "identity",
    "Entra ID credential for Key Vault, Cosmos DB and Redis: default (DefaultAzureCredential), "
    "managed_identity, workload_identity or client_secret",
    "default",
)
AZURE_CLIENT_ID = declare(
    "AZURE_CLIENT_ID",
    "identity",
    "Client id of the user-assigned managed identity, workload identity or service principal",
)
AZURE_TENANT_ID = declare(
    "AZURE_TENANT_ID", "identity", "Entra ID tenant (workload_identity and client_secret credentials)"
)
AZURE_CLIENT_SECRET = declare(
    "AZURE_CLIENT_SECRET", "identity", "Service principal secret (client_secret credential)", secret=True
)
AZURE_FEDERATED_TOKEN_FILE = declare(
    "AZURE_FEDERATED_TOKEN_FILE",
    "identity",
    "Service account token file of AKS workload identity (set by its webhook)",
)
COSMOS_AUTH = declare(
    "FEATURE_STORE_COSMOS_AUTH",
    "online store",
    "Cosmos DB authentication: key (FEATURE_STORE_COSMOS_KEY or the secret prefixes) or entra "
    "(FEATURE_STORE_AZURE_CREDENTIAL, no key)",
    "key",
)
COSMOS_WRITE_SECRET_PREFIX = declare(
    "FEATURE_STORE_COSMOS_WRITE_SECRET_PREFIX",
    "online store",
    "Instead of FEATURE_STORE_COSMOS_KEY: '<scope>/<prefix>', the key is secret <prefix>-authorization-key "
    "of that scope (Databricks convention); publishing uses it",
)
COSMOS_READ_SECRET_PREFIX = declare(
    "FEATURE_STORE_COSMOS_READ_SECRET_PREFIX",
    "online store",
    "'<scope>/<prefix>' of a read-only key that serving uses; unset: the write key",
)
REDIS_AUTH = declare(
    "FEATURE_STORE_REDIS_AUTH",
    "online store",
    "Redis authentication: password (FEATURE_STORE_REDIS_PASSWORD, optional) or entra (Azure Cache for "
    "Redis with FEATURE_STORE_AZURE_CREDENTIAL; tokens refreshed by redis-entraid)",
    "password",
)

# -- storage authentication for Spark (feature_store/azure/storage.py, feature_store/runtime/spark.py) -----
STORAGE_AUTH = declare(
    "FEATURE_STORE_STORAGE_AUTH",
    "storage",
    "How Spark authenticates to Azure Storage (abfss://): key, sas, service_principal (AZURE_TENANT_ID, "
    "AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), managed_identity or workload_identity; unset: no settings",
)
STORAGE_ACCOUNT = declare(
    "FEATURE_STORE_STORAGE_ACCOUNT",
    "storage",
    "Storage account(s) that auth applies to: names (mydata) or DFS hosts (mydata.dfs.core.windows.net), "
    "comma-separated",
)
STORAGE_KEY = declare(
    "FEATURE_STORE_STORAGE_KEY", "storage", "Account key of the storage account (auth key)", secret=True
)
STORAGE_SAS = declare(
    "FEATURE_STORE_STORAGE_SAS", "storage", "SAS token of the storage account (auth sas)", secret=True
)
SPARK_CONF = declare(
    "FEATURE_STORE_SPARK_CONF",
    "spark",
    "File of extra Spark settings merged into the session: a JSON object or spark-defaults.conf lines "
    "('key value')",
)


def missing_required(env: Mapping[str, str], profile: str) -> list[str]:
    """'NAME: what it is' for each variable the profile requires that is not set."""
    return [
        f"{v.name}: {v.description}"
        for v in REGISTRY.values()
        if v.default_for(profile) is REQUIRED and not v.is_set(env)
    ]


def groups() -> dict[str, list[Variable]]:
    by_group: dict[str, list[Variable]] = {}
    for variable in REGISTRY.values():
        by_group.setdefault(variable.group, []).append(variable)
    return by_group


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The values of every secret variable that is set: what must never appear in output."""
    env = os.environ if env is None else env
    return [env[v.name] for v in REGISTRY.values() if v.secret and env.get(v.name)]
