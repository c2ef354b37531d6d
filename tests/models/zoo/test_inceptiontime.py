"""InceptionTime's modules, shortcuts and state dict (``cropviz.models.zoo.inceptiontime``)."""

from __future__ import annotations

import breizhcrops.models as reference
import torch
from torch import nn

from cropviz.models.zoo import InceptionTime
from cropviz.models.zoo.inceptiontime import InceptionModule
from tests.models.zoo.helpers import randomise_batchnorm

T, D, C = 45, 13, 9


def test_module_kernels_bottleneck_and_width():
    module = InceptionModule(input_dim=D, kernel_size=40, num_filters=5)
    assert module.bottleneck.kernel_size == (1,) and module.bottleneck.out_channels == 5
    assert [(c.kernel_size[0], c.padding[0]) for c in module.convolutions] == [(41, 20), (21, 10), (11, 5)]
    assert all(c.in_channels == 5 for c in module.convolutions)  # the convolutions read the bottleneck
    assert module.pool_conv[1].in_channels == D  # the pool branch reads the input itself
    assert module(torch.rand(2, D, 17)).shape == (2, 20, 17)


def test_eval_folded_batchnorm_equals_concatenate_then_batchnorm():
    torch.manual_seed(0)
    module = InceptionModule(input_dim=D, kernel_size=8, num_filters=3, use_bias=True)
    randomise_batchnorm(module)
    module.eval()
    x = torch.rand(4, D, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reduced = module.bottleneck(x)
        branches = [conv(reduced) for conv in module.convolutions] + [module.pool_conv(x)]
        expected = module.bn_relu(torch.cat(branches, dim=1))
        assert (module(x) - expected).abs().max().item() < 1e-5


def test_shortcut_every_third_module():
    assert len(InceptionTime(input_dim=D, num_layers=7, hidden_dims=8).shortcut_layer_list) == 2
    assert len(InceptionTime(input_dim=D, num_layers=6, hidden_dims=8, use_residual=False).shortcut_layer_list) == 0


def _copy_inception_weights(theirs: nn.Module, ours: InceptionTime) -> None:
    """The reference keeps its layers in plain lists: copy them module by module."""
    for src, dst in zip(theirs.inception_modules_list, ours.inception_modules_list, strict=True):
        for part in ("bottleneck", "pool_conv", "bn_relu"):
            getattr(dst, part).load_state_dict(getattr(src, part).state_dict())
        for src_conv, dst_conv in zip(src.convolutions, dst.convolutions, strict=True):
            dst_conv.load_state_dict(src_conv.state_dict())
    for src, dst in zip(theirs.shortcut_layer_list, ours.shortcut_layer_list, strict=False):
        dst.load_state_dict(src.state_dict())
    ours.outlinear.load_state_dict(theirs.outlinear.state_dict())


def test_registers_all_layers_and_matches_reference(tmp_path):
    torch.manual_seed(0)
    theirs = reference.InceptionTime(num_classes=C, input_dim=D, num_layers=6, hidden_dims=32)
    for module in theirs.inception_modules_list + theirs.shortcut_layer_list:
        randomise_batchnorm(module)
    ours = InceptionTime(input_dim=D, num_classes=C, num_layers=6, hidden_dims=32)
    keys = set(ours.state_dict())
    assert set(theirs.state_dict()) < keys  # the reference saves only outlinear
    for i in range(6):
        for j in range(3):
            assert f"inception_modules_list.{i}.convolutions.{j}.weight" in keys
        assert f"inception_modules_list.{i}.bn_relu.0.running_var" in keys
    assert {"shortcut_layer_list.0.sc.0.weight", "shortcut_layer_list.1.sc.1.running_mean"} <= keys

    _copy_inception_weights(theirs, ours)
    ours.eval()
    # the reference's eval() does not reach modules held in plain lists
    for module in [theirs, *theirs.inception_modules_list, *theirs.shortcut_layer_list]:
        module.eval()
        for conv in getattr(module, "convolutions", []):
            conv.eval()
    x = torch.rand(7, T, D)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() < 1e-5

    path = tmp_path / "inceptiontime.pth"
    torch.save({"model_state": ours.state_dict()}, path)
    again = InceptionTime(input_dim=D, num_classes=C, num_layers=6, hidden_dims=32)
    again.load_state_dict(torch.load(path, weights_only=True)["model_state"], strict=True)
    with torch.no_grad():
        assert torch.equal(again.eval()(x), ours(x))
