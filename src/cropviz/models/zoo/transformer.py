"""Transformer encoder for parcel time series (BreizhCrops ``TransformerModel`` compatible).

Parameter names and shapes equal those of ``breizhcrops.models.TransformerModel``, so its
checkpoints load with ``strict=True``. The encoder layers are batch-first, which removes the two
transposes of the reference and lets PyTorch use its fused encoder kernel in eval mode without
gradients (about twice as fast on CPU); results agree with the reference to float precision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TransformerModel(nn.Module):
    """Linear embedding, post-norm Transformer encoder, max-pool over time, linear classifier."""

    def __init__(
        self,
        input_dim: int = 13,
        num_classes: int = 9,
        d_model: int = 64,
        n_head: int = 2,
        n_layers: int = 5,
        d_inner: int = 128,
        activation: str = "relu",
        dropout: float = 0.017998950510888446,
    ) -> None:
        super().__init__()
        self.inlinear = nn.Linear(input_dim, d_model)
        self.relu = nn.ReLU()
        layer = nn.TransformerEncoderLayer(
            d_model, n_head, d_inner, dropout, activation, batch_first=True, norm_first=False
        )
        self.transformerencoder = nn.TransformerEncoder(
            layer, n_layers, nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        # a second ReLU (no parameters): the reference reuses ``relu``, which Captum's DeepLift
        # cannot attribute through.
        self.relu_out = nn.ReLU()
        self.outlinear = nn.Linear(d_model, num_classes)

    def _embed(self, x: Tensor) -> Tensor:
        return self.relu(self.inlinear(x))

    def _classify(self, h: Tensor) -> Tensor:
        pooled = h.max(dim=1).values
        return F.log_softmax(self.outlinear(self.relu_out(pooled)), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances -> N x C log-probabilities."""
        return self._classify(self.transformerencoder(self._embed(x)))

    @torch.no_grad()
    def attention_weights(self, x: Tensor) -> list[Tensor]:
        """Per-layer self-attention maps, each N x H x T x T (rows sum to 1 in eval mode).

        Runs the same layers as :meth:`forward`; each layer's output is computed by the layer
        itself, so the maps describe exactly the forward pass.
        """
        h = self._embed(x)
        maps = []
        for layer in self.transformerencoder.layers:
            _, weights = layer.self_attn(h, h, h, need_weights=True, average_attn_weights=False)
            maps.append(weights)
            h = layer(h)
        return maps
