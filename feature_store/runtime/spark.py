"""Build a Delta-enabled SparkSession that can also read and write Azure Storage.

Everything time-related in this project assumes the session time zone is UTC (DESIGN.md: naive
timestamps are UTC), so it is set here and nowhere else.

Jars: Delta and the hadoop-azure connector are Maven packages. The first session on a machine resolves
them with Spark's ivy into FEATURE_STORE_IVY_DIR, in a child process whose (long, noisy: dozens of
"not found" lines while ivy tries each repository) output goes to `<ivy dir>/featurestore-resolve.log`;
on failure the error shows that log's tail. The resolved jar list is kept in a manifest next to it, so
every later session starts from the cached jars (`spark.jars`) with no resolution and no network:
`featurestore fetch-jars` does this at image build time.

Settings, later ones win: small-data defaults (local masters only), the storage authentication of
feature_store/azure/storage.py, the file named by FEATURE_STORE_SPARK_CONF, then the caller's `conf`;
`spark.redaction.regex` is extended so storage secrets never show in Spark's UI or event logs.

Spark Connect: with a `remote` URL (`sc://host:15002`, argument or SPARK_REMOTE) the session is a
Connect client. The server owns its jars, master and startup-only settings (its Delta extension and
catalog must be set where it starts), so no jar is resolved here; the storage settings go in with
`spark.conf.set` on the running session (Hadoop reads session confs without the `spark.hadoop.`
prefix), and a tiny `mapInArrow` checks that the server's Python workers can import pyarrow and this
project (publishing and scoring run there) before anything else runs; a classic session on a cluster
(any master but local) checks its executors the same way. The Connect builder is used
directly, not `SparkSession.builder.remote()`, whose getOrCreate refuses to run next to a classic
session. A process runs one kind of session: pyspark.sql.functions build Connect or classic columns by
a process-wide flag (SPARK_CONNECT_MODE_ENABLED), which a Connect session sets.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path

from pyspark.sql import SparkSession

from feature_store.azure.storage import redaction_conf, storage_hadoop_conf, storage_spark_conf
from feature_store.runtime import variables as V

SCALA_VERSION = "2.13"
# hadoop-azure is pinned to 3.4.2, not pyspark's Hadoop 3.5.0: 3.5.0 removed WASB, which the tests need
# to run Delta on Azurite (it has no DFS endpoint for ABFS), and 3.4.2 is the Hadoop version Delta's own
# resolve already brings. Its azure-storage, jetty-util(-ajax), wildfly-openssl and shaded-guava
# dependencies come with it from ivy. Delta needs nothing more: it picks AzureLogStore for wasb(s)://
# and abfs(s):// by scheme (delta-storage).
HADOOP_AZURE_COORDINATE = "org.apache.hadoop:hadoop-azure:3.4.2"
RESOLVE_LOG = "featurestore-resolve.log"

# Small-data defaults that make a 2-core laptop and a test suite fast; a cluster overrides them.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.stalenessLimit": "0",
}

# Run by `resolve_jars` in a child process: resolve the packages with a throwaway session and write the
# jars Spark put on its classpath (spark.jars) to the result file.
_RESOLVE_SCRIPT = """
import sys
from pyspark.sql import SparkSession
ivy_dir, packages, result = sys.argv[1:4]
spark = (SparkSession.builder.master("local[1]").appName("featurestore-fetch-jars")
         .config("spark.jars.packages", packages).config("spark.jars.ivy", ivy_dir)
         .config("spark.ui.enabled", "false").getOrCreate())
jars = spark.sparkContext.getConf().get("spark.jars", "")
spark.stop()
open(result, "w").write(jars)
"""


class SparkSetupError(RuntimeError):
    """The session's jars could not be resolved or a settings file is unreadable."""


def delta_maven_coordinate() -> str:
    """The delta-spark jar that matches the installed pyspark and delta-spark wheels."""
    spark_major_minor = ".".join(version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark_major_minor}_{SCALA_VERSION}:{version('delta-spark')}"


