"""Run `featurestore serve` as a child process (the demo, the benchmark and the e2e tests do): in its own
process group on a free loopback port, ready when /readyz says so, stopped by group id (SIGTERM,
then SIGKILL: processes here may ignore SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from scripts.devservices import free_port


@dataclass
class ServeProcess:
    models: Sequence[str]
    tokens_file: Path
    log: Path
    env: Mapping[str, str] | None = None  # overrides on top of os.environ
    extra_args: Sequence[str] = ()
    port: int = 0
    ready_timeout: float = 180.0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        self.port = self.port or free_port()
        argv = [sys.executable, "-m", "feature_store.cli.main", "serve", "--port", str(self.port),
                "--tokens-file", str(self.tokens_file), *self.extra_args]  # fmt: skip
        for model in self.models:
            argv += ["--model", model]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})}, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"featurestore serve did not become ready (exit {self.process.returncode}); "
                    f"log {self.log}:\n{self.log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.25)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
