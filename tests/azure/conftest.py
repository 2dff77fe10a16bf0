"""An Azure deployment on 127.0.0.1: every server the azure profile talks to, and the environment a pod of
the code location would get (docs/deploy-azure.md, deploy/k8s/featurestore-config.yaml).

| component | here | in production |
|---|---|---|
| Delta tables, landing files, drift reports, MLflow artifacts | Azurite (Blob API; Delta via WASB) | ADLS Gen2 (ABFS) |
| online store | redis-server with TLS (a test CA) and a password; the Cosmos DB protocol server | Azure Cache for Redis; Cosmos DB |
| secrets | the Key Vault fake over TLS, read with the managed-identity fake's tokens | Key Vault, workload identity |
| Dagster storage, MLflow backend store, grants | PostgreSQL 15, one database each | Azure Database for PostgreSQL |

Every secret in play has a distinct planted value (`AzureDeployment.planted`), so a test can search
everything the deployment wrote for them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import yaml
from azure.storage.blob import BlobServiceClient

from scripts import devservices
from tests.fakes.keyvault import KeyVault
from tests.fakes.managed_identity import ManagedIdentityEndpoint
from tests.fakes.tls import TlsFiles, make_tls_files
from tests.services import REPO, SERVICES_ROOT, postgres_database

PIPELINE_PRINCIPAL = "featurestore-pipeline"
ACCESS_TOML = f"""admins = ["{PIPELINE_PRINCIPAL}"]
users = ["alice"]

[groups]
data-scientists = ["alice"]
"""


@dataclass
class AzureDeployment:
    env: dict[str, str]  # the deployment's variables (on top of PATH, HOME and the like)
    home: Path
    dagster_home: Path
    planted: dict[str, str]  # name -> secret value that must never show
    blob_url: str
    containers: dict[str, str]  # role -> container name
    databases: dict[str, str]  # role -> SQLAlchemy URL without a password
    redis_port: int
    tls: TlsFiles
    cosmos_port: int
    identity: ManagedIdentityEndpoint
    vault: KeyVault
    extra: dict[str, str] = field(default_factory=dict)

    def process_env(self, **overrides: str) -> dict[str, str]:
        """The environment of a process of this deployment: the machine's basics, none of the test
        process's feature-store settings, then the deployment's."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("FEATURE_STORE_", "MLFLOW_", "AZURE_", "DAGSTER_", "IDENTITY_"))}  # fmt: skip
        if "FEATURE_STORE_IVY_DIR" in os.environ:  # share the test machine's jar cache
            base["FEATURE_STORE_IVY_DIR"] = os.environ["FEATURE_STORE_IVY_DIR"]
        return {**base, **self.env, **overrides}

    def blob_service(self) -> BlobServiceClient:
        return BlobServiceClient(self.blob_url, credential=devservices.AZURITE_KEY)


