"""Table operations behind the explorer pages: filters, misclassified parcels, model comparison.

The parcel table is a dataset's index joined with predictions: ``id, code, classid, classname``
and, when a model ran, ``pred, predicted, confidence, correct``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def filter_parcels(table: pd.DataFrame, true: Sequence[str] | None = None,
                   predicted: Sequence[str] | None = None, pair: tuple[str, str] | None = None,
                   only_wrong: bool = False, confidence: tuple[float, float] | None = None) -> pd.DataFrame:
    """Rows of ``table`` matching every given filter (true/predicted class names, a confusion
    pair (true, predicted), misclassified only, a confidence range)."""
    keep = np.ones(len(table), dtype=bool)
    if true:
        keep &= table["classname"].isin(list(true)).to_numpy()
    has_predictions = "predicted" in table.columns
    if has_predictions and predicted:
        keep &= table["predicted"].isin(list(predicted)).to_numpy()
    if has_predictions and pair is not None:
        keep &= ((table["classname"] == pair[0]) & (table["predicted"] == pair[1])).to_numpy()
    if has_predictions and only_wrong:
        keep &= ~table["correct"].fillna(True).to_numpy(dtype=bool)
    if has_predictions and confidence is not None:
        low, high = confidence
        keep &= table["confidence"].between(low, high).to_numpy()
    return table[keep]


def misclassified(table: pd.DataFrame) -> pd.DataFrame:
    """Misclassified parcels, most confidently wrong first."""
    if "correct" not in table.columns:
        return table[:0]
    wrong = table[~table["correct"].fillna(True).astype(bool)]
    return wrong.sort_values(["confidence", "id"], ascending=[False, True])


def step_misclassified(table: pd.DataFrame, current: int | None, step: int) -> int | None:
    """The misclassified parcel ``step`` places after (or before) ``current``, wrapping around."""
    ids = misclassified(table)["id"].tolist()
    if not ids:
        return None
    if current not in ids:
        return ids[0] if step > 0 else ids[-1]
    return ids[(ids.index(current) + step) % len(ids)]


def confusion_cell(table: pd.DataFrame, true: str, predicted: str) -> pd.DataFrame:
    """Parcels of class ``true`` predicted as ``predicted``, sorted by confidence (highest first)."""
    rows = filter_parcels(table, pair=(true, predicted))
    return rows.sort_values(["confidence", "id"], ascending=[False, True])


def compare_models(table: pd.DataFrame, pred_a: pd.DataFrame, pred_b: pd.DataFrame,
                   classes: Sequence[str], names: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """Parcels where two models disagree, with each model's class and which one is right."""
    a, b = names
    merged = table[["id", "classid", "classname"]].merge(
        pred_a[["id", "pred", "confidence"]].rename(columns={"pred": f"pred_{a}", "confidence": f"confidence_{a}"}),
        on="id").merge(
        pred_b[["id", "pred", "confidence"]].rename(columns={"pred": f"pred_{b}", "confidence": f"confidence_{b}"}),
        on="id")
    disagree = merged[merged[f"pred_{a}"] != merged[f"pred_{b}"]].copy()
    for name in names:
        disagree[f"predicted_{name}"] = [classes[k] for k in disagree[f"pred_{name}"]]
    right_a = disagree[f"pred_{a}"] == disagree["classid"]
    right_b = disagree[f"pred_{b}"] == disagree["classid"]
    disagree["right"] = np.select([right_a, right_b], [a, b], default="neither")
    return disagree.drop(columns=[f"pred_{a}", f"pred_{b}"])


def agreement_summary(comparison: pd.DataFrame, total: int, names: tuple[str, str]) -> dict[str, int]:
    """Counts of parcels where the models agree, and where only one (or neither) is right."""
    counts = comparison["right"].value_counts()
    return {"parcels": total, "disagree": int(len(comparison)),
            f"only {names[0]} right": int(counts.get(names[0], 0)),
            f"only {names[1]} right": int(counts.get(names[1], 0)),
            "neither right": int(counts.get("neither", 0))}
