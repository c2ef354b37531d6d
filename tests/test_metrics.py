import numpy as np
import pandas as pd
import pytest

from cropviz.metrics import classification_metrics, metrics_from_predictions, per_class_frame

CLASSES = ["barley", "wheat", "corn"]


def test_metrics_match_hand_computation():
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 2, 2, 2, 2, 1]
    m = classification_metrics(y_true, y_pred, CLASSES)
    assert m["overall_accuracy"] == pytest.approx(0.7)
    # expected agreement: row totals (2,3,5) . column totals (2,4,4) / 100 = 0.36
    assert m["kappa"] == pytest.approx((0.7 - 0.36) / (1 - 0.36))
    f1 = {"barley": 2 * 0.5 * 0.5 / 1.0, "wheat": 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3), "corn": 2 * 1 * 0.8 / 1.8}
    table = per_class_frame(m)
    for name, value in f1.items():
        assert table.loc[name, "f1"] == pytest.approx(value)
    assert m["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    assert m["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [0, 1, 4]]


def test_unlabelled_parcels_are_skipped_and_absent_classes_listed():
    frame = pd.DataFrame({"true": [0, -1, 0, 2], "pred": [0, 2, 0, 2]})
    m = metrics_from_predictions(frame, CLASSES)
    assert m["n"] == 3
    assert m["overall_accuracy"] == 1.0
    assert per_class_frame(m).loc["wheat", "support"] == 0
    assert len(m["per_class"]) == 3
