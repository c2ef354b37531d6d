"""Classification metrics the standard way (scikit-learn): OA, Cohen's kappa, per-class and macro F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from cropviz.types import IntArray


def classification_metrics(y_true: IntArray, y_pred: IntArray,
                           classes: Sequence[str]) -> dict[str, Any]:
    """Overall accuracy, kappa, macro F1, per-class precision/recall/F1/support, confusion matrix.

    Parcels without a label (class id < 0) are skipped. Macro F1 is scikit-learn's unweighted mean
    over the classes present in the labels or the predictions; ``per_class`` lists every class of
    ``classes`` (support 0 where a class is absent). Rows of the confusion matrix are true
    classes, columns predicted classes, in class-id order.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labelled = y_true >= 0
    y_true, y_pred = y_true[labelled], y_pred[labelled]
    all_labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=all_labels, zero_division=0)
    per_class = [dict(classid=k, classname=name, precision=float(precision[k]), recall=float(recall[k]),
                      f1=float(f1[k]), support=int(support[k])) for k, name in enumerate(classes)]
    empty = len(y_true) == 0
    return {
        "n": int(len(y_true)),
        "overall_accuracy": float("nan") if empty else float(accuracy_score(y_true, y_pred)),
        "kappa": float("nan") if empty else float(cohen_kappa_score(y_true, y_pred)),
        "macro_f1": float("nan") if empty else float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=all_labels).tolist(),
        "classes": list(classes),
    }


def metrics_from_predictions(predictions: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """:func:`classification_metrics` of a predictions table (columns ``true`` and ``pred``)."""
    return classification_metrics(predictions["true"], predictions["pred"], classes)


def per_class_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """The per-class part of a metrics dict as a table indexed by class name."""
    return pd.DataFrame(metrics["per_class"]).set_index("classname")
