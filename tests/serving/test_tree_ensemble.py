"""The compiled HistGradientBoosting predictor against scikit-learn itself: random models (depths, leaf
counts, iterations, NaNs seen or unseen in training), random query rows including NaNs and values
exactly on split thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from feature_store.serving.tree_ensemble import CompiledTrees, compile_if_supported


@st.composite
def fitted(draw):
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    rows, columns = draw(st.integers(30, 200)), draw(st.integers(1, 6))
    X = rng.normal(size=(rows, columns)).round(draw(st.sampled_from([1, 3, 8])))  # ties on thresholds
    if draw(st.booleans()):
        X[rng.random(X.shape) < 0.1] = np.nan  # NaNs seen in training: learned missing directions
    target = X[:, 0] * 2 + np.nan_to_num(X[:, -1]) + rng.normal(scale=0.5, size=rows)
    params = {
        "max_iter": draw(st.integers(1, 30)),
        "max_leaf_nodes": draw(st.integers(2, 31)),
        "max_depth": draw(st.one_of(st.none(), st.integers(1, 6))),
        "learning_rate": 0.3,
        "random_state": seed,
    }
    if draw(st.booleans()):
        model = HistGradientBoostingClassifier(**params).fit(X, (np.nan_to_num(target) > 0).astype(int))
    else:
        model = HistGradientBoostingRegressor(**params).fit(X, np.nan_to_num(target))
    queries = rng.normal(size=(draw(st.integers(1, 50)), columns)).round(1)
    queries[rng.random(queries.shape) < 0.15] = np.nan
    thresholds = np.concatenate([p[0].nodes["num_threshold"] for p in model._predictors])
    queries[0, 0] = thresholds[0]  # exactly on a split threshold: goes left (<=)
    return model, queries


def expected(model, queries: np.ndarray) -> np.ndarray:
    if isinstance(model, HistGradientBoostingClassifier):
        return model.predict_proba(queries)[:, 1]
    return model.predict(queries)


@settings(max_examples=60, deadline=None)
@given(case=fitted())
def test_compiled_trees_predict_what_sklearn_predicts(case):
    model, queries = case
    compiled = compile_if_supported(model)
    assert compiled is not None
    np.testing.assert_allclose(compiled(queries), expected(model, queries), rtol=1e-12, atol=1e-12)
    # Both walks, whatever the batch size would pick: the routed C walk and the numpy level walk.
    raw = model._raw_predict(queries).ravel()
    routed = compiled.baseline + compiled._routed.leaf_values(queries).sum(axis=1)
    np.testing.assert_allclose(routed, raw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(compiled.raw_by_levels(queries), raw, rtol=1e-12, atol=1e-12)


def test_categorical_and_multiclass_models_are_not_compiled():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 4, 200), rng.normal(size=200)])
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(X, X[:, 0] > 1)
    assert compile_if_supported(categorical) is None
    multiclass = HistGradientBoostingClassifier(max_iter=5).fit(X, X[:, 0].astype(int))
    assert compile_if_supported(multiclass) is None
    with pytest.raises(ValueError, match="one tree per iteration"):
        CompiledTrees(multiclass)
