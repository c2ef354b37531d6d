"""Attention extraction and rollout (cropviz.explain.attention)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cropviz.errors import ConfigurationError
from cropviz.explain import attention, attribute, rollout


class TinyAttention(nn.Module):
    """Stand-in self-attention classifier with attention_weights(x), max-pooled over time."""

    def __init__(self, input_dim: int = 4, num_classes: int = 3, d_model: int = 8, n_head: int = 2,
                 n_layers: int = 2) -> None:
        super().__init__()
        self.inlinear = nn.Linear(input_dim, d_model)
        self.attn = nn.ModuleList(nn.MultiheadAttention(d_model, n_head, batch_first=True)
                                  for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.outlinear = nn.Linear(d_model, num_classes)

    def _encode(self, x: torch.Tensor, keep: list | None = None) -> torch.Tensor:
        h = torch.relu(self.inlinear(x))
        for attn, norm in zip(self.attn, self.norms, strict=False):
            out, w = attn(h, h, h, need_weights=keep is not None, average_attn_weights=False)
            if keep is not None:
                keep.append(w)
            h = norm(h + out)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.outlinear(self._encode(x).max(dim=1)[0]), dim=-1)

    def attention_weights(self, x: torch.Tensor) -> list[torch.Tensor]:
        keep: list[torch.Tensor] = []
        self._encode(x, keep)
        return keep


@pytest.fixture
def model() -> TinyAttention:
    torch.manual_seed(0)
    return TinyAttention().eval()


def test_matrices_shape_rows_sum_to_one_and_prediction_unchanged(model):
    x = torch.randn(10, 4)
    before = model(x[None]).detach()
    res = attention(model, x)
    assert res.matrices.shape == (2, 2, 10, 10)
    np.testing.assert_allclose(res.matrices.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(res.rollout_matrix.sum(axis=-1), 1.0, atol=1e-5)
    assert res.rollout.shape == (10,) and abs(res.rollout.sum() - 1.0) < 1e-5
    after = model(x[None]).detach()
    assert torch.max(torch.abs(after - before)) < 1e-6
    assert np.max(np.abs(res.prediction - before[0].numpy())) < 1e-6
    assert attention(model, x[None].numpy()).matrices.shape == (2, 2, 10, 10)


def test_rollout_by_hand():
    T = 3
    ident = np.broadcast_to(np.eye(T), (2, 2, T, T))
    np.testing.assert_allclose(rollout(ident), np.eye(T))
    # one layer, one head attending only to observation 0: (A + I) / 2, rows renormalised
    a = np.zeros((1, 1, T, T))
    a[..., 0] = 1.0
    expected = (a[0, 0] + np.eye(T)) / 2
    np.testing.assert_allclose(rollout(a), expected)
    two = rollout(np.concatenate([a, a]))
    np.testing.assert_allclose(two, expected @ expected)
    np.testing.assert_allclose(two.mean(axis=0).sum(), 1.0)
    assert np.argmax(two.mean(axis=0)) == 0


def test_model_without_attention_raises():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(40, 3), nn.LogSoftmax(-1))
    with pytest.raises(ConfigurationError, match="attention_weights"):
        attention(mlp, np.zeros((10, 4), np.float32))


def test_attention_model_works_with_gradient_attributions(model):
    x = torch.randn(10, 4)
    att = attribute(model, x, "integrated_gradients", n_steps=64)
    assert att.values.shape == (10, 4) and abs(att.delta) < 1e-2


def test_real_transformer_attention():
    from cropviz.models.zoo.transformer import TransformerModel

    torch.manual_seed(0)
    model = TransformerModel(input_dim=13, num_classes=9, d_model=16, n_head=2, n_layers=2, d_inner=32).eval()
    x = torch.rand(12, 13)
    before = model(x[None]).detach()
    res = attention(model, x)
    assert res.matrices.shape == (2, 2, 12, 12)
    np.testing.assert_allclose(res.matrices.sum(axis=-1), 1.0, atol=1e-5)
    assert torch.max(torch.abs(model(x[None]).detach() - before)) < 1e-6
    assert np.max(np.abs(res.prediction - before[0].numpy())) < 1e-6
    assert abs(res.rollout.sum() - 1.0) < 1e-5


def test_real_transformer_randomization_and_attributions():
    from cropviz.explain import randomized_copy, sanity_check
    from cropviz.models.zoo.transformer import TransformerModel

    torch.manual_seed(0)
    model = TransformerModel(input_dim=13, num_classes=9, d_model=16, n_head=2, n_layers=2, d_inner=32).eval()
    clone = randomized_copy(model, seed=1)
    for (name, p), q in zip(model.named_parameters(), clone.parameters(), strict=False):
        if p.ndim >= 2:  # every weight matrix redrawn (out_proj of attention included)
            assert not torch.equal(p, q), name
    x = torch.rand(12, 13)
    for method in ("integrated_gradients", "deeplift", "occlusion"):
        att = attribute(model, x, method)
        assert att.values.shape == (12, 13) and np.isfinite(att.values).all()
    assert abs(attribute(model, x, "integrated_gradients", n_steps=200).delta) < 5e-3  # completeness
    out = sanity_check(model, x, "saliency", mode="cascading")
    assert out["cascade"][0][0] == "outlinear" and np.isfinite(out["spearman"])
