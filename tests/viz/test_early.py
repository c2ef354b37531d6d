"""Early-classification figures: frames, trace counts, the stop moment, trade-off and box plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import MISSING_COLOR, class_hex
from cropviz.viz.early import (
    STOP_DELTA_TRACE,
    STOP_TRACE,
    parcel_early_animation,
    region_early_animation,
    sampled_stops_figure,
    stop_date_distribution_figure,
    tradeoff_figure,
)

CLASSES = ["barley", "wheat", "corn"]
T = 8
DATES = pd.date_range("2017-02-01", periods=T, freq="20D")


def _parcel(stop: int = 3, threshold: float | None = 0.5):
    probs = np.tile([0.2, 0.7, 0.1], (T, 1))
    probs[-1] = [0.1, 0.2, 0.7]
    delta = np.linspace(0.05, 0.95, T)
    values = np.linspace(0.1, 0.8, T)
    return parcel_early_animation(DATES, values, probs, delta, CLASSES, stop, final_pred=2,
                                  threshold=threshold, true_class=1)


def _trace_index(fig, name):
    return next(k for k, t in enumerate(fig.data) if t.name == name)


@pytest.mark.parametrize("threshold", [0.5, None])
def test_parcel_animation_has_a_frame_per_date_with_every_trace(threshold):
    fig = _parcel(threshold=threshold)
    assert len(fig.frames) == T
    assert [f.name for f in fig.frames] == [str(t) for t in range(T)]
    for frame in fig.frames:
        assert [tr.type for tr in frame.data] == [tr.type for tr in fig.data]
    assert len(fig.layout.sliders[0].steps) == T
    assert fig.layout.sliders[0].steps[0].label == "2017-02-01"
    play = fig.layout.updatemenus[0].buttons[0]
    assert list(play.args[0]) == [str(t) for t in range(T)]  # plays from the first to the last date


def test_parcel_animation_reveals_data_and_marks_the_stop_from_its_frame_on():
    stop = 3
    fig = _parcel(stop=stop)
    star, star_delta = _trace_index(fig, STOP_TRACE), _trace_index(fig, STOP_DELTA_TRACE)
    for t, frame in enumerate(fig.frames):
        assert len(frame.data[0].x) == t + 1  # the trajectory so far
        marked = len(frame.data[star].x) == 1
        assert marked == (t >= stop)
        assert (len(frame.data[star_delta].x) == 1) == (t >= stop)
        if marked:
            assert frame.data[star].x[0] == DATES[stop].strftime("%Y-%m-%d")
            assert "wheat" in frame.data[star].text[0]
    assert fig.data[star].marker.color == class_hex("wheat")
    assert fig.data[star].textposition == "top right"  # 0.7 at an early stop: above, to the right
    assert "stop 2017-04-02: wheat" in fig.layout.title.text and "full season: corn" in fig.layout.title.text
    assert "<br>full season" in fig.layout.title.text  # the stop above, the season's answer below


def test_the_stop_label_sits_below_a_high_probability_clear_of_the_panel_title():
    probs = np.tile([0.02, 0.96, 0.02], (T, 1))
    late = parcel_early_animation(DATES, np.linspace(0.1, 0.8, T), probs, np.linspace(0.05, 0.95, T), CLASSES, 6, 1)
    assert late.data[_trace_index(late, STOP_TRACE)].textposition == "bottom left"


def test_parcel_animation_draws_cloud_flagged_observations_as_markers_off_the_line():
    probs = np.full((T, 3), 1 / 3)
    values = np.array([0.2, 0.3, 0.0, 0.5, 0.02, 0.6, 0.7, 0.65])  # clouds at 2 and 4 read near 0
    cloudy = values < 0.1
    fig = parcel_early_animation(DATES, values, probs, np.zeros(T), CLASSES, 7, 0, cloudy=cloudy)
    cloud_index = _trace_index(fig, "cloud-flagged")
    line, clouds = fig.data[0], fig.data[cloud_index]
    assert line.connectgaps and np.isnan(np.asarray(line.y, dtype=float)[cloudy]).all()
    np.testing.assert_allclose(np.asarray(line.y, dtype=float)[~cloudy], values[~cloudy])
    assert list(clouds.x) == [DATES[2].strftime("%Y-%m-%d"), DATES[4].strftime("%Y-%m-%d")]
    assert clouds.showlegend
    assert [len(frame.data[cloud_index].x) for frame in fig.frames] == [0, 0, 1, 1, 2, 2, 2, 2]
    with pytest.raises(ConfigurationError, match="cloud flags"):
        parcel_early_animation(DATES, values, probs, np.zeros(T), CLASSES, 7, 0, cloudy=cloudy[:3])


def test_parcel_animation_with_repeated_dates_keeps_unique_frame_names():
    dates = list(DATES[:4]) + list(DATES[:4])
    fig = parcel_early_animation(sorted(dates), np.zeros(T), np.full((T, 3), 1 / 3), np.zeros(T), CLASSES, 7, 0)
    assert len({f.name for f in fig.frames}) == T


def test_parcel_animation_checks_shapes():
    with pytest.raises(ConfigurationError):
        parcel_early_animation(DATES, np.zeros(T), np.zeros((T, 2)), np.zeros(T), CLASSES, 0, 0)
    with pytest.raises(ConfigurationError):
        parcel_early_animation(DATES, np.zeros(T), np.zeros((T, 3)), np.zeros(T), CLASSES, T, 0)


def test_region_animation_colours_parcels_when_decided():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    stops = pd.to_datetime(["2017-03-01", "2017-05-01", "2017-05-01", "2017-09-01"])
    preds, truths = [0, 2, 2, 1], [0, 1, 2, 1]
    grid = pd.to_datetime(["2017-01-01", "2017-03-01", "2017-05-01", "2017-12-31"])
    fig = region_early_animation(xy, stops, preds, CLASSES, grid, truths=truths, ids=[1, 2, 3, 4])
    assert len(fig.frames) == len(grid)
    for frame in fig.frames:
        assert len(frame.data) == len(fig.data) and all(tr.type == "scatter" for tr in frame.data)
    codes = [list(f.data[0].marker.color) for f in fig.frames]
    assert codes == [[0, 0, 0, 0], [1, 0, 0, 0], [1, 3, 3, 0], [1, 3, 3, 2]]
    scale = dict((round(p * 3), c) for p, c in fig.data[0].marker.colorscale)
    assert scale[0] == MISSING_COLOR and scale[3] == class_hex("corn")
    share, accuracy = fig.frames[-1].data[-2], fig.frames[-1].data[-1]
    assert list(share.y) == pytest.approx([0, 0.25, 0.75, 1.0])
    assert list(accuracy.y)[1:] == pytest.approx([1.0, 2 / 3, 0.75], abs=1e-4)  # frames carry 4 decimals
    assert len(fig.frames[1].data[-2].x) == 2


def test_tradeoff_figure_labels_alphas_and_full_season():
    table = pd.DataFrame({"model": ["elects_alpha03", "elects", "elects_fullseason"], "alpha": [0.3, 0.5, None],
                          "full_season": [False, False, True], "accuracy": [0.6, 0.7, 0.8],
                          "earliness": [0.4, 0.6, 1.0]})
    fig = tradeoff_figure(table)
    texts = [t for tr in fig.data if tr.text is not None for t in tr.text]
    assert "α=0.3" in texts and "α=0.5" in texts and "elects_fullseason" in texts
    reference = next(tr for tr in fig.data if tr.name == "full season")
    assert reference.textposition == "bottom left"  # inside the plot at earliness 1, below the early labels
    with pytest.raises(ConfigurationError):
        tradeoff_figure(table.drop(columns="earliness"))


def test_stop_date_distribution_figure_one_box_per_class():
    frame = pd.DataFrame({"true": [0, 0, 2], "stop_date": pd.to_datetime(["2017-03-01", "2017-04-01", "2017-06-01"])})
    fig = stop_date_distribution_figure(frame, CLASSES)
    assert [tr.name for tr in fig.data] == ["barley (2)", "corn (1)"]
    assert fig.data[0].marker.color == class_hex("barley")


def test_sampled_stops_figure():
    fig = sampled_stops_figure(DATES, np.full(T, 1 / T), np.full(T, 1 / T), deterministic_step=2, n_samples=50)
    assert fig.data[0].type == "bar" and len(fig.data[0].x) == T


def test_animation_frames_carry_lists_of_rounded_numbers():
    """Lists, not numpy arrays: Streamlit copies the figure on every rerun, and plotly converts
    each array on the way; four decimals are far below what a pixel or a hover shows."""
    fig = _parcel()
    frame = fig.frames[-1].to_plotly_json()
    values = [trace["y"] for trace in frame["data"]]
    assert all(isinstance(y, (list, tuple)) for y in values)
    delta = np.linspace(0.05, 0.95, T)
    # delta_t: after the classes, before P(stopped), the threshold and the two stop marks
    np.testing.assert_allclose(frame["data"][-5]["y"], np.round(delta, 4))
    assert any(v != round(v, 4) for v in delta)  # the rounding is seen
