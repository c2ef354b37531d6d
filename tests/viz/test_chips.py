"""True-colour chips of parcel patches."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

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


def test_thumbnails_tiled_into_one_image_each_labelled_above_with_its_date():
    dates = pd.to_datetime(["2017-03-05", "2017-04-10", "2017-05-15"])
    patch = _patch()
    patch[2, PATCH_BANDS.index("B3")] = 0.2  # the third date turns green
    fig = chip_strip(patch, dates, per_row=2)
    assert len(fig.data) == 1 and fig.data[0].type == "image"
    source = fig.data[0].source
    assert fig.data[0].z is None and source.startswith("data:image/png;base64,")  # a PNG, not pixel lists
    mosaic = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB"))
    # 2 rows of (4-pixel label band + 4-pixel chip), 2 columns of 4-pixel chips with a 1-pixel gap
    assert mosaic.shape == (16, 9, 3)
    assert mosaic[4:8, 0:4].reshape(-1, 3).tolist() == [[89, 0, 255]] * 16  # first date, top left
    assert mosaic[12:16, 0:4].reshape(-1, 3).tolist() == [[89, 178, 255]] * 16  # third date, second row
    assert (mosaic[0:4] == 255).all() and (mosaic[:, 4] == 255).all()  # label band and gap are white
    assert (mosaic[12:16, 5:9] == 255).all()  # no fourth date
    assert [a.text for a in fig.layout.annotations] == ["05 Mar", "10 Apr", "15 May"]
    assert [(a.x, a.y) for a in fig.layout.annotations] == [(1.5, 3.5), (6.5, 3.5), (1.5, 11.5)]
    assert fig.layout.height == 2 * 110 + 20
    with pytest.raises(ConfigurationError, match="2 dates for a patch of 3 dates"):
        chip_strip(_patch(), dates[:2])
