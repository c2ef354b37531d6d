"""Omni-Scale CNN (Tang et al. 2022) for parcel time series (BreizhCrops ``OmniScaleCNN`` compatible).

Each layer applies, side by side, convolutions whose kernel sizes are all the "primes" from 1 up to
a quarter of the sequence length (1 counts as prime), each with "same" padding and batch norm;
their outputs are concatenated and rectified. The channel counts follow from a per-layer
parameter budget. A last layer with kernel sizes 1 and 2 precedes global average pooling.

Parameter names and shapes equal those of ``breizhcrops.models.OmniScaleCNN``. The computation
is reorganised for speed, time-major (N x T x C) and as large matrix products: a layer whose
kernels are long but whose input is narrow uses one product with all kernels embedded (centred)
in a zero-padded kernel of the largest size; a layer with a wide input and short kernels
multiplies by every kernel tap at once and adds the shifted tap outputs. In eval mode batch norm
is folded into the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cropviz.errors import ConfigurationError
from cropviz.models.fast import chunked_inference
from cropviz.models.zoo._batchnorm import batchnorm_affine, folded

DEFAULT_PARAMETER_BUDGET = (8 * 128, 5 * 128 * 256 + 2 * 256 * 128)


def primes_up_to(end: int) -> list[int]:
    """1 and the prime numbers in [2, end] (the kernel sizes of one omni-scale layer)."""
    return [n for n in range(1, end + 1) if all(n % d for d in range(2, n))]


def layer_parameters(
    in_channels: int, receptive_field: int, budget: Sequence[int]
) -> list[list[tuple[int, int, int]]]:
    """(in_channels, out_channels, kernel_size) of every convolution, layer by layer."""
    kernels = primes_up_to(receptive_field)
    if not kernels:
        raise ConfigurationError(f"OmniScaleCNN: a receptive field of {receptive_field} steps leaves no kernel "
                                 "size (the sequence length must be at least 4)")
    layers = []
    for n_params in budget:
        out = int(n_params / (in_channels * sum(kernels)))
        if out == 0:
            raise ConfigurationError(
                f"OmniScaleCNN: a budget of {n_params} parameters leaves no channel for "
                f"{in_channels} inputs and kernels {kernels}"
            )
        layers.append([(in_channels, out, k) for k in kernels])
        in_channels = len(kernels) * out
    last_out = len(kernels) * int(budget[0] / sum(kernels))
    layers.append([(in_channels, last_out, 1), (in_channels, last_out, 2)])
    return layers


class SampaddingConv1D_BN(nn.Module):  # noqa: N801 (name fixed by the checkpoint keys' layout)
    """Convolution with "same" padding (left (k-1)//2, right k//2) followed by batch norm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv1d = nn.Conv1d(in_channels, out_channels, kernel_size)
        self.bn = nn.BatchNorm1d(out_channels)

    @property
    def left(self) -> int:
        """Zero padding on the left of the sequence ("same" convolution)."""
        return (self.kernel_size - 1) // 2


class OmniScaleLayer(nn.Module):
    """Parallel "same" convolutions (+ batch norm) of several kernel sizes, concatenated, ReLU."""

    def __init__(self, parameters: Sequence[tuple[int, int, int]]) -> None:
        super().__init__()
        self.conv_list = nn.ModuleList(SampaddingConv1D_BN(*p) for p in parameters)
        self.relu = nn.ReLU()
        self.in_channels = parameters[0][0]
        self.kernel = max(p[2] for p in parameters)
        out_total = sum(p[1] for p in parameters)
        # multiply by every tap at once when that product is not much wider than the output
        self.per_tap = sum(p[1] * p[2] for p in parameters) <= 2 * out_total

    @property
    def convs(self) -> list[SampaddingConv1D_BN]:
        """The branches (typed view of ``conv_list``)."""
        return cast(list[SampaddingConv1D_BN], list(self.conv_list))

    def _weights(self) -> tuple[list[Tensor], list[Tensor]]:
        pairs = []
        for c in self.convs:
            affine = None if self.training else batchnorm_affine(c.bn)
            bias = c.conv1d.bias if c.conv1d.bias is not None else torch.zeros_like(c.conv1d.weight[:, 0, 0])
            pairs.append((c.conv1d.weight, bias) if affine is None else folded(c.conv1d, *affine))
        return [w for w, _ in pairs], [b for _, b in pairs]

    def _embedded(self, x: Tensor, weights: list[Tensor]) -> Tensor:
        """All kernels centred in one K-tap kernel; one product over an unfolded input."""
        k_max, centre = self.kernel, (self.kernel - 1) // 2
        parts = []
        for conv, w in zip(self.convs, weights, strict=True):
            offset = centre - conv.left
            parts.append(F.pad(w, (offset, k_max - offset - conv.kernel_size)))
        weight = torch.cat(parts).flatten(1)  # out x (in * K), in-major like unfold below
        padded = F.pad(x, (0, 0, centre, k_max - 1 - centre))
        windows = padded.unfold(1, k_max, 1).flatten(2)  # N x T x (in * K)
        return windows @ weight.t()

    def _tapwise(self, x: Tensor, weights: list[Tensor]) -> Tensor:
        """One product with every tap of every kernel, then shifted tap outputs are summed."""
        taps = torch.cat([w.permute(2, 0, 1).flatten(0, 1) for w in weights])  # (sum k*out) x in
        products = x @ taps.t()
        length = x.shape[1]
        outputs, start = [], 0
        for conv in self.convs:
            width = conv.conv1d.out_channels
            total: Tensor | None = None
            for tap in range(conv.kernel_size):
                y = products[..., start : start + width]
                start += width
                shift = tap - conv.left  # output t reads input t + shift
                if shift > 0:
                    y = F.pad(y[:, shift:], (0, 0, 0, shift))
                elif shift < 0:
                    y = F.pad(y[:, : length + shift], (0, 0, -shift, 0))
                total = y if total is None else total + y
            if total is not None:
                outputs.append(total)
        return torch.cat(outputs, dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """N x T x C_in -> N x T x C_out (time-major)."""
        weights, biases = self._weights()
        y = (self._tapwise if self.per_tap else self._embedded)(x, weights) + torch.cat(biases)
        if self.training:
            flat, parts, start = y.flatten(0, 1), [], 0
            for conv in self.convs:
                width = conv.conv1d.out_channels
                parts.append(conv.bn(flat[:, start : start + width]))
                start += width
            y = torch.cat(parts, dim=1).view_as(y)
        return self.relu(y)


class OmniScaleCNN(nn.Module):
    """Omni-scale convolution layers, global average pooling over time, linear classifier."""

    def __init__(
        self,
        input_dim: int = 13,
        num_classes: int = 9,
        sequencelength: int = 45,
        paramenter_number_of_layer_list: Sequence[int] = DEFAULT_PARAMETER_BUDGET,
        few_shot: bool = False,
    ) -> None:
        super().__init__()
        self.few_shot = few_shot
        self.layer_parameter_list = layer_parameters(input_dim, sequencelength // 4, paramenter_number_of_layer_list)
        self.net = nn.Sequential(*[OmniScaleLayer(p) for p in self.layer_parameter_list])
        self.hidden = nn.Linear(sum(p[1] for p in self.layer_parameter_list[-1]), num_classes)

    @chunked_inference
    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances -> N x C log-probabilities (features if ``few_shot``)."""
        features = self.net(x).mean(dim=1)
        logits = features if self.few_shot else self.hidden(features)
        return F.log_softmax(logits, dim=-1)
