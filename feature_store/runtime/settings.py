"""Where things live, per deployment profile, overridable by environment variables.

One object answers "where is the data dir, the Delta root, the landing zone, the MLflow store"
for the engine, the CLI, the Dagster resources and the tests, so they all see the same tables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from feature_store.online.specs import OnlineStoreSpec, spec_from_env
from feature_store.runtime import variables as V
from feature_store.runtime.variables import PROFILES, SettingsError

if TYPE_CHECKING:
    from feature_store.governance import AccessControl

__all__ = ["PROFILES", "Settings", "SettingsError"]
DEFAULT_START_DATE = str(V.START_DATE.default)


# Written by `make demo` so the partitions start at its data's first day, for the demo and `make ui` alike;
# FEATURE_STORE_START_DATE, when set, wins.
START_DATE_FILE = "partitions_start_date"


def recorded_start_date(home: Path) -> str | None:
    """The first partition day recorded in the data dir (record_start_date), if any."""
    path = home / START_DATE_FILE
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def record_start_date(home: Path, day: str) -> Path:
    """Record the data dir's first partition day, read back as FEATURE_STORE_START_DATE's default."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / START_DATE_FILE
    path.write_text(f"{day}\n")
    return path


def _is_database(tracking_uri: str) -> bool:
    """A SQLAlchemy URL (MLflow talks to the database itself), not a tracking server."""
    return not tracking_uri.startswith(("http://", "https://", "databricks", "file:"))


@dataclass(frozen=True)
class Settings:
    """The effective settings of this process (docs/configuration.md lists every variable).

    URIs may hold passwords, so the repr shows only the profile and the data dir.
    """

    profile: str
    home: Path
    delta_root: str
    landing_root: str | None
    spark_master: str | None
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
    # Set only when configured; mlflow_artifact_root derives the embedded default.
    mlflow_artifacts: str | None = None
    reports_root: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting; on the azure profile a missing required one raises SettingsError naming it,
        so a deployment never falls back to local Spark or local files."""
        env = os.environ if environ is None else environ
        profile = V.PROFILE.value(env)
        if profile not in PROFILES:
            raise SettingsError(
                f"FEATURE_STORE_PROFILE={profile!r} is not a known profile; use one of {', '.join(PROFILES)}"
            )
        home = Path(V.HOME.value(env, profile)).expanduser().resolve()

        def value(variable: V.Variable) -> str | None:
            return variable.value(env, profile, home)

        def explicit(variable: V.Variable) -> str | None:
            """Set, else None so a property derives the embedded default; still raises where required."""
            value(variable)
            return env.get(variable.name) or None

        missing = V.missing_required(env, profile)
        spark_master = value(V.SPARK_MASTER)
        if not spark_master and not env.get("SPARK_REMOTE"):
            missing.append(f"{V.SPARK_MASTER.name} or SPARK_REMOTE: where Spark runs")
        mlflow_uri = env.get(V.MLFLOW_TRACKING_URI.name) or ""
        if mlflow_uri and not V.MLFLOW_ARTIFACT_ROOT.is_set(env) and _is_database(mlflow_uri) and profile != "local":
            missing.append(
                f"{V.MLFLOW_ARTIFACT_ROOT.name}: MLFLOW_TRACKING_URI is a database, so artifacts need a shared "
                "location (else MLflow writes them to the local disk)"
            )
        if missing:
            raise SettingsError(
                f"the {profile} profile needs these variables (it never falls back to local Spark or local "
                "files):\n  " + "\n  ".join(missing)
            )
        start_date = env.get(V.START_DATE.name) or recorded_start_date(home) or value(V.START_DATE)
        return cls(
            profile=profile,
            home=home,
            delta_root=value(V.DELTA_ROOT).rstrip("/"),
            landing_root=value(V.LANDING_ROOT),
            spark_master=spark_master,
            partitions_start_date=start_date,
            online_store=value(V.ONLINE_STORE),
            mlflow_uri=explicit(V.MLFLOW_TRACKING_URI),
            principal=value(V.PRINCIPAL) or "",
            access_config=Path(value(V.ACCESS_CONFIG)).expanduser(),
            governance_uri=explicit(V.GOVERNANCE_URI),
            mlflow_artifacts=env.get(V.MLFLOW_ARTIFACT_ROOT.name) or None,
            reports_root=value(V.REPORTS_ROOT).rstrip("/"),
        )

    def __repr__(self) -> str:
        return f"Settings(profile={self.profile!r}, home={str(self.home)!r})"

    def online_store_spec(self, environ: dict[str, str] | None = None) -> OnlineStoreSpec:
        """Where this deployment publishes and serves features (feature_store/online/specs.py)."""
        return spec_from_env(self.online_store, self.home, environ)

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI if set, else an embedded SQLite store under the data dir."""
        return self.mlflow_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> str | None:
        """FEATURE_STORE_MLFLOW_ARTIFACT_ROOT if set; else the data dir for an embedded store, or None for
        a tracking server, which decides for itself."""
        if self.mlflow_artifacts:
            return self.mlflow_artifacts
        return (self.home / "mlflow" / "artifacts").as_uri() if self.mlflow_tracking_uri.startswith("sqlite") else None

    def configure_mlflow(self, experiment: str = "feature_store") -> str:
        from feature_store.training.models import configure_mlflow

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
        return Path(V.IVY_DIR.value()).expanduser()
