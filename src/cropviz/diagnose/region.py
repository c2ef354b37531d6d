"""The diagnosis of a region: one row per parcel with its evidence and a verdict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cropviz.calibration import apply_temperature
from cropviz.diagnose.evidence import EXPLAIN_CHOICES, Evidence, parcel_evidence
from cropviz.diagnose.label_quality import (
    FOLDS,
    K_NEIGHBOURS,
    combined_label_quality,
    confident_learning,
    cross_validated_probs,
    knn_agreement,
    nearest_neighbours,
)
from cropviz.diagnose.verdict import Thresholds, assign
from cropviz.errors import ConfigurationError

ProgressCallback = Callable[[int, int], None]
#: Parcels per evidence batch (one progress step).
CHUNK = 256


def in_training_regions(model: Any, ds: Any) -> bool:
    """Whether ``ds`` is one of the regions the model was trained on (per its card: same region
    name and same dataset root)."""
    card = model.info.card or {}
    if ds.region not in (card.get("train_regions") or []) or not card.get("root"):
        return False
    return Path(str(card["root"])).resolve() == Path(ds.root).resolve()


def region_evidence(model: Any, ds: Any, *, seed: int = 0, explain: str = "wrong",
                    progress: ProgressCallback | None = None) -> Evidence:
    """Evidence of every parcel the model reads in ``ds`` (stored by ``Workspace.evidence``)."""
    if explain not in EXPLAIN_CHOICES:
        raise ConfigurationError(f"explain must be one of {', '.join(EXPLAIN_CHOICES)}, got {explain!r}")
    model.check_fits(ds)
    ids = model.parcel_ids(ds)
    parts = []
    for start in range(0, len(ids), CHUNK):
        parts.append(parcel_evidence(model, ds, ids[start:start + CHUNK], seed=seed, explain=explain))
        if progress is not None:
            progress(min(start + CHUNK, len(ids)), len(ids))
    return Evidence.concat(parts) if parts else parcel_evidence(model, ds, ids, seed=seed, explain=explain)


def _out_of_sample(evidence: Evidence, calibrated: np.ndarray, in_training: bool, folds: int,
                   seed: int) -> np.ndarray:
    if not in_training:
        return calibrated
    return cross_validated_probs(evidence.embedding, evidence.labels, calibrated.shape[1], folds=folds, seed=seed)


def _percentile_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rank percentile (0-1, ties averaged) of each value within its group."""
    out = np.zeros(len(values))
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        out[rows] = pd.Series(values[rows]).rank(pct=True, method="average").to_numpy()
    return out


