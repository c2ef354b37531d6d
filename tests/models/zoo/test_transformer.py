"""The Transformer's eval fast path and its attention maps (``cropviz.models.zoo.transformer``)."""

from __future__ import annotations

import torch

from cropviz.models.zoo import TransformerModel
from cropviz.models.zoo.transformer import encoder_layer

D = 13


def _model(**kwargs) -> TransformerModel:
    torch.manual_seed(0)
    return TransformerModel(input_dim=D, num_classes=5, d_model=16, d_inner=24, **kwargs)


def test_eval_fast_path_equals_training_math_without_dropout():
    """Packed q/k/v, scale folded into the query and fused attention vs PyTorch's encoder."""
    model = _model(n_head=4, n_layers=3, dropout=0.0)
    x = torch.rand(5, 17, D, generator=torch.Generator().manual_seed(1), requires_grad=True)
    slow = model.train()(x)  # nn.TransformerEncoder; no dropout, no batch norm: the same function
    fast = model.eval()(x)
    assert (fast - slow).abs().max().item() < 1e-5
    with torch.inference_mode():
        assert (model(x.detach()) - slow).abs().max().item() < 1e-5
    # the gradients the explanations take through the fast path
    (grad_fast,) = torch.autograd.grad(fast[:, 2].sum(), x)
    (grad_slow,) = torch.autograd.grad(slow[:, 2].sum(), x)
    assert grad_fast.abs().sum() > 0
    assert (grad_fast - grad_slow).abs().max().item() < 1e-5


def test_encoder_layer_equals_the_pytorch_layer():
    model = _model(n_head=2, n_layers=1).eval()
    layer = model.transformerencoder.layers[0]
    h = torch.randn(3, 9, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (encoder_layer(layer, h) - layer(h)).abs().max().item() < 1e-5


def test_attention_weights_are_softmax_of_scaled_query_key_products():
    model = _model(n_head=2, n_layers=2).eval()
    x = torch.rand(4, 11, D, generator=torch.Generator().manual_seed(3))
    maps = model.attention_weights(x)
    # first layer by hand: q, k from the packed projection of the embedded input, per head
    attn = model.transformerencoder.layers[0].self_attn
    with torch.no_grad():
        h = torch.relu(model.inlinear(x))
        q, k, _ = (h @ attn.in_proj_weight.t() + attn.in_proj_bias).split(16, dim=-1)
        q, k = (t.view(4, 11, 2, 8).transpose(1, 2) for t in (q, k))
        expected = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5, dim=-1)
    assert (maps[0] - expected).abs().max().item() < 1e-5


def test_attention_weights_leave_forward_unchanged():
    model = _model(n_layers=3, n_head=2).eval()
    x = torch.rand(6, 20, D)
    with torch.no_grad():
        before = model(x)
        maps = model.attention_weights(x)
        after = model(x)
    assert (before - after).abs().max().item() < 1e-6
    assert len(maps) == 3
    for weights in maps:
        assert weights.shape == (6, 2, 20, 20)
        assert torch.allclose(weights.sum(-1), torch.ones(6, 2, 20), atol=1e-5)
        assert (weights >= 0).all()
    assert not torch.allclose(maps[0], maps[1])  # each layer its own map


def test_classifier_max_pools_over_time():
    """Shuffling time steps leaves the output unchanged (no positional encoding, max over T)."""
    model = _model(n_layers=2).eval()
    x = torch.rand(2, 10, D, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = model(x)
        shuffled = model(x[:, torch.randperm(10, generator=torch.Generator().manual_seed(5))])
    assert torch.allclose(out.exp().sum(-1), torch.ones(2), atol=1e-5)
    assert (out - shuffled).abs().max().item() < 1e-5
