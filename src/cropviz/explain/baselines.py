"""Reference inputs ("baselines") for path and perturbation attribution methods.

Every baseline is a float32 array in model-input units (reflectance), shape ``T x D`` for one
parcel, or ``n x T x D`` for the ``'random'`` distribution used by GradientShap.

Kinds:

- ``'zeros'``: all zero (no signal at all; the Captum default).
- ``'class_mean'``: the mean trajectory of one class, either given (``class_mean``, T x D) or
  computed from a reference batch (``reference`` N x T x D with ``reference_labels`` N) for the
  class ``target``.
- ``'cloud_free_median'``: per band, the median over the parcel's clear observations
  (``cloudy`` is the boolean mask of the T observations), repeated over T. "What this parcel
  looks like without any temporal change".
- ``'random'``: ``n`` parcels drawn (seeded, without replacement when possible) from a
  reference batch; a distribution of baselines, for ``'gradient_shap'`` only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cropviz.errors import ConfigurationError

KINDS: tuple[str, ...] = ("zeros", "class_mean", "cloud_free_median", "random")


def zeros(x: np.ndarray) -> np.ndarray:
    """Return an all-zero baseline shaped like the parcel ``x`` (T x D)."""
    return np.zeros(np.shape(x)[-2:], dtype=np.float32)


def class_mean(
    x: np.ndarray,
    target: int | None = None,
    class_mean: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    reference_labels: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Return the mean trajectory (T x D) of class ``target``.

    Either ``class_mean`` is given (T x D, returned as float32) or it is computed as the mean of
    the rows of ``reference`` (N x T x D) whose ``reference_labels`` equal ``target``.
    """
    shape = np.shape(x)[-2:]
    if class_mean is not None:
        mean = np.asarray(class_mean, dtype=np.float32)
        if mean.shape != shape:
            raise ConfigurationError(
                f"class_mean baseline: shape {mean.shape} does not match the parcel {shape}")
        return mean
    if reference is None or reference_labels is None or target is None:
        raise ConfigurationError(
            "class_mean baseline: give class_mean (T x D) or reference, reference_labels and target")
    ref = np.asarray(reference, dtype=np.float32)
    labels = np.asarray(reference_labels)
    if ref.ndim != 3 or ref.shape[1:] != shape or len(labels) != len(ref):
        raise ConfigurationError(
            f"class_mean baseline: reference {ref.shape} with {len(labels)} labels does not fit "
            f"parcels of shape {shape}")
    rows = ref[labels == int(target)]
    if len(rows) == 0:
        raise ConfigurationError(f"class_mean baseline: no reference parcel of class {target}")
    return rows.mean(axis=0).astype(np.float32)


def cloud_free_median(x: np.ndarray, cloudy: Sequence[bool] | np.ndarray | None) -> np.ndarray:
    """Return the per-band median of the parcel's clear observations, repeated over T (T x D)."""
    T, D = np.shape(x)[-2:]
    arr = np.asarray(x, dtype=np.float32).reshape(T, D)
    if cloudy is None:
        raise ConfigurationError("cloud_free_median baseline: needs the cloudy mask (T booleans)")
    mask = np.asarray(cloudy, dtype=bool)
    if mask.shape != (T,):
        raise ConfigurationError(
            f"cloud_free_median baseline: cloudy mask has shape {mask.shape}, expected ({T},)")
    clear = arr[~mask]
    if len(clear) == 0:
        raise ConfigurationError("cloud_free_median baseline: every observation is cloudy")
    return np.repeat(np.median(clear, axis=0, keepdims=True), T, axis=0).astype(np.float32)


def random(reference: np.ndarray | None, n: int = 20, seed: int = 0) -> np.ndarray:
    """Draw ``n`` parcels (n x T x D) from the reference batch, seeded; for GradientShap."""
    if reference is None:
        raise ConfigurationError("random baseline: needs a reference batch (N x T x D) to draw from")
    ref = np.asarray(reference, dtype=np.float32)
    if ref.ndim != 3 or len(ref) == 0:
        raise ConfigurationError(f"random baseline: reference must be N x T x D, got {ref.shape}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ref), size=n, replace=n > len(ref))
    return ref[idx]


def make_baseline(
    baseline: str | np.ndarray | None,
    x: np.ndarray,
    *,
    target: int | None = None,
    class_mean: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    reference_labels: Sequence[int] | np.ndarray | None = None,
    cloudy: Sequence[bool] | np.ndarray | None = None,
    n: int = 20,
    seed: int = 0,
) -> tuple[np.ndarray, str]:
    """Resolve ``baseline`` (a kind name, an array, or None = 'zeros') for the parcel ``x``.

    Returns ``(array, kind)``: the array is T x D, or n x T x D for ``'random'`` (or for a
    given 3-D array); ``kind`` names it in ``Attribution.settings`` ('array' for a given array).
    """
    shape = np.shape(x)[-2:]
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return zeros(x), "zeros"
    if isinstance(baseline, str):
        if baseline == "class_mean":
            return _class_mean(x, target, class_mean, reference, reference_labels), "class_mean"
        if baseline == "cloud_free_median":
            return cloud_free_median(x, cloudy), "cloud_free_median"
        if baseline == "random":
            return random(reference, n=n, seed=seed), "random"
        raise ConfigurationError(f"unknown baseline {baseline!r}; use one of {', '.join(KINDS)} or an array")
    arr = np.asarray(baseline, dtype=np.float32)
    if arr.shape == shape or (arr.ndim == 3 and arr.shape[1:] == shape):
        return arr, "array"
    raise ConfigurationError(f"baseline array has shape {arr.shape}; expected {shape} or n x {shape}")


_class_mean = class_mean
