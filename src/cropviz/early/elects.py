"""ELECTS: end-to-end learned early classification of crop time series (FIELD.md section 3).

A sequence encoder emits a hidden state ``h_t`` per step; a classification head gives
per-step log-probabilities and a stopping head gives ``delta_t = sigmoid(w . h_t + b)``, the
probability of stopping at ``t`` given that the model has not stopped before. Steps are
0-based: ``t = 0 .. T-1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch import Tensor, nn

from cropviz.errors import ConfigurationError

__all__ = [
    "EarlyPrediction",
    "ElectsModel",
    "early_metrics",
    "elects_loss",
    "stopping_probabilities",
]


def stopping_probabilities(delta: Tensor) -> Tensor:
    """Probability of stopping exactly at each step, ``N x T`` -> ``N x T`` (rows sum to 1).

    ``P_t = delta_t * prod_{s<t} (1 - delta_s)`` for ``t < T-1`` and
    ``P_{T-1} = prod_{s<T-1} (1 - delta_s)``: all mass left goes to the last step, whose own
    ``delta`` is ignored. This follows FIELD.md's equation; the published ELECTS training code
    differs slightly (it never uses delta at the first step and its P is shifted by one step
    against the class probabilities).
    """
    if delta.dim() != 2 or delta.shape[1] < 1:
        raise ConfigurationError(f"stopping_probabilities: expected delta N x T, got {tuple(delta.shape)}")
    n = delta.shape[0]
    survive = torch.cumprod(1.0 - delta, dim=1)  # prod_{s<=t}(1 - delta_s)
    before = torch.cat([delta.new_ones(n, 1), survive[:, :-1]], dim=1)  # prod_{s<t}
    return torch.cat([delta[:, :-1] * before[:, :-1], before[:, -1:]], dim=1)


def elects_loss(
    log_probs: Tensor, delta: Tensor, y: Tensor, alpha: float = 0.5, epsilon: float = 10.0
) -> Tensor:
    """ELECTS early-reward loss (scalar), averaged over parcels.

    ``log_probs: N x T x C`` per-step log-probabilities, ``delta: N x T`` stopping
    probabilities, ``y``: class ids, ``N`` (repeated at every step) or ``N x T``. With
    ``P = stopping_probabilities(delta) + epsilon / T`` (additive smoothing exactly as FIELD.md
    and the reference code: *not* renormalised, so ``sum_t P_t = 1 + epsilon``),
    ``loss = alpha * sum_t P_t CE_t - (1 - alpha) * sum_t P_t p_t(y) (1 - t / T)``, with
    ``CE_t = -log p_t(y)`` and ``t`` the 0-based step.
    """
    if log_probs.dim() != 3 or delta.shape != log_probs.shape[:2]:
        raise ConfigurationError(
            f"elects_loss: expected log_probs N x T x C and delta N x T, got "
            f"{tuple(log_probs.shape)} and {tuple(delta.shape)}"
        )
    n, t_len, _ = log_probs.shape
    if y.dim() == 1:
        y = y[:, None].expand(n, t_len)
    if y.shape != (n, t_len):
        raise ConfigurationError(f"elects_loss: expected y of shape N or N x T, got {tuple(y.shape)}")
    p = stopping_probabilities(delta) + epsilon / t_len
    log_p_true = torch.gather(log_probs, 2, y.long()[..., None])[..., 0]  # N x T
    steps = torch.arange(t_len, dtype=log_probs.dtype, device=log_probs.device)
    classification = (p * -log_p_true).sum(dim=1)
    earliness_reward = (p * log_p_true.exp() * (1.0 - steps / t_len)).sum(dim=1)
    return (alpha * classification - (1.0 - alpha) * earliness_reward).mean()


@dataclass
class EarlyPrediction:
    """Result of :meth:`ElectsModel.predict_early` for N parcels and T steps (numpy arrays).

    ``stop_step`` (N, 0-based), ``prediction`` (N, class at the stop), ``probabilities``
    (N x C, class probabilities at the stop), ``delta`` and ``stopping_probabilities`` (N x T,
    the model's). Sampled mode also fills ``sampled_stops`` (n_samples x N) and
    ``stop_distribution`` (N x T, share of draws stopping at each step); there ``stop_step``
    is the first draw.
    """

    stop_step: np.ndarray
    prediction: np.ndarray
    probabilities: np.ndarray
    delta: np.ndarray
    stopping_probabilities: np.ndarray
    sampled_stops: np.ndarray | None = None
    stop_distribution: np.ndarray | None = None


class ElectsModel(nn.Module):
    """ELECTS reference backbone: LayerNorm + Linear to ``hidden_dims``, LSTM without bias
    (``num_layers``, dropout between layers), then a classification head (per-step
    log-probabilities) and a stopping head ``delta_t = sigmoid(w . h_t + b)`` with ``b = -20``
    so that early in training the model stops late. Input ``x: N x T x input_dim``.
    """

    def __init__(
        self,
        input_dim: int = 13,
        num_classes: int = 9,
        hidden_dims: int = 64,
        num_layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.norm = nn.LayerNorm(input_dim)
        self.embed = nn.Linear(input_dim, hidden_dims)
        self.lstm = nn.LSTM(
            hidden_dims,
            hidden_dims,
            num_layers=num_layers,
            bias=False,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.classifier = nn.Linear(hidden_dims, num_classes)
        self.log_softmax = nn.LogSoftmax(dim=-1)
        self.stopping = nn.Linear(hidden_dims, 1)
        nn.init.constant_(self.stopping.bias, -20.0)

    def forward_steps(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x: N x T x D`` -> (log-probabilities ``N x T x C``, delta ``N x T``)."""
        if x.dim() != 3 or x.shape[2] != self.input_dim or x.shape[1] < 1:
            raise ConfigurationError(
                f"ElectsModel: expected input N x T x {self.input_dim}, got {tuple(x.shape)}"
            )
        h, _ = self.lstm(self.embed(self.norm(x)))
        log_probs = self.log_softmax(self.classifier(h))
        delta = torch.sigmoid(self.stopping(h))[..., 0]
        return log_probs, delta

    def forward(self, x: Tensor) -> Tensor:
        """``x: N x T x D`` -> ``N x C`` log-probabilities at the last step."""
        return self.forward_steps(x)[0][:, -1]

    def predict_early(
        self,
        x: Tensor,
        threshold: float | None = None,
        n_samples: int | None = None,
        seed: int = 0,
    ) -> EarlyPrediction:
        """Walk through time and stop early; the prediction is the class at the stop step.

        Deterministic (``n_samples`` None): stop at the first ``t`` with ``delta_t >
        threshold`` (default 0.5), at ``T-1`` when none exceeds it. Sampled: ``n_samples``
        rollouts, each stopping at the first successful Bernoulli(``delta_t``) draw (seeded
        ``torch.Generator``), at ``T-1`` at the latest, so the stop distribution follows
        :func:`stopping_probabilities`. Runs in eval mode without gradients and restores the
        model's mode.
        """
        if n_samples is not None and threshold is not None:
            raise ConfigurationError("predict_early: give either threshold or n_samples, not both")
        if n_samples is not None and n_samples < 1:
            raise ConfigurationError(f"predict_early: n_samples must be >= 1, got {n_samples}")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                log_probs, delta = self.forward_steps(x)
        finally:
            self.train(was_training)
        n, t_len, _ = log_probs.shape
        sampled = distribution = None
        if n_samples is None:
            limit = 0.5 if threshold is None else float(threshold)
            stop = _first_true(delta > limit)
        else:
            g = torch.Generator().manual_seed(seed)
            draws = torch.rand(n_samples, n, t_len, generator=g, dtype=delta.dtype) < delta.cpu()
            sampled = _first_true(draws)  # n_samples x N
            distribution = F.one_hot(sampled, t_len).to(torch.float64).mean(dim=0)
            stop = sampled[0]
        probs = log_probs.exp()[torch.arange(n), stop.to(log_probs.device)]
        return EarlyPrediction(
            stop_step=stop.cpu().numpy(),
            prediction=probs.argmax(dim=1).cpu().numpy(),
            probabilities=probs.cpu().numpy(),
            delta=delta.cpu().numpy(),
            stopping_probabilities=stopping_probabilities(delta).cpu().numpy(),
            sampled_stops=None if sampled is None else sampled.numpy(),
            stop_distribution=None if distribution is None else distribution.numpy(),
        )


def _first_true(stop: Tensor) -> Tensor:
    """Index of the first True along the last axis, the last index when there is none."""
    forced = torch.cat([stop[..., :-1], torch.ones_like(stop[..., -1:])], dim=-1)
    return forced.to(torch.int64).argmax(dim=-1)


def early_metrics(
    stop_steps: np.ndarray,
    preds: np.ndarray,
    y: np.ndarray,
    T: int,
    dates: np.ndarray | None = None,
    classes: list[str] | None = None,
) -> dict:
    """Accuracy, macro F1 and earliness of early predictions.

    ``stop_steps`` are 0-based; ``earliness = mean((t_stop + 1) / T)``, the share of the
    sequence observed before deciding (1 when every parcel waits to the last step, 1/T when
    all stop at the first). ``harmonic_mean = 2 a (1 - e) / (a + 1 - e)`` of accuracy ``a``
    and ``1 - earliness`` (0 when both are 0). ``dates`` (T, or N x T, datetime64) adds
    ``mean_stop_date`` (numpy datetime64[D]). ``per_class`` is a DataFrame indexed by class id
    (named by ``classes`` when given): ``class, support, accuracy`` (recall), ``f1,
    earliness, mean_stop_step``. Macro F1 averages over the classes present in ``y`` or
    ``preds`` (all ``classes`` when given), with 0 for undefined scores.
    """
    stop = np.asarray(stop_steps).astype(np.int64).ravel()
    preds = np.asarray(preds).astype(np.int64).ravel()
    y = np.asarray(y).astype(np.int64).ravel()
    if not (len(stop) == len(preds) == len(y)) or len(y) == 0:
        raise ConfigurationError(
            f"early_metrics: stop_steps, preds and y need the same non-zero length, got "
            f"{len(stop)}, {len(preds)}, {len(y)}"
        )
    if T < 1 or stop.min() < 0 or stop.max() >= T:
        raise ConfigurationError(f"early_metrics: stop steps must lie in 0..T-1 = 0..{T - 1}")
    labels = (
        np.arange(len(classes)) if classes is not None else np.unique(np.concatenate([y, preds]))
    )
    correct = preds == y
    frac = (stop + 1) / T
    accuracy = float(correct.mean())
    earliness = float(frac.mean())
    denom = accuracy + 1.0 - earliness
    out: dict = {
        "accuracy": accuracy,
        "macro_f1": float(f1_score(y, preds, labels=labels, average="macro", zero_division=0)),
        "earliness": earliness,
        "harmonic_mean": 2.0 * accuracy * (1.0 - earliness) / denom if denom > 0 else 0.0,
        "mean_stop_step": float(stop.mean()),
    }
    if dates is not None:
        d = np.asarray(dates, dtype="datetime64[ns]")
        if d.ndim == 1 and len(d) == T:
            chosen = d[stop]
        elif d.ndim == 2 and d.shape == (len(stop), T):
            chosen = d[np.arange(len(stop)), stop]
        else:
            raise ConfigurationError(f"early_metrics: dates must have shape ({T},) or ({len(stop)}, {T})")
        ns = chosen.astype(np.int64)
        out["mean_stop_date"] = np.datetime64(int(ns.mean()), "ns").astype("datetime64[D]")
    f1_per = f1_score(y, preds, labels=labels, average=None, zero_division=0)
    rows = []
    for k, label in enumerate(labels):
        sel = y == label
        rows.append(
            {
                "classid": int(label),
                "class": classes[label] if classes is not None else str(label),
                "support": int(sel.sum()),
                "accuracy": float(correct[sel].mean()) if sel.any() else float("nan"),
                "f1": float(f1_per[k]),
                "earliness": float(frac[sel].mean()) if sel.any() else float("nan"),
                "mean_stop_step": float(stop[sel].mean()) if sel.any() else float("nan"),
            }
        )
    out["per_class"] = pd.DataFrame(rows).set_index("classid")
    return out
