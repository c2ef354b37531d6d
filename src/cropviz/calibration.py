"""Calibration of class probabilities: reliability tables, expected calibration error (ECE),
temperature scaling fitted on a validation region, and MC-dropout uncertainty.

Temperature scaling (Guo et al. 2017) divides the logits by one scalar ``T`` fitted by
minimising the negative log-likelihood on held-out data; it changes confidences, never the
predicted class. The fitted temperature is stored in the model card beside the checkpoint
(``"calibration": {"temperature": ..., "fitted_on": ..., "ece_before": ..., "ece_after": ...}``),
so the checkpoint's bytes (and every cache keyed on them) stay the same.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from cropviz.errors import CheckpointError, ConfigurationError

#: Equal-width confidence bins of the ECE and the reliability diagrams.
N_BINS = 15
#: Range searched for the temperature.
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _check(probs: np.ndarray, labels: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ConfigurationError(f"probabilities of shape {probs.shape} do not fit {len(labels)} labels")
    return probs, labels


def apply_temperature(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities N x C: softmax(log_probs / temperature) (log-probs or logits)."""
    if not temperature > 0:
        raise ConfigurationError(f"temperature must be > 0, got {temperature}")
    return np.exp(log_softmax(np.asarray(log_probs, dtype=np.float64) / temperature, axis=1))


def fit_temperature(log_probs: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (bounded search)."""
    log_probs, labels = _check(log_probs, labels)
    if not len(labels):
        raise ConfigurationError("cannot fit a temperature on no parcels")
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-log_softmax(log_probs / np.exp(log_t), axis=1)[rows, labels].mean())

    bounds = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(nll, bounds=(bounds[0], bounds[1]), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int] | np.ndarray, n_bins: int = N_BINS) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| x bin share."""
    table = reliability_table(probs, labels, n_bins)
    total = table["count"].sum()
    if total == 0:
        return float("nan")
    filled = table[table["count"] > 0]
    return float((filled["count"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / total)


def reliability_table(probs: np.ndarray, labels: Sequence[int] | np.ndarray, n_bins: int = N_BINS,
                      class_index: int | None = None) -> pd.DataFrame:
    """Per confidence bin: lower, upper, count, mean confidence and observed accuracy.

    ``class_index=None``: the top-label diagram (confidence = max probability, accuracy = share
    predicted right). ``class_index=k``: class k's diagram (confidence = p(k), accuracy = share
    whose label is k). Empty bins have NaN means.
    """
    probs, labels = _check(probs, labels)
    if class_index is None:
        confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
        hit = probs.argmax(axis=1) == labels if len(probs) else np.zeros(0, bool)
    else:
        confidence = probs[:, class_index]
        hit = labels == class_index
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=hit.astype(float), minlength=n_bins) / count
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": count.astype(np.int64),
                         "confidence": mean_conf, "accuracy": accuracy})



def predictive_uncertainty(predictions: pd.DataFrame, classes: Sequence[str], temperature: float) -> np.ndarray:
    """Normalised entropy (0 = certain, 1 = uniform over the classes) of each parcel's calibrated
    class probabilities, from a predictions table's ``prob_<class>`` columns."""
    probs = predictions[[f"prob_{c}" for c in classes]].to_numpy(np.float64)
    calibrated = apply_temperature(np.log(np.clip(probs, 1e-12, None)), temperature)
    entropy = -(calibrated * np.log(np.clip(calibrated, 1e-12, None))).sum(axis=1)
    return entropy / np.log(len(classes)) if len(classes) > 1 else np.zeros(len(probs))



