"""Temporal CNN of Pelletier et al. (2019) (BreizhCrops ``TempCNN`` compatible).

Three 1-D convolution blocks over time, a dense block over the flattened sequence and a linear
classifier. Needs a fixed sequence length. Parameter names and shapes equal those of
``breizhcrops.models.TempCNN``.
"""

from __future__ import annotations

from torch import Tensor, nn

from cropviz.errors import ConfigurationError
from cropviz.models.fast import chunked_inference
from cropviz.models.zoo._batchnorm import layer_bn


def _conv_block(in_channels: int, out_channels: int, kernel_size: int, dropout: float) -> nn.Module:
    return _Block(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(),
        nn.Dropout(dropout),
    )


def _dense_block(in_features: int, out_features: int, dropout: float) -> nn.Module:
    return _Block(
        nn.Linear(in_features, out_features),
        nn.BatchNorm1d(out_features),
        nn.ReLU(),
        nn.Dropout(dropout),
    )


class _Block(nn.Module):
    """Layer, batch norm, ReLU, dropout; parameters live under ``block.<i>``."""

    def __init__(self, layer: nn.Module, bn: nn.Module, relu: nn.Module, dropout: nn.Module) -> None:
        super().__init__()
        self.block = nn.Sequential(layer, bn, relu, dropout)

    def forward(self, x: Tensor) -> Tensor:
        layer, bn, relu, dropout = self.block
        return dropout(relu(layer_bn(layer, bn, x)))


class TempCNN(nn.Module):
    """Conv-BN-ReLU-dropout x 3 (same padding), flatten, dense block, linear + log-softmax."""

    def __init__(
        self,
        input_dim: int = 13,
        num_classes: int = 9,
        sequencelength: int = 45,
        kernel_size: int = 7,
        hidden_dims: int = 128,
        dropout: float = 0.18203942949809093,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ConfigurationError(f"TempCNN: kernel_size must be odd (same padding keeps the sequence length), "
                                     f"got {kernel_size}")
        self.sequencelength = sequencelength
        self.conv_bn_relu1 = _conv_block(input_dim, hidden_dims, kernel_size, dropout)
        self.conv_bn_relu2 = _conv_block(hidden_dims, hidden_dims, kernel_size, dropout)
        self.conv_bn_relu3 = _conv_block(hidden_dims, hidden_dims, kernel_size, dropout)
        self.flatten = nn.Flatten()
        self.dense = _dense_block(hidden_dims * sequencelength, 4 * hidden_dims, dropout)
        self.logsoftmax = nn.Sequential(nn.Linear(4 * hidden_dims, num_classes), nn.LogSoftmax(dim=-1))

    @chunked_inference
    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances with T = ``sequencelength`` -> N x C log-probabilities."""
        if x.shape[1] != self.sequencelength:
            raise ConfigurationError(
                f"TempCNN expects sequences of length {self.sequencelength}, got {x.shape[1]}"
            )
        h = x.transpose(1, 2)
        h = self.conv_bn_relu3(self.conv_bn_relu2(self.conv_bn_relu1(h)))
        return self.logsoftmax(self.dense(self.flatten(h)))