def maven_packages(extra: Sequence[str] = ()) -> list[str]:
    """Every Maven coordinate the session needs: Delta, hadoop-azure, then `extra` (a user's own)."""
    packages = [delta_maven_coordinate(), HADOOP_AZURE_COORDINATE]
    return packages + [p for p in extra if p not in packages]


def ivy_dir_from_env(env: Mapping[str, str] | None = None) -> Path:
    return Path(V.IVY_DIR.value(env) or "~/.ivy2.5.2").expanduser()


def read_conf_file(path: str | Path) -> dict[str, str]:
    """Spark settings from a JSON object file or a spark-defaults.conf file ('key value' a line, # comments)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except OSError as exc:
        raise SparkSetupError(f"FEATURE_STORE_SPARK_CONF: cannot read {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SparkSetupError(f"FEATURE_STORE_SPARK_CONF: {path} is not valid JSON: {exc}") from None
        if not all(isinstance(v, str | int | float | bool) for v in data.values()):
            raise SparkSetupError(
                f"FEATURE_STORE_SPARK_CONF: values in {path} must be strings, numbers or booleans"
            )
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()}
    conf: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)  # spark-defaults.conf: the key, whitespace, the rest is the value
        if len(parts) != 2:
            raise SparkSetupError(f"FEATURE_STORE_SPARK_CONF: {path} line {number} has a key but no value")
        conf[parts[0]] = parts[1].strip()
    return conf


def environment_conf(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings this deployment's environment asks for: storage auth, then FEATURE_STORE_SPARK_CONF."""
    conf = storage_spark_conf(env)
    conf_file = V.SPARK_CONF.value(env)
    if conf_file:
        conf.update(read_conf_file(conf_file))
    return conf


def _manifest_path(ivy_dir: Path, packages: Sequence[str]) -> Path:
    digest = hashlib.sha256(",".join(packages).encode()).hexdigest()[:12]
    return ivy_dir / f"featurestore-jars-{digest}.json"


def _cached_jars(manifest: Path) -> list[str] | None:
    if not manifest.exists():
        return None
    jars = json.loads(manifest.read_text())["jars"]
    return jars if all(Path(j.removeprefix("file:")).exists() for j in jars) else None


