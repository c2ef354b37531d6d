"""Random Forest baseline on date-grid reflectances, stored without pickle.

scikit-learn trains the forest; its trees are then kept as plain arrays (children, split feature,
threshold, leaf class distribution) so a checkpoint is an ``.npz`` file loaded with
``allow_pickle=False`` and prediction is a vectorised walk down every tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier

from cropviz.errors import CheckpointError

_TREE_FIELDS = ("left", "right", "feature", "threshold", "value")


class RandomForest:
    """A Random Forest classifier over N x G x D inputs, returning log-probabilities N x C."""

    def __init__(self, num_classes: int = 9, input_dim: int = 13, n_estimators: int = 100,
                 max_depth: int | None = None, min_samples_leaf: int = 2, seed: int = 0) -> None:
        self.num_classes = num_classes
        self.input_dim = input_dim
        self.hparams = dict(n_estimators=n_estimators, max_depth=max_depth,
                            min_samples_leaf=min_samples_leaf)
        self.seed = seed
        self.trees: list[dict[str, np.ndarray]] = []
        self.cropviz_info: Any = None  # the ModelInfo, set by cropviz.models.checkpoint.load

    def fit(self, x: np.ndarray, y: np.ndarray) -> RandomForest:
        """Train on N x G x D inputs and labels; keeps the trees as arrays."""
        forest = RandomForestClassifier(**self.hparams, random_state=self.seed, n_jobs=-1,
                                        class_weight="balanced_subsample")
        forest.fit(x.reshape(len(x), -1), y)
        self.trees = []
        for estimator in forest.estimators_:
            tree = estimator.tree_
            value = np.zeros((tree.node_count, self.num_classes), dtype=np.float32)
            value[:, forest.classes_] = tree.value[:, 0, :]
            value /= np.maximum(value.sum(axis=1, keepdims=True), 1e-12)
            self.trees.append(dict(left=tree.children_left.astype(np.int32),
                                   right=tree.children_right.astype(np.int32),
                                   feature=tree.feature.astype(np.int32),
                                   threshold=tree.threshold.astype(np.float32),
                                   value=value))
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities N x C: the mean of the trees' leaf distributions."""
        flat = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        proba = np.zeros((len(flat), self.num_classes), dtype=np.float64)
        rows = np.arange(len(flat))
        for tree in self.trees:
            node = np.zeros(len(flat), dtype=np.int32)
            while True:
                inner = tree["left"][node] >= 0
                if not inner.any():
                    break
                feature = tree["feature"][node[inner]]
                go_left = flat[rows[inner], feature] <= tree["threshold"][node[inner]]
                node[inner] = np.where(go_left, tree["left"][node[inner]], tree["right"][node[inner]])
            proba += tree["value"][node]
        return (proba / max(len(self.trees), 1)).astype(np.float32)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities N x C of a tensor input (the nn.Module calling convention)."""
        proba = self.predict_proba(x.detach().cpu().numpy())
        return torch.log(torch.from_numpy(proba).clamp_min(1e-8))

    def eval(self) -> RandomForest:
        """No-op, for the same interface as torch modules."""
        return self

    def to(self, device: object) -> RandomForest:
        """No-op: the forest runs on the CPU."""
        return self

    def save(self, path: str | Path, meta: dict[str, str]) -> None:
        """Write the trees and ``meta`` (JSON text values) to an ``.npz`` file."""
        arrays: dict[str, np.ndarray] = {}
        for i, tree in enumerate(self.trees):
            for name in _TREE_FIELDS:
                arrays[f"tree{i}_{name}"] = tree[name]
        arrays["meta_keys"] = np.array(list(meta), dtype=str)
        arrays["meta_values"] = np.array(list(meta.values()), dtype=str)
        np.savez_compressed(path, allow_pickle=False, **arrays)

    @classmethod
    def load_arrays(cls, path: str | Path) -> tuple[RandomForest, dict[str, str]]:
        """Read a forest saved by :meth:`save` (no pickle) and its metadata."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = dict(zip(data["meta_keys"].tolist(), data["meta_values"].tolist(), strict=False))
                count = sum(1 for key in data.files if key.endswith("_left"))
                trees = [{name: data[f"tree{i}_{name}"] for name in _TREE_FIELDS}
                         for i in range(count)]
        except (OSError, ValueError, KeyError) as error:
            raise CheckpointError(path, f"not a cropviz Random Forest file ({error})") from None
        forest = cls(num_classes=trees[0]["value"].shape[1] if trees else 0)
        forest.trees = trees
        return forest, meta
