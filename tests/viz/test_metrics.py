import numpy as np
import pandas as pd
import pytest

from cropviz.errors import ConfigurationError
from cropviz.viz.metrics import confusion_figure, model_comparison_figure, per_class_figure

CM = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])


def test_confusion_row_normalised_rows_sum_to_one():
    fig = confusion_figure(CM, ["a", "b", "c"], normalize=True)
    z = np.asarray(fig.data[0].z, dtype=float)
    np.testing.assert_allclose(z.sum(axis=1), [1, 1, 0])  # empty row stays zero
    np.testing.assert_allclose(z[0], [0.8, 0.2, 0.0])
    assert fig.data[0].text[0][0] == "0.80<br>8"
    assert list(fig.data[0].x) == ["a", "b", "c"]
    # the colour bar's title runs beside it, clear of the toolbar over the chart's top right
    assert fig.data[0].colorbar.title.text == "row share" and fig.data[0].colorbar.title.side == "right"


def test_confusion_counts_and_shape_check():
    fig = confusion_figure(CM, ["a", "b", "c"], normalize=False)
    np.testing.assert_array_equal(fig.data[0].z, CM)
    assert fig.data[0].text[1][1] == "3"
    with pytest.raises(ConfigurationError):
        confusion_figure(CM, ["a", "b"])


def test_per_class_grouped_bars_accept_sklearn_names():
    table = pd.DataFrame({"class": ["wheat", "corn"], "precision": [0.9, 0.7],
                          "recall": [0.8, 0.6], "f1-score": [0.85, 0.65]})
    fig = per_class_figure(table)
    assert [t.name for t in fig.data] == ["precision", "recall", "F1"]  # metric names in words
    assert list(fig.data[0].x) == ["wheat", "corn"]
    np.testing.assert_allclose(fig.data[2].y, [0.85, 0.65])
    assert fig.layout.barmode == "group"
    with pytest.raises(ConfigurationError):
        per_class_figure(table.drop(columns="recall"))


def test_model_comparison_one_trace_per_model():
    table = pd.DataFrame({"model": ["lstm", "transformer"], "overall_accuracy": [0.8, 0.79],
                          "macro_f1": [0.55, 0.57]})
    fig = model_comparison_figure(table)
    assert [t.name for t in fig.data] == ["lstm", "transformer"]
    assert list(fig.data[1].x) == ["overall accuracy", "macro F1"]
    np.testing.assert_allclose(fig.data[1].y, [0.79, 0.57])


def test_empty_confusion_cells_are_blank_and_filled_ones_give_share_and_count():
    text = confusion_figure(CM, ["a", "b", "c"], normalize=True).data[0].text
    assert text[0][0] == "0.80<br>8" and text[0][2] == "" and list(text[2]) == ["", "", ""]
    assert confusion_figure(CM, ["a", "b", "c"], normalize=False).data[0].text[1][1] == "3"


def test_a_zero_score_is_written_where_its_bar_would_be():
    table = pd.DataFrame({"precision": [0.9, 0.0], "recall": [0.8, 0.0], "f1": [0.85, 0.0]},
                         index=["wheat", "nuts"])
    recall = next(t for t in per_class_figure(table).data if t.name == "recall")
    assert list(recall.text) == ["", "0"]
