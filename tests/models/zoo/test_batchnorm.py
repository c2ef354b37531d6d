"""Batch norm folded into the preceding layer (``cropviz.models.zoo._batchnorm``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cropviz.models.zoo._batchnorm import batchnorm_affine, layer_bn
from tests.models.zoo.helpers import randomise_batchnorm


def test_affine_is_the_eval_mode_map_by_hand():
    bn = nn.BatchNorm1d(3, eps=0.1)
    bn.running_mean.copy_(torch.tensor([1.0, -2.0, 0.5]))
    bn.running_var.copy_(torch.tensor([0.9, 3.9, 0.15]))
    bn.weight.data.copy_(torch.tensor([2.0, 1.0, -1.0]))
    bn.bias.data.copy_(torch.tensor([0.0, 1.0, 3.0]))
    assert batchnorm_affine(bn) is None  # training: batch statistics, no fixed map
    scale, shift = batchnorm_affine(bn.eval())
    # scale = weight / sqrt(var + eps), shift = bias - mean * scale
    assert torch.allclose(scale, torch.tensor([2.0, 0.5, -2.0]))
    assert torch.allclose(shift, torch.tensor([-2.0, 2.0, 4.0]))
    y = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(bn(y), y * scale + shift, atol=1e-6)


def test_affine_without_weights_and_without_running_statistics():
    plain = nn.BatchNorm1d(2, affine=False).eval()
    plain.running_var.fill_(3.0)
    scale, shift = batchnorm_affine(plain)
    assert torch.allclose(scale, torch.full((2,), (3.0 + plain.eps) ** -0.5))
    assert torch.equal(shift, torch.zeros(2))
    assert batchnorm_affine(nn.BatchNorm1d(2, track_running_stats=False).eval()) is None
    assert batchnorm_affine(nn.LayerNorm(2)) is None


@pytest.mark.parametrize("layer", [
    nn.Conv1d(4, 6, kernel_size=5, stride=2, padding=2),
    nn.Conv1d(4, 6, kernel_size=3, padding=1, bias=False),
    nn.Linear(4, 6),
], ids=["conv-strided", "conv-nobias", "linear"])
def test_folded_layer_equals_layer_then_batchnorm_in_eval(layer):
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(6)
    randomise_batchnorm(bn)
    bn.eval()
    x = torch.randn(3, 4, 11) if isinstance(layer, nn.Conv1d) else torch.randn(3, 4)
    x.requires_grad_(True)
    got = layer_bn(layer, bn, x)
    expected = bn(layer(x))
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-5
    # the folded path keeps the gradients (explanations differentiate through it)
    (grad_got,) = torch.autograd.grad(got.square().sum(), x)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), x)
    assert (grad_got - grad_expected).abs().max().item() < 1e-4


def test_training_uses_batch_statistics_and_updates_running_ones():
    torch.manual_seed(0)
    layer, bn = nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=0.5)
    x = torch.randn(16, 4) * 3 + 2
    y = layer_bn(layer, bn, x)
    # normalised with this batch's statistics: zero mean and unit (biased) variance per channel
    assert torch.allclose(y.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.var(0, unbiased=False), torch.ones(3), atol=1e-3)
    with torch.no_grad():
        batch_mean = layer(x).mean(0)
    assert torch.allclose(bn.running_mean, 0.5 * batch_mean, atol=1e-6)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    layer_bn(layer, bn, x)
    assert bn.num_batches_tracked.item() == 1  # eval leaves the statistics alone
