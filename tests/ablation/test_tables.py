"""Seed 004 tables: the paper's published numbers and ours in the paper's form."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz import ablation
from cropviz.ablation import (
    SEED004_MODELS,
    SHUFFLED_MODELS,
    ZOO_SHUFFLE_MODELS,
    order_table,
    paper_comparison,
    paper_table,
    per_class_order_differences,
    space_time_table,
)
from cropviz.errors import ConfigurationError


def test_tables_in_the_papers_form(tiny_results):
    _, results = tiny_results
    table4 = order_table(results)
    assert set(table4["model"]) == {*SHUFFLED_MODELS, *ZOO_SHUFFLE_MODELS}
    np.testing.assert_allclose(table4["delta"], table4["shuffled"] - table4["ordered"], atol=0.11)
    table2 = space_time_table(results)
    assert list(table2["model"]) == list(SEED004_MODELS)
    assert table2["macro_f1"].between(0, 100).all()
    diff = per_class_order_differences(results, "gru")
    assert {"ordered", "shuffled", "delta", "support"} <= set(diff.columns)
    with pytest.raises(ConfigurationError):
        per_class_order_differences(results, "cnn")
    comparison = paper_comparison(results)
    assert set(comparison["source"]) == {ablation.THEIRS, "ours (simulated demo)"}


def test_the_study_object_gives_the_pages_the_same_tables(tiny_results):
    _, results = tiny_results
    study = ablation.Seed004Study(results)
    assert study.label == "ours (simulated demo)" and study.theirs == ablation.THEIRS
    assert study.order_table().equals(order_table(results))
    assert study.space_time_table().equals(space_time_table(results))
    assert study.per_class_order_differences("gru").equals(per_class_order_differences(results, "gru"))
    assert study.paper_comparison().equals(paper_comparison(results))
    assert study.paper_table(4).equals(paper_table(4))
    assert "--folds 5" in study.command_line("DIR", "out.json", folds=5)
    empty = ablation.Seed004Study(None)
    assert empty.paper_table(2).equals(paper_table(2))  # the paper's tables need no results file
    with pytest.raises(ConfigurationError, match="reproduce time-space"):
        empty.order_table()


def test_paper_tables_hold_the_published_numbers():
    assert paper_table(1).loc["CNN", "parameters"] == 92899
    assert paper_table(1).loc["CNN+GRU9", "kernels"] == "16:16:16"
    assert paper_table(2).loc["GRU", "F-score"] == 53.8
    assert paper_table(2).loc["RF", "F-score"] == 36.9
    assert paper_table(3).loc["Grapevine", "CNN"] == 81.8
    assert paper_table(4).loc["GRU", "Delta"] == -8.5
    assert ablation.paper_tables()["source"].str.contains("T31TFM").all()
    with pytest.raises(ConfigurationError):
        paper_table(5)


def test_order_disagreements_put_both_models_side_by_side():
    import pandas as pd

    classes = ["barley", "wheat", "corn"]
    ordered = pd.DataFrame({"id": [1, 2, 3, 4], "true": [0, 1, 2, 2], "pred": [0, 1, 1, 2],
                            "confidence": [0.9, 0.8, 0.6, 0.7]})
    shuffled = pd.DataFrame({"id": [2, 3, 4, 5], "true": [1, 2, 2, 0], "pred": [0, 1, 2, 0],
                             "confidence": [0.5, 0.4, 0.9, 0.9]})
    table = ablation.order_disagreements(ordered, shuffled, classes)
    assert table["id"].tolist() == [2, 3, 4]  # parcels both models predicted
    assert table["class"].tolist() == ["wheat", "corn", "corn"]
    assert table["ordered"].tolist() == ["wheat", "wheat", "corn"]
    assert table["shuffled"].tolist() == ["barley", "wheat", "corn"]
    assert table["disagree"].tolist() == [True, False, False]
    assert table["confidence_shuffled"].tolist() == [0.5, 0.4, 0.9]
