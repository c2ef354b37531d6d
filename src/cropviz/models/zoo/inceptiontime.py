"""InceptionTime (Fawaz et al. 2020) for parcel time series (BreizhCrops ``InceptionTime`` layout).

Unlike ``breizhcrops.models.InceptionTime``, which keeps its inception modules, their
convolutions and the shortcut layers in plain Python lists (so its state dict holds only the
final linear layer and they are never saved), every layer here is registered in an
``nn.ModuleList`` and is part of the state dict. Only the shortcut layers that the forward pass
uses are built (the reference builds one more that is never called).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cropviz.models.zoo._batchnorm import apply, batchnorm_affine, folded, layer_bn


class InceptionModule(nn.Module):
    """Bottleneck, three convolutions (kernels k+1, k/2+1, k/4+1) and a max-pool branch."""

    def __init__(self, input_dim: int, kernel_size: int = 40, num_filters: int = 32, use_bias: bool = False) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(input_dim, num_filters, kernel_size=1, bias=use_bias)
        sizes = [kernel_size // 2**i for i in range(3)]
        self.convolutions = nn.ModuleList(
            nn.Conv1d(num_filters, num_filters, kernel_size=k + 1, padding=k // 2, bias=False) for k in sizes
        )
        self.pool_conv = nn.Sequential(
            nn.MaxPool1d(kernel_size=3, stride=1, padding=1),
            nn.Conv1d(input_dim, num_filters, kernel_size=1, bias=use_bias),
        )
        self.bn_relu = nn.Sequential(nn.BatchNorm1d(4 * num_filters), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        """N x C_in x T -> N x 4 filters x T."""
        reduced = self.bottleneck(x)
        pool, pool_conv = self.pool_conv
        bn, relu = self.bn_relu
        inputs = [reduced] * len(self.convolutions) + [pool(x)]
        layers = [*self.convolutions, pool_conv]
        affine = batchnorm_affine(bn)
        if affine is None:
            return relu(bn(torch.cat([layer(h) for layer, h in zip(layers, inputs, strict=True)], dim=1)))
        # eval: batch norm folded into the four branches, slice by slice
        scales, shifts = (t.split(pool_conv.out_channels) for t in affine)
        branches = [
            apply(layer, h, *folded(layer, scale, shift))
            for layer, h, scale, shift in zip(layers, inputs, scales, shifts, strict=True)
        ]
        return relu(torch.cat(branches, dim=1))


class ShortcutLayer(nn.Module):
    """Residual connection: 1x1 convolution + batch norm of the block input, added, ReLU."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        self.sc = nn.Sequential(nn.Conv1d(in_planes, out_planes, kernel_size=1, bias=False), nn.BatchNorm1d(out_planes))
        self.relu = nn.ReLU()

    def forward(self, block_input: Tensor, block_output: Tensor) -> Tensor:
        """ReLU of the block output plus the projected block input."""
        return self.relu(block_output + layer_bn(self.sc[0], self.sc[1], block_input))


class InceptionTime(nn.Module):
    """``num_layers`` inception modules with a residual shortcut every third, global average pool."""

    def __init__(
        self,
        input_dim: int = 13,
        num_classes: int = 9,
        num_layers: int = 6,
        hidden_dims: int = 128,
        use_bias: bool = False,
        use_residual: bool = True,
    ) -> None:
        super().__init__()
        self.use_residual = use_residual
        filters = hidden_dims // 4
        self.inception_modules_list = nn.ModuleList(
            InceptionModule(input_dim if i == 0 else hidden_dims, 40, filters, use_bias) for i in range(num_layers)
        )
        n_shortcuts = num_layers // 3 if use_residual else 0
        self.shortcut_layer_list = nn.ModuleList(
            ShortcutLayer(input_dim if i == 0 else hidden_dims, hidden_dims) for i in range(n_shortcuts)
        )
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.outlinear = nn.Linear(hidden_dims, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances (any T) -> N x C log-probabilities. Whole batches even in
        inference (no ``chunked_inference`` blocks): its long convolutions run faster on them
        (``bench/bench_inference.py``, batch 1024, five rounds on both cores: 1.07x the package
        whole, 1.00x in blocks of 128)."""
        h = x.transpose(1, 2)
        block_input = h
        for i, module in enumerate(self.inception_modules_list):
            h = module(h)
            if self.use_residual and i % 3 == 2:
                h = self.shortcut_layer_list[i // 3](block_input, h)
                block_input = h
        return F.log_softmax(self.outlinear(self.avgpool(h).squeeze(2)), dim=-1)
