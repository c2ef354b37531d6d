import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from cropviz.data.indices import class_envelope
from cropviz.errors import ConfigurationError
from cropviz.viz.colors import CLASS_COLORS, CLOUD_COLOR, NEGATIVE_COLOR, POSITIVE_COLOR
from cropviz.viz.trajectories import (
    CLOUD_TRACE_NAME,
    add_observation_weights,
    mark_top_observations,
    probability_bar,
    trajectory_figure,
    weights_figure,
)

DATES = pd.date_range("2017-01-05", periods=12, freq="30D")
CLOUDY = np.array([0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)


def _values():
    return pd.DataFrame({"NDVI": np.linspace(0.1, 0.8, 12), "NDRE": np.linspace(0.0, 0.5, 12)})


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_cloudy_observations_get_one_grey_x_marker_each():
    fig = trajectory_figure(DATES, _values()[["NDVI"]], cloudy=CLOUDY, title="parcel 1")
    cloud = _trace(fig, CLOUD_TRACE_NAME)
    assert len(cloud.x) == CLOUDY.sum()
    assert cloud.marker.symbol == "x-thin-open" and cloud.marker.color == CLOUD_COLOR
    np.testing.assert_allclose(cloud.y, np.linspace(0.1, 0.8, 12)[CLOUDY])
    assert fig.layout.title.text == "parcel 1"


def test_the_line_never_joins_a_cloudy_observation():
    values = pd.DataFrame({"NDVI": np.where(CLOUDY, 0.0, 0.7)})  # clouds read as NDVI 0
    for hide in (False, True):
        line = _trace(trajectory_figure(DATES, values, cloudy=CLOUDY, hide_cloudy=hide), "NDVI")
        assert list(pd.to_datetime(line.x)) == list(DATES[~CLOUDY])
        assert min(line.y) == 0.7  # no dip to the cloudy zeros


def test_cloud_markers_per_series_and_filtered_view():
    fig = trajectory_figure(DATES, _values(), cloudy=CLOUDY)
    assert len(_trace(fig, CLOUD_TRACE_NAME).x) == 2 * CLOUDY.sum()
    filtered = trajectory_figure(DATES, _values(), cloudy=CLOUDY, hide_cloudy=True)
    assert CLOUD_TRACE_NAME not in [t.name for t in filtered.data]
    assert len(_trace(filtered, "NDVI").x) == (~CLOUDY).sum()


def test_envelopes_drawn_behind_in_class_colours():
    rng = np.random.default_rng(1)
    env = class_envelope([DATES] * 4, [rng.uniform(size=12) for _ in range(4)], DATES)
    fig = trajectory_figure(DATES, _values()["NDVI"],
                            envelopes={"wheat": env, "corn": (DATES, np.full(12, 0.5),
                                                              np.full(12, 0.1))})
    names = [t.name for t in fig.data]
    assert names.index("wheat band") < names.index("NDVI")
    assert _trace(fig, "wheat").line.color == CLASS_COLORS["wheat"]
    np.testing.assert_allclose(_trace(fig, "wheat").y, env["mean"])
    band = _trace(fig, "corn band")
    np.testing.assert_allclose(band.y, [0.6] * 12 + [0.4] * 12)


def test_length_mismatch_raises():
    with pytest.raises(ConfigurationError):
        trajectory_figure(DATES[:5], _values())
    with pytest.raises(ConfigurationError):
        trajectory_figure(DATES, _values(), cloudy=CLOUDY[:3])


def test_observation_weights_signed_colours_on_second_axis():
    fig = trajectory_figure(DATES, _values(), cloudy=CLOUDY)
    w = np.linspace(-1, 1, 12)
    add_observation_weights(fig, DATES, w, name="IG")
    bars = _trace(fig, "IG")
    assert isinstance(bars, go.Bar) and bars.yaxis == "y2"
    assert list(bars.marker.color) == [POSITIVE_COLOR if v >= 0 else NEGATIVE_COLOR for v in w]
    assert fig.layout.yaxis2.domain[1] <= fig.layout.yaxis.domain[0]


def test_mark_top_observations_labels():
    fig = mark_top_observations(go.Figure(), DATES[:2], [0.3, 0.4], ["#1", "#2"])
    assert list(fig.data[0].text) == ["#1", "#2"]


def test_probability_bar_marks_true_and_predicted():
    fig = probability_bar(["barley", "wheat", "corn"], [0.2, 0.5, 0.3], true="corn")
    bar = fig.data[0]
    np.testing.assert_allclose(bar.x, [0.2, 0.5, 0.3])
    assert list(bar.marker.line.width) == [0, 0, 3]
    assert list(bar.y) == ["barley", "wheat (predicted)", "corn (true)"]
    assert list(bar.text) == ["0.20", "0.50", "0.30"]
    assert list(fig.layout.xaxis.range) == [0, 1]
    both = probability_bar(["barley", "wheat"], [0.43, 0.57], true="wheat").data[0]
    assert list(both.y) == ["barley", "wheat (true & predicted)"] and both.text[1] == "0.57"
    with pytest.raises(ConfigurationError):
        probability_bar(["a"], [0.5, 0.5])
    # a probability that underflowed to 0 keeps its label: short bars are labelled outside
    zero = probability_bar(["barley", "wheat", "corn"], [0.0, 0.04, 0.96]).data[0]
    assert list(zero.text) == ["0.00", "0.04", "0.96"]
    assert list(zero.textposition) == ["outside", "outside", "inside"]


def test_probability_bar_refuses_values_that_are_not_probabilities():
    probs = np.array([0.2, 0.5, 0.3])
    with pytest.raises(ConfigurationError, match=r"\[0, 1\]"):
        probability_bar(["barley", "wheat", "corn"], np.exp(probs))  # exponentiated twice
    with pytest.raises(ConfigurationError):
        probability_bar(["barley", "wheat", "corn"], np.log(probs))


def test_weights_figure_draws_the_curve_and_the_weights_under_it():
    curve, weights = np.linspace(0.1, 0.8, 12), np.linspace(-0.5, 0.6, 12)
    fig = weights_figure(DATES, curve, "NDVI", weights, name="saliency", cloudy=CLOUDY, title="parcel 1")
    line, bars = _trace(fig, "NDVI"), _trace(fig, "saliency")
    np.testing.assert_allclose(line.y, curve[~CLOUDY])  # the line joins the clear observations
    np.testing.assert_allclose(_trace(fig, CLOUD_TRACE_NAME).y, curve[CLOUDY])
    np.testing.assert_allclose(bars.y, weights)
    assert bars.yaxis == "y2" and fig.layout.yaxis2.title.text == "saliency"
    assert list(bars.marker.color[:2]) == [NEGATIVE_COLOR, NEGATIVE_COLOR] and bars.marker.color[-1] == POSITIVE_COLOR
    assert fig.layout.title.text == "parcel 1" and fig.layout.xaxis.title.text == "date"
