"""Per-parcel evidence computed from the model: probabilities, embeddings, and what clouds did.

:func:`parcel_evidence` runs on a batch of parcel ids (in one process, or as one Dask task of a
region) and returns plain arrays (:class:`Evidence`); :func:`cropviz.diagnose.diagnose` turns the
evidence of a whole region into verdicts. The integrated gradients are most of the cost:
:func:`attribute_clouds` adds them to evidence taken without them, for the whole region or for
the few parcels a page shows.

- ``log_probs``: the model's log-probabilities (uncalibrated).
- ``embedding``: the penultimate embedding (:mod:`cropviz.diagnose.embedding`); models that are
  not neural networks use their log-probabilities instead.
- ``log_probs_without_clouds``: the prediction once the cloud-flagged observations of the model
  input are replaced by a linear interpolation, in time, of the clear ones (per band). Parcels
  without any clear observation keep their input.
- ``cloud_attribution_share``: the share of |integrated gradients| (of the predicted class,
  summed over bands) on cloud-flagged observations; computed for the parcels ``explain`` asks
  for (default: the misclassified ones), NaN elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from cropviz.diagnose.embedding import forward_with_embedding
from cropviz.errors import ConfigurationError
from cropviz.types import IntArray

#: Integrated-gradients steps of the cloud attribution share (Gauss-Legendre; 32 keeps |delta| small).
IG_STEPS = 32
EXPLAIN_CHOICES = ("wrong", "all", "none")


@dataclass
class Evidence:
    """Arrays over N parcels (row order = ``ids``)."""

    ids: np.ndarray  # N int64
    labels: np.ndarray  # N int64
    log_probs: np.ndarray  # N x C
    log_probs_without_clouds: np.ndarray  # N x C
    embedding: np.ndarray  # N x E float32
    cloud_attribution_share: np.ndarray  # N, NaN where not attributed
    cloudy_inputs: np.ndarray  # N: cloud-flagged observations in the model input
    clear_observations: np.ndarray  # N: clear observations in the parcel's whole series

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def concat(parts: Sequence[Evidence]) -> Evidence:
        """One Evidence of several (in order)."""
        return Evidence(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Evidence)})

    def take(self, rows: np.ndarray) -> Evidence:
        """The rows ``rows`` only."""
        return Evidence(**{f.name: getattr(self, f.name)[rows] for f in fields(Evidence)})

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Field name -> array (for ``np.savez``)."""
        return {f.name: getattr(self, f.name) for f in fields(Evidence)}


def interpolate_clouds(x: np.ndarray, dates: np.ndarray, cloudy: np.ndarray) -> np.ndarray:
    """Inputs N x T x D with cloud-flagged steps replaced by a per-band linear interpolation, in
    time, of the clear steps (held constant beyond the first and last clear date); rows without a
    clear step are returned unchanged."""
    out = np.array(x, dtype=np.float32, copy=True)
    for row in range(len(out)):
        mask = np.asarray(cloudy[row], dtype=bool)
        if not mask.any() or mask.all():
            continue
        t = dates[row].astype("datetime64[ns]").astype(np.int64).astype(np.float64)
        clear = np.flatnonzero(~mask)
        order = clear[np.argsort(t[clear], kind="stable")]
        for band in range(out.shape[2]):
            out[row, mask, band] = np.interp(t[mask], t[order], out[row, order, band])
    return out


def cloud_attribution_shares(classifier: Any, x: np.ndarray, cloudy: np.ndarray, targets: np.ndarray, *,
                             ig_steps: int = IG_STEPS, batch_size: int = 16) -> np.ndarray:
    """Per row of inputs ``x`` (N x T x D): the share of |integrated gradients| of class ``targets``
    (summed over bands) that lies on the cloud-flagged steps ``cloudy`` (N x T); 0 where IG is all 0."""
    from cropviz.explain import attribute_batch

    attribution = attribute_batch(classifier.model, x, "integrated_gradients", targets=targets, n_steps=ig_steps,
                                  batch_size=batch_size, device=classifier.device)
    magnitude = np.abs(attribution.values).sum(axis=-1)
    total = magnitude.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (magnitude * np.asarray(cloudy, bool)).sum(axis=1) / total, 0.0)