def _pair_confusion(true: np.ndarray, pred: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """For each parcel's pair (first, second choice): the share of the region's parcels labelled
    either class that the model puts in the other one."""
    pairs = pd.crosstab(pd.Series(true, name="true"), pd.Series(pred, name="pred"))
    totals = pd.Series(true).value_counts()
    result = np.zeros(len(true))
    for row, (a, b) in enumerate(zip(first, second, strict=True)):
        confused = (pairs.at[a, b] if a in pairs.index and b in pairs.columns else 0) + \
            (pairs.at[b, a] if b in pairs.index and a in pairs.columns else 0)
        result[row] = confused / max(int(totals.get(a, 0) + totals.get(b, 0)), 1)
    return result


def diagnosis_frame(model: Any, ds: Any, evidence: Evidence, *, predictions: pd.DataFrame | None = None,
                    temperature: float | None = None, in_training: bool | None = None,
                    thresholds: Thresholds | None = None, k: int = K_NEIGHBOURS, folds: int = FOLDS,
                    seed: int = 0) -> pd.DataFrame:
    """The diagnosis table from a region's ``evidence`` (see :func:`diagnose`)."""
    classes = list(model.classes)
    log_probs = evidence.log_probs
    if predictions is not None:
        aligned = predictions.set_index("id").reindex(evidence.ids)
        if aligned[f"prob_{classes[0]}"].isna().any():
            raise ConfigurationError(f"predictions lack {int(aligned[f'prob_{classes[0]}'].isna().sum())} "
                                     f"parcels of {ds.region}")
        log_probs = np.log(np.clip(aligned[[f"prob_{c}" for c in classes]].to_numpy(np.float64), 1e-12, None))
    temperature = model.temperature if temperature is None else float(temperature)
    in_training = in_regions = in_training_regions(model, ds) if in_training is None else in_training
    calibrated = apply_temperature(log_probs, temperature)
    without = apply_temperature(evidence.log_probs_without_clouds, temperature)
    labels = evidence.labels
    order = np.argsort(-calibrated, axis=1, kind="stable")
    pred, second = order[:, 0], order[:, 1]
    rows = np.arange(len(labels))
    margin = calibrated[rows, pred] - calibrated[rows, second]
    out_of_sample = _out_of_sample(evidence, calibrated, in_training, folds, seed)
    self_confidence, issues = confident_learning(out_of_sample, labels)
    neighbours = nearest_neighbours(evidence.embedding, k)
    agreement = knn_agreement(neighbours, labels)
    scaled = (evidence.embedding - evidence.embedding.mean(axis=0)) / (evidence.embedding.std(axis=0) + 1e-6)
    centroid_distance = np.zeros(len(labels))
    for label in np.unique(labels):
        members = labels == label
        centroid_distance[members] = np.linalg.norm(scaled[members] - scaled[members].mean(axis=0), axis=1)
    lengths = ds.index.set_index("id").loc[evidence.ids, "sequencelength"].to_numpy(float)
    pred_without = without.argmax(axis=1)
    frame = pd.DataFrame({
        "id": evidence.ids, "true": labels, "pred": pred,
        "true_class": [classes[k] for k in labels], "pred_class": [classes[k] for k in pred],
        "confidence": calibrated[rows, pred], "margin": margin,
        "second_class": [classes[k] for k in second],
        "pair_confusion": _pair_confusion(labels, pred, pred, second),
        "self_confidence": self_confidence, "cleanlab_issue": issues,
        "knn_agreement": agreement, "label_quality": combined_label_quality(self_confidence, agreement),
        "cloud_attribution_share": evidence.cloud_attribution_share,
        "cloudy_inputs": evidence.cloudy_inputs,
        "flips_without_clouds": pred_without != pred,
        "pred_without_clouds": [classes[k] for k in pred_without],
        "confidence_without_clouds": without[rows, pred_without],
        "atypicality": _percentile_within(centroid_distance, labels),
        "centroid_distance": centroid_distance,
        "clear_observations": evidence.clear_observations,
        "length_percentile": pd.Series(lengths).rank(pct=True).to_numpy(),
        "neighbours": [evidence.ids[n].tolist() for n in neighbours],
    })
    frame["entropy"] = -(calibrated * np.log(np.clip(calibrated, 1e-12, None))).sum(axis=1)
    for j, name in enumerate(classes):
        frame[f"prob_{name}"] = calibrated[:, j].astype(np.float32)
    frame["verdict"], frame["reason"] = assign(frame, classes, thresholds)
    frame.attrs.update({"temperature": temperature, "calibrated": model.is_calibrated or temperature != 1.0,
                        "in_training_regions": bool(in_regions),
                        "label_probabilities": "k-fold logistic regression on embeddings" if in_training
                        else "model (out of sample)",
                        "thresholds": (thresholds or Thresholds()).to_dict()})
    return frame


def diagnose(model: Any, ds: Any, predictions: pd.DataFrame | None = None, *, seed: int = 0,
             explain: str = "wrong", temperature: float | None = None, in_training: bool | None = None,
             thresholds: Thresholds | None = None, k: int = K_NEIGHBOURS, folds: int = FOLDS,
             evidence: Evidence | None = None, progress: ProgressCallback | None = None) -> pd.DataFrame:
    """One row per parcel of ``ds`` with the evidence and a verdict about ``model``'s prediction.

    Columns: id, true, pred (class ids), true_class, pred_class, confidence, margin (calibrated
    top-1 minus top-2), second_class, pair_confusion, self_confidence (cleanlab), cleanlab_issue,
    knn_agreement, label_quality, cloud_attribution_share, cloudy_inputs, flips_without_clouds,
    pred_without_clouds, confidence_without_clouds, atypicality (centroid-distance percentile
    within the labelled class), centroid_distance, clear_observations, length_percentile,
    neighbours (ids of the k nearest parcels), entropy (of the calibrated probabilities, nats),
    prob_<class> (calibrated), verdict, reason.

    ``predictions``: the region's predictions (e.g. precomputed) used for the probabilities;
    default: the model's forward pass. ``temperature`` defaults to the model card's (1.0 if
    none). ``in_training`` defaults to :func:`in_training_regions`; then label probabilities are
    k-fold cross-validated. ``explain``: which parcels get integrated gradients ('wrong', 'all',
    'none'). ``evidence``: precomputed evidence (e.g. from the Dask step, or stored by the
    workspace, which caches the whole table: ``Workspace.diagnosis``).
    """
    if evidence is None:
        evidence = region_evidence(model, ds, seed=seed, explain=explain, progress=progress)
    return diagnosis_frame(model, ds, evidence, predictions=predictions, temperature=temperature,
                           in_training=in_training, thresholds=thresholds, k=k, folds=folds, seed=seed)


def embedding_2d(evidence: Evidence, seed: int = 0) -> pd.DataFrame:
    """Every parcel's penultimate embedding (from its ``evidence``) projected to 2-D with UMAP:
    id, x, y (stored by ``Workspace.embedding_2d``)."""
    from cropviz.diagnose.embedding import project_2d

    coords = project_2d(evidence.embedding, seed=seed)
    return pd.DataFrame({"id": evidence.ids, "x": coords[:, 0], "y": coords[:, 1]})


def suspected_label_errors(frame: pd.DataFrame, ds: Any) -> pd.DataFrame:
    """The parcels diagnosed ``label_error``, as a data curator sends them back to the LPIS
    provider: id, given code and class, suggested class, label quality, kNN agreement, reason."""
    suspects = frame[frame["verdict"] == "label_error"].sort_values("label_quality")
    codes = ds.index.set_index("id")["code"]
    return pd.DataFrame({"id": suspects["id"].to_numpy(),
                         "given_code": codes.reindex(suspects["id"]).to_numpy(),
                         "given_class": suspects["true_class"].to_numpy(),
                         "suggested_class": suspects["pred_class"].to_numpy(),
                         "label_quality": suspects["label_quality"].round(3).to_numpy(),
                         "knn_agreement": suspects["knn_agreement"].round(3).to_numpy(),
                         "reason": suspects["reason"].to_numpy()})
