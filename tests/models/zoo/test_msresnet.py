"""MSResNet's three multi-scale branches and its resampling (``cropviz.models.zoo.msresnet``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cropviz.models.zoo import MSResNet
from tests.models.zoo.helpers import randomise_batchnorm

D, HIDDEN = 4, 4


def _model() -> MSResNet:
    torch.manual_seed(0)
    model = MSResNet(input_dim=D, num_classes=5, hidden_dims=HIDDEN)
    randomise_batchnorm(model)
    return model.eval()


def test_each_branch_has_one_kernel_size_and_doubles_its_width():
    model = _model()
    for k in (3, 5, 7):
        for stage in (1, 2, 3):
            block = getattr(model, f"layer{k}x{k}_{stage}")[0]
            assert block.conv1.kernel_size == block.conv2.kernel_size == (k,)
            assert block.conv1.stride == (2,)
            assert block.conv2.out_channels == HIDDEN * 2 ** (stage - 1)
    assert model.fc.in_features == 3 * 4 * HIDDEN


def test_branches_pool_to_one_step_and_are_concatenated_in_kernel_order():
    model = _model()
    seen: dict[int, tuple[torch.Size, torch.Tensor]] = {}
    for k in (3, 5, 7):
        pool = getattr(model, f"maxpool{k}")
        pool.register_forward_hook(lambda _m, args, out, k=k: seen.__setitem__(k, (args[0].shape, out)))
    x = torch.rand(2, 45, D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        # 512 steps, stem /4 -> 128; three stride-2 blocks with padding 1: 16, 11 and 6 steps left
        assert {k: s[2] for k, (s, _) in seen.items()} == {3: 16, 5: 11, 7: 6}
        assert all(o.shape == (2, 4 * HIDDEN, 1) for _, o in seen.values())
        features = torch.cat([seen[k][1].flatten(1) for k in (3, 5, 7)], dim=1)
        assert (out - F.log_softmax(model.fc(features), dim=-1)).abs().max().item() < 1e-6


def test_a_branch_silenced_in_the_classifier_no_longer_matters():
    model = _model()
    x = torch.rand(3, 20, D, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model.fc.weight[:, 4 * HIDDEN : 8 * HIDDEN] = 0  # the 5x5 branch
        before = model(x)
        nn.init.normal_(model.layer5x5_2[0].conv1.weight)
        assert (model(x) - before).abs().max().item() < 1e-6
        nn.init.normal_(model.layer7x7_2[0].conv1.weight)
        assert (model(x) - before).abs().max().item() > 1e-4


def test_nearest_resampling_to_512_steps():
    """Each step repeated twice resamples to the same 512 steps: the same output."""
    model = _model()
    x = torch.rand(2, 32, D, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (model(x) - model(x.repeat_interleave(2, dim=1))).abs().max().item() < 1e-6
        assert (model(x) - model(x.flip(1))).abs().max().item() > 1e-4


def test_more_than_one_block_per_stage_is_refused_by_name():
    import pytest

    from cropviz.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"MSResNet: layers must hold one block per stage.*\(2, 1, 1, 1\)"):
        MSResNet(layers=(2, 1, 1, 1))
