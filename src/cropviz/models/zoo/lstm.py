"""Bidirectional LSTM classifier (BreizhCrops ``LSTM`` compatible).

The class is predicted from the final cell states of every layer and direction, concatenated and
layer-normalised. Parameter names and shapes equal those of ``breizhcrops.models.LSTM``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from cropviz.models.fast import chunked_inference


class LSTM(nn.Module):
    """Input LayerNorm, stacked (bi)LSTM without biases, LayerNorm on all final cell states."""

    def __init__(
        self,
        input_dim: int = 13,
        num_classes: int = 9,
        hidden_dims: int = 128,
        num_layers: int = 4,
        dropout: float = 0.5713020228087161,
        bidirectional: bool = True,
        use_layernorm: bool = True,
    ) -> None:
        super().__init__()
        self.use_layernorm = use_layernorm
        state_dims = hidden_dims * (2 if bidirectional else 1) * num_layers
        if use_layernorm:
            self.inlayernorm = nn.LayerNorm(input_dim)
            self.clayernorm = nn.LayerNorm(state_dims)
        self.lstm = nn.LSTM(
            input_size=input_dim,
            hidden_size=hidden_dims,
            num_layers=num_layers,
            bias=False,
            batch_first=True,
            dropout=dropout,
            bidirectional=bidirectional,
        )
        self.linear_class = nn.Linear(state_dims, num_classes)

    @chunked_inference
    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances -> N x C log-probabilities."""
        if self.use_layernorm:
            x = self.inlayernorm(x)
        _, (_, cell) = self.lstm(x)
        # (layers * directions) x N x H -> N x (layers * directions * H)
        state = cell.transpose(0, 1).reshape(x.shape[0], -1)
        if self.use_layernorm:
            state = self.clayernorm(state)
        return F.log_softmax(self.linear_class(state), dim=-1)
