"""Figures of the seed 004 ablations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cropviz.errors import ConfigurationError
from cropviz.viz.ablation import (
    f1_vs_temporal_share,
    grouped_bars,
    label_positions,
    order_pair_figure,
    per_class_delta_figure,
)

COMPARISON = pd.DataFrame({
    "source": ["theirs", "theirs", "theirs", "ours", "ours"],
    "model": ["CNN", "GRU", "ConvLSTM", "CNN", "GRU"],
    "macro_f1": [34.9, 53.8, 49.2, 40.0, 45.0],
    "temporal_share": [0.0, 1.0, np.nan, 0.0, 1.0],
})


def test_f1_against_temporal_share_has_one_series_per_source():
    fig = f1_vs_temporal_share(COMPARISON)
    assert [t.name for t in fig.data] == ["theirs", "ours"]
    assert list(fig.data[0].text) == ["CNN", "GRU"]  # no share, no point
    np.testing.assert_allclose(fig.data[1].y, [40.0, 45.0])
    with pytest.raises(ConfigurationError, match="temporal_share"):
        f1_vs_temporal_share(COMPARISON.drop(columns="temporal_share"))


def test_grouped_bars_label_each_source():
    fig = grouped_bars(COMPARISON, "macro_f1")
    assert fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["theirs", "ours"]
    assert list(fig.data[1].x) == ["CNN", "GRU"]
    assert fig.data[0].error_y.array is None and fig.data[1].error_y.array is None  # no std column


def test_grouped_bars_draw_the_std_of_the_sources_that_have_one():
    frame = COMPARISON.assign(macro_f1_std=[np.nan, np.nan, np.nan, 2.5, np.nan])
    fig = grouped_bars(frame, "macro_f1")
    theirs, ours = fig.data
    assert theirs.error_y.array is None  # the paper's bars have none
    # values above bars without whiskers, inside the foot of bars with them (clear of the whisker)
    assert (theirs.textposition, ours.textposition, ours.insidetextanchor) == ("outside", "inside", "start")
    assert list(ours.error_y.array) == [2.5, None] and ours.error_y.symmetric and ours.error_y.type == "data"
    assert list(ours.hovertemplate) == ["%{x}<br>ours: %{y:.1f} ± 2.5<extra></extra>",
                                        "%{x}<br>ours: %{y:.1f}<extra></extra>"]
    fig.to_json()  # the missing std serialises
    delta = pd.DataFrame({"source": ["ours", "ours"], "model": ["GRU", "ConvLSTM"], "delta": [-5.0, -2.0],
                          "delta_std": [1.0, 1.5]})
    assert list(grouped_bars(delta, "delta").data[0].error_y.array) == [1.0, 1.5]
    assert grouped_bars(delta.drop(columns="delta_std"), "delta").data[0].error_y.array is None
    share = f1_vs_temporal_share(frame)
    assert share.data[0].error_y.array is None and list(share.data[1].error_y.array) == [2.5, None]


def test_per_class_delta_sorted_with_signed_colours():
    frame = pd.DataFrame({"ordered": [80.0, 50.0, 60.0], "shuffled": [70.0, 55.0, 60.0], "support": [5, 2, 9]},
                         index=["wheat", "corn", "nuts"])
    frame["delta"] = frame["shuffled"] - frame["ordered"]
    fig = per_class_delta_figure(frame)
    assert list(fig.data[0].y) == ["wheat", "nuts", "corn"]
    assert fig.data[0].marker.color[0] != fig.data[0].marker.color[2]
    with pytest.raises(ConfigurationError):
        per_class_delta_figure(frame.drop(columns="delta"))


def test_order_pair_figure_draws_both_sequences_in_input_order():
    dates = pd.date_range("2017-01-01", periods=6, freq="30D").to_numpy()
    perm = np.array([3, 0, 5, 1, 4, 2])
    value = np.linspace(0.1, 0.8, 6)
    ordered = {"dates": dates, "value": value, "attribution": np.ones(6), "label": "gru"}
    shuffled = {"dates": dates[perm], "value": value[perm], "attribution": None, "label": "gru_shuffled"}
    fig = order_pair_figure(ordered, shuffled)
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(lines) == 2 and len([t for t in fig.data if t.type == "bar"]) == 1
    np.testing.assert_allclose(lines[1].y, value[perm])
    assert lines[1].text[0] == str(pd.Timestamp(dates[3]).date())
    assert "gru_shuffled" in fig.layout.annotations[2].text
    with pytest.raises(ConfigurationError):
        order_pair_figure(ordered, {**shuffled, "value": value[:3]})


def test_labels_of_nearby_points_are_placed_apart():
    positions = label_positions([0.0, 0.01, 0.02, 1.0], [50.0, 50.5, 50.2, 50.0], 1.15, 10.0)
    assert len(set(positions[:3])) == 3  # three crowded points, three positions
    assert positions[3] == "top center"  # a lone point keeps the default
    # the paper's CNN+GRU7, CNN+GRU8, CNN+GRU9 and GRU: 0.1 apart in share, a label's width in a
    # half-width chart; neighbours never share a position
    paper = label_positions([0.7, 0.8, 0.9, 1.0], [53.2, 55.1, 55.1, 53.8], 1.15, 55.1 - 34.9)
    assert all(a != b for a, b in zip(paper, paper[1:], strict=False)), paper
    close = COMPARISON.assign(macro_f1=[34.9, 53.8, 49.2, 35.5, 45.0])  # ours CNN next to theirs
    fig = f1_vs_temporal_share(close)
    theirs, ours = (next(t for t in fig.data if t.name == name) for name in ("theirs", "ours"))
    assert theirs.textposition[0] != ours.textposition[0]
