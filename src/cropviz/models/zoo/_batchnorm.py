"""Batch norm folded into the preceding convolution or linear layer for eval-mode inference.

In eval mode ``bn(layer(x))`` is an affine map of ``layer(x)``; computing it as one layer with
rescaled weights saves a pass over the activations. Parameters and state dicts are unchanged:
the folded weights are recomputed at every call (cheap next to the layer itself).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def batchnorm_affine(bn: nn.Module) -> tuple[Tensor, Tensor] | None:
    """``(scale, shift)`` with ``bn(y) == y * scale + shift`` per channel; None while training
    (or for a module that is not a batch norm with running statistics)."""
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.training or bn.running_var is None \
            or bn.running_mean is None:
        return None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def folded(layer: nn.Conv1d | nn.Linear, scale: Tensor, shift: Tensor) -> tuple[Tensor, Tensor]:
    """Weight and bias of ``layer`` followed by the per-output-channel map ``y * scale + shift``."""
    weight = layer.weight * scale.view(-1, *[1] * (layer.weight.dim() - 1))
    bias = shift if layer.bias is None else layer.bias * scale + shift
    return weight, bias


def apply(layer: nn.Conv1d | nn.Linear, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``layer``'s operation with other weights (padding, stride... of ``layer``)."""
    if isinstance(layer, nn.Linear):
        return nn.functional.linear(x, weight, bias)
    return layer._conv_forward(x, weight, bias)


def layer_bn(layer: nn.Module, bn: nn.Module, x: Tensor) -> Tensor:
    """``bn(layer(x))``, as one folded layer in eval mode (for a convolution or linear layer)."""
    affine = batchnorm_affine(bn)
    if affine is None or not isinstance(layer, nn.Conv1d | nn.Linear):
        return bn(layer(x))
    return apply(layer, x, *folded(layer, *affine))