def resolve_jars(
    packages: Sequence[str],
    ivy_dir: Path,
    refresh: bool = False,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[str]:
    """The local jars of `packages` and their dependencies, fetched into `ivy_dir` unless cached (module doc)."""
    ivy_dir.mkdir(parents=True, exist_ok=True)
    manifest = _manifest_path(ivy_dir, packages)
    # One resolver at a time per ivy dir: ivy's cache is not safe for concurrent writers.
    with open(ivy_dir / "featurestore-resolve.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jars = None if refresh else _cached_jars(manifest)
        if jars is not None:
            return jars
        log_path = ivy_dir / RESOLVE_LOG
        result = manifest.with_suffix(".tmp")
        with open(log_path, "w") as log:
            done = subprocess.run(
                [sys.executable, "-c", _RESOLVE_SCRIPT, str(ivy_dir), ",".join(packages), str(result)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        if done.returncode != 0 or not result.exists():
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
            raise SparkSetupError(
                f"resolving {', '.join(packages)} into {ivy_dir} failed (exit {done.returncode}); "
                f"full log {log_path}, last lines:\n{tail}"
            )
        jars = [j for j in result.read_text().split(",") if j]
        result.unlink()
        manifest.write_text(json.dumps({"packages": list(packages), "jars": jars}, indent=1))
    report(f"fetched {len(jars)} jars for {', '.join(packages)} into {ivy_dir} (ivy's log: {log_path})")
    return jars


def build_spark_session(
    master: str = "local[*]",
    app_name: str = "featurestore",
    conf: Mapping[str, str] | None = None,
    ivy_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    remote: str | None = None,
) -> SparkSession:
    """Return the process's SparkSession, creating it with Delta Lake and hadoop-azure if needed;
    a Spark Connect session when `remote` or SPARK_REMOTE is set (module doc)."""
    remote = remote or V.SPARK_REMOTE.value(env)
    if remote:
        return build_connect_session(remote, app_name, conf, env)
    settings = dict(LOCAL_DEFAULTS) if master.startswith("local") else {}
    settings.update(environment_conf(env))
    settings.update(conf or {})
    # A user's own packages and jars (from FEATURE_STORE_SPARK_CONF or `conf`) join ours.
    extra = [p.strip() for p in settings.pop("spark.jars.packages", "").split(",") if p.strip()]
    ivy = ivy_dir if ivy_dir is not None else ivy_dir_from_env(env)
    jars = resolve_jars(maven_packages(extra), ivy)
    user_jars = [j for j in settings.pop("spark.jars", "").split(",") if j]
    settings.update(redaction_conf(settings))
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.jars", ",".join(jars + user_jars))
        .config("spark.jars.ivy", str(ivy))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    # Python tasks (online publishing) must run in this interpreter, which has the project installed, not
    # whatever `python3` is on PATH; SparkContext reads the variable, not spark.pyspark.python. A cluster
    # whose workers have their own environment sets PYSPARK_PYTHON itself.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in settings.items():
        builder = builder.config(key, value)
    fresh = SparkSession.getActiveSession() is None
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if fresh and not master.startswith("local"):
        try:
            check_server_python(spark, f"the executors of {master}")
        except SparkSetupError:
            spark.stop()  # give the cluster its cores back; the next build starts a new application
            raise
    return spark


_connect_sessions: dict[str, SparkSession] = {}


def build_connect_session(
    remote: str,
    app_name: str = "featurestore",
    conf: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> SparkSession:
    """A Spark Connect session on `remote` with this deployment's storage settings (module doc)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    # One session per URL, made with create(): the Connect builder's getOrCreate returns the process's
    # default session whatever URL it was given. The server's Python is checked once per session.
    # pyspark.sql.functions build Connect or classic Columns by this process-wide flag (pyspark's own
    # remote builder sets it too): a process runs one kind of session, and a Connect one needs it set.
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    session = _connect_sessions.get(remote)
    fresh = session is None or session.is_stopped
    if fresh:
        session = _connect_sessions[remote] = ConnectSession.builder.remote(remote).appName(app_name).create()
    settings = {"spark.sql.session.timeZone": "UTC", **storage_hadoop_conf(env)}
    file_conf = read_conf_file(V.SPARK_CONF.value(env)) if V.SPARK_CONF.value(env) else {}
    # Startup-only settings (jars, master, memory) belong to the server; session-level ones apply here.
    for key, value in {**file_conf, **(conf or {})}.items():
        if key.startswith("spark.hadoop."):  # on a running session Hadoop reads the unprefixed key
            settings[key.removeprefix("spark.hadoop.")] = value
        elif not _startup_only(key):
            settings[key] = value
    for key, value in settings.items():
        session.conf.set(key, value)
    if fresh:
        check_server_python(session, "the Spark Connect server")
    return session  # type: ignore[return-value]  # a pyspark.sql.SparkSession in all but class


def is_remote_session(spark: SparkSession) -> bool:
    """True for a Spark Connect session (no JVM in this process; module doc)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _startup_only(key: str) -> bool:
    return key.startswith(("spark.jars", "spark.driver.", "spark.executor.", "spark.master"))


def _import_check(batches):  # runs in the server's Python workers
    import pyarrow as pa

    import feature_store  # noqa: F401

    for _ in batches:
        pass
    yield pa.RecordBatch.from_pydict({"ok": [1]})


def check_server_python(session: SparkSession, where: str) -> None:
    """Fail with a clear error if the Python workers of `where` (a Connect server, or a cluster's
    executors) can't import pyarrow or this project."""
    try:
        session.range(1).mapInArrow(_import_check, "ok long").collect()
    except Exception as exc:
        missing = re.search(r"No module named '([\w.]+)'", str(exc))
        what = (
            f"cannot import {missing.group(1)!r}" if missing else f"failed: {str(exc).splitlines()[0][:300]}"
        )
        raise SparkSetupError(
            f"the Python workers of {where} {what}. Publishing and scoring run there: install this "
            "project's wheel (`pip wheel --no-deps .`; it brings pyarrow) in the Python that PYSPARK_PYTHON "
            "names on those hosts, or as a cluster library on Databricks (docs/spark.md)."
        ) from None
