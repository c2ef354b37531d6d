"""STAR recurrent network (Turkoglu et al. 2019) (BreizhCrops ``StarRNN`` compatible).

A STAR cell updates its state with one gate::

    K_t = sigmoid(W_xK x_t + b_xK + W_hK h_{t-1} + b_hK)
    h_t = tanh(K_t * h_{t-1} + (1 - K_t) * tanh(W_xz x_t + b_xz))

Parameter names and shapes equal those of ``breizhcrops.models.StarRNN``. Two differences:
the input projections are computed for all time steps in one matrix product (only the recurrent
product stays in the per-step loop, several times faster than the reference), and every layer is
its own module. The reference repeats one ``StarLayer`` instance for layers 2..n, so their
weights are shared; its checkpoints hold identical copies under each key and load here
unchanged, but models trained here have independent layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn import init

from cropviz.errors import ConfigurationError
from cropviz.models.fast import chunked_inference


class StarCell(nn.Module):
    """Weights of one STAR cell (``x_K``, ``x_z``, ``h_K``); the recursion runs in :class:`StarLayer`."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.x_K = nn.Linear(input_size, hidden_size, bias=bias)
        self.x_z = nn.Linear(input_size, hidden_size, bias=bias)
        self.h_K = nn.Linear(hidden_size, hidden_size, bias=bias)
        for linear in (self.x_K, self.x_z, self.h_K):
            init.orthogonal_(linear.weight)
        if bias:
            init.ones_(self.x_K.bias)
            init.zeros_(self.x_z.bias)


class StarLayer(nn.Module):
    """One STAR layer over a whole sequence, then dropout and batch norm over the outputs."""

    def __init__(self, input_dim: int, hidden_dim: int, bias: bool = True, droput_factor: float = 0.2) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.cell = StarCell(input_dim, hidden_dim, bias)
        self.naive_dropout = nn.Dropout(droput_factor)
        self.bn_layer = nn.BatchNorm1d(hidden_dim)

    def forward(self, x: Tensor) -> Tensor:
        """N x T x D -> N x T x H."""
        cell = self.cell
        gate_in = cell.x_K(x)  # N x T x H, all steps at once
        if cell.h_K.bias is not None:
            gate_in = gate_in + cell.h_K.bias
        candidate = torch.tanh(cell.x_z(x))
        w_hk = cell.h_K.weight.t()
        h = x.new_zeros(x.shape[0], self.hidden_dim)
        states = []
        for t in range(x.shape[1]):
            gain = torch.sigmoid(torch.addmm(gate_in[:, t], h, w_hk))
            z = candidate[:, t]
            h = torch.tanh(z + gain * (h - z))
            states.append(h)
        outputs = self.naive_dropout(torch.stack(states, dim=1))
        return self.bn_layer(outputs.transpose(1, 2)).transpose(1, 2)


class StarRNN(nn.Module):
    """Input LayerNorm, stacked STAR layers, LayerNorm on the last state, linear classifier."""

    def __init__(
        self,
        input_dim: int = 13,
        num_classes: int = 9,
        hidden_dims: int = 128,
        num_layers: int = 3,
        dropout: float = 0.5,
        bidirectional: bool = False,
        use_batchnorm: bool = False,
        use_layernorm: bool = True,
    ) -> None:
        super().__init__()
        if bidirectional:
            raise ConfigurationError("StarRNN has no bidirectional variant; use bidirectional=False")
        self.use_batchnorm = use_batchnorm
        self.use_layernorm = use_layernorm
        if use_layernorm:
            self.inlayernorm = nn.LayerNorm(input_dim)
            self.clayernorm = nn.LayerNorm(hidden_dims)
        self.block = nn.Sequential(
            *[StarLayer(input_dim if i == 0 else hidden_dims, hidden_dims, droput_factor=dropout)
              for i in range(num_layers)]
        )
        self.linear_class = nn.Linear(hidden_dims, num_classes)
        if use_batchnorm:
            self.bn = nn.BatchNorm1d(hidden_dims)

    @chunked_inference
    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances (any T) -> N x C log-probabilities."""
        if self.use_layernorm:
            x = self.inlayernorm(x)
        last = self.block(x)[:, -1]
        if self.use_batchnorm:
            last = self.bn(last)
        if self.use_layernorm:
            last = self.clayernorm(last)
        return F.log_softmax(self.linear_class(last), dim=-1)
