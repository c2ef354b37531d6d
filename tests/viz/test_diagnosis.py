"""Figures of the diagnosis pages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cropviz.calibration import reliability_table
from cropviz.errors import ConfigurationError
from cropviz.viz.diagnosis import (
    confusion_pairs,
    confusion_pairs_figure,
    embedding_figure,
    neighbour_curves_figure,
    reliability_figure,
    verdict_counts_figure,
    verdict_label,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "true_class": ["wheat", "wheat", "corn", "wheat", "corn", "corn"],
        "pred_class": ["corn", "corn", "wheat", "wheat", "corn", "wheat"],
        "verdict": ["label_error", "cloud_driven", "model_error", "correct", "correct", "model_error"],
    })


def test_verdict_counts_follow_the_table():
    fig = verdict_counts_figure(frame())
    bars = dict(zip(fig.data[0].x, fig.data[0].y, strict=True))
    assert bars == {"label error": 1, "cloud-driven": 1, "ambiguous": 0, "atypical": 0, "model error": 2}
    # counts above the bars, upright (inside a short bar Plotly turned "3" on its side)
    assert (fig.data[0].textposition, fig.data[0].textangle) == ("outside", 0)
    with_correct = verdict_counts_figure(frame(), include_correct=True)
    assert dict(zip(with_correct.data[0].x, with_correct.data[0].y, strict=True))["correct"] == 2


def test_confusion_pairs_are_counted_by_verdict():
    pairs = confusion_pairs(frame())
    assert pairs[["true_class", "pred_class", "total"]].values.tolist() == [["corn", "wheat", 2], ["wheat", "corn", 2]]
    corn_wheat = pairs.iloc[0]
    assert corn_wheat["model_error"] == 2 and corn_wheat["label_error"] == 0
    fig = confusion_pairs_figure(pairs)
    assert {t.name for t in fig.data} == {"label error", "cloud-driven", "model error"}
    assert "cloud-driven: %{x}" in fig.data[1].hovertemplate
    assert fig.layout.barmode == "stack"


def test_reliability_figure_plots_bins_with_parcels():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    table = reliability_table(probs, np.array([0, 1, 0, 0]), n_bins=10)
    fig = reliability_figure({"calibrated": table})
    assert fig.data[0].name == "perfect calibration"
    np.testing.assert_allclose(fig.data[1].x, [0.6, 0.9])
    np.testing.assert_allclose(fig.data[1].y, [1.0, 0.5])
    with pytest.raises(ConfigurationError, match="lacks columns"):
        reliability_figure({"bad": pd.DataFrame({"count": [1]})})


def test_embedding_figure_groups_points_and_rings_the_selection():
    coords = np.arange(12, dtype=float).reshape(6, 2)
    data = frame()
    fig = embedding_figure(coords, data["id"], data["verdict"], "verdict", selected_id=3, highlighted=[1, 2])
    groups = {t.name: list(t.customdata) for t in fig.data}
    assert groups["model error"] == [3, 6] and groups["correct"] == [4, 5]
    assert groups["selected parcel"] == [3]
    assert fig.data[0].name == "correct"  # verdicts in their fixed order
    label_error = next(t for t in fig.data if t.name == "label error")
    assert list(label_error.marker.size) == [9]
    assert fig.layout.dragmode == "lasso"
    with pytest.raises(ConfigurationError, match="coordinates"):
        embedding_figure(coords[:3], data["id"], data["verdict"], "verdict")


def test_verdicts_read_as_words_and_unknown_ones_pass_through():
    assert [verdict_label(v) for v in ("label_error", "cloud_driven", "model_error", "correct")] == [
        "label error", "cloud-driven", "model error", "correct"]
    assert verdict_label("something_new") == "something_new"
    by_class = embedding_figure(np.zeros((2, 2)), [1, 2], ["model_error", "wheat"], "class")
    assert {t.name for t in by_class.data} == {"model_error", "wheat"}  # class names are never rewritten


def test_neighbour_curves_leave_clouds_out_of_the_lines():
    dates = pd.date_range("2017-03-01", periods=4, freq="10D").to_numpy()
    cloudy = np.array([False, True, False, False])
    curve = (7, "wheat", dates, np.array([0.2, 0.9, 0.4, 0.5]), cloudy)
    fig = neighbour_curves_figure([curve, (8, "wheat", dates, np.ones(4) * 0.3, np.zeros(4, bool))], curve)
    assert [t.name for t in fig.data] == ["wheat", "wheat", "parcel 7 (labelled wheat)", "cloud-flagged"]
    assert fig.data[1].showlegend is False
    np.testing.assert_allclose(fig.data[2].y, [0.2, 0.4, 0.5])
    np.testing.assert_allclose(fig.data[3].y, [0.9])
