"""Band tables: the breizhcrops package's input order and levels defined by imported data."""

from __future__ import annotations

import pytest

from cropviz.data.bands import (
    BREIZHCROPS_ORDER,
    CUSTOM_LEVELS,
    SPECTRAL_BANDS,
    band_order,
    register_level,
    wavelength_order,
)


def test_the_breizhcrops_input_order_is_not_the_wavelength_order():
    assert band_order("L1C", "breizhcrops") == ("B1", "B10", "B11", "B12", "B2", "B3", "B4", "B5", "B6", "B7",
                                                "B8", "B8A", "B9")
    assert band_order("L1C", "spectral")[:3] == ("B1", "B2", "B3")
    assert set(band_order("L2A", "spectral")) == set(SPECTRAL_BANDS["L2A"])


def test_imported_levels_get_their_bands_in_wavelength_order():
    register_level("TEST4", ["doa", "B8", "B2", "B4", "B3", "CLD"], ["B8", "B2", "B4", "B3"], ["CLD"])
    assert band_order("TEST4", "breizhcrops") == ("B2", "B3", "B4", "B8")
    assert CUSTOM_LEVELS["TEST4"]["flags"] == ("CLD",)
    register_level("L1C", ["doa"], ["B2"])  # stock levels are never redefined
    assert BREIZHCROPS_ORDER["L1C"][0] == "B1"
    with pytest.raises(Exception, match="NOPE"):
        band_order("NOPE")


def test_wavelength_order_sorts_the_package_order_and_puts_other_names_last():
    package = BREIZHCROPS_ORDER["L1C"]
    assert [package[k] for k in wavelength_order(package)] == list(SPECTRAL_BANDS["L1C"])
    assert wavelength_order(["NDVI", "B8", "B4", "EVI"]) == [2, 1, 0, 3]
