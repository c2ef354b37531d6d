"""Crop calendars of the demo (cropviz.data.simulate.phenology): classes differ by the timing of
their season, in the order of FIELD.md section 5."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz.data.simulate import phenology
from cropviz.data.simulate.parcels import CODE_WEIGHTS, class_names

K = 100


@pytest.fixture(scope="module")
def timing():
    """Median day of year of each class's green peak, green-up and end of green (half height)."""
    names = class_names()
    cls = np.repeat(np.arange(9), K)
    codes = np.array([next(iter(CODE_WEIGHTS[names[c]])) for c in cls], dtype=object)
    p = phenology.draw_params(np.random.default_rng(0), names, cls, codes, np.zeros(len(cls)), 0.0)
    green = phenology.fractions(p, np.arange(1, 366))[0]
    above = green > (green.min(1, keepdims=True) + green.max(1, keepdims=True)) / 2
    days = {"peak": green.argmax(1) + 1, "rise": above.argmax(1) + 1, "end": 365 - above[:, ::-1].argmax(1)}
    return {name: {k: float(np.median(v[cls == c])) for k, v in days.items()} for c, name in enumerate(names)}


def test_winter_cereals_barley_ahead_of_wheat(timing):
    barley, wheat = timing["barley"], timing["wheat"]
    assert 90 <= barley["peak"] < wheat["peak"] <= 150          # peak April-May
    assert 7 <= wheat["end"] - barley["end"] <= 25               # barley ripens 1-3 weeks earlier
    assert timing["rapeseed"]["rise"] < 40                       # already green in January


def test_summer_crops_green_up_in_june_and_july(timing):
    corn, sunflower = timing["corn"], timing["sunflower"]
    assert 150 <= sunflower["rise"] < corn["rise"] <= 200
    assert 200 <= corn["peak"] <= 245 and sunflower["peak"] < corn["peak"]   # corn peaks in August
    assert corn["end"] > 240                                                 # harvest in autumn


def test_trees_and_meadows(timing):
    assert 95 <= timing["orchards"]["rise"] < timing["nuts"]["rise"] - 10    # walnut leaves out later
    for name in ("orchards", "nuts", "permanent meadows", "temporary meadows"):
        assert timing[name]["end"] > 280                                     # green into autumn
