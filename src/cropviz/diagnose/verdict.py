"""From evidence to a verdict: correct, label_error, cloud_driven, ambiguous, atypical, model_error.

A misclassified parcel gets the first verdict whose rule holds, in this order:

1. ``cloud_driven``: once the cloud-flagged observations are interpolated away, the model
   predicts the given label;
2. ``label_error``: ``label_quality < label_quality`` threshold (cleanlab self-confidence of the
   given label and the agreement of its nearest neighbours are both low);
3. ``cloud_driven``: the prediction changes without the cloud-flagged observations and at least
   ``cloud_share`` of |IG| lay on them;
4. ``ambiguous``: the given label is the model's second choice with a calibrated margin below
   ``margin``;
5. ``atypical``: the parcel lies farther from its class centroid (embedding) than
   ``atypicality`` of its class, or has fewer than ``min_clear`` clear observations;
6. ``model_error``: none of these.

Thresholds: ``label_quality`` is chosen on the demo's validation region frh03 with 8 % planted
label errors (the value maximising the F1 of ``label_error``; ``bench/bench_diagnose.py``),
never on the region being diagnosed; the others are fixed, documented defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

VERDICTS = ("correct", "label_error", "cloud_driven", "ambiguous", "atypical", "model_error")


@dataclass(frozen=True)
class Thresholds:
    """Verdict thresholds (see the module docstring)."""

    #: below it the given label is suspected; chosen on the demo's validation region frh03 with
    #: 8 % planted label errors (transformer: F1-best value 0.075; bench/bench_diagnose.py)
    label_quality: float = 0.075
    #: share of |IG| on cloud-flagged observations that makes a flip cloud-driven
    cloud_share: float = 0.3
    #: calibrated top-1 minus top-2 probability under which the given label "nearly won"
    margin: float = 0.25
    #: centroid-distance percentile (within the labelled class) above which a parcel is atypical
    atypicality: float = 0.95
    #: fewer clear observations than this make a parcel atypical
    min_clear: int = 8

    def to_dict(self) -> dict[str, Any]:
        """The thresholds by name."""
        return asdict(self)


def choose_label_quality_threshold(label_quality: np.ndarray, misclassified: np.ndarray,
                                   planted: np.ndarray, candidates: Sequence[float] | None = None) -> float:
    """The ``label_quality`` threshold maximising the F1 of ``label_error`` against ``planted``
    label errors (validation data only; ties: the lower threshold)."""
    grid = np.round(np.arange(0.05, 0.81, 0.025), 3) if candidates is None else np.asarray(candidates, dtype=float)
    best, best_f1 = float(grid[0]), -1.0
    for value in grid:
        flagged = misclassified & (label_quality < value)
        tp = float((flagged & planted).sum())
        f1 = 2 * tp / max(float(flagged.sum() + planted.sum()), 1.0)
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(value), f1
    return best


def assign(frame: pd.DataFrame, classes: Sequence[str], thresholds: Thresholds | None = None
           ) -> tuple[list[str], list[str]]:
    """(verdict, reason) of every row of a diagnosis ``frame`` (columns of :func:`diagnose`)."""
    t = thresholds or Thresholds()
    verdicts, reasons = [], []
    for row in frame.itertuples(index=False):
        true, pred = classes[row.true], classes[row.pred]
        if row.true == row.pred:
            verdicts.append("correct")
            reasons.append(f"predicted {pred} as labelled (p={row.confidence:.2f})")
            continue
        share = row.cloud_attribution_share
        share_text = "" if np.isnan(share) else f"; {share:.0%} of |IG| on cloud-flagged dates"
        cloud_text = (f"without its {row.cloudy_inputs} cloud-flagged inputs it becomes "
                      f"{row.pred_without_clouds}{share_text}")
        if row.flips_without_clouds and row.pred_without_clouds == true:
            verdicts.append("cloud_driven")
            reasons.append(cloud_text)
            continue
        if row.label_quality < t.label_quality:
            verdicts.append("label_error")
            reasons.append(f"labelled {true}, looks like {pred}: label quality {row.label_quality:.3f} < "
                           f"{t.label_quality:g} (cleanlab {row.self_confidence:.2f}, "
                           f"{row.knn_agreement:.0%} of neighbours are {true})")
            continue
        if row.flips_without_clouds and not np.isnan(share) and share >= t.cloud_share:
            verdicts.append("cloud_driven")
            reasons.append(cloud_text)
            continue
        if row.second_class == true and row.margin < t.margin:
            verdicts.append("ambiguous")
            reasons.append(f"{pred} vs {true}: margin {row.margin:.2f} < {t.margin:g}; the region confuses "
                           f"this pair for {row.pair_confusion:.0%} of their parcels")
            continue
        if row.atypicality > t.atypicality or row.clear_observations < t.min_clear:
            verdicts.append("atypical")
            reasons.append(f"far from the {true} parcels (distance percentile {row.atypicality:.2f}), "
                           f"{row.clear_observations} clear observations, length percentile "
                           f"{row.length_percentile:.2f}")
            continue
        verdicts.append("model_error")
        reasons.append(f"labelled {true} (label quality {row.label_quality:.2f}), predicted {pred} with "
                       f"p={row.confidence:.2f}, margin {row.margin:.2f}; clouds do not change it")
    return verdicts, reasons
