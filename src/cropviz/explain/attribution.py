"""Per-observation, per-band attributions of a parcel classifier's decision (Captum).

Conventions (shared by every method):

- Models take ``N x T x D`` reflectance and return ``N x C`` log-probabilities; attributions
  explain the **log-probability** of the target class (not the logit, not the probability).
  Completeness-type methods (integrated gradients, DeepLift, GradientShap) therefore satisfy
  ``values.sum() ~= log p(target | x) - log p(target | baseline)``; ``delta`` is Captum's
  convergence delta, ``values.sum() - (f(x) - f(baseline))``.
- ``values`` is ``T x D``; ``per_observation`` is the signed sum over bands (T),
  ``per_observation_abs`` the sum of absolute values over bands (T). The "decisive"
  observations are those of largest ``|per_observation|``.
- ``target`` defaults to the class the model predicts for ``x``.
- ``step=t`` explains an early-classification model (one exposing
  ``forward_steps(x) -> (log_probs N x T x C, delta N x T)``) at time step ``t``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cropviz.data.bands import BREIZHCROPS_ORDER, PATCH_BANDS, SPECTRAL_BANDS
from cropviz.devices import resolve_device
from cropviz.errors import ConfigurationError
from cropviz.explain import methods as method_table
from cropviz.explain.baselines import make_baseline
from cropviz.explain.methods import BASELINE_METHODS, DELTA_METHODS, METHODS

__all__ = [
    "BASELINE_METHODS", "DELTA_METHODS", "METHODS", "ROWS_PER_PASS", "Attribution", "BatchAttribution",
    "WhatIf", "attribute", "attribute_batch", "class_aggregate", "cloud_spectrum",
    "top_k_observations", "what_if",
]

#: Rows (parcels x path points) per forward/backward pass. Each activation of the transformer is
#: then about one core's L2 cache (64 x 45 x 64 floats); passes of 208 and 1664 rows (the old
#: default: 32 parcels x 52 rows) ran 1.4x and about 2x slower per row on this project's CPU, so
#: batching above one parcel's 50 path points buys nothing for integrated gradients. Passes of 16
#: to 128 rows ran within 10 % of each other per row (forward + backward, one thread, CPU time),
#: so Captum's own 50-row pass per parcel is already cache-sized: batched integrated gradients
#: match it per parcel rather than beat it.
ROWS_PER_PASS = 64
#: Captum draws GradientShap's random points from the process-global RNGs; calls that seed and
#: restore them must not interleave between threads.
_GLOBAL_RNG = threading.Lock()


@dataclass
class Attribution:
    """Attribution of one parcel: ``values`` T x D, per-observation sums, settings used."""

    values: np.ndarray
    per_observation: np.ndarray
    per_observation_abs: np.ndarray
    delta: float | None
    method: str
    target: int
    settings: dict[str, Any] = field(default_factory=dict)

    def top_observations(self, k: int = 5, dates: Sequence[Any] | np.ndarray | None = None) -> pd.DataFrame:
        """The ``k`` most decisive observations (:func:`top_k_observations`)."""
        return top_k_observations(self, k=k, dates=dates)


@dataclass
class BatchAttribution:
    """Attributions of N parcels: ``values`` N x T x D, ``targets`` N, ``delta`` N or None."""

    values: np.ndarray
    targets: np.ndarray
    delta: np.ndarray | None
    method: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def per_observation(self) -> np.ndarray:
        """Signed sum over bands, N x T."""
        return self.values.sum(axis=-1)

    @property
    def shape(self) -> tuple[int, ...]:
        """N x T x D."""
        return self.values.shape

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def by_class(self, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean attribution per target class: (C x T x D means, C counts); empty classes are NaN."""
        return class_aggregate(self.values, self.targets, num_classes)


class _AtStep(nn.Module):
    """Wraps an early-classification model so that forward returns the log-probs at one step."""

    def __init__(self, model: nn.Module, step: int) -> None:
        super().__init__()
        self.model = model
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_probs, _ = self.model.forward_steps(x)  # type: ignore[operator]  # checked by _wrap
        return log_probs[:, self.step, :]


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _as_batch(x: Any, name: str = "x") -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.detach().float()
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3:
        raise ConfigurationError(f"{name}: expected T x D or N x T x D, got shape {tuple(t.shape)}")
    return t


