"""Grants enforced by FeatureStoreClient on real Spark + Delta, SQLite online store and MLflow: every
privilege x every operation, groups, revoke, default deny, the seed's GRANT statements through
`client.sql` and the CLI, and the audit log."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from itertools import count
from pathlib import Path

import pytest

from feature_store.cli.main import main
from feature_store.client.core import FeatureStoreClient
from feature_store.governance import REQUIRED, GrantSyntaxError, PermissionDenied, Privilege
from feature_store.runtime.settings import Settings
from feature_store.training.lookups import FeatureLookup

TABLE = "gov.customers"
NEW_TABLES_SCHEMA = "gov_new"
T1 = datetime(2025, 3, 2)
ACCESS_TOML = """
admins = ["admin"]
users = ["u_none", "u_select", "u_modify", "u_all", "dave"]

[groups]
data-scientists = ["alice", "bob"]
feature-engineers = ["carol"]
"""
LEVELS = {"u_none": None, "u_select": "SELECT", "u_modify": "MODIFY", "u_all": "ALL PRIVILEGES"}
_scratch = count()


def customers(spark):
    rows = [(f"c{i}", T1, float(i)) for i in range(6)]
    return spark.createDataFrame(rows, "customer_id string, feature_ts timestamp, spend double")


def labels(spark):
    rows = [(f"c{i % 6}", datetime(2025, 3, 3), i % 2) for i in range(24)]
    return spark.createDataFrame(rows, "customer_id string, event_ts timestamp, label int")


LOOKUPS = [FeatureLookup(TABLE, "customer_id", timestamp_lookup_key="event_ts")]


class World:
    def __init__(self, spark, home: Path) -> None:
        self.spark, self.home = spark, home
        self.env = {"FEATURE_STORE_HOME": str(home)}
        self.settings = Settings.from_env(self.env)
        self.admin = self.client("admin")

    def client(self, principal: str) -> FeatureStoreClient:
        return FeatureStoreClient(spark=self.spark, settings=self.settings, principal=principal)


def _log_model(world: World) -> str:
    import mlflow
    import mlflow.sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier

    from examples.churn.model import SKOPS_TRUSTED_TYPES

    training = world.admin.create_training_set(
        labels(world.spark), LOOKUPS, label="label", exclude_columns=["customer_id", "event_ts"]
    )
    frame = training.load_df().toPandas()
    model = HistGradientBoostingClassifier(max_iter=3).fit(frame[["spend"]], frame["label"])
    world.admin.settings.configure_mlflow()
    with mlflow.start_run() as run:
        world.admin.log_model(
            model, "model", mlflow.sklearn, training, save_kwargs={"skops_trusted_types": SKOPS_TRUSTED_TYPES}
        )
    return f"runs:/{run.info.run_id}/model"


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("governed")
    (home / "access.toml").write_text(ACCESS_TOML)
    world = World(spark, home)
    world.admin.create_table(TABLE, "customer_id", df=customers(spark), timestamp_keys="feature_ts")
    world.admin.publish_table(TABLE)
    for user, level in LEVELS.items():
        if level:
            world.admin.sql(f"GRANT {level} ON TABLE {TABLE} TO {user}")
            world.admin.sql(f"GRANT {level} ON SCHEMA {NEW_TABLES_SCHEMA} TO {user}")
    world.model_uri = _log_model(world)
    return world


# ----------------------------------------------------------------------------- privilege x operation


def _scratch_table(world: World, user: str) -> str:
    """A table the user holds its level on, for operations that would change TABLE for the others."""
    name = f"gov.scratch_{next(_scratch)}"
    world.admin.create_table(name, "customer_id", df=customers(world.spark), timestamp_keys="feature_ts")
    if LEVELS[user]:
        world.admin.sql(f"GRANT {LEVELS[user]} ON TABLE {name} TO {user}")
    return name


OPERATIONS: dict[str, Callable[[World, FeatureStoreClient, str], object]] = {
    "read_table": lambda w, c, u: c.read_table(TABLE).count(),
    "create_training_set": lambda w, c, u: (
        c.create_training_set(labels(w.spark), LOOKUPS, "label").load_df().count()
    ),
    "score_batch": lambda w, c, u: c.score_batch(w.model_uri, labels(w.spark).drop("label")).collect(),
    "get_online_features": lambda w, c, u: c.get_online_features(
        [FeatureLookup(TABLE, "customer_id")], [{"customer_id": "c1"}]
    ),
    "create_table": lambda w, c, u: c.create_table(
        f"{NEW_TABLES_SCHEMA}.t{next(_scratch)}",
        "customer_id",
        df=customers(w.spark),
        timestamp_keys="feature_ts",
    ),
    "write_table": lambda w, c, u: c.write_table(TABLE, customers(w.spark)),
    "publish_table": lambda w, c, u: c.publish_table(TABLE),
    "set_feature_table_tag": lambda w, c, u: c.set_feature_table_tag(TABLE, "team", "growth"),
    "delete_feature_table_tag": lambda w, c, u: c.delete_feature_table_tag(TABLE, "nonexistent"),
    "drop_table": lambda w, c, u: c.drop_table(_scratch_table(w, u)),
    "GRANT": lambda w, c, u: c.sql(f"GRANT SELECT ON TABLE {TABLE} TO dave"),
    "REVOKE": lambda w, c, u: c.sql(f"REVOKE MODIFY ON TABLE {TABLE} FROM dave"),
}


# Public client members that touch no rows: catalog metadata, plumbing, and the grants' own reads.
NOT_CHECKED = {"get_table", "describe_table", "list_tables", "plan_online_lookup", "log_model", "sql",
               "audit_log", "close", "access", "online_store"}  # fmt: skip


def test_every_public_client_call_is_checked_or_reads_no_rows() -> None:
    public = {name for name in dir(FeatureStoreClient) if not name.startswith("_")}
    assert public - NOT_CHECKED == set(OPERATIONS) - {"GRANT", "REVOKE"}
    assert set(OPERATIONS) == set(REQUIRED) - {"serving"}  # serving: tests/serving


@pytest.mark.parametrize("user", list(LEVELS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_privilege_x_operation(world: World, operation: str, user: str) -> None:
    held = {Privilege(LEVELS[user])} if LEVELS[user] else set()
    lacking = [p for p in REQUIRED[operation] if not p.satisfied_by(held)]
    client = world.client(user)
    if not lacking:
        OPERATIONS[operation](world, client, user)
        return
    needed = lacking[0]
    version = world.admin.tables.version(TABLE)
    with pytest.raises(PermissionDenied) as raised:
        OPERATIONS[operation](world, client, user)
    denied = raised.value
    assert (denied.principal, denied.privilege) == (user, needed)
    assert denied.table.startswith(("gov.", f"{NEW_TABLES_SCHEMA}."))
    assert f"{user!r} lacks {needed}" in str(denied)
    assert world.admin.tables.version(TABLE) == version  # a refused call changes nothing
    latest = world.admin.audit_log(limit=1)[0]
    assert (latest.action, latest.actor, latest.privileges) == ("DENY", user, str(needed))


# ----------------------------------------------------------------------------- groups, revoke, default deny


def test_a_group_grant_reaches_members_until_revoked(world: World) -> None:
    alice = world.client("alice")
    with pytest.raises(PermissionDenied, match="'alice' lacks SELECT on TABLE gov.customers"):
        alice.read_table(TABLE)
    world.admin.sql(f"GRANT SELECT ON TABLE {TABLE} TO `data-scientists`;")  # the seed's statement
    assert alice.read_table(TABLE).count() == 6
    assert (
        world.client("bob")
        .get_online_features([FeatureLookup(TABLE, "customer_id")], [{"customer_id": "c2"}])
        .rows
    )
    with pytest.raises(PermissionDenied):  # SELECT does not allow writing
        alice.write_table(TABLE, customers(world.spark))
    result = world.admin.sql(f"REVOKE SELECT ON TABLE {TABLE} FROM `data-scientists`")
    assert [g.principal for g in result.changed] == ["data-scientists"]
    with pytest.raises(PermissionDenied):
        alice.read_table(TABLE)


def test_default_deny_and_the_admin(world: World) -> None:
    with pytest.raises(PermissionDenied):
        world.client("stranger").read_table(TABLE)  # not configured at all: no grant can name them
    with pytest.raises(ValueError, match=r"unknown principal\(s\) \['stranger'\]"):
        world.admin.sql(f"GRANT SELECT ON TABLE {TABLE} TO stranger")
    assert world.admin.read_table(TABLE).count() == 6  # the admin needs no grant
    assert world.client("carol").get_table(TABLE).primary_keys == ["customer_id"]  # the catalog is open


def test_dropping_a_table_drops_its_grants(world: World) -> None:
    name = _scratch_table(world, "u_select")
    world.admin.drop_table(name)
    world.admin.create_table(name, "customer_id", df=customers(world.spark), timestamp_keys="feature_ts")
    with pytest.raises(PermissionDenied):
        world.client("u_select").read_table(name)
    assert world.admin.audit_log(action="DROP")[0].securable == f"TABLE {name}"


def test_client_sql_refuses_malformed_and_non_grant_statements(world: World) -> None:
    with pytest.raises(GrantSyntaxError, match="unknown privilege 'READ'"):
        world.admin.sql(f"GRANT READ ON TABLE {TABLE} TO dave")
    with pytest.raises(GrantSyntaxError, match="queries run on client.spark.sql"):
        world.admin.sql(f"SELECT * FROM {TABLE}")
    with pytest.raises(Exception, match="TABLE gov.missing does not exist"):
        world.admin.sql("GRANT SELECT ON TABLE gov.missing TO dave")


# ----------------------------------------------------------------------------- the CLI


def test_cli_runs_the_seed_statements_and_shows_grants_and_the_audit_log(
    world, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("FEATURE_STORE_HOME", str(world.home))
    monkeypatch.setenv("FEATURE_STORE_PRINCIPAL", "admin")
    script = tmp_path / "grants.sql"
    script.write_text(
        f"GRANT SELECT ON TABLE {TABLE} TO `data-scientists`;\n"
        f"GRANT ALL PRIVILEGES ON TABLE {TABLE} TO `feature-engineers`;\n"
    )
    assert main(["sql", "-f", str(script)]) == 0
    assert "granted SELECT on TABLE gov.customers to data-scientists" in capsys.readouterr().out
    assert world.client("carol").read_table(TABLE).count() == 6

    assert main(["sql", f"SHOW GRANTS ON TABLE {TABLE}"]) == 0
    shown = capsys.readouterr().out
    assert "feature-engineers" in shown and "ALL PRIVILEGES" in shown

    assert main(["sql", f"GRANT SELECT ON TABLE {TABLE} TO dave; GRANT SELEC ON TABLE {TABLE} TO dave"]) == 1
    err = capsys.readouterr().err
    assert "error in statement 2 (1 earlier statement(s) applied): unknown privilege 'SELEC'" in err

    monkeypatch.setenv("FEATURE_STORE_PRINCIPAL", "alice")
    assert main(["sql", f"REVOKE SELECT ON TABLE {TABLE} FROM dave"]) == 1
    assert "'alice' lacks ALL PRIVILEGES on TABLE gov.customers (needed by REVOKE)" in capsys.readouterr().err

    assert main(["audit", "--action", "deny", "--actor", "alice"]) == 0
    assert "REVOKE" in capsys.readouterr().out


def test_grants_made_by_another_process_apply_at_once(world: World) -> None:
    bob = world.client("bob")
    with pytest.raises(PermissionDenied, match="'bob' lacks MODIFY on TABLE gov_bob.features"):
        bob.create_table(
            "gov_bob.features", "customer_id", df=customers(world.spark), timestamp_keys="feature_ts"
        )
    env = {**world.env, "FEATURE_STORE_PRINCIPAL": "admin", "PATH": str(Path(sys.executable).parent)}
    schema_grant = ["featurestore", "sql", "GRANT MODIFY ON SCHEMA gov_bob TO bob"]
    done = subprocess.run(schema_grant, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "granted MODIFY on SCHEMA gov_bob to bob" in done.stdout
    bob.create_table(
        "gov_bob.features", "customer_id", df=customers(world.spark), timestamp_keys="feature_ts"
    )
    with pytest.raises(PermissionDenied):  # MODIFY on the schema is not SELECT on its tables
        bob.read_table("gov_bob.features")
