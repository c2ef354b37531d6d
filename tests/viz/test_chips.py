"""True-colour chips of parcel patches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cropviz.data.bands import PATCH_BANDS
from cropviz.errors import ConfigurationError
from cropviz.viz.chips import chip_strip, true_color


def _patch(t: int = 3) -> np.ndarray:
    patch = np.zeros((t, len(PATCH_BANDS), 4, 4), np.float32)
    patch[:, PATCH_BANDS.index("B4")] = 0.1  # red
    patch[:, PATCH_BANDS.index("B2")] = 0.5  # blue, saturates at gain 3.5
    return patch


def test_true_colour_takes_b4_b3_b2_with_gain_and_clipping():
    rgb = true_color(_patch())
    assert rgb.shape == (3, 4, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, 0].tolist() == [int(0.35 * 255), 0, 255]
    with pytest.raises(ConfigurationError, match="T x C x H x W"):
        true_color(np.zeros((3, 4, 4)))


def test_one_thumbnail_per_date_labelled_with_its_date():
    dates = pd.to_datetime(["2017-03-05", "2017-04-10", "2017-05-15"])
    fig = chip_strip(_patch(), dates, per_row=2)
    assert len(fig.data) == 3
    assert [a.text for a in fig.layout.annotations] == ["05 Mar", "10 Apr", "15 May"]
    with pytest.raises(ConfigurationError, match="2 dates for a patch of 3 dates"):
        chip_strip(_patch(), dates[:2])
