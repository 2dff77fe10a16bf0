"""A fast predictor for scikit-learn's HistGradientBoosting models on small batches (the serving path).

scikit-learn predicts tree by tree: for a 200-iteration model that is 200 calls into Cython, each
allocating its output, plus input validation: ~1.2 ms for one row here, most of a request's budget.
`CompiledTrees` flattens every tree into one set of node arrays and walks all trees of all rows at
once with numpy, one step per tree level for the walks not yet at a leaf, and the same arithmetic (threshold
comparisons, NaN routing, baseline + sum of leaf values), so predictions agree with scikit-learn's to
float rounding (tests/serving/test_tree_ensemble.py checks it on random models and data).

Only numeric splits are supported; a model with categorical features keeps scikit-learn's predict.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class CompiledTrees:
    def __init__(self, model: Any) -> None:
        predictors = model._predictors  # [iteration][tree per class]
        if len(predictors[0]) != 1:
            raise ValueError("only regressors and binary classifiers (one tree per iteration) are compiled")
        trees = [iteration[0].nodes for iteration in predictors]
        if any(tree["is_categorical"].any() for tree in trees):
            raise ValueError("categorical splits are not compiled")
        sizes = np.array([len(t) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, sizes)
        self.roots = offsets.astype(np.intp)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.is_leaf = nodes["is_leaf"].astype(bool)
        self.left = (nodes["left"] + shift).astype(np.intp)  # children as global node indices
        self.right = (nodes["right"] + shift).astype(np.intp)
        self.value = nodes["value"].astype(np.float64)
        self.baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
        self.inverse_link = model._loss.link.inverse  # logit -> probability, log -> value, identity

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        rows, trees = matrix.shape[0], len(self.roots)
        node = np.tile(self.roots, rows)  # row-major: position p is (row p // trees, tree p % trees)
        active = np.flatnonzero(~self.is_leaf[node])
        # Only walks still inside a tree take the next step: the work is the total path length, not
        # rows x trees x the deepest tree (21 levels in the demo model, most paths far shorter).
        while active.size:
            at = node[active]
            x = matrix[active // trees, self.feature[at]]
            go_left = np.where(np.isnan(x), self.missing_left[at], x <= self.threshold[at])
            node[active] = np.where(go_left, self.left[at], self.right[at])
            active = active[~self.is_leaf[node[active]]]
        return self.baseline + self.value[node].reshape(rows, trees).sum(axis=1)

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        """P(positive class) for a binary classifier, the prediction for a regressor."""
        return np.asarray(self.inverse_link(self.raw(np.asarray(matrix, dtype=np.float64))), dtype=np.float64)


def compile_if_supported(model: Any) -> CompiledTrees | None:
    name = type(model).__name__
    if name not in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        return None
    try:
        return CompiledTrees(model)
    except (ValueError, AttributeError, KeyError, IndexError):
        return None
