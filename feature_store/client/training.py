"""FeatureStoreClient's training-set and model calls (mixed into the client in feature_store/client/core.py):
point-in-time training sets, models logged with their lookups, batch scoring. Each table a call reads
is authorized for the acting principal as it is opened."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame

from feature_store.runtime.settings import Settings
from feature_store.training.lookups import FeatureLookup
from feature_store.training.training_set import TrainingSet, create_training_set

if TYPE_CHECKING:
    from feature_store.client.core import FeatureTable


class TrainingMethods:
    settings: Settings
    _open: Callable[[str], tuple[FeatureTable, DataFrame]]
    _require: Callable[..., None]

    def create_training_set(
        self,
        df: DataFrame,
        feature_lookups: Sequence[FeatureLookup],
        label: str | None,
        exclude_columns: Sequence[str] | None = None,
        record_feature_ts: Mapping[str, str] | None = None,
    ) -> TrainingSet:
        """df joined point-in-time to every lookup's table (feature_store/training/pit_join.py); `load_df()`.
        record_feature_ts {table: column} also outputs the matched snapshot's feature_ts (leakage checks)."""
        opener = self._readable_opener("create_training_set")
        return create_training_set(df, feature_lookups, label, exclude_columns, opener, record_feature_ts)

    def _readable_opener(self, operation: str) -> Callable[[str], tuple[FeatureTable, DataFrame]]:
        """_open, refused with PermissionDenied unless the principal may read the table."""

        def open_readable(name: str) -> tuple[FeatureTable, DataFrame]:
            opened = self._open(name)  # TableNotFound before PermissionDenied, as for read_table
            self._require(operation, opened[0].name)
            return opened

        return open_readable

    def log_model(
        self,
        model: Any,
        artifact_path: str,
        flavor: Any,
        training_set: TrainingSet,
        registered_model_name: str | None = None,
        save_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Log model with the feature spec of training_set (feature_store/training/models.py); MLflow ModelInfo."""
        from feature_store.training import models  # MLflow is imported only by the calls that need it

        self.settings.configure_mlflow()
        return models.log_model(
            model, artifact_path, flavor, training_set, registered_model_name, save_kwargs, **kwargs
        )

    def score_batch(self, model_uri: str, df: DataFrame, result_type: str = "double") -> DataFrame:
        """df (keys, event times) joined point-in-time to the model's features, plus `prediction`."""
        from feature_store.training import models

        self.settings.configure_mlflow()
        opener = self._readable_opener("score_batch")

        def training_set(keys: DataFrame, lookups: Sequence[FeatureLookup], label: str | None) -> TrainingSet:
            return create_training_set(keys, lookups, label, None, opener)

        return models.score_batch(model_uri, df, training_set, result_type)
