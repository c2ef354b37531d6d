import numpy as np
import pandas as pd
import pytest

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import CLASS_COLORS, darken
from cropviz.viz.phenology import (
    CROP_CALENDAR,
    calendar_events,
    month_position_to_date,
    phenology_figure,
    season_frames,
)

DATES = pd.date_range("2017-01-05", periods=30, freq="12D")


def _curve(level):
    return DATES, np.full(30, level), np.full(30, 0.05)


def test_calendar_covers_all_classes_and_winter_sowing_is_previous_year():
    assert len(CROP_CALENDAR) == 9
    wheat = calendar_events("wheat", 2017).set_index("event")
    assert wheat.loc["sowing", "start"] == pd.Timestamp("2016-10-01")
    assert wheat.loc["sowing", "previous_year"]
    assert wheat.loc["harvest", "start"].month == 7
    assert calendar_events("corn", 2017).set_index("event").loc["peak", "start"].month == 8
    assert calendar_events("potatoes", 2017).empty
    assert month_position_to_date(13.0, 2017) == pd.Timestamp("2018-01-01")


def test_phenology_figure_has_curves_and_calendar_for_chosen_classes():
    curves = {"wheat": _curve(0.6), "corn": _curve(0.4), "barley": _curve(0.5)}
    fig = phenology_figure(curves, classes=["wheat", "corn"], index_name="NDVI")
    names = [t.name for t in fig.data]
    assert "wheat calendar" in names and "corn calendar" in names
    assert "barley" not in names and "barley calendar" not in names
    wheat_cal = next(t for t in fig.data if t.name == "wheat calendar")
    assert list(wheat_cal.text) == [e.event for e in CROP_CALENDAR["wheat"]]
    assert wheat_cal.marker.line.color == darken(CLASS_COLORS["wheat"], 0.6)
    assert fig.layout.yaxis.title.text == "NDVI"


def test_calendar_text_is_plain_and_previous_year_sowing_sits_under_the_class():
    fig = phenology_figure({"wheat": _curve(0.6), "corn": _curve(0.4)}, index_name="NDVI")
    strip = fig.layout.yaxis2
    ticks = dict(zip(strip.tickvals, strip.ticktext, strict=True))
    assert "sowing Oct-Nov (previous year)" in ticks["wheat"] and ticks["corn"] == "corn"
    texts = [a.text for a in fig.layout.annotations] + list(strip.ticktext)
    assert not any("&" in t for t in texts)  # no HTML entity printed literally
    assert fig.layout.uniformtext.mode == "hide"  # labels that do not fit their bar are hidden


def test_wheat_is_drawn_dark_enough_to_see_on_white():
    fig = phenology_figure({"wheat": _curve(0.6)})
    wheat = next(t for t in fig.data if t.name == "wheat")
    r, g, b = (int(wheat.line.color[k:k + 2], 16) for k in (1, 3, 5))
    assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.85 * 255  # darker than the light palette colour


def test_phenology_without_calendar_and_errors():
    fig = phenology_figure({"wheat": _curve(0.6)}, calendar=False)
    assert all("calendar" not in t.name for t in fig.data)
    with pytest.raises(ConfigurationError):
        phenology_figure({"wheat": _curve(0.6)}, classes=["corn"])


def test_season_frames_one_frame_per_date_with_controls():
    rng = np.random.default_rng(0)
    values = rng.uniform(size=(20, 5))
    fig = season_frames(rng.uniform(size=(20, 2)) * 1000, DATES[:5], values, ids=range(20))
    assert len(fig.frames) == 5
    np.testing.assert_allclose(fig.frames[3].data[0].marker.color, values[:, 3])
    assert [s.label for s in fig.layout.sliders[0].steps][0] == "2017-01-05"
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["play", "pause"]
    with pytest.raises(ConfigurationError):
        season_frames(np.zeros((20, 2)), DATES[:4], values)
