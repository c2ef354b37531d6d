"""The STAR cell recurrence and the StarRNN options (``cropviz.models.zoo.starrnn``)."""

from __future__ import annotations

import breizhcrops.models as reference
import pytest
import torch
from torch import nn

from cropviz.errors import ConfigurationError
from cropviz.models.zoo import StarRNN
from cropviz.models.zoo.starrnn import StarLayer
from tests.models.zoo.helpers import randomise_batchnorm

D, H = 4, 3


def test_cell_initialisation():
    torch.manual_seed(0)
    cell = StarLayer(D, H).cell
    assert torch.equal(cell.x_K.bias, torch.ones(H))
    assert torch.equal(cell.x_z.bias, torch.zeros(H))
    w = cell.h_K.weight  # orthogonal
    assert torch.allclose(w @ w.t(), torch.eye(H), atol=1e-5)


def test_layer_recurrence_by_hand():
    """K_t = sigmoid(W_xK x_t + b_xK + W_hK h + b_hK); h_t = tanh(K h + (1 - K) tanh(W_xz x_t + b_xz))."""
    torch.manual_seed(0)
    layer = StarLayer(D, H, droput_factor=0.3).eval()
    layer.bn_layer = nn.Identity()  # the recurrence alone
    cell = layer.cell
    for linear in (cell.x_K, cell.x_z, cell.h_K):
        nn.init.uniform_(linear.bias, -1, 1, generator=torch.Generator().manual_seed(3))
    x = torch.randn(2, 5, D, generator=torch.Generator().manual_seed(1))
    h = torch.zeros(2, H)
    expected = []
    with torch.no_grad():
        for t in range(5):
            gain = torch.sigmoid(cell.x_K(x[:, t]) + cell.h_K(h))
            h = torch.tanh(gain * h + (1 - gain) * torch.tanh(cell.x_z(x[:, t])))
            expected.append(h)
        got = layer(x)
    assert got.shape == (2, 5, H)
    assert (got - torch.stack(expected, dim=1)).abs().max().item() < 1e-6


def test_last_state_drives_the_output():
    torch.manual_seed(0)
    model = StarRNN(input_dim=D, num_classes=5, hidden_dims=H, num_layers=2).eval()
    randomise_batchnorm(model)
    x = torch.rand(3, 6, D)
    with torch.no_grad():
        last = model.block(model.inlayernorm(x))[:, -1]
        expected = torch.log_softmax(model.linear_class(model.clayernorm(last)), dim=-1)
        assert (model(x) - expected).abs().max().item() < 1e-6


def test_batchnorm_option_matches_reference_with_copied_weights():
    torch.manual_seed(0)
    theirs = reference.StarRNN(input_dim=D, num_classes=5, hidden_dims=H, num_layers=2, use_batchnorm=True)
    randomise_batchnorm(theirs)
    ours = StarRNN(input_dim=D, num_classes=5, hidden_dims=H, num_layers=2, use_batchnorm=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # the reference's shared layer 2..n copies
    x = torch.rand(4, 8, D)
    with torch.no_grad():
        assert (ours.eval()(x) - theirs.eval()(x)).abs().max().item() < 1e-5


def test_layers_are_distinct_modules():
    model = StarRNN(hidden_dims=8, num_layers=3)
    assert len({id(layer) for layer in model.block}) == 3
    assert not torch.equal(model.block[1].cell.h_K.weight, model.block[2].cell.h_K.weight)
    with pytest.raises(ConfigurationError, match="bidirectional"):
        StarRNN(bidirectional=True)
