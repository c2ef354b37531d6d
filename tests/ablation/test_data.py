"""Seed 004 ablation data: per-parcel time shuffling and folds."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz.ablation import (
    fold_splits,
    load_patches,
    shuffle_time,
)
from cropviz.errors import ConfigurationError
from cropviz.models.inputs import prepare, time_permutation


def test_shuffle_time_is_a_seeded_permutation_per_parcel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 9, 2, 3, 3)).astype(np.float32)
    ids = np.array([11, 12, 13, 14, 15, 16])
    out = shuffle_time(x, ids, seed=4)
    for row in range(len(x)):  # the same observations (multiset), in a permuted order
        flat_in = np.sort(x[row].reshape(9, -1), axis=0)
        flat_out = np.sort(out[row].reshape(9, -1), axis=0)
        np.testing.assert_array_equal(flat_in, flat_out)
        np.testing.assert_array_equal(out[row], x[row][time_permutation(9, 4, int(ids[row]))])
    assert any(not np.array_equal(out[r], x[r]) for r in range(len(x)))
    np.testing.assert_array_equal(out, shuffle_time(x, ids, seed=4))  # reproducible
    assert not np.array_equal(out, shuffle_time(x, ids, seed=5))  # another seed, another order
    # per parcel: independent of which other parcels are in the batch
    np.testing.assert_array_equal(shuffle_time(x[[4, 1]], ids[[4, 1]], seed=4), out[[4, 1]])
    assert len({tuple(time_permutation(9, 4, int(i))) for i in ids}) > 1  # parcels get their own order
    with pytest.raises(ConfigurationError):
        shuffle_time(x, ids[:3], seed=4)


def test_patch_shuffling_is_the_same_at_training_and_evaluation(demo_root, shuffled_gru):
    from cropviz.data import open_breizhcrops
    from cropviz.models.classifier import normalize_patches

    ds = open_breizhcrops(demo_root, "frh04")
    data = load_patches(demo_root, ["frh04"])
    info = shuffled_gru.info
    assert info.shuffle_time and info.shuffle_seed == 5
    # the ablation's shuffle == the shared input preparation used by train() and Classifier.inputs
    prepared = prepare(ds, data.ids, "patch", shuffle_time=True, shuffle_seed=5)
    np.testing.assert_array_equal(shuffle_time(data.payload, data.ids, 5), prepared.x)
    # what the saved shuffled model is fed at evaluation: the same permutation, then its normalisation
    evaluated = shuffled_gru.inputs(ds, data.ids).x
    np.testing.assert_allclose(evaluated, normalize_patches(shuffle_time(data.payload, data.ids, 5),
                                                            info.normalization), rtol=1e-6)
    perm = time_permutation(data.payload.shape[1], 5, int(data.ids[0]))
    np.testing.assert_array_equal(prepared.dates[0], np.asarray(ds.patches().dates, "datetime64[ns]")[perm])


def test_fold_splits_are_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(3), 20)
    splits = fold_splits(labels, 5, seed=1)
    assert len(splits) == 5
    tests = np.concatenate([s["test"] for s in splits])
    assert sorted(tests) == list(range(60))  # every parcel tested exactly once
    for split in splits:
        parts = [set(split[p]) for p in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert [len(p) for p in parts] == [36, 12, 12]  # 3:1:1
        assert np.bincount(labels[split["test"]]).tolist() == [4, 4, 4]  # stratified
    again = fold_splits(labels, 5, seed=1)
    assert all(np.array_equal(a["test"], b["test"]) for a, b in zip(splits, again, strict=False))
    assert not np.array_equal(fold_splits(labels, 5, seed=2)[0]["test"], splits[0]["test"])
    with pytest.raises(ConfigurationError, match="at least 3"):
        fold_splits(labels, 2)