def calibrate(classifier: Any, dataset: Any, seed: int = 0) -> dict[str, Any]:
    """Fit a temperature on ``dataset`` (a validation region) and report ECE and NLL before and after."""
    ids = classifier.parcel_ids(dataset)
    classifier.check_fits(dataset)
    prepared = classifier.inputs(dataset, ids, seed=seed)
    log_probs = classifier.log_probs(prepared.x)
    labels = prepared.labels
    temperature = fit_temperature(log_probs, labels)
    before, after = np.exp(log_softmax(log_probs, axis=1)), apply_temperature(log_probs, temperature)
    rows = np.arange(len(labels))
    return {"temperature": round(temperature, 4), "fitted_on": f"{dataset.region} {dataset.year} {dataset.level}",
            "parcels": int(len(labels)), "method": "temperature scaling (NLL, bounded search)",
            "ece_before": round(expected_calibration_error(before, labels), 4),
            "ece_after": round(expected_calibration_error(after, labels), 4),
            "nll_before": round(float(-np.log(np.clip(before[rows, labels], 1e-12, None)).mean()), 4),
            "nll_after": round(float(-np.log(np.clip(after[rows, labels], 1e-12, None)).mean()), 4),
            "bins": N_BINS}


def store_calibration(checkpoint_path: str | Path, calibration: dict[str, Any]) -> Path:
    """Write ``calibration`` into the model card beside ``checkpoint_path`` (other keys kept)."""
    card_path = Path(checkpoint_path).with_suffix(".json")
    if not card_path.exists():
        raise CheckpointError(card_path, "no model card beside the checkpoint to store the temperature in")
    card = json.loads(card_path.read_text())
    card["calibration"] = calibration
    tmp = card_path.with_name(f".{card_path.name}.tmp")
    tmp.write_text(json.dumps(card, indent=2, default=str) + "\n")
    tmp.replace(card_path)
    return card_path



def mc_dropout(classifier: Any, x: np.ndarray, samples: int = 20, seed: int = 0,
               batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """MC dropout on prepared inputs: (mean probabilities N x C, predictive entropy N in nats).

    Dropout is active (batch normalisation keeps its running statistics) for ``samples`` seeded
    passes of a private copy of the model (the shared model is never switched to training mode).
    ConfigurationError for models without dropout.
    """
    if not classifier.has_dropout:
        raise ConfigurationError(f"{classifier.label}: no dropout layers; MC dropout does not apply")
    model = copy.deepcopy(classifier.model)  # the shared model stays in eval mode for other callers
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    total = np.zeros((len(x), len(classifier.classes)))
    try:
        # training mode everywhere (fused eval-mode kernels, e.g. nn.TransformerEncoderLayer's, skip
        # dropout) except batch normalisation, which keeps its running statistics
        model.train()
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
        with torch.inference_mode():
            for _ in range(samples):
                for start in range(0, len(x), batch_size):
                    batch = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(classifier.device)
                    total[start:start + len(batch)] += model(batch).float().exp().cpu().numpy()
    finally:
        torch.set_rng_state(generator_state)
    mean = total / samples
    entropy = -(mean * np.log(np.clip(mean, 1e-12, None))).sum(axis=1)
    return mean, entropy


def region_calibration(predictions: pd.DataFrame, classes: Sequence[str], temperature: float,
                       n_bins: int = 10) -> dict[str, Any]:
    """Reliability of a region's predictions (columns true, prob_<class>) before and after
    ``temperature``: top-label tables ``uncalibrated``/``calibrated``, ``per_class`` tables
    (calibrated), ``ece_before``, ``ece_after`` and ``parcels``."""
    labels = predictions["true"].to_numpy(np.int64)
    raw = np.clip(predictions[[f"prob_{c}" for c in classes]].to_numpy(np.float64), 1e-12, None)
    calibrated = apply_temperature(np.log(raw), temperature)
    raw = raw / raw.sum(axis=1, keepdims=True)
    return {"uncalibrated": reliability_table(raw, labels, n_bins),
            "calibrated": reliability_table(calibrated, labels, n_bins),
            "per_class": {c: reliability_table(calibrated, labels, n_bins, class_index=k)
                          for k, c in enumerate(classes) if (labels == k).any()},
            "ece_before": expected_calibration_error(raw, labels),
            "ece_after": expected_calibration_error(calibrated, labels),
            "parcels": int(len(labels))}
