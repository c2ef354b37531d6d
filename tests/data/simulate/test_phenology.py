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


N_PER = 40
DOY = np.arange(1, 366)


def _params(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    names = class_names()
    classid = np.repeat(np.arange(len(names)), N_PER)
    codes = np.array([next(iter(CODE_WEIGHTS[names[c]])) for c in classid], dtype=object)
    rng = np.random.default_rng(seed)
    p = phenology.draw_params(rng, names, classid, codes, np.zeros(len(classid)), 0.0)
    return p, classid, names


def test_fractions_in_unit_interval_and_sum_below_one():
    p, classid, _ = _params()
    g, d, f = phenology.fractions(p, DOY)
    assert g.shape == d.shape == f.shape == (len(classid), len(DOY))
    for a in (g, d, f):
        assert np.all(a >= 0) and np.all(a <= 1)
    assert np.all(g + d + f <= 0.98 + 1e-9)


@pytest.mark.parametrize("name, lo, hi", [
    ("wheat", 91, 151),     # peak April-May
    ("barley", 91, 151),    # like wheat, ripening 2-3 weeks earlier
    ("corn", 182, 243),     # fast growth June-July, peak August
])
def test_green_peak_in_crop_calendar(name, lo, hi):
    p, classid, names = _params()
    g, _, _ = phenology.fractions(p, DOY, np.flatnonzero(classid == names.index(name)))
    peak = DOY[np.argmax(g, axis=1)]
    assert lo <= np.median(peak) <= hi
    assert np.mean((peak >= lo) & (peak <= hi)) > 0.8


def test_meadows_green_most_of_year_corn_bare_in_spring():
    p, classid, names = _params()
    g, _, _ = phenology.fractions(p, DOY)
    meadow = g[classid == names.index("permanent meadows")]
    assert np.mean(meadow > 0.3) > 0.75
    corn = g[classid == names.index("corn")]
    assert np.mean(corn[:, 100:130]) < 0.25    # April-May: bare soil before sowing


def test_deterministic_for_seed():
    a, _, _ = _params(0)
    b, _, _ = _params(0)
    c, _, _ = _params(1)
    ga, gb, gc = (phenology.fractions(p, DOY)[0] for p in (a, b, c))
    np.testing.assert_array_equal(ga, gb)
    assert not np.allclose(ga, gc)
