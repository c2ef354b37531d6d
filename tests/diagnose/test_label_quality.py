"""Confident learning, nearest-neighbour agreement and cross-validated probabilities."""

from __future__ import annotations

import numpy as np

from cropviz.diagnose.label_quality import (
    combined_label_quality,
    confident_learning,
    cross_validated_probs,
    knn_agreement,
    nearest_neighbours,
)


def clusters(flipped: tuple[int, ...] = (5, 47)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 30)
    embedding = np.eye(3, 6)[labels] * 8 + rng.normal(0, 0.5, (90, 6))
    noisy = labels.copy()
    for row in flipped:
        noisy[row] = (labels[row] + 1) % 3
    return embedding, noisy


def test_knn_agreement_of_a_flipped_label_is_zero():
    embedding, labels = clusters()
    neighbours = nearest_neighbours(embedding, k=10)
    assert neighbours.shape == (90, 10)
    assert not (neighbours == np.arange(90)[:, None]).any()
    agreement = knn_agreement(neighbours, labels)
    assert agreement[5] == 0.0 and agreement[47] == 0.0
    assert np.median(agreement) == 1.0


def test_cross_validated_probabilities_are_out_of_fold():
    embedding, labels = clusters()
    probs = cross_validated_probs(embedding, labels, num_classes=4, folds=5, seed=0)
    assert probs.shape == (90, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert (probs[:, 3] == 0).all()  # a class without parcels
    assert probs[5, labels[5]] < 0.2 and probs[47, labels[47]] < 0.2
    np.testing.assert_array_equal(probs, cross_validated_probs(embedding, labels, 4, folds=5, seed=0))


def test_confident_learning_finds_the_flipped_labels():
    embedding, labels = clusters()
    probs = cross_validated_probs(embedding, labels, num_classes=3)
    quality, issues = confident_learning(probs, labels)
    assert set(np.flatnonzero(issues)) == {5, 47}
    assert set(np.argsort(quality)[:2]) == {5, 47}
    combined = combined_label_quality(quality, knn_agreement(nearest_neighbours(embedding), labels))
    assert set(np.argsort(combined)[:2]) == {5, 47}
    assert combined.min() >= 0 and combined.max() <= 1
