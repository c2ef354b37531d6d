"""The LSTM classifier's options and its read-out of the final states (``cropviz.models.zoo.lstm``)."""

from __future__ import annotations

import warnings

import breizhcrops.models as reference
import pytest
import torch
import torch.nn.functional as F

from cropviz.models.zoo import LSTM

D, C = 5, 4


def _model(**kwargs) -> LSTM:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout with one layer
        return LSTM(input_dim=D, num_classes=C, hidden_dims=3, **kwargs).eval()


@pytest.mark.parametrize(("layers", "bidirectional", "states"), [(1, False, 1), (2, False, 2), (3, True, 6)])
def test_state_width_follows_layers_and_directions(layers, bidirectional, states):
    model = _model(num_layers=layers, bidirectional=bidirectional)
    assert model.lstm.num_layers == layers and model.lstm.bidirectional == bidirectional
    assert model.linear_class.in_features == 3 * states
    assert model.clayernorm.normalized_shape == (3 * states,)
    assert model(torch.rand(2, 7, D)).shape == (2, C)


def test_final_cell_states_in_layer_direction_order_drive_the_output():
    """Not the hidden states: as in BreizhCrops, the last *cell* state of each layer/direction."""
    model = _model(num_layers=2, bidirectional=True)
    x = torch.rand(3, 6, D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, (hidden, cell) = model.lstm(model.inlayernorm(x))
        # cell: (layer0 fwd, layer0 bwd, layer1 fwd, layer1 bwd) x N x H
        state = torch.cat([cell[i] for i in range(4)], dim=1)
        expected = F.log_softmax(model.linear_class(model.clayernorm(state)), dim=-1)
        from_hidden = torch.cat([hidden[i] for i in range(4)], dim=1)
        wrong = F.log_softmax(model.linear_class(model.clayernorm(from_hidden)), dim=-1)
        got = model(x)
    assert (got - expected).abs().max().item() < 1e-6
    assert (got - wrong).abs().max().item() > 1e-3


def test_one_layer_forward_lstm_by_hand():
    """Gates i, f, g, o from the bias-free weights; the output reads c_T."""
    model = _model(num_layers=1, bidirectional=False, use_layernorm=False)
    assert not hasattr(model, "inlayernorm") and not hasattr(model, "clayernorm")
    x = torch.rand(2, 5, D, generator=torch.Generator().manual_seed(2))
    w_ih, w_hh = model.lstm.weight_ih_l0, model.lstm.weight_hh_l0
    h = c = torch.zeros(2, 3)
    with torch.no_grad():
        for t in range(5):
            i, f, g, o = (x[:, t] @ w_ih.t() + h @ w_hh.t()).split(3, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        expected = F.log_softmax(model.linear_class(c), dim=-1)
        assert (model(x) - expected).abs().max().item() < 1e-6


def test_unidirectional_matches_reference_with_copied_weights():
    torch.manual_seed(0)
    theirs = reference.LSTM(input_dim=D, num_classes=C, hidden_dims=3, num_layers=2, bidirectional=False).eval()
    ours = _model(num_layers=2, bidirectional=False)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(4, 9, D)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() < 1e-6
