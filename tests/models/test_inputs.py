"""Model inputs: sampling, band order, time shuffling and readable parcels."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz.data import open_breizhcrops
from cropviz.data.bands import band_order
from cropviz.errors import DatasetError
from cropviz.models.inputs import prepare, readable_ids, time_permutation


def test_sequences_follow_the_dataset_reader_and_are_deterministic(demo_root):
    ds = open_breizhcrops(demo_root, "frh04")
    ids = ds.index["id"].to_numpy()[:5]
    first = prepare(ds, ids, "sequence", sequence_length=45, seed=0)
    again = prepare(ds, ids, "sequence", sequence_length=45, seed=0)
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.x, ds.model_input(ids, order="breizhcrops", sequence_length=45, seed=0))
    assert first.x.shape == (5, 45, len(band_order("L1C", "breizhcrops")))
    assert (np.diff(first.dates.astype("int64"), axis=1) >= 0).all()  # sampled, then sorted in time
    np.testing.assert_array_equal(first.labels, ds.index.set_index("id").loc[ids, "classid"].to_numpy())


def test_shuffled_inputs_are_the_same_observations_in_a_seeded_order(demo_root):
    ds = open_breizhcrops(demo_root, "frh04")
    ids = ds.index["id"].to_numpy()[:3]
    ordered = prepare(ds, ids, "sequence", sequence_length=45)
    shuffled = prepare(ds, ids, "sequence", sequence_length=45, shuffle_time=True, shuffle_seed=7)
    for row, parcel in enumerate(ids):
        order = time_permutation(45, 7, int(parcel))
        np.testing.assert_array_equal(shuffled.x[row], ordered.x[row][order])
    assert not np.array_equal(time_permutation(45, 7, 1), time_permutation(45, 8, 1))


def test_patch_inputs_need_patches(demo_root, tmp_path):
    ds = open_breizhcrops(demo_root, "frh04")
    with_patch = readable_ids(ds, "patch")
    assert 0 < len(with_patch) < len(ds) and len(readable_ids(ds, "sequence")) == len(ds)
    patches = prepare(ds, with_patch[:2], "patch")
    assert patches.x.shape[0] == 2 and patches.x.shape[2:] == (10, 32, 32)
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo_root, copy, ignore=shutil.ignore_patterns("patches"))
    no_patches = open_breizhcrops(copy, "frh04")
    assert len(readable_ids(no_patches, "patch")) == 0
    with pytest.raises(DatasetError, match="has no parcel patches for frh04"):
        prepare(no_patches, with_patch[:1], "patch")