def _instance_yaml(pg_port: int) -> str:
    """The production instance (deploy/dagster/dagster.yaml) with what a test machine can't have swapped:
    no Kubernetes launcher or Blob compute logs (Azurite can't host them), no TLS to the local server."""
    instance = yaml.safe_load((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())
    for key in ("run_launcher", "compute_logs"):
        instance.pop(key, None)
    instance["run_monitoring"]["max_resume_run_attempts"] = 0  # the default launcher can't resume (its note)
    postgres_db = instance["storage"]["postgres"]["postgres_db"]
    postgres_db["port"] = pg_port
    postgres_db["params"] = {"sslmode": "disable"}
    return yaml.safe_dump(instance)


@pytest.fixture(scope="module")
def azure_deployment(
    tmp_path_factory: pytest.TempPathFactory,
    azurite: str,
    postgres_server: devservices.Service,
    cosmos_server: devservices.Service,
) -> Iterator[AzureDeployment]:
    base = tmp_path_factory.mktemp("azure")
    run = uuid.uuid4().hex[:8]
    planted = {
        "FEATURE_STORE_REDIS_PASSWORD": f"planted-redis-password-{run}",
        "DAGSTER_PG_PASSWORD": f"planted-dagster-db-password-{run}",
        "MLFLOW_DB_PASSWORD": f"planted-mlflow-db-password-{run}",
        "GRANTS_DB_PASSWORD": f"planted-grants-db-password-{run}",
        "WRONG_REDIS_PASSWORD": f"planted-wrong-redis-password-{run}",
        "cosmos-write-authorization-key": "cGxhbnRlZC1jb3Ntb3Mtd3JpdGUta2V5LQ==" + run,
        "cosmos-read-authorization-key": "cGxhbnRlZC1jb3Ntb3MtcmVhZC1rZXkt" + run,
        "AZURE_BLOB_ACCOUNT_KEY": devservices.AZURITE_KEY,  # public, but it is the credential in use
    }
    tls = make_tls_files(base / "tls")
    containers = {role: f"{role}-{run}" for role in ("landing", "delta", "mlflow", "reports")}
    blob_url = azurite
    with ExitStack() as stack:
        with BlobServiceClient(blob_url, credential=devservices.AZURITE_KEY) as service:
            for name in containers.values():
                service.create_container(name)
        databases = {role: stack.enter_context(postgres_database(postgres_server, role))
                     for role in ("dagster", "mlflow", "grants")}  # fmt: skip

        def with_password(url: str, role: str) -> str:
            user = devservices.POSTGRES_USER
            return url.replace(f"//{user}@", f"//{user}:{planted[f'{role.upper()}_DB_PASSWORD']}@")

        redis_port = devservices.free_port()
        redis_state = base / "redis"
        redis = devservices.start(
            "redis", SERVICES_ROOT, port=redis_port, state=redis_state,
            extra_args=devservices.redis_tls_args(redis_port, tls.cert, tls.key, tls.ca,
                                                  planted["FEATURE_STORE_REDIS_PASSWORD"]),
        )  # fmt: skip
        stack.callback(devservices.stop_service, redis, redis_state)
        identity = stack.enter_context(ManagedIdentityEndpoint())
        planted["IDENTITY_HEADER"] = identity.header
        cosmos_database = f"fs_e2e_{run}"
        vault = stack.enter_context(KeyVault(tls, identity, {
            "cosmos-uri": f"http://127.0.0.1:{cosmos_server.port}/",
            "cosmos-write-authorization-key": planted["cosmos-write-authorization-key"],
            "cosmos-read-authorization-key": planted["cosmos-read-authorization-key"],
        }))  # fmt: skip

        home, dagster_home = base / "home", base / "dagster"
        home.mkdir()
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text(_instance_yaml(postgres_server.port))
        (base / "access.toml").write_text(ACCESS_TOML)
        wasb = "wasb://{}@" + devservices.AZURITE_ACCOUNT + ".blob.core.windows.net"
        env = {
            "FEATURE_STORE_PROFILE": "azure",
            "FEATURE_STORE_HOME": str(home),
            "FEATURE_STORE_START_DATE": "2025-01-01",
            "FEATURE_STORE_SPARK_MASTER": "local[2]",
            "FEATURE_STORE_DELTA_ROOT": wasb.format(containers["delta"]) + "/delta",
            "AZURE_BLOB_ACCOUNT_URL": blob_url,
            "AZURE_BLOB_ACCOUNT_KEY": planted["AZURE_BLOB_ACCOUNT_KEY"],
            "FEATURE_STORE_LANDING_CONTAINER": containers["landing"],
            "FEATURE_STORE_REPORTS_ROOT": f"{blob_url}/{containers['reports']}",
            "MLFLOW_TRACKING_URI": with_password(databases["mlflow"], "mlflow"),
            "FEATURE_STORE_MLFLOW_ARTIFACT_ROOT": wasb.replace("wasb:", "wasbs:").format(containers["mlflow"])
            + "/artifacts",
            "AZURE_STORAGE_CONNECTION_STRING": (
                f"DefaultEndpointsProtocol=http;AccountName={devservices.AZURITE_ACCOUNT};"
                f"AccountKey={devservices.AZURITE_KEY};BlobEndpoint={blob_url};"
            ),
            "FEATURE_STORE_GOVERNANCE_URI": with_password(databases["grants"], "grants"),
            "FEATURE_STORE_ACCESS_CONFIG": str(base / "access.toml"),
            "FEATURE_STORE_PRINCIPAL": PIPELINE_PRINCIPAL,
            "FEATURE_STORE_ONLINE_STORE": "redis",
            "FEATURE_STORE_REDIS_HOST": "127.0.0.1",
            "FEATURE_STORE_REDIS_PORT": str(redis_port),
            "FEATURE_STORE_REDIS_SSL": "true",
            "FEATURE_STORE_REDIS_SSL_CA_CERTS": str(tls.ca),
            "FEATURE_STORE_REDIS_PASSWORD": planted["FEATURE_STORE_REDIS_PASSWORD"],
            "FEATURE_STORE_KEY_VAULT_URL": vault.vault_url,
            "FEATURE_STORE_KEY_VAULT_VERIFY_CHALLENGE": "false",  # 127.0.0.1 is not *.vault.azure.net
            "REQUESTS_CA_BUNDLE": str(tls.ca),
            **identity.env(),
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_USERNAME": devservices.POSTGRES_USER,
            "DAGSTER_PG_PASSWORD": planted["DAGSTER_PG_PASSWORD"],
            "DAGSTER_PG_DB": databases["dagster"].rsplit("/", 1)[1],
            "E2E_COSMOS_DATABASE": cosmos_database,
            "E2E_WRONG_REDIS_PASSWORD": planted["WRONG_REDIS_PASSWORD"],
        }
        yield AzureDeployment(
            env=env, home=home, dagster_home=dagster_home, planted=planted, blob_url=blob_url,
            containers=containers, databases=databases, redis_port=redis_port, tls=tls,
            cosmos_port=cosmos_server.port, identity=identity, vault=vault,
        )  # fmt: skip


def upload_landing(deployment: AzureDeployment, local_root: Path) -> int:
    """Land generated files in the landing container as <source>/date=D/<file>.parquet."""
    files = sorted(p for p in local_root.rglob("*.parquet"))
    with deployment.blob_service() as service:
        container = service.get_container_client(deployment.containers["landing"])
        for path in files:
            with open(path, "rb") as data:
                container.upload_blob(str(path.relative_to(local_root)), data)
    return len(files)


FIRST, LAST = date(2025, 1, 1), date(2025, 2, 14)  # 15 label days: 30 days of future each