def _wrap(model: nn.Module, step: int | None, T: int) -> nn.Module:
    if step is None:
        return model
    if not hasattr(model, "forward_steps"):
        raise ConfigurationError(
            f"{type(model).__name__} has no forward_steps(x); step= works only for early-classification models")
    if not -T <= step < T:
        raise ConfigurationError(f"step {step} is outside the sequence of length {T}")
    return _AtStep(model, step % T)


def _gradients(model: nn.Module, rows: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Gradient of each row's target log-probability with respect to the row (rows are independent)."""
    rows = rows.detach().requires_grad_(True)
    with torch.enable_grad():
        picked = model(rows).gather(1, targets.unsqueeze(1)).sum()
        return torch.autograd.grad(picked, rows)[0]


@functools.lru_cache(maxsize=32)
def _quadrature(ig_method: str, n_steps: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Captum's step sizes and path points of ``ig_method`` (Gauss-Legendre nodes cost ~2 ms to solve)."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters(ig_method)
    return tuple(step_sizes(n_steps)), tuple(alphas(n_steps))


def _integrated_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    baseline: torch.Tensor | None,
    targets: torch.Tensor | None,
    settings: dict[str, Any],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrated gradients with Captum's quadrature, vectorised over parcels and path points.

    The ``n_steps x N`` path points run in passes of at most ``internal_batch_size x N`` and at
    most :data:`ROWS_PER_PASS` rows (one pass when everything fits, the N inputs and N baselines
    riding along for the convergence delta and the predicted targets). Equals
    ``captum.attr.IntegratedGradients`` (tested). Returns (attributions, delta, targets).
    """
    N, T, D = inputs.shape
    n_steps = settings["n_steps"]
    step_sizes, alphas = _quadrature(settings["ig_method"], n_steps)
    weights = torch.tensor(step_sizes, dtype=inputs.dtype, device=inputs.device)
    alpha = torch.tensor(alphas, dtype=inputs.dtype, device=inputs.device)
    base = torch.zeros_like(inputs) if baseline is None else baseline.expand_as(inputs)
    diff = inputs - base
    path = (base.unsqueeze(0) + alpha.view(-1, 1, 1, 1) * diff.unsqueeze(0)).reshape(n_steps * N, T, D)
    chunk = min(settings["internal_batch_size"] * N, max(ROWS_PER_PASS, N))
    if settings["internal_batch_size"] >= n_steps and (n_steps + 2) * N <= max(ROWS_PER_PASS, n_steps + 2):
        with torch.enable_grad():
            rows = torch.cat([path, inputs, base]).requires_grad_(True)
            out = model(rows)
            ends = out[n_steps * N:].detach()
            if targets is None:
                targets = ends[:N].argmax(dim=-1)
            picked = out[: n_steps * N].gather(1, targets.repeat(n_steps).unsqueeze(1)).sum()
            grads = torch.autograd.grad(picked, rows)[0][: n_steps * N]
    else:
        with torch.no_grad():
            ends = model(torch.cat([inputs, base]))
        if targets is None:
            targets = ends[:N].argmax(dim=-1)
        path_targets = targets.repeat(n_steps)
        grads = torch.cat([_gradients(model, path[start:start + chunk], path_targets[start:start + chunk])
                           for start in range(0, n_steps * N, chunk)])
    attr = (grads.view(n_steps, N, T, D) * weights.view(-1, 1, 1, 1)).sum(dim=0) * diff
    gain = ends[:N].gather(1, targets.unsqueeze(1)) - ends[N:].gather(1, targets.unsqueeze(1))
    delta = attr.sum(dim=(1, 2)) - gain.squeeze(1)
    return attr, delta, targets


Runner = Callable[[nn.Module, torch.Tensor, torch.Tensor, "torch.Tensor | None", dict[str, Any]],
                  "tuple[torch.Tensor, torch.Tensor | None]"]


def _saliency(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, baseline: torch.Tensor | None,
              settings: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Captum's ``Saliency``: the gradient (its absolute value with ``abs``), batched."""
    grads = _gradients(model, inputs, targets)
    return (grads.abs() if settings["abs"] else grads), None


def _input_x_gradient(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                      baseline: torch.Tensor | None, settings: dict[str, Any]) -> tuple[torch.Tensor, None]:
    """Captum's ``InputXGradient``, batched."""
    return inputs * _gradients(model, inputs, targets), None


def _deeplift(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, baseline: torch.Tensor | None,
              settings: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Captum's ``DeepLift`` on a private replica of the model; the delta from its own forward pass.

    DeepLift hangs hooks on every module for the duration of a call; on a model shared between
    threads (the app's cached model) they would catch the other threads' forward passes. The
    replica costs one copy of the weights per call. Where every parcel has the same baseline
    (zeros, one given baseline) and the only modules Captum treats as nonlinear are ReLUs, the
    baseline is evaluated once, not once per parcel (:func:`_deeplift_shared_baseline`: the same
    values for about half the model evaluations). Otherwise Captum runs; its convergence delta
    evaluates the parcels and baselines a second time, so the delta comes from the outputs of
    DeepLift's own pass over both (the hooks change only the backward pass): the same delta for
    half the model evaluations.
    """
    from captum.attr import DeepLift

    replica = copy.deepcopy(model)
    shared = _shared_baseline(inputs, baseline)
    if shared is not None:
        fast = _deeplift_shared_baseline(replica, inputs, targets, shared)
        if fast is not None:
            return fast
    recorder = _Recording(replica)
    with warnings.catch_warnings():  # Captum announces its temporary hooks on every call
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
        attr = DeepLift(recorder).attribute(inputs.requires_grad_(True), baselines=baseline, target=targets)
    n = len(inputs)
    if recorder.output is None or len(recorder.output) != 2 * n:  # DeepLift runs parcels then baselines
        raise ConfigurationError(f"deeplift: expected one pass over {n} parcels and {n} baselines")
    picked = recorder.output.gather(1, targets.repeat(2).unsqueeze(1)).squeeze(1)
    return attr.detach(), attr.detach().sum(dim=(1, 2)) - (picked[:n] - picked[n:])


#: Captum's DeepLift: below this |input - baseline input| a ReLU passes its plain gradient.
DEEPLIFT_EPS = 1e-10


def _shared_baseline(inputs: torch.Tensor, baseline: torch.Tensor | None) -> torch.Tensor | None:
    """The one baseline (1 x ...) of every parcel of the batch, or None where they differ."""
    if baseline is None:
        return torch.zeros_like(inputs[:1])
    if baseline.shape[0] == 1 or torch.equal(baseline, baseline[:1].expand_as(baseline)):
        return baseline[:1].to(inputs.dtype)
    return None


def _deeplift_shared_baseline(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                              baseline: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """DeepLift (Captum's rescale rule) of N parcels against one baseline, evaluated once.

    Captum runs the parcels and N copies of the baseline in one batch, records each nonlinear
    module's input and output in both halves, and on the way back replaces the module's gradient
    by ``(output - baseline output) / (input - baseline input)`` (its plain gradient where the
    inputs differ by less than :data:`DEEPLIFT_EPS`); attributions are ``(x - baseline) x``
    that gradient. Rows are independent in eval mode, so one pass over the baseline gives every
    parcel's reference activations. Applies to models whose modules of Captum's nonlinear kinds
    are all (non-inplace) ReLUs, each called once; returns None otherwise (the caller runs
    Captum). ``model`` must be private to the call: it carries hooks while this runs.
    """
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR

    nonlinear = [m for m in model.modules() if type(m) in SUPPORTED_NON_LINEAR]
    if any(type(m) is not nn.ReLU or m.inplace for m in nonlinear):
        return None
    references: dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in nonlinear}

    def record(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        references[module].append((args[0].detach(), output.detach()))

    def rescale(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        x = args[0]
        reference_in, reference_out = references[module][0]
        delta_in = x.detach() - reference_in
        slope = torch.where(delta_in.abs() < DEEPLIFT_EPS, (x.detach() > 0).to(x.dtype),
                            (output.detach() - reference_out) / delta_in)
        return output.detach() + slope * (x - x.detach())  # the value of ``output``, the gradient ``slope``

    handles = [m.register_forward_hook(record) for m in nonlinear]
    try:
        with torch.no_grad():
            base_out = model(baseline)
    finally:
        for handle in handles:
            handle.remove()
    if any(len(calls) != 1 for calls in references.values()):  # a module called twice: Captum's case
        return None
    handles = [m.register_forward_hook(rescale) for m in nonlinear]
    try:
        rows = inputs.detach().requires_grad_(True)
        with torch.enable_grad():
            out = model(rows)
            grads = torch.autograd.grad(out.gather(1, targets.unsqueeze(1)).sum(), rows)[0]
    finally:
        for handle in handles:
            handle.remove()
    attr = (inputs - baseline) * grads
    gain = out.detach().gather(1, targets.unsqueeze(1)).squeeze(1) - base_out[0, targets]
    return attr, attr.flatten(1).sum(dim=1) - gain


class _Recording(nn.Module):
    """Runs ``model`` and keeps its last output (detached)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.output: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        self.output = out.detach()
        return out


def _gradient_shap(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                   baseline: torch.Tensor | None, settings: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Captum's ``GradientShap``, seeded; the caller's random streams are left untouched."""
    from captum.attr import GradientShap

    # Captum draws the path points from numpy's global RNG and the noise from torch's: seed both
    # (one thread at a time), then restore them.
    with _GLOBAL_RNG:
        np_state = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[inputs.device] if inputs.device.type == "cuda" else []):
                torch.manual_seed(settings["seed"])
                np.random.seed(settings["seed"])
                attr, delta = GradientShap(model).attribute(
                    inputs.requires_grad_(True), baselines=baseline, n_samples=settings["n_samples"],
                    stdevs=settings["stdevs"], target=targets, return_convergence_delta=True)
        finally:
            np.random.set_state(np_state)
    return attr.detach(), delta.detach().reshape(len(inputs), -1).mean(dim=1)


def _occlusion(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, baseline: torch.Tensor | None,
               settings: dict[str, Any]) -> tuple[torch.Tensor, None]:
    """Captum's ``Occlusion`` of windows of whole observations (all bands)."""
    from captum.attr import Occlusion

    _, T, D = inputs.shape
    w, s = settings["window"], settings["stride"]
    with torch.no_grad():
        return Occlusion(model).attribute(
            inputs, sliding_window_shapes=(w, D), strides=(s, D), baselines=baseline, target=targets,
            perturbations_per_eval=T), None


def _feature_ablation(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                      baseline: torch.Tensor | None, settings: dict[str, Any]) -> tuple[torch.Tensor, None]:
    """Captum's ``FeatureAblation`` of one whole observation at a time."""
    from captum.attr import FeatureAblation

    _, T, D = inputs.shape
    mask = torch.arange(T, device=inputs.device).view(1, T, 1).expand(1, T, D)
    with torch.no_grad():
        return FeatureAblation(model).attribute(
            inputs, baselines=baseline, target=targets, feature_mask=mask, perturbations_per_eval=T), None


#: The runner of every method of the table but integrated gradients (its own fused kernel).
RUNNERS: dict[str, Runner] = {
    "saliency": _saliency,
    "input_x_gradient": _input_x_gradient,
    "deeplift": _deeplift,
    "gradient_shap": _gradient_shap,
    "occlusion": _occlusion,
    "feature_ablation": _feature_ablation,
}


def _run(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None,
    method: str,
    baseline: torch.Tensor | None,
    settings: dict[str, Any],
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Run one method on a batch: (attributions N x T x D, delta N or None, targets N).

    ``targets=None`` means the predicted classes. Nothing here changes the model (no hooks, no
    mode switch), so threads may share it.
    """
    inputs = inputs.detach()
    # cuDNN cannot backpropagate through recurrent layers in eval mode; use the native kernels
    # (a process-wide switch, so only flipped where it is needed).
    rnn_on_gpu = inputs.is_cuda and any(isinstance(m, nn.RNNBase) for m in model.modules())
    with torch.backends.cudnn.flags(enabled=False) if rnn_on_gpu else contextlib.nullcontext():
        if method == "integrated_gradients":
            return _integrated_gradients(model, inputs, baseline, targets, settings)
        if targets is None:
            targets = _predict(model, inputs).argmax(dim=-1)
        attr, delta = RUNNERS[method](model, inputs, targets, baseline, settings)
    return attr.detach(), delta, targets


def _baseline_tensor(method: str, base: np.ndarray, kind: str, device: torch.device) -> torch.Tensor:
    """Shape a one-parcel baseline for Captum: 1 x T x D (k x T x D draws for gradient_shap)."""
    t = torch.as_tensor(base, device=device)
    if t.ndim == 2:
        return t.unsqueeze(0)
    if method != "gradient_shap" and len(t) != 1:
        raise ConfigurationError(f"{method}: baseline {kind!r} is a distribution of {len(t)} parcels; "
                                 "only gradient_shap takes several baselines per parcel")
    return t


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


def attribute(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method: str = "integrated_gradients",
    target: int | None = None,
    baseline: str | np.ndarray | None = None,
    *,
    step: int | None = None,
    class_mean: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    reference_labels: Sequence[int] | np.ndarray | None = None,
    cloudy: Sequence[bool] | np.ndarray | None = None,
    **options: Any,
) -> Attribution:
    """Attribute the model's log-probability of ``target`` for one parcel ``x`` (T x D or 1 x T x D).

    ``method`` is one of ``METHODS``. ``baseline`` is a kind of ``cropviz.explain.baselines``
    ('zeros' default, 'class_mean', 'cloud_free_median', 'random') or an array (T x D; n x T x D
    for gradient_shap); the data it needs comes as ``class_mean`` / ``reference`` +
    ``reference_labels`` / ``cloudy``. Method options: integrated_gradients ``n_steps=50``,
    ``internal_batch_size=n_steps`` (one batched forward/backward), ``ig_method``; saliency
    ``abs=True``; gradient_shap ``n_samples=20, stdevs=0.0, seed=0``; occlusion ``window=3,
    stride=1`` (observations; each window covers all D bands). feature_ablation replaces one
    observation at a time by the baseline's. ``step`` explains an early model at time step t.
    """
    xb = _as_batch(x)
    if len(xb) != 1:
        raise ConfigurationError(f"attribute explains one parcel; got a batch of {len(xb)} (use attribute_batch)")
    T = xb.shape[1]
    settings = method_table.settings(method, options, T)
    wrapped = _wrap(model, step, T)
    was_training = model.training
    model.eval()
    try:
        device = _device_of(model)
        xb = xb.to(device)
        if target is None and isinstance(baseline, str) and baseline == "class_mean" and class_mean is None:
            target = int(_predict(wrapped, xb).argmax(dim=-1).item())  # the baseline depends on it
        base_t = None
        if method in BASELINE_METHODS:
            base, kind = make_baseline(
                baseline, xb[0].cpu().numpy(), target=target, class_mean=class_mean, reference=reference,
                reference_labels=reference_labels, cloudy=cloudy,
                n=settings.get("n_samples", 20), seed=settings.get("seed", 0))
            base_t = _baseline_tensor(method, base, kind, device)
            settings["baseline"] = kind
        elif baseline is not None:
            raise ConfigurationError(f"{method} takes no baseline")
        if step is not None:
            settings["step"] = step % T
        targets = None if target is None else torch.tensor([int(target)], device=device)
        attr, delta, targets = _run(wrapped, xb, targets, method, base_t, settings)
    finally:
        model.train(was_training)
    values = attr[0].detach().cpu().numpy().astype(np.float32)
    return Attribution(
        values=values,
        per_observation=values.sum(axis=1),
        per_observation_abs=np.abs(values).sum(axis=1),
        delta=None if delta is None else float(delta.reshape(-1)[0]),
        method=method,
        target=int(targets[0]),
        settings=settings,
    )


def attribute_batch(
    model: nn.Module,
    X: np.ndarray | torch.Tensor,
    method: str = "integrated_gradients",
    targets: Sequence[int] | np.ndarray | None = None,
    baseline: str | np.ndarray | None = None,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    step: int | None = None,
    class_mean: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    reference_labels: Sequence[int] | np.ndarray | None = None,
    cloudy: np.ndarray | None = None,
    **options: Any,
) -> BatchAttribution:
    """Attribute N parcels (``X`` N x T x D) in batches of ``batch_size`` on ``device``.

    ``batch_size`` defaults to as many parcels as fill one pass of :data:`ROWS_PER_PASS` rows
    (the method's cost per parcel from the table: 1 parcel for 50-step integrated gradients,
    64 for saliency). ``targets`` default to the predicted classes. ``baseline`` as in
    :func:`attribute`, or an array N x T x D of per-parcel baselines; 'class_mean' without
    ``class_mean`` uses each parcel's target class; 'cloud_free_median' needs ``cloudy`` masks
    N x T. On another device the model runs on a copy, so the caller's model stays put.
    Results are not cached here: ``cropviz.workspace.Workspace`` stores what it asks for.
    """
    Xt = _as_batch(X, "X")
    N, T, D = Xt.shape
    settings = method_table.settings(method, options, T)
    if batch_size is None:
        batch_size = max(1, ROWS_PER_PASS // method_table.method(method).passes(settings, T))
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
    if method not in BASELINE_METHODS and baseline is not None:
        raise ConfigurationError(f"{method} takes no baseline")
    if step is not None:
        _wrap(model, step, T)
        settings["step"] = step % T
    if method in BASELINE_METHODS:
        settings["baseline"] = "zeros" if baseline is None else baseline if isinstance(baseline, str) else "array"
    tg = None if targets is None else np.asarray(targets, dtype=np.int64)
    if tg is not None and tg.shape != (N,):
        raise ConfigurationError(f"targets has shape {tg.shape}; expected ({N},)")
    Xn = Xt.cpu().numpy()
    shared = per_parcel = None
    if method in BASELINE_METHODS:
        shared, per_parcel = _batch_baselines(method, baseline, Xn, settings, class_mean, reference,
                                              reference_labels, cloudy)

    dev = resolve_device(device)
    run_model = model if _device_of(model) == dev else copy.deepcopy(model).to(dev)
    was_training = run_model.training
    run_model.eval()
    wrapped = _wrap(run_model, step, T)
    values = np.empty((N, T, D), dtype=np.float32)
    all_targets = np.empty(N, dtype=np.int64)
    deltas = np.empty(N, dtype=np.float32) if method in DELTA_METHODS else None
    try:
        for start in range(0, N, batch_size):
            xb = Xt[start:start + batch_size].to(dev)
            n = len(xb)
            tb = None if tg is None else torch.as_tensor(tg[start:start + n], device=dev)
            if tb is None and isinstance(baseline, str) and baseline == "class_mean" and class_mean is None:
                tb = _predict(wrapped, xb).argmax(dim=-1)  # the baselines depend on it
            base_t = None
            if per_parcel is not None:
                base_t = torch.as_tensor(per_parcel[start:start + n], device=dev)
            elif shared is not None:
                base_t = torch.as_tensor(shared, device=dev)
                if base_t.ndim == 2:
                    base_t = base_t.unsqueeze(0)
                if method != "gradient_shap":
                    base_t = base_t.expand(n, -1, -1).contiguous()
            elif method in BASELINE_METHODS and tb is not None:  # class_mean of each parcel's target
                base_t = torch.as_tensor(np.stack([
                    make_baseline("class_mean", Xn[0], target=int(t), reference=reference,
                                  reference_labels=reference_labels)[0] for t in tb.tolist()]), device=dev)
            attr, delta, tb = _run(wrapped, xb, tb, method, base_t, settings)
            values[start:start + n] = attr.detach().cpu().numpy()
            all_targets[start:start + n] = tb.cpu().numpy()
            if deltas is not None and delta is not None:
                deltas[start:start + n] = delta.detach().cpu().numpy().reshape(n)
    finally:
        run_model.train(was_training)
    return BatchAttribution(values, all_targets, deltas, method, settings)


def _batch_baselines(
    method: str,
    baseline: str | np.ndarray | None,
    X: np.ndarray,
    settings: dict[str, Any],
    class_mean: np.ndarray | None,
    reference: np.ndarray | None,
    reference_labels: Sequence[int] | np.ndarray | None,
    cloudy: np.ndarray | None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Resolve the baselines of N parcels once: (shared, per_parcel).

    ``shared`` is T x D (or k x T x D draws for gradient_shap), ``per_parcel`` N x T x D; both
    None for 'class_mean' without a given mean (built per batch from the targets).
    """
    N = len(X)
    if isinstance(baseline, str) and baseline == "class_mean" and class_mean is None:
        return None, None
    if isinstance(baseline, str) and baseline == "cloud_free_median":
        masks = None if cloudy is None else np.asarray(cloudy, dtype=bool)
        if masks is None or masks.shape != X.shape[:2]:
            raise ConfigurationError(
                f"cloud_free_median baselines of {N} parcels need cloudy masks of shape {X.shape[:2]}")
        return None, np.stack([make_baseline(baseline, X[i], cloudy=masks[i])[0] for i in range(N)])
    if baseline is not None and not isinstance(baseline, str):
        arr = np.asarray(baseline, dtype=np.float32)
        if arr.ndim == 3 and method != "gradient_shap":
            if arr.shape != X.shape:
                raise ConfigurationError(
                    f"per-parcel baselines have shape {arr.shape}; expected {X.shape} (or one T x D)")
            return None, arr
        baseline = arr
    base, kind = make_baseline(baseline, X[0], class_mean=class_mean, reference=reference,
                               reference_labels=reference_labels, n=settings.get("n_samples", 20),
                               seed=settings.get("seed", 0))
    if base.ndim == 3 and method != "gradient_shap":
        raise ConfigurationError(f"{method}: baseline {kind!r} is a distribution; only gradient_shap takes one")
    return base, None


def class_aggregate(
    values: np.ndarray, labels: Sequence[int] | np.ndarray, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of N x T x D attributions per class label: (C x T x D, counts C); empty classes NaN."""
    vals = np.asarray(values, dtype=np.float32)
    lab = np.asarray(labels, dtype=np.int64)
    C = int(num_classes if num_classes is not None else (lab.max() + 1 if len(lab) else 0))
    sums = np.zeros((C,) + vals.shape[1:], dtype=np.float64)
    np.add.at(sums, lab, vals)
    counts = np.bincount(lab, minlength=C)[:C]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts.reshape((C,) + (1,) * (vals.ndim - 1))
    return means.astype(np.float32), counts


def top_k_observations(
    attr: Attribution | np.ndarray, k: int = 5, dates: Sequence[Any] | np.ndarray | None = None
) -> pd.DataFrame:
    """The k observations of largest ``|per_observation|``, most decisive first.

    ``attr`` is an :class:`Attribution` or a per-observation array (T) or values (T x D,
    summed over bands). Columns: ``index`` (position in the sequence), ``date`` (from
    ``dates`` or NaT), ``value`` (signed per-observation attribution), ``abs_value``, ``share``
    (of the total absolute per-observation attribution).
    """
    per_obs = attr.per_observation if isinstance(attr, Attribution) else np.asarray(attr, dtype=float)
    if per_obs.ndim == 2:
        per_obs = per_obs.sum(axis=1)
    if per_obs.ndim != 1:
        raise ConfigurationError(f"top_k_observations: expected T or T x D values, got shape {per_obs.shape}")
    T = len(per_obs)
    if dates is not None and len(dates) != T:
        raise ConfigurationError(f"top_k_observations: {len(dates)} dates for {T} observations")
    k = max(0, min(int(k), T))
    order = np.argsort(-np.abs(per_obs), kind="stable")[:k]
    total = np.abs(per_obs).sum()
    return pd.DataFrame({
        "index": order.astype(int),
        "date": pd.to_datetime(np.asarray(dates)[order]) if dates is not None else pd.NaT,
        "value": per_obs[order],
        "abs_value": np.abs(per_obs[order]),
        "share": np.abs(per_obs[order]) / total if total > 0 else 0.0,
    })


#: VNIR reflectance of the cloud spectrum; other bands below (FIELD.md section 5: opaque clouds
#: 0.3 to 0.9 in all VNIR bands, raised B10).
CLOUD_VNIR = 0.5
CLOUD_OTHER: dict[str, float] = {"B10": 0.1, "B11": 0.35, "B12": 0.25}


def cloud_spectrum(bands: Sequence[str]) -> np.ndarray:
    """Reflectance of a bright opaque cloud for the given band names (VNIR 0.5, SWIR lower)."""
    return np.array([CLOUD_OTHER.get(b, CLOUD_VNIR) for b in bands], dtype=np.float32)


def _default_bands(D: int) -> Sequence[str] | None:
    for bands in (BREIZHCROPS_ORDER["L1C"], PATCH_BANDS, SPECTRAL_BANDS["L1C"]):
        if len(bands) == D:
            return bands
    return None


@dataclass
class WhatIf:
    """Class probabilities before and after editing observations of one parcel."""

    before: np.ndarray
    after: np.ndarray
    x_after: np.ndarray
    observations: list[int]
    mode: str

    @property
    def predicted_before(self) -> int:
        """The class predicted before the edit."""
        return int(np.argmax(self.before))

    @property
    def predicted_after(self) -> int:
        """The class predicted after the edit."""
        return int(np.argmax(self.after))

    @property
    def change(self) -> np.ndarray:
        """After - before, per class."""
        return self.after - self.before


def what_if(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    observation: int | Sequence[int],
    mode: str = "remove",
    *,
    dates: Sequence[Any] | np.ndarray | None = None,
    bands: Sequence[str] | None = None,
    spectrum: np.ndarray | None = None,
    step: int | None = None,
) -> WhatIf:
    """Edit observation(s) of one parcel and return class probabilities before and after.

    ``mode='remove'``: the models take a fixed-length sequence, so a removed observation is
    replaced by linear interpolation (per band) between the nearest kept observations, in time
    when ``dates`` are given, else in sequence position; at the ends the nearest kept one is
    copied. ``mode='cloud'``: the observation is overwritten by a cloud spectrum (``spectrum``,
    or :func:`cloud_spectrum` of ``bands``; bands default to the breizhcrops L1C order for
    D = 13 and the patch bands for D = 10; otherwise 0.5 everywhere).
    """
    xb = _as_batch(x)
    if len(xb) != 1:
        raise ConfigurationError(f"what_if edits one parcel; got a batch of {len(xb)}")
    T, D = xb.shape[1:]
    requested = [int(o) for o in np.atleast_1d(observation)]
    if not requested or any(not -T <= o < T for o in requested):
        raise ConfigurationError(f"what_if: observation {observation} outside 0..{T - 1}")
    obs = sorted({o % T for o in requested})
    x0 = xb[0].cpu().numpy()
    edited = x0.copy()
    if mode == "remove":
        keep = np.setdiff1d(np.arange(T), obs)
        if len(keep) == 0:
            raise ConfigurationError("what_if: cannot remove every observation")
        pos = np.arange(T, dtype=float) if dates is None else \
            pd.to_datetime(np.asarray(dates)).values.astype("datetime64[ns]").astype(np.int64).astype(float)
        if len(pos) != T:
            raise ConfigurationError(f"what_if: {len(pos)} dates for {T} observations")
        for d in range(D):
            edited[obs, d] = np.interp(pos[obs], pos[keep], x0[keep, d])
    elif mode == "cloud":
        if spectrum is None:
            names = bands if bands is not None else _default_bands(D)
            spectrum = cloud_spectrum(names) if names is not None else np.full(D, CLOUD_VNIR, np.float32)
        spec = np.asarray(spectrum, dtype=np.float32)
        if spec.shape != (D,):
            raise ConfigurationError(f"what_if: cloud spectrum has shape {spec.shape}, expected ({D},)")
        edited[obs] = spec
    else:
        raise ConfigurationError(f"what_if: unknown mode {mode!r}; use 'remove' or 'cloud'")
    wrapped = _wrap(model, step, T)
    was_training = model.training
    model.eval()
    try:
        device = _device_of(model)
        both = torch.as_tensor(np.stack([x0, edited]), device=device)
        probs = _predict(wrapped, both).exp().cpu().numpy()
    finally:
        model.train(was_training)
    return WhatIf(before=probs[0], after=probs[1], x_after=edited, observations=obs, mode=mode)
