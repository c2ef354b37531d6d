"""Sentinel-2 band and date tokens in column and file names."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz.data.importers.bandnames import (
    band_in_filename,
    canonical_band,
    date_in_name,
    looks_like_band,
    split_band_date,
)


@pytest.mark.parametrize("name,band", [("B2", "B2"), ("B02", "B2"), ("b2", "B2"), ("S2-L2A-B02", "B2"),
                                       ("sentinel2_B8A", "B8A"), ("B8A", "B8A"), ("B08", "B8"), ("B8", "B8"),
                                       ("b8a", "B8A"), ("B11_mean", "B11"), ("s2_b12_20m", "B12"),
                                       ("red", "B4"), ("VV", None), ("B13", None)])
def test_band_aliases(name, band):
    assert canonical_band(name) == band


@pytest.mark.parametrize("name,band", [("T30UVU_20170315T105031_B04_10m.tif", "B4"), ("S2_B8A.tif", "B8A"),
                                       ("tile_2017-03-15_NDVI.tif", None), ("B12_20m.jp2", "B12")])
def test_band_tokens_in_file_names(name, band):
    assert band_in_filename(name) == band


def test_dates_in_names_and_wide_columns():
    assert date_in_name("T30UVU_20170315T105031_B04.tif") == np.datetime64("2017-03-15", "ns")
    assert date_in_name("x_2017-13-01.tif") is None and date_in_name("no date") is None
    assert split_band_date("B2_20170315") == ("B2", np.datetime64("2017-03-15", "ns"))
    assert split_band_date("2017-03-15_NDVI") == ("NDVI", np.datetime64("2017-03-15", "ns"))
    assert split_band_date("B2") is None


def test_band_shaped_names_are_recognised_even_when_invalid():
    assert looks_like_band("B13") and looks_like_band("S2_B14") and not looks_like_band("NDVI")
