"""Table operations of the explorer pages on a small hand-made parcel table."""

from __future__ import annotations

import pandas as pd

from cropviz.explore import (
    agreement_summary,
    compare_models,
    confusion_cell,
    filter_parcels,
    misclassified,
    step_misclassified,
)

CLASSES = ["barley", "wheat", "corn"]
TABLE = pd.DataFrame({
    "id": [1, 2, 3, 4, 5, 6],
    "classid": [0, 1, 1, 2, 2, 0],
    "classname": ["barley", "wheat", "wheat", "corn", "corn", "barley"],
    "pred": [0, 0, 1, 1, 2, 1],
    "predicted": ["barley", "barley", "wheat", "wheat", "corn", "wheat"],
    "confidence": [0.9, 0.8, 0.7, 0.95, 0.6, 0.5],
})
TABLE["correct"] = TABLE["classid"] == TABLE["pred"]


def test_filters_combine():
    assert filter_parcels(TABLE, true=["wheat", "corn"])["id"].tolist() == [2, 3, 4, 5]
    assert filter_parcels(TABLE, predicted=["wheat"], only_wrong=True)["id"].tolist() == [4, 6]
    assert filter_parcels(TABLE, pair=("wheat", "barley"))["id"].tolist() == [2]
    assert filter_parcels(TABLE, confidence=(0.6, 0.8))["id"].tolist() == [2, 3, 5]
    assert filter_parcels(TABLE.drop(columns=["pred", "predicted", "confidence", "correct"]),
                          predicted=["wheat"], only_wrong=True)["id"].tolist() == [1, 2, 3, 4, 5, 6]


def test_misclassified_parcels_most_confident_first_and_stepping_wraps():
    assert misclassified(TABLE)["id"].tolist() == [4, 2, 6]
    assert step_misclassified(TABLE, None, 1) == 4 and step_misclassified(TABLE, None, -1) == 6
    assert step_misclassified(TABLE, 4, 1) == 2 and step_misclassified(TABLE, 6, 1) == 4
    assert step_misclassified(TABLE, 4, -1) == 6
    assert step_misclassified(TABLE[TABLE["correct"]], 1, 1) is None


def test_a_confusion_cell_lists_its_parcels_by_confidence():
    cell = confusion_cell(TABLE, "corn", "wheat")
    assert cell["id"].tolist() == [4]
    assert confusion_cell(TABLE, "barley", "corn").empty


def test_two_models_compared_where_they_disagree():
    pred_a = TABLE[["id", "pred", "confidence"]]
    pred_b = pred_a.assign(pred=[0, 1, 1, 2, 2, 2])  # right on 2, 4; wrong on 6 (corn)
    comparison = compare_models(TABLE, pred_a, pred_b, CLASSES, names=("tf", "rf"))
    assert comparison["id"].tolist() == [2, 4, 6]
    assert comparison["right"].tolist() == ["rf", "rf", "neither"]
    assert comparison["predicted_tf"].tolist() == ["barley", "wheat", "wheat"]
    assert agreement_summary(comparison, len(TABLE), ("tf", "rf")) == {
        "parcels": 6, "disagree": 3, "only tf right": 0, "only rf right": 2, "neither right": 1}
