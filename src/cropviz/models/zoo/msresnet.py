"""Multi-scale 1-D ResNet (BreizhCrops ``MSResNet`` compatible).

The sequence is resampled to 512 steps (nearest neighbour), passed through a strided stem and
three residual branches with kernel sizes 3, 5 and 7, average-pooled and classified. Parameter
names and shapes equal those of ``breizhcrops.models.MSResNet``; unlike the reference no
operation is in place, so gradient-based attribution works.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cropviz.errors import ConfigurationError
from cropviz.models.fast import chunked_inference
from cropviz.models.zoo._batchnorm import layer_bn

RESAMPLED_LENGTH = 512
# (kernel size, conv padding, average-pool window after three stride-2 blocks on 128 steps)
_BRANCHES = ((3, 1, 16), (5, 1, 11), (7, 1, 6))


def _relu(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` (an nn.ReLU, whose hooks DeepLift needs) when gradients are recorded; without
    them ReLU in place, which saves a pass over the activations."""
    return module(x) if torch.is_grad_enabled() else x.relu_()


class _ResidualBlock(nn.Module):
    """Two convolutions with batch norm; the shortcut is cropped to the (shorter) output."""

    def __init__(self, in_planes: int, planes: int, kernel_size: int, padding: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_planes, planes, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn1 = nn.BatchNorm1d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv1d(planes, planes, kernel_size, padding=padding, bias=False)
        self.bn2 = nn.BatchNorm1d(planes)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv1d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm1d(planes),
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = layer_bn(self.conv2, self.bn2, _relu(self.relu1, layer_bn(self.conv1, self.bn1, x)))
        residual = x if self.downsample is None else layer_bn(self.downsample[0], self.downsample[1], x)
        if torch.is_grad_enabled():
            return self.relu2(residual[:, :, : out.shape[2]] + out)
        return out.add_(residual[:, :, : out.shape[2]]).relu_()


class MSResNet(nn.Module):
    """Stem (conv 7, BN, ReLU, max-pool), three multi-scale residual branches, linear."""

    def __init__(
        self,
        input_dim: int = 13,
        layers: Sequence[int] = (1, 1, 1, 1),
        num_classes: int = 9,
        hidden_dims: int = 32,
    ) -> None:
        super().__init__()
        if any(int(n) != 1 for n in layers[:3]):
            raise ConfigurationError(f"MSResNet: layers must hold one block per stage (the branches' pooling "
                                     f"sizes are fixed for it), got {tuple(layers)}")
        self.conv1 = nn.Conv1d(input_dim, hidden_dims, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden_dims)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)
        for kernel_size, padding, pool in _BRANCHES:
            planes_in = hidden_dims
            for stage in range(3):
                planes = hidden_dims * 2**stage
                blocks = [_ResidualBlock(planes_in, planes, kernel_size, padding, stride=2)]
                blocks += [_ResidualBlock(planes, planes, kernel_size, padding, stride=1)
                           for _ in range(1, layers[stage])]
                setattr(self, f"layer{kernel_size}x{kernel_size}_{stage + 1}", nn.Sequential(*blocks))
                planes_in = planes
            setattr(self, f"maxpool{kernel_size}", nn.AvgPool1d(kernel_size=pool, stride=1))
        self.fc = nn.Linear(4 * hidden_dims * len(_BRANCHES), num_classes)

    def _branch(self, kernel_size: int, x: Tensor) -> Tensor:
        for stage in range(1, 4):
            x = getattr(self, f"layer{kernel_size}x{kernel_size}_{stage}")(x)
        return getattr(self, f"maxpool{kernel_size}")(x)

    @chunked_inference
    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances (any T) -> N x C log-probabilities."""
        h = F.interpolate(x.transpose(1, 2), size=RESAMPLED_LENGTH)
        h = self.maxpool(_relu(self.relu, layer_bn(self.conv1, self.bn1, h)))
        features = torch.cat([self._branch(k, h) for k, _, _ in _BRANCHES], dim=1).flatten(1)
        return F.log_softmax(self.fc(features), dim=-1)
