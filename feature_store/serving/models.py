"""Models served by the endpoint: loaded from the MLflow registry with their feature spec, and kept
current by a watcher that follows an alias (`churn_model@champion`).

A new version is loaded, planned and warmed up completely in the watcher's thread before it replaces
the old one in a single assignment, so a request uses either version, never a half-loaded one, and
requests keep being answered while the alias moves.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from feature_store.declarations.functions import FeatureFunction
from feature_store.online.lookup import OnlineLookupPlan, bind_lookup

log = logging.getLogger("feature_store.serving")

_REF = re.compile(r"(?P<name>[A-Za-z0-9_.\-]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>\d+))?")


@dataclass(frozen=True)
class ModelRef:
    """`name@alias` (followed as the alias moves), `name/version` (fixed) or `name` (alias champion)."""

    name: str
    alias: str | None
    version: str | None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        match = _REF.fullmatch(text.strip())
        if not match:
            raise ValueError(f"model {text!r}: expected NAME, NAME@ALIAS or NAME/VERSION")
        alias, version = match["alias"], match["version"]
        return cls(match["name"], alias if alias or version else "champion", version)

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


@dataclass
class ServedModel:
    name: str
    version: str
    plan: OnlineLookupPlan
    columns: list[str]  # the model's input columns, in order
    predict: Callable[[np.ndarray], np.ndarray]
    functions: tuple[FeatureFunction, ...] = ()  # on-demand features, computed after the lookups
    loaded_at: float = field(default_factory=time.time)

    @property
    def tables(self) -> tuple[str, ...]:
        return self.plan.tables


def plan_from_spec(spec: dict[str, Any]) -> OnlineLookupPlan:
    """The online lookups of a logged feature spec: latest values (serving has no event time)."""
    from feature_store.training.models import lookups_from_spec

    bound = []
    for lookup, entry in zip(lookups_from_spec(spec, timestamped=False), spec["lookups"], strict=True):
        key_types = entry.get("key_types") or []
        if len(key_types) != len(entry["primary_keys"]):
            raise ValueError(
                f"the model's feature spec has no key types for {entry['table']}: log it again with "
                "this version of FeatureStoreClient.log_model"
            )
        bound.append(bind_lookup(lookup, entry["table"], entry["primary_keys"], key_types, entry["features"]))
    return OnlineLookupPlan(bound)


def load_model(name: str, version: str) -> ServedModel:
    """Load, plan and warm up version `version` of registered model `name`."""
    import mlflow.pyfunc

    from feature_store.training.models import functions_from_spec

    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    wrapper = pyfunc.unwrap_python_model()
    if not hasattr(wrapper, "matrix_predictor"):
        raise ValueError(f"model {name}/{version} was not logged with FeatureStoreClient.log_model")
    served = ServedModel(
        name=name,
        version=str(version),
        plan=plan_from_spec(wrapper.spec),
        columns=list(wrapper.columns),
        predict=wrapper.matrix_predictor(),
        functions=tuple(functions_from_spec(wrapper.spec)),
    )
    served.predict(np.zeros((1, len(served.columns))))  # first-call costs are paid here, not by a request
    return served


def resolve_version(ref: ModelRef) -> str:
    if ref.version is not None:
        return ref.version
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(ref.name, ref.alias).version)


class ModelWatcher:
    """Holds the served models by name and re-resolves their aliases every `poll_seconds`."""

    def __init__(
        self,
        refs: Sequence[ModelRef],
        poll_seconds: float = 10.0,
        loader: Callable[[str, str], ServedModel] = load_model,
        on_change: Callable[[ServedModel], None] | None = None,
    ) -> None:
        names = [r.name for r in refs]
        if len(set(names)) != len(names):
            raise ValueError(f"each model can be served once; got {[str(r) for r in refs]}")
        self.refs = {r.name: r for r in refs}
        self.poll_seconds = poll_seconds
        self._loader = loader
        self.on_change = on_change  # e.g. the app's model-version gauge
        self.models: dict[str, ServedModel] = {}
        self.last_error: str | None = None
        self._lock = threading.Lock()  # one refresh at a time (poller and reload calls)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> dict[str, str]:
        """Load every model whose alias moved; returns {name: version} served afterwards. A failure is
        logged and kept in `last_error`; the previous version keeps serving."""
        with self._lock:
            for name, ref in self.refs.items():
                try:
                    version = resolve_version(ref)
                    current = self.models.get(name)
                    if current is None or current.version != version:
                        started = time.perf_counter()
                        model = self._loader(name, version)
                        self.models = {**self.models, name: model}  # one assignment: readers see old or new
                        log.info(
                            "serving %s version %s (was %s), loaded in %.1fs", name, version,
                            current.version if current else "none", time.perf_counter() - started,
                        )  # fmt: skip
                        if self.on_change:
                            self.on_change(model)
                    self.last_error = None
                except Exception as exc:  # keep serving what we have
                    self.last_error = f"{ref}: {type(exc).__name__}: {exc}"
                    log.warning("could not refresh model %s: %s", ref, self.last_error)
            return {name: m.version for name, m in self.models.items()}

    def start(self) -> None:
        if self._thread is None and self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll, name="model-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()
