"""Seed 004 patches of the demo (cropviz.data.simulate.patches): class-independent texture,
cloud filling, 20 m bands."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz.data.simulate import patches, phenology, spectra
from cropviz.data.simulate.landscape import make_landscape
from cropviz.data.simulate.parcels import CODE_WEIGHTS, class_names

K = 6  # parcels per class
B4, B5, B8, B11 = 2, 3, 6, 8  # positions among the 10 patch bands


@pytest.fixture(scope="module")
def rendered():
    """Patches (24 x 10 x 32 x 32) of the same K fields rendered as each of the 9 classes."""
    names = class_names()
    fields = make_landscape(np.random.default_rng(0), K, (0.0, 0.0, 5e4, 5e4)).fields
    cls = np.repeat(np.arange(9), K)
    codes = np.array([next(iter(CODE_WEIGHTS[names[c]])) for c in cls], dtype=object)
    params = phenology.draw_params(np.random.default_rng(1), names, cls, codes, np.zeros(len(cls)), 0.0)
    ends = spectra.endmembers(np.ones(len(cls)), np.zeros(len(cls)), np.zeros(len(cls)))
    out = np.zeros((9, K, patches.N_DATES, 10, patches.SIZE, patches.SIZE))
    for r in range(len(cls)):
        dn, _ = patches.render(fields[r % K], params, r, ends[r], np.random.default_rng(r % K))
        out[r // K, r % K] = dn.reshape(patches.N_DATES, 10, patches.SIZE, patches.SIZE)
    return out


def _relative(x: np.ndarray) -> np.ndarray:
    """In-parcel pixels of a band (T x H x W) divided by their per-date mean: T x pixels."""
    v = x[:, x[0] > 0]
    return v / v.mean(axis=1, keepdims=True)


def test_texture_pattern_does_not_depend_on_the_class(rendered):
    # One field rendered as every class: its SWIR brightness pattern is the same map.
    for k in range(K):
        maps = np.array([_relative(rendered[c, k, :, B11]).mean(axis=0) for c in range(9)])
        assert np.corrcoef(maps).min() > 0.8
    # Within-field variability per class: alike in SWIR, within a factor 2 in NIR (vigour texture
    # shows more on green canopies, as it does on the ground).
    for band, factor in ((B11, 1.3), (B8, 2.0)):
        cv = [np.mean([_relative(rendered[c, k, :, band]).std(axis=1).mean() for k in range(K)]) for c in range(9)]
        assert 0.005 < min(cv) and max(cv) / min(cv) < factor


def test_twenty_metre_bands_are_coarser(rendered):
    patch = rendered[0, 0, 10]
    inside = patch[0] > 0
    assert len(np.unique(patch[B5][inside])) < 0.6 * len(np.unique(patch[B4][inside]))


def test_cloudy_pixels_are_filled_by_linear_interpolation_in_time():
    T, P = 6, 3
    truth = np.repeat(np.arange(T, dtype=float)[:, None, None] * 10, P, 1).repeat(2, 2)   # linear in time
    mask = np.zeros((T, P), dtype=bool)
    mask[2:4, 0] = True            # inner gap: interpolated
    mask[0, 1] = mask[5, 1] = True  # both ends: nearest clear date
    mask[:, 2] = True              # never clear: kept
    observed = np.where(mask[..., None], 999.0, truth)
    observed[:, 2] = truth[:, 2]
    filled = patches.fill_clouds(observed, mask)
    assert np.allclose(filled[:, 0], truth[:, 0])
    assert np.allclose(filled[[0, 5], 1, 0], [10.0, 40.0])
    assert np.allclose(filled[:, 2], truth[:, 2])


def test_patch_clouds_leave_no_bright_blobs(rendered):
    # After filling, no date's blue-ish visible band jumps far above both neighbours (cloud tops).
    red = rendered[:, :, :, B4].reshape(-1, patches.N_DATES, patches.SIZE * patches.SIZE)
    inside = red[:, 0] > 0
    mean = np.array([r[:, m].mean(axis=1) for r, m in zip(red, inside, strict=True)])   # parcels x T
    jump = mean[:, 1:-1] - np.maximum(mean[:, :-2], mean[:, 2:])
    assert jump.max() < 600   # DN; an opaque cloud adds 2000 and more
