"""Transformer encoder for parcel time series (BreizhCrops ``TransformerModel`` compatible).

Parameter names and shapes equal those of ``breizhcrops.models.TransformerModel``, so its
checkpoints load with ``strict=True``. Training runs PyTorch's encoder layers (dropout included).
In eval mode each layer runs as a short chain of batch-first tensor operations on the same
parameters (:func:`encoder_layer`): one packed q/k/v projection whose heads are views (no
copies, no per-head select), the attention scale folded into the query weights, and fused
scaled-dot-product attention; the same code serves inference and the gradients of the
explanations (PyTorch's own fast path covers inference only, and its packed-projection split is
a slow kernel at d_model 64). Results agree with the reference to float precision (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cropviz.models.fast import chunked_inference


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

    @chunked_inference
    def forward(self, x: Tensor) -> Tensor:
        """``x``: N x T x D reflectances -> N x C log-probabilities."""
        h = self._embed(x)
        if self.training:
            return self._classify(self.transformerencoder(h))
        for layer in self.transformerencoder.layers:
            h = encoder_layer(layer, h)
        norm = self.transformerencoder.norm
        return self._classify(h if norm is None else norm(h))

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


def encoder_layer(layer: nn.TransformerEncoderLayer, h: Tensor) -> Tensor:
    """``layer(h)`` in eval mode (post-norm, batch-first, no mask) for ``h`` N x T x E."""
    N, T, E = h.shape
    attn = layer.self_attn
    heads = attn.num_heads
    head_dims = E // heads
    scale = torch.ones(3 * E, dtype=h.dtype, device=h.device)
    scale[:E] = head_dims ** -0.5
    bias = attn.in_proj_bias
    qkv = F.linear(h, attn.in_proj_weight * scale.unsqueeze(1), None if bias is None else bias * scale)
    q, k, v = qkv.view(N, T, 3, heads, head_dims).permute(2, 0, 3, 1, 4).unbind(0)
    mixed = F.scaled_dot_product_attention(q, k, v, scale=1.0).transpose(1, 2).reshape(N, T, E)
    h = layer.norm1(h + attn.out_proj(mixed))
    return layer.norm2(h + layer.linear2(layer.activation(layer.linear1(h))))
