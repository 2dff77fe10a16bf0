"""Where things live, per deployment profile, overridable by environment variables.

One object answers "where is the data dir, the Delta root, the landing zone, the MLflow store"
for the engine, the CLI, the Dagster resources and the tests, so they all see the same tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from feature_store.online.specs import OnlineStoreSpec, spec_from_env

if TYPE_CHECKING:
    from feature_store.governance import AccessControl

PROFILES = ("local", "azure")
DEFAULT_START_DATE = "2025-01-01"


class SettingsError(ValueError):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    profile: str
    home: Path
    delta_root: str
    landing_root: str
    spark_master: str
    partitions_start_date: str
    online_store: str = "sqlite"  # sqlite | redis | cosmos (FEATURE_STORE_ONLINE_STORE)
    # MLFLOW_TRACKING_URI as it was when the settings were read: mlflow.set_tracking_uri() writes that
    # variable into os.environ, so reading it later would pick up whatever this process configured last.
    mlflow_uri: str | None = None
    # Who this process acts as for grants (FEATURE_STORE_PRINCIPAL, default the OS user), where the
    # principals are configured, and where grants and the audit log persist (docs: governance).
    principal: str = ""
    access_config: Path | None = None
    governance_uri: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        profile = env.get("FEATURE_STORE_PROFILE", "local")
        if profile not in PROFILES:
            raise SettingsError(
                f"FEATURE_STORE_PROFILE={profile!r} is not a known profile; use one of {', '.join(PROFILES)}"
            )
        home = Path(env.get("FEATURE_STORE_HOME", ".featurestore")).expanduser().resolve()
        delta_root = env.get("FEATURE_STORE_DELTA_ROOT")
        if delta_root is None:
            if profile == "azure":
                raise SettingsError(
                    "FEATURE_STORE_DELTA_ROOT must be set on the azure profile "
                    "(e.g. abfss://features@<account>.dfs.core.windows.net/delta)"
                )
            delta_root = str(home / "delta")
        return cls(
            profile=profile,
            home=home,
            delta_root=delta_root.rstrip("/"),
            landing_root=env.get("FEATURE_STORE_LANDING_ROOT", str(home / "landing")),
            spark_master=env.get("FEATURE_STORE_SPARK_MASTER", "local[*]"),
            partitions_start_date=env.get("FEATURE_STORE_START_DATE", DEFAULT_START_DATE),
            online_store=env.get("FEATURE_STORE_ONLINE_STORE", "sqlite" if profile == "local" else "redis"),
            mlflow_uri=env.get("MLFLOW_TRACKING_URI") or None,
            principal=env.get("FEATURE_STORE_PRINCIPAL", ""),
            access_config=Path(env.get("FEATURE_STORE_ACCESS_CONFIG", home / "access.toml")).expanduser(),
            governance_uri=env.get("FEATURE_STORE_GOVERNANCE_URI") or None,
        )

    def online_store_spec(self, environ: dict[str, str] | None = None) -> OnlineStoreSpec:
        """Where this deployment publishes and serves features (feature_store/online/specs.py)."""
        return spec_from_env(self.online_store, self.home, environ)

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI if set, else an embedded SQLite store under the data dir."""
        return self.mlflow_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> str | None:
        """Where an embedded tracking store keeps artifacts; a remote server decides for itself."""
        return (
            (self.home / "mlflow" / "artifacts").as_uri()
            if self.mlflow_tracking_uri.startswith("sqlite")
            else None
        )

    def configure_mlflow(self, experiment: str = "feature_store") -> str:
        from feature_store.models import configure_mlflow

        return configure_mlflow(self.mlflow_tracking_uri, self.mlflow_artifact_root, experiment)

    @property
    def acting_principal(self) -> str:
        from feature_store.governance.config import os_user

        return self.principal or os_user()

    @property
    def governance_db_uri(self) -> str:
        """FEATURE_STORE_GOVERNANCE_URI (any SQLAlchemy URL) if set, else SQLite under the data dir."""
        return self.governance_uri or f"sqlite:///{self.home / 'governance' / 'governance.db'}"

    @property
    def access_config_path(self) -> Path:
        return self.access_config or self.home / "access.toml"

    def access_control(self) -> AccessControl:
        from feature_store.governance import AccessControl, ConfigFile, GrantStore

        return AccessControl(
            ConfigFile(self.access_config_path, self.profile), GrantStore(self.governance_db_uri)
        )

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def ivy_dir(self) -> Path:
        """Spark's package cache: Delta jars are fetched once from Maven Central, then reused offline."""
        return Path(os.environ.get("FEATURE_STORE_IVY_DIR", Path.home() / ".ivy2.5.2")).expanduser()
