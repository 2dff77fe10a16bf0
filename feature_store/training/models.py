"""MLflow models that carry their feature lookups (Databricks' `log_model` / `score_batch`).

`log_model` saves the trained model with its own flavor (e.g. `mlflow.sklearn`) inside a pyfunc wrapper,
`FeatureStoreModel`, together with `feature_spec.json`: the tables, keys, features, renames and defaults
of the training set's lookups, its on-demand features (by reference, `module:function`) and the
columns the model takes, in order. Anyone can then
- load it as a plain pyfunc (`mlflow.pyfunc.load_model`) and predict on a DataFrame that already
  holds the model's columns (the serving endpoint looks them up online first), and read
  `feature_spec(model_uri)` to know which lookups to do;
- `score_batch(model_uri, df)` with df holding only keys (and event times): the spec drives a
  point-in-time join, then the model predicts on the executors (`mlflow.pyfunc.spark_udf`).
A model with `predict_proba` (binary classifier) predicts the positive-class probability.

The wrapper class is pickled by reference, so loading needs this package installed (it is a
dependency of any process that does feature lookups anyway).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd

from feature_store.declarations.functions import FeatureFunction
from feature_store.training.lookups import FeatureLookup
from feature_store.training.training_set import TrainingSet

FEATURE_SPEC = "feature_spec.json"
PREDICTION = "prediction"


def configure_mlflow(tracking_uri: str, artifact_root: str | None, experiment: str = "feature_store") -> str:
    """Point MLflow (tracking and registry) at tracking_uri and select the experiment, creating it with
    artifact_root (None: the server's default); returns the experiment id."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # logs, not a terminal
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else mlflow.create_experiment(experiment, artifact_location=artifact_root)
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


class FeatureStoreModel(mlflow.pyfunc.PythonModel):
    """Predicts from a DataFrame holding the model's columns; extra columns are ignored."""

    def load_context(self, context: Any) -> None:
        self.spec = json.loads(Path(context.artifacts["feature_spec"]).read_text())
        self.columns: list[str] = self.spec["model_columns"]
        self._model = mlflow.pyfunc.load_model(context.artifacts["model"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        missing = [c for c in self.columns if c not in model_input.columns]
        if missing:
            raise ValueError(f"model input lacks columns {missing}; the model takes {self.columns}")
        return _positive_class(self._model.predict(model_input[self.columns]))

    def matrix_predictor(self) -> Callable[[np.ndarray], np.ndarray]:
        """predict(X) for a float matrix whose columns are `self.columns`, in order: the serving path.
        HistGradientBoosting models are compiled into one vectorized tree walk (serving/tree_ensemble.py,
        ~10x faster than scikit-learn for one row); other scikit-learn models are called directly (no
        DataFrame, no pyfunc schema handling); any other flavor goes through `predict` with a DataFrame."""
        try:
            raw = self._model.get_raw_model()
        except NotImplementedError:
            raw = None
        if raw is not None and type(raw).__module__.startswith("sklearn"):
            from feature_store.serving.tree_ensemble import compile_if_supported

            compiled = compile_if_supported(raw)
            if compiled is not None:
                return compiled
            # fitted on a DataFrame: sklearn warns once per call about an array without names
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            method = raw.predict_proba if hasattr(raw, "predict_proba") else raw.predict
            return lambda matrix: _positive_class(method(matrix))
        return lambda matrix: self.predict(None, pd.DataFrame(matrix, columns=self.columns))


def _positive_class(predicted: Any) -> np.ndarray:
    out = np.asarray(predicted)
    if out.ndim == 2 and out.shape[1] == 2:  # predict_proba of a binary classifier: P(positive)
        out = out[:, 1]
    return out.astype(float).ravel()


def _model_columns(model: Any, training_set: TrainingSet) -> list[str]:
    fitted = getattr(model, "feature_names_in_", None)  # scikit-learn fitted on a DataFrame
    return [str(c) for c in fitted] if fitted is not None else training_set.feature_names


def log_model(
    model: Any,
    artifact_path: str,
    flavor: Any,
    training_set: TrainingSet,
    registered_model_name: str | None = None,
    save_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Log `model` (saved with `flavor`, e.g. `mlflow.sklearn`, and `save_kwargs`) with its feature spec in
    the active run (one is started if none is). Returns MLflow's ModelInfo (`.model_uri`,
    `.registered_model_version`). Extra keyword arguments go to `mlflow.pyfunc.log_model`."""
    if not isinstance(training_set, TrainingSet):
        raise TypeError(f"training_set must come from create_training_set, got {type(training_set).__name__}")
    if not hasattr(flavor, "save_model"):
        raise TypeError(f"flavor must be an MLflow flavor module such as mlflow.sklearn, got {flavor!r}")
    spec = {
        "lookups": training_set.feature_spec(),
        "functions": training_set.function_spec(),
        "label": training_set.label,
        "model_columns": _model_columns(model, training_set),
    }
    with tempfile.TemporaryDirectory() as tmp:
        inner = Path(tmp) / "model"
        extra = dict(save_kwargs or {})
        if flavor.__name__ == "mlflow.sklearn" and hasattr(model, "predict_proba"):
            extra["pyfunc_predict_fn"] = "predict_proba"
        flavor.save_model(model, str(inner), **extra)
        spec_file = Path(tmp) / FEATURE_SPEC
        spec_file.write_text(json.dumps(spec, indent=2, default=str))
        # Explicit requirements: MLflow would otherwise infer them by loading the model in a subprocess.
        requirements = [f"{p}=={version(p)}" for p in ("mlflow", "scikit-learn", "pandas", "numpy")]
        return mlflow.pyfunc.log_model(
            name=artifact_path,
            python_model=FeatureStoreModel(),
            artifacts={"model": str(inner), "feature_spec": str(spec_file)},
            registered_model_name=registered_model_name,
            pip_requirements=requirements,
            metadata={"feature_store": {"tables": sorted({lk["table"] for lk in spec["lookups"]})}},
            **kwargs,
        )


def feature_spec(model_uri: str) -> dict[str, Any]:
    """The logged spec: {"lookups": [...], "label": ..., "model_columns": [...]}."""
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(model_uri, dst_path=tmp)
        return json.loads((Path(local) / "artifacts" / FEATURE_SPEC).read_text())


def lookups_from_spec(spec: dict[str, Any], timestamped: bool = True) -> list[FeatureLookup]:
    """The FeatureLookups a model was trained with (`timestamped=False`: latest values, for serving)."""
    lookups = []
    for lk in spec["lookups"]:
        window = lk.get("lookback_window_seconds")
        renames = {f: o for f, o in zip(lk["features"], lk["outputs"], strict=True) if f != o}
        lookups.append(
            FeatureLookup(
                table_name=lk["table"],
                lookup_key=lk["lookup_key"],
                feature_names=lk["features"],
                rename_outputs=renames or None,
                timestamp_lookup_key=lk["timestamp_lookup_key"] if timestamped else None,
                lookback_window=timedelta(seconds=window) if window and timestamped else None,
                default_values=lk.get("default_values") or None,
            )
        )
    return lookups


def functions_from_spec(spec: dict[str, Any]) -> list[FeatureFunction]:
    """The model's on-demand features, imported by reference (models logged before them have none)."""
    return [FeatureFunction.from_spec(entry) for entry in spec.get("functions", [])]


def model_columns(spec: dict[str, Any]) -> Sequence[str]:
    return spec["model_columns"]


def score_batch(model_uri: str, df: Any, create_training_set: Any, result_type: str = "double") -> Any:
    """df (keys and event times) + the model's features (point in time) + a `prediction` column."""
    from pyspark.sql import functions as F

    spec = feature_spec(model_uri)
    joined = create_training_set(df, [*lookups_from_spec(spec), *functions_from_spec(spec)], label=None).load_df()
    columns = list(model_columns(spec))
    missing = [c for c in columns if c not in joined.columns]
    if missing:
        raise ValueError(
            f"df must supply the model's non-feature-store columns {missing} (model takes {columns})"
        )
    if PREDICTION in df.columns:
        raise ValueError(f"df already has a {PREDICTION!r} column")
    predict = mlflow.pyfunc.spark_udf(
        df.sparkSession, model_uri, result_type=result_type, env_manager="local"
    )
    return joined.withColumn(PREDICTION, predict(F.struct(*(F.col(c) for c in columns))))


def promote(client: mlflow.MlflowClient, name: str, version: str, alias: str, stage: str = "Production") -> None:
    """Make `version` the `alias` of registered model `name`, and keep the `stage` in step with it.

    The alias is what this project reads (`models:/<name>@<alias>`). The stage is kept too because the
    Databricks-style call `score_batch(model_uri="models:/<name>/Production", ...)` resolves a stage,
    and MLflow resolves a stage only from stages, never from aliases. MLflow 2.9+ marks stages as
    deprecated (a FutureWarning, silenced here); the alias is set first, so a registry without stages
    still gets the champion."""
    client.set_registered_model_alias(name, alias, version)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        # An int, not the str the signature names: with archive_existing_versions MLflow's SQL store
        # compares its integer version column with the argument, which PostgreSQL refuses for a string
        # ("operator does not exist: integer <> character varying"); SQLite and REST take either.
        client.transition_model_version_stage(name, int(version), stage, archive_existing_versions=True)  # type: ignore[arg-type]
