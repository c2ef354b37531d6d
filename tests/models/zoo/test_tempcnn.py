"""TempCNN's shapes and receptive field from its hyper-parameters (``cropviz.models.zoo.tempcnn``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cropviz.errors import ConfigurationError
from cropviz.models.zoo import TempCNN
from tests.models.zoo.helpers import randomise_batchnorm

D, T = 4, 30


def _model(kernel_size: int) -> TempCNN:
    torch.manual_seed(0)
    return TempCNN(input_dim=D, num_classes=5, sequencelength=T, kernel_size=kernel_size, hidden_dims=6)


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_kernels_and_receptive_field(kernel_size):
    """Three same-padded convolutions of size k see 3 (k - 1) + 1 input steps around each step."""
    model = _model(kernel_size).eval()
    convs = [getattr(model, f"conv_bn_relu{i}").block[0] for i in (1, 2, 3)]
    assert [(c.kernel_size, c.padding) for c in convs] == [((kernel_size,), (kernel_size // 2,))] * 3
    assert model.dense.block[0].in_features == 6 * T
    with torch.no_grad():  # positive weights and inputs: every ReLU passes, no path is cut
        for conv in convs:
            conv.weight.abs_()
            conv.bias.fill_(0.1)
    x = torch.rand(1, T, D, requires_grad=True)
    h = model.conv_bn_relu3(model.conv_bn_relu2(model.conv_bn_relu1(x.transpose(1, 2))))
    assert h.shape == (1, 6, T)
    (grad,) = torch.autograd.grad(h[0, :, 15].sum(), x)
    reach = 3 * (kernel_size // 2)
    seen = grad[0].abs().sum(1).nonzero().flatten().tolist()
    assert seen == list(range(15 - reach, 15 + reach + 1))


def test_eval_folded_batchnorm_equals_the_plain_blocks():
    model = _model(5)
    randomise_batchnorm(model)
    model.eval()
    x = torch.rand(3, T, D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = x.transpose(1, 2)
        for name in ("conv_bn_relu1", "conv_bn_relu2", "conv_bn_relu3"):
            h = getattr(model, name).block(h)  # nn.Sequential: conv, then batch norm
        expected = model.logsoftmax(model.dense.block(nn.Flatten()(h)))
        assert (model(x) - expected).abs().max().item() < 1e-5


def test_training_mode_dropout_and_batch_statistics():
    model = _model(3).train()
    x = torch.rand(8, T, D)
    torch.manual_seed(2)
    first = model(x)
    torch.manual_seed(3)
    assert (first - model(x)).abs().max().item() > 1e-4  # dropout draws differ
    assert model.conv_bn_relu1.block[1].num_batches_tracked.item() == 2


def test_other_lengths_are_refused():
    with pytest.raises(ConfigurationError, match="length 30, got 29"):
        _model(3)(torch.rand(2, T - 1, D))


def test_an_even_kernel_is_refused_by_name():
    with pytest.raises(ConfigurationError, match="TempCNN: kernel_size must be odd.*got 6"):
        TempCNN(kernel_size=6)
