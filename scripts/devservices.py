"""The dev/test service launcher: redis-server, the Cosmos DB protocol server, Azurite and PostgreSQL
on 127.0.0.1.

Stdlib only, so `scripts/services.py`, CI and the test fixtures can all use it before the project's
dependencies matter. It installs nothing: `scripts/install_services.sh` puts `redis-server` (Debian)
and the pinned npm packages under `<root>/node_modules`.

| service | default port | command                                                                 |
| ------- | ------------ | ----------------------------------------------------------------------- |
| redis   | 6390         | `redis-server --bind 127.0.0.1 --port P --save '' --appendonly no`      |
| cosmos  | 8081         | `node -e "require('@vercel/cosmosdb-server').createHttpServer({keepAlive: true}).listen(P, '127.0.0.1')"` |
| azurite | 10000        | `azurite-blob --blobHost 127.0.0.1 --blobPort P --location D --disableTelemetry --skipApiVersionCheck` |
| postgres| 5440         | `postgres -D <tmp>/featurestore-postgres-P -h 127.0.0.1 -p P` after `initdb --auth=trust` |

PostgreSQL (Debian's package; the grants store's second backend) refuses to run as root, so as root it
runs as the `postgres` system user, with its throwaway cluster under the temp dir (test dirs are private
to root); `stop` deletes that cluster. Durability is off (fsync, synchronous_commit): test data only.

Redis sits on 6390, not 6379, so it never collides with a system redis. The Cosmos server speaks plain
HTTP (the CLI's `--no-ssl`; we call its `createHttpServer` to also get keep-alive) on 8081, the official
emulator's port: no self-signed certificate to disable verification for; the azure-cosmos SDK then
needs `enable_endpoint_discovery=False` and any base64 key (`COSMOS_EMULATOR_KEY`).

Each server runs in its own session/process group (`start_new_session=True`), its pid and command go to
`<root>/<name>.pid`, and `stop` signals that group only: SIGTERM, then SIGKILL after a timeout (node
servers started in the background may ignore SIGTERM). Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORTS = {"redis": 6390, "cosmos": 8081, "azurite": 10000, "postgres": 5440}
POSTGRES_USER = "featurestore"  # the cluster's superuser; trust authentication on loopback
SERVICES = tuple(DEFAULT_PORTS)
# The Cosmos emulator's well-known account key: the protocol server accepts any key, the SDK wants base64.
COSMOS_EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)

# Azurite's well-known development account key (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


# Servers this process started: reaped after stop, so they don't linger as zombies.
_children: dict[int, subprocess.Popen] = {}


class ServiceError(RuntimeError):
    """A service could not be started, found or stopped."""


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    pid: int | None  # None: a server we found running and did not start
    host: str = HOST

    @property
    def url(self) -> str:
        if self.name == "redis":
            return f"redis://{self.host}:{self.port}/0"
        if self.name == "azurite":
            return f"http://{self.host}:{self.port}/devstoreaccount1"
        if self.name == "postgres":
            return f"postgresql+psycopg://{POSTGRES_USER}@{self.host}:{self.port}/postgres"
        return f"http://{self.host}:{self.port}/"


def port_open(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def command(name: str, root: Path, port: int, host: str = HOST, state: Path | None = None) -> list[str]:
    """The argv that runs `name` in the foreground (so we own its pid); data goes under `state`."""
    modules = root / "node_modules"
    state = root if state is None else state
    if name == "redis":
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServiceError("redis-server is not installed: run scripts/install_services.sh")
        data = state / f"redis-{port}"
        data.mkdir(parents=True, exist_ok=True)
        # No persistence: test and dev data are disposable, and an RDB save on exit slows stop down.
        return [exe, "--bind", host, "--port", str(port), "--save", "", "--appendonly", "no",
                "--dir", str(data), "--daemonize", "no"]  # fmt: skip
    if name == "cosmos":
        cli = modules / "@vercel" / "cosmosdb-server" / "lib" / "cli.js"
        node = shutil.which("node")
        if node is None or not cli.exists():
            raise ServiceError(f"{cli} not found: run scripts/install_services.sh")
        # Not the package's CLI: it can't turn on keep-alive, and without it every SDK request opens a
        # new connection (the server answers `connection: close`), which triples the cost per request.
        # keepAliveTimeout 0: never close an idle connection, else a request racing the close fails
        # with "Remote end closed connection without response" (the SDK does not retry writes on it).
        script = (
            f"const s = require({json.dumps(str(cli.parent / 'index.js'))}).createHttpServer({{keepAlive: true}});"
            f" s.keepAliveTimeout = 0;"
            f" s.listen({port}, {json.dumps(host)}, () => console.log('cosmosdb-server on {host}:{port}'));"
        )
        return [node, "-e", script]
    if name == "azurite":
        exe = modules / ".bin" / "azurite-blob"
        if not exe.exists():
            raise ServiceError(f"{exe} not found: run scripts/install_services.sh")
        data = state / f"azurite-{port}"
        data.mkdir(parents=True, exist_ok=True)
        return [str(exe), "--blobHost", host, "--blobPort", str(port), "--location", str(data),
                "--disableTelemetry", "--skipApiVersionCheck"]  # fmt: skip
    if name == "postgres":
        return _postgres_command(port, host, state)
    if name == "spark-connect":
        return _spark_connect_command(port, host)
    raise ServiceError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")


def _spark_connect_command(port: int, host: str) -> list[str]:
    """A Spark Connect server from the installed pyspark package (its jars/ has spark-connect_*.jar, so
    no application jar is needed). The caller adds `--jars` (Delta: `spark_connect_args`) as
    `extra_args`; Python workers run PYSPARK_PYTHON from the environment it inherits."""
    spec = importlib.util.find_spec("pyspark")  # locates the package without importing it
    spark_home = os.environ.get("SPARK_HOME") or (
        str(Path(spec.origin).parent) if spec and spec.origin else ""
    )
    submit = Path(spark_home) / "bin" / "spark-submit"
    if not submit.exists():
        raise ServiceError(f"{submit} not found: install the project (pyspark) or set SPARK_HOME")
    return [str(submit), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--name", "featurestore-connect", "--master", "local[2]",
            "--conf", f"spark.connect.grpc.binding.address={host}",
            "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.ui.enabled=false"]  # fmt: skip


def spark_connect_args(jars: list[str], python: str, conf: dict[str, str] | None = None) -> tuple[str, ...]:
    """`extra_args` for start("spark-connect", ...): the Delta jars (feature_store.runtime.spark.resolve_jars),
    the Python its workers run, and any further settings (Delta's extension and catalog, UTC)."""
    args = ["--jars", ",".join(jars), "--conf", f"spark.pyspark.python={python}"]
    for key, value in (conf or {}).items():
        args += ["--conf", f"{key}={value}"]
    return tuple(args)


def _postgres_data(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"featurestore-postgres-{port}"


def _postgres_command(port: int, host: str, state: Path) -> list[str]:
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not binaries:
        raise ServiceError("PostgreSQL is not installed: run scripts/install_services.sh")
    bin_dir = binaries[-1].parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = _postgres_data(port)
    shutil.rmtree(data, ignore_errors=True)  # a cluster left by a killed run: nothing listens on its port
    data.mkdir(mode=0o700)
    if as_postgres:
        os.chown(data, pwd.getpwnam("postgres").pw_uid, -1)
    with open(state / f"postgres-{port}.log", "ab") as log:
        done = subprocess.run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", POSTGRES_USER, "--auth=trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            stdout=log, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if done.returncode:
        raise ServiceError(f"initdb failed (exit {done.returncode}); see {state / f'postgres-{port}.log'}")
    return [*as_postgres, str(bin_dir / "postgres"), "-D", str(data), "-h", host, "-p", str(port), "-k", str(data),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]  # fmt: skip


def _pid_file(root: Path, name: str) -> Path:
    return root / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone; reaping is the parent's business.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), which a reused pid cannot share."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _is_ours(pid: int, started: str | None) -> bool:
    """The pid still leads its own group and is the process we started: guards against pid reuse.
    (Not by command line: redis-server rewrites its title and node scripts show up as `node`.)"""
    try:
        if os.getpgid(pid) != pid:
            return False
    except ProcessLookupError:
        return False
    return started is None or _start_time(pid) == started


def start(
    name: str,
    root: Path,
    port: int | None = None,
    host: str = HOST,
    timeout: float = 60.0,
    state: Path | None = None,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Service:
    """Start `name` on `port` (default: its fixed port) and wait until the port answers.

    `root` holds node_modules; `state` (default `root`) gets the pid file, the log and the data.
    `extra_args` go after the service's own (for redis-server, later options win: e.g. TLS); `env`
    is set over this process's environment for the server."""
    root = Path(root).resolve()
    state = root if state is None else Path(state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    port = DEFAULT_PORTS[name] if port is None else port
    if port_open(port, host):
        raise ServiceError(f"{name}: port {host}:{port} is already in use")
    argv = [*command(name, root, port, host, state), *extra_args]
    log_path = state / f"{name}-{port}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=state,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    started = _start_time(proc.pid)
    _pid_file(state, name).write_text(
        json.dumps({"pid": proc.pid, "port": port, "host": host, "started": started})
    )
    deadline = time.monotonic() + timeout
    while not port_open(port, host):
        if proc.poll() is not None or time.monotonic() > deadline:
            _terminate_group(proc.pid, started)
            _pid_file(state, name).unlink(missing_ok=True)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ServiceError(
                f"{name} did not start on {host}:{port} (exit {proc.poll()}); log {log_path}:\n{tail}"
            )
        time.sleep(0.05)
    return Service(name, port, proc.pid, host)


def _terminate_group(pid: int, started: str | None, timeout: float = 10.0) -> None:
    if not _is_ours(pid, started):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The leader may be gone while its children linger, so the group gets SIGKILL either way.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)


def stop(name: str, root: Path, timeout: float = 10.0) -> bool:
    """Stop the server whose pid file `start` wrote under `root` (its `state`); False if none."""
    pid_file = _pid_file(Path(root).resolve(), name)
    if not pid_file.exists():
        return False
    info = json.loads(pid_file.read_text())
    _terminate_group(int(info["pid"]), info.get("started"), timeout)
    pid_file.unlink(missing_ok=True)
    if name == "postgres":
        shutil.rmtree(_postgres_data(int(info["port"])), ignore_errors=True)
    return True


def stop_service(service: Service, state: Path, timeout: float = 10.0) -> None:
    """Stop a server returned by `start` with this `state` dir (no-op for one we only found running)."""
    if service.pid is None:
        return
    pid_file = _pid_file(Path(state).resolve(), service.name)
    if pid_file.exists() and json.loads(pid_file.read_text())["pid"] == service.pid:
        stop(service.name, state, timeout)


def status(name: str, root: Path) -> dict:
    root = Path(root).resolve()
    pid_file = _pid_file(root, name)
    info = json.loads(pid_file.read_text()) if pid_file.exists() else {}
    port = info.get("port", DEFAULT_PORTS[name])
    pid = info.get("pid")
    return {
        "name": name,
        "port": port,
        "pid": pid,
        "running": bool(pid) and _is_ours(pid, info.get("started")),
        "port_open": port_open(port, info.get("host", HOST)),
    }


@contextlib.contextmanager
def running(
    name: str, root: Path, state: Path, reuse_port: int | None = None, timeout: float = 60.0
) -> Iterator[Service]:
    """A server for a test session: reuse one already answering on `reuse_port` (e.g. started by CI),
    else start our own on a free port with its files under `state`, and stop only what we started."""
    if reuse_port is not None and port_open(reuse_port):
        yield Service(name, reuse_port, None)
        return
    service = start(name, root, port=free_port(), timeout=timeout, state=state)
    try:
        yield service
    finally:
        stop_service(service, state)


def redis_tls_args(port: int, cert: Path, key: Path, ca: Path, password: str) -> tuple[str, ...]:
    """redis-server options for TLS only on `port` with a password, as Azure Cache for Redis serves (6380)."""
    return ("--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", "--requirepass", password)  # fmt: skip
