"""Azurite for tests where Spark reads or writes it: on 127.0.0.1:10000, the one endpoint hadoop-azure's
WASB emulator mode talks to (the azure-storage SDK fixes it). The one `.ci/run` started there is reused;
else this test process starts its own on that port and stops it at the end. With AZURITE_BLOB_URL set
(e.g. http://127.0.0.1:10000/devstoreaccount1) that server is used instead."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from feature_store.azure.storage import EMULATOR_BLOB_PORT, emulator_conf
from scripts import devservices
from tests.services import SERVICES_ROOT

DEVSTORE_KEY = devservices.AZURITE_KEY
EMULATOR_URL = f"http://{devservices.HOST}:{EMULATOR_BLOB_PORT}/devstoreaccount1"


@contextmanager
def emulator_azurite(state: Path) -> Iterator[str]:
    """The blob endpoint URL of an Azurite on the emulator port (module doc)."""
    if os.environ.get("AZURITE_BLOB_URL"):
        yield os.environ["AZURITE_BLOB_URL"].rstrip("/")
        return
    if devservices.port_open(EMULATOR_BLOB_PORT):
        yield EMULATOR_URL
        return
    try:
        service = devservices.start("azurite", SERVICES_ROOT, port=EMULATOR_BLOB_PORT, state=state)
    except devservices.ServiceError as exc:
        pytest.fail(f"{exc}\n(install the servers with scripts/install_services.sh)", pytrace=False)
    try:
        yield EMULATOR_URL
    finally:
        devservices.stop_service(service, state)


def use_emulator(spark) -> None:
    """Point the running session's WASB at Azurite. Session-level SQL settings reach the Hadoop
    configuration of every later read and write (SessionState.newHadoopConf), so the one test
    SparkSession needs no restart; `spark.hadoop.*` settings, by contrast, only count at startup."""
    for key, value in emulator_conf().items():
        spark.conf.set(key, value)
