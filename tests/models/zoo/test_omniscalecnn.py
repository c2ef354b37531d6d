"""OmniScaleCNN's prime kernel sizes and its two matrix-product layouts (``cropviz.models.zoo.omniscalecnn``)."""

from __future__ import annotations

import breizhcrops.models as reference
import pytest
import torch
from breizhcrops.models.OmniScaleCNN import build_layer_with_layer_parameter, generate_layer_parameter_list

from cropviz.errors import ConfigurationError
from cropviz.models.zoo import OmniScaleCNN
from cropviz.models.zoo.omniscalecnn import OmniScaleLayer, layer_parameters, primes_up_to
from tests.models.zoo.helpers import randomise_batchnorm

T, D, C = 45, 13, 9


def test_prime_kernel_sizes():
    assert primes_up_to(1) == [1]
    assert primes_up_to(11) == [1, 2, 3, 5, 7, 11]  # T = 45: receptive field 45 // 4
    assert primes_up_to(30) == [1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


def test_layer_parameters_from_the_budget():
    # sum of kernels 29: int(1024 / (13 * 29)) = 2 channels per kernel, 6 kernels -> 12 inputs next
    layers = layer_parameters(D, 11, (1024, 4096))
    assert layers[0] == [(13, 2, k) for k in (1, 2, 3, 5, 7, 11)]
    assert layers[1] == [(12, 11, k) for k in (1, 2, 3, 5, 7, 11)]  # int(4096 / (12 * 29)) = 11
    assert layers[2] == [(66, 6 * 35, 1), (66, 6 * 35, 2)]  # int(1024 / 29) = 35 per kernel
    assert layers == generate_layer_parameter_list(1, 11, [1024, 4096], in_channel=D)
    with pytest.raises(ConfigurationError, match="budget of 100 parameters"):
        layer_parameters(D, 11, (100,))


@pytest.mark.parametrize("per_tap", [False, True], ids=["embedded", "tapwise"])
def test_both_product_layouts_equal_padded_convolutions(per_tap):
    params = [(6, 3, k) for k in (1, 2, 3, 5, 7)]
    torch.manual_seed(0)
    theirs = build_layer_with_layer_parameter(params)
    randomise_batchnorm(theirs)
    ours = OmniScaleLayer(params)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.per_tap = per_tap
    x = torch.randn(4, 10, 6, generator=torch.Generator().manual_seed(1))  # N x T x C, time-major
    with torch.no_grad():
        for mode in ("eval", "train"):  # eval: batch norm folded; train: batch statistics
            expected = getattr(theirs, mode)()(x.transpose(1, 2)).transpose(1, 2)
            got = getattr(ours, mode)()(x)
            assert got.shape == (4, 10, 15)
            assert (got - expected).abs().max().item() < 1e-5


def test_training_mode_matches_reference():
    budget = (1024, 8192)
    torch.manual_seed(0)
    theirs = reference.OmniScaleCNN(D, C, T, paramenter_number_of_layer_list=list(budget))
    ours = OmniScaleCNN(D, C, T, paramenter_number_of_layer_list=budget)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert ours.layer_parameter_list == theirs.layer_parameter_list
    x = torch.rand(8, T, D)
    assert (ours.train()(x) - theirs.train()(x)).abs().max().item() < 1e-5
    for key, value in theirs.state_dict().items():  # running statistics updated alike
        assert torch.allclose(ours.state_dict()[key].float(), value.float(), atol=1e-6), key


def test_any_length_at_inference_and_few_shot_features():
    torch.manual_seed(0)
    model = OmniScaleCNN(D, C, T, paramenter_number_of_layer_list=(1024, 4096)).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 30, D)).shape == (2, C)  # kernels fixed by T, any length runs
        model.few_shot = True
        assert model(torch.rand(2, T, D)).shape == (2, 6 * 35 * 2)


def test_a_sequence_too_short_for_any_kernel_is_refused_by_name():
    with pytest.raises(ConfigurationError, match="OmniScaleCNN: a receptive field of 0 steps leaves no kernel"):
        OmniScaleCNN(sequencelength=3)
    assert OmniScaleCNN(sequencelength=4)(torch.zeros(2, 4, 13)).shape == (2, 9)
