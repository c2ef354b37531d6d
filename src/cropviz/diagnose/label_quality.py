"""Is the given label likely wrong? Confident learning (cleanlab) and nearest-neighbour agreement.

Both need probabilities the model did not fit to these very labels. For a region the model was
not trained on, its own (calibrated) probabilities are out of sample. For one of its training
regions they are not (the model has memorised those labels), so cropviz uses a cheap, seeded
stand-in for retraining k times: out-of-fold probabilities of a multinomial logistic regression
on the model's frozen embeddings (stratified k-fold, seed 0). The embedding itself was learnt on
those labels, so these probabilities are less independent than a full k-fold retraining; they
cost a few seconds per 10,000 parcels instead of k trainings.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: Neighbours of the kNN agreement.
K_NEIGHBOURS = 10
#: Folds of the cross-validated probabilities of training regions.
FOLDS = 5


def cross_validated_probs(embedding: np.ndarray, labels: np.ndarray, num_classes: int, folds: int = FOLDS,
                          seed: int = 0) -> np.ndarray:
    """Out-of-fold class probabilities N x C of a logistic regression on ``embedding`` (seeded).

    Classes too rare for ``folds`` folds are still predicted (probability from the other folds'
    models, zero where a fold's training part lacks the class).
    """
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.zeros((len(labels), num_classes))
    present = np.unique(labels)
    if len(present) < 2 or len(labels) < 2 * folds:
        probs[np.arange(len(labels)), labels] = 1.0
        return probs
    counts = np.bincount(labels, minlength=num_classes)[present]
    splitter = StratifiedKFold(n_splits=max(2, min(folds, int(counts.max()))), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rare classes: fewer members than folds
        fold_probs = cross_val_predict(model, embedding, labels, cv=splitter, method="predict_proba")
    probs[:, present] = fold_probs
    return probs


def confident_learning(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cleanlab's self-confidence label quality N in [0, 1], cleanlab's label-issue flags N)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.clip(np.asarray(probs, dtype=np.float64), 1e-9, None)
    probs = probs / probs.sum(axis=1, keepdims=True)
    scores = get_label_quality_scores(labels, probs, method="self_confidence")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            issues = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
        except (ValueError, IndexError):  # degenerate regions (one class, a handful of parcels)
            issues = np.zeros(len(labels), bool)
    return np.asarray(scores, dtype=np.float64), np.asarray(issues, dtype=bool)


def nearest_neighbours(embedding: np.ndarray, k: int = K_NEIGHBOURS) -> np.ndarray:
    """Row indices N x k of each parcel's k nearest other parcels (standardised embedding, Euclidean)."""
    n = len(embedding)
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((n, 0), np.int64)
    scaled = StandardScaler().fit_transform(embedding)
    _, index = NearestNeighbors(n_neighbors=k + 1).fit(scaled).kneighbors(scaled)
    # drop each parcel itself (duplicates may put it second: remove it wherever it is)
    keep = np.array([[j for j in row if j != i][:k] for i, row in enumerate(index)], dtype=np.int64)
    return keep


def knn_agreement(neighbours: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Share of each parcel's neighbours whose label equals its own (NaN without neighbours)."""
    labels = np.asarray(labels)
    if neighbours.shape[1] == 0:
        return np.full(len(labels), np.nan)
    return (labels[neighbours] == labels[:, None]).mean(axis=1)


def combined_label_quality(self_confidence: np.ndarray, agreement: np.ndarray) -> np.ndarray:
    """``label_quality``: the mean of cleanlab's self-confidence and the kNN agreement (either alone
    where the other is missing)."""
    return np.where(np.isnan(agreement), self_confidence, 0.5 * (self_confidence + np.nan_to_num(agreement)))
