"""Attention maps and attention rollout of self-attention parcel classifiers.

Works for any model exposing ``attention_weights(x) -> list[Tensor N x H x T x T]`` (one tensor
per layer, rows = queries, each row summing to 1), e.g. the cropviz transformer.

Rollout (Abnar & Zuidema 2020): per layer, average the heads, add the identity (the residual
connection) and renormalise the rows, then multiply through the layers,
``R = A_L' @ ... @ A_1'``; ``R[i, j]`` is how much the output token i draws on input
observation j. The transformer max-pools over time instead of reading one pooled token, so the
per-observation weight is the mean attention each observation receives over all query rows,
``rollout[j] = mean_i R[i, j]`` (it sums to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cropviz.errors import ConfigurationError

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass
class AttentionResult:
    """Attention of one parcel: ``matrices`` layers x heads x T x T, ``rollout`` (T),
    ``rollout_matrix`` (T x T), ``prediction`` (C log-probabilities of the unchanged forward)."""

    matrices: np.ndarray
    rollout: np.ndarray
    rollout_matrix: np.ndarray
    prediction: np.ndarray


def rollout(matrices: np.ndarray) -> np.ndarray:
    """Attention rollout of layers x heads x T x T matrices -> the T x T rolled-out matrix."""
    mats = np.asarray(matrices, dtype=np.float64)
    if mats.ndim != 4 or mats.shape[-1] != mats.shape[-2]:
        raise ConfigurationError(f"rollout: expected layers x heads x T x T, got shape {mats.shape}")
    T = mats.shape[-1]
    result = np.eye(T)
    for layer in mats:
        a = layer.mean(axis=0) + np.eye(T)
        a /= a.sum(axis=-1, keepdims=True)
        result = a @ result
    return result


def attention(model: nn.Module, x: np.ndarray | torch.Tensor) -> AttentionResult:
    """Extract per-layer, per-head attention of one parcel ``x`` (T x D or 1 x T x D) and its rollout."""
    import torch

    if not callable(getattr(model, "attention_weights", None)):
        raise ConfigurationError(
            f"{type(model).__name__} has no attention_weights(x); attention maps need a self-attention "
            "model such as the transformer")
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.detach().float()
    if xt.ndim == 2:
        xt = xt.unsqueeze(0)
    if xt.ndim != 3 or len(xt) != 1:
        raise ConfigurationError(f"attention explains one parcel (T x D or 1 x T x D); got shape {tuple(xt.shape)}")
    was_training = model.training
    model.eval()
    try:
        device = next(iter(model.parameters()), torch.empty(0)).device
        xt = xt.to(device)
        with torch.no_grad():
            prediction = model(xt)
            layers = model.attention_weights(xt)  # type: ignore[operator]  # checked callable above
    finally:
        model.train(was_training)
    T = xt.shape[1]
    if not layers or any(tuple(a.shape[:1]) != (1,) or tuple(a.shape[-2:]) != (T, T) or a.ndim != 4
                         for a in layers):
        raise ConfigurationError(
            f"{type(model).__name__}.attention_weights must return a list of 1 x H x {T} x {T} tensors")
    matrices = np.stack([a[0].detach().cpu().numpy() for a in layers]).astype(np.float32)
    rolled = rollout(matrices)
    return AttentionResult(
        matrices=matrices,
        rollout=rolled.mean(axis=0).astype(np.float32),
        rollout_matrix=rolled.astype(np.float32),
        prediction=prediction[0].detach().cpu().numpy(),
    )