def attribute_clouds(classifier: Any, dataset: Any, evidence: Evidence, *, seed: int = 0, explain: str = "wrong",
                     batch_size: int = 256) -> np.ndarray:
    """``cloud_attribution_share`` of every row of ``evidence`` (evidence taken with ``explain='none'``):
    the parcels ``explain`` asks for ('wrong': misclassified, 'all') that have cloud-flagged inputs
    get :func:`cloud_attribution_shares` of their predicted class, the others NaN. The same values
    as :func:`parcel_evidence` with that ``explain``."""
    if explain not in EXPLAIN_CHOICES:
        raise ConfigurationError(f"explain must be one of {', '.join(EXPLAIN_CHOICES)}, got {explain!r}")
    share = np.full(len(evidence), np.nan)
    if explain == "none" or not classifier.differentiable:
        return share
    predicted = evidence.log_probs.argmax(axis=1)
    pick = evidence.cloudy_inputs > 0
    if explain == "wrong":
        pick &= predicted != evidence.labels
    rows = np.flatnonzero(pick)
    for start in range(0, len(rows), batch_size):
        part = rows[start:start + batch_size]
        prepared = classifier.inputs(dataset, evidence.ids[part], seed=seed)
        if not np.array_equal(prepared.ids, evidence.ids[part]) or prepared.cloudy is None:
            raise ConfigurationError(f"the evidence does not match the inputs of {dataset.region}: "
                                     "compute the evidence again")
        share[part] = cloud_attribution_shares(classifier, prepared.x, prepared.cloudy, predicted[part])
    return share


def parcel_evidence(classifier: Any, dataset: Any, ids: IntArray, *, seed: int = 0,
                    explain: str = "wrong", batch_size: int = 256, explain_batch_size: int = 16,
                    ig_steps: int = IG_STEPS) -> Evidence:
    """Evidence of parcels ``ids`` of ``dataset`` under ``classifier`` (see the module docstring).

    ``explain``: 'wrong' (attribute the misclassified parcels), 'all' or 'none'.
    """
    wanted = np.asarray(ids, dtype=np.int64)
    series_clear = _clear_counts(dataset, wanted)
    parts = []
    for start in range(0, len(wanted), batch_size):
        prepared = classifier.inputs(dataset, wanted[start:start + batch_size], seed=seed)
        n = len(prepared.ids)
        num_classes = len(classifier.classes)
        if classifier.differentiable:
            log_probs, embedding = forward_with_embedding(classifier.model, prepared.x, num_classes,
                                                          classifier.device, batch_size)
        else:
            log_probs = classifier.log_probs(prepared.x)
            embedding = log_probs.astype(np.float32)
        share = np.full(n, np.nan)
        if prepared.cloudy is None:  # patches: no per-observation cloud flags
            cloudy = np.zeros((n, 0), bool)
            without = log_probs
        else:
            cloudy = prepared.cloudy.astype(bool)
            changed = cloudy.any(axis=1)
            without = log_probs.copy()
            if changed.any():
                cleaned = interpolate_clouds(prepared.x[changed], prepared.dates[changed], cloudy[changed])
                without[changed] = classifier.log_probs(cleaned)
            pick = np.zeros(n, bool) if explain == "none" or not classifier.differentiable else \
                np.ones(n, bool) if explain == "all" else log_probs.argmax(axis=1) != prepared.labels
            pick &= changed
            if pick.any():
                share[pick] = cloud_attribution_shares(classifier, prepared.x[pick], cloudy[pick],
                                                       log_probs[pick].argmax(axis=1), ig_steps=ig_steps,
                                                       batch_size=explain_batch_size)
        parts.append(Evidence(ids=prepared.ids, labels=prepared.labels, log_probs=log_probs.astype(np.float32),
                              log_probs_without_clouds=without.astype(np.float32), embedding=embedding,
                              cloud_attribution_share=share, cloudy_inputs=cloudy.sum(axis=1).astype(np.int64),
                              clear_observations=series_clear[start:start + n]))
    if not parts:
        empty = np.zeros(0)
        return Evidence(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(classifier.classes))),
                        np.zeros((0, len(classifier.classes))), np.zeros((0, 0), np.float32), empty,
                        np.zeros(0, np.int64), np.zeros(0, np.int64))
    return Evidence.concat(parts)


def _clear_counts(dataset: Any, ids: np.ndarray) -> np.ndarray:
    """Clear observations of each parcel's whole series (sequence length x (1 - cloud share))."""
    index = dataset.index.set_index("id").loc[ids]
    return np.rint(index["sequencelength"].to_numpy(float) * (1.0 - index["cloud_share"].to_numpy(float))
                   ).astype(np.int64)
