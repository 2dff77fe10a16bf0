"""A fast predictor for scikit-learn's HistGradientBoosting models on small batches (the serving path).

scikit-learn predicts tree by tree: for a 200-iteration model that is 200 calls into Cython, each
allocating its output, plus input validation: ~1.2 ms for one row here, most of a request's budget.
`CompiledTrees` flattens every tree into one set of node arrays and walks all trees of all rows at
once, with the same arithmetic (threshold comparisons, NaN routing, baseline + sum of leaf values), so
predictions agree with scikit-learn's to float rounding (tests/serving/test_tree_ensemble.py checks
both walks on random models and data):

- a few rows (a request's usual size): scikit-learn's own compiled walker, called once on a single
  routed tree. A balanced router of splits on an extra "tree id" column sits above the trees' roots,
  and each row is repeated once per tree with its tree id, so one C call walks every (row, tree)
  pair: ~0.07 ms for one row of the demo model, where numpy's per-level steps take ~0.25 ms;
- more rows: numpy, one vectorized step per tree level for the walks not yet at a leaf, which
  amortizes its per-call cost over the batch (faster than the routed walk from a few dozen rows).

Only numeric splits are supported; a model with categorical features keeps scikit-learn's predict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SMALL_BATCH_ROWS = 16  # up to this many rows, the routed C walk; above, the numpy level walk


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
        self.n_features = int(model.n_features_in_)
        self._routed = _RoutedForest.build(trees, self.n_features)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        if self._routed is not None and matrix.shape[0] <= SMALL_BATCH_ROWS:
            return self.baseline + self._routed.leaf_values(matrix).sum(axis=1)
        return self.raw_by_levels(matrix)

    def raw_by_levels(self, matrix: np.ndarray) -> np.ndarray:
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


class _RoutedForest:
    """Every tree under one router, as one tree of scikit-learn's node records (see the module doc)."""

    def __init__(self, nodes: np.ndarray, n_trees: int, n_features: int, walk: Any) -> None:
        self.nodes, self.n_trees, self.n_features, self._walk = nodes, n_trees, n_features, walk
        self._tree_ids = np.arange(n_trees, dtype=np.float64)
        self._no_bitsets = np.zeros((0, 8), dtype=np.uint32)
        self._feature_map = np.zeros(n_features + 1, dtype=np.uint32)

    @classmethod
    def build(cls, trees: list[np.ndarray], n_features: int) -> _RoutedForest | None:
        try:  # scikit-learn's private walker: without it (another version), the numpy walk serves all
            from sklearn.ensemble._hist_gradient_boosting._predictor import _predict_from_raw_data
        except ImportError:
            return None
        splits: list[tuple[float, int, int]] = []  # (threshold on the tree id, left, right) per router node

        def route(first: int, end: int) -> int:
            """The node a walk for trees [first, end) goes to: a router split, or a tree's root (as -1 - tree)."""
            if end - first == 1:
                return -1 - first
            at = len(splits)
            splits.append((0.0, 0, 0))
            middle = (first + end) // 2
            splits[at] = (middle - 0.5, route(first, middle), route(middle, end))
            return at

        route(0, len(trees))  # the router's root is node 0, where the walker starts
        offsets = [int(o) for o in np.cumsum([len(splits), *(len(t) for t in trees[:-1])])]
        nodes = np.concatenate([np.zeros(len(splits), dtype=trees[0].dtype), *trees])
        for tree, offset in zip(trees, offsets, strict=True):
            stop = offset + len(tree)
            internal = nodes["is_leaf"][offset:stop] == 0
            nodes["left"][offset:stop][internal] += offset
            nodes["right"][offset:stop][internal] += offset
        for at, (threshold, left, right) in enumerate(splits):
            node = nodes[at : at + 1]
            node["feature_idx"], node["num_threshold"], node["missing_go_to_left"] = n_features, threshold, 1
            node["left"] = left if left >= 0 else offsets[-1 - left]
            node["right"] = right if right >= 0 else offsets[-1 - right]
        return cls(nodes, len(trees), n_features, _predict_from_raw_data)

    def leaf_values(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, trees): the leaf value each row reaches in each tree."""
        rows = matrix.shape[0]
        pairs = np.empty((rows * self.n_trees, self.n_features + 1))
        pairs[:, :-1] = np.repeat(matrix, self.n_trees, axis=0)
        pairs[:, -1] = np.tile(self._tree_ids, rows)
        out = np.empty(rows * self.n_trees)
        self._walk(self.nodes, pairs, self._no_bitsets, self._no_bitsets, self._feature_map, 1, out)
        return out.reshape(rows, self.n_trees)


def compile_if_supported(model: Any) -> CompiledTrees | None:
    name = type(model).__name__
    if name not in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        return None
    try:
        return CompiledTrees(model)
    except (ValueError, AttributeError, KeyError, IndexError):
        return None
