"""The cropviz model zoo against the reference breizhcrops package (a test dependency)."""

from __future__ import annotations

import inspect
import warnings

import breizhcrops.models as reference
import pytest
import torch
from captum.attr import DeepLift, IntegratedGradients
from torch import nn

from cropviz.errors import ConfigurationError
from cropviz.models import registry
from cropviz.models.zoo import InceptionTime, OmniScaleCNN, StarRNN, TransformerModel

ZOO = registry.names(registry.ZOO)

T = 45
D = 13
C = 9

REFERENCE_CLASSES = {
    "transformer": lambda: reference.TransformerModel(),
    "lstm": lambda: reference.LSTM(),
    "tempcnn": lambda: reference.TempCNN(),
    "msresnet": lambda: reference.MSResNet(),
    "starrnn": lambda: reference.StarRNN(),
    "omniscalecnn": lambda: reference.OmniScaleCNN(D, C, T),
}

TINY = {
    "transformer": {"d_model": 16, "n_head": 2, "n_layers": 2, "d_inner": 32},
    "lstm": {"hidden_dims": 8, "num_layers": 2},
    "tempcnn": {"sequencelength": T, "hidden_dims": 8},
    "msresnet": {"hidden_dims": 4},
    "inceptiontime": {"hidden_dims": 8, "num_layers": 3},
    "starrnn": {"hidden_dims": 8, "num_layers": 2},
    "omniscalecnn": {"sequencelength": T, "paramenter_number_of_layer_list": (1024, 4096)},
}


def _randomise_batchnorm(model: nn.Module) -> None:
    """Non-trivial running statistics so that eval-mode batch norm matters in comparisons."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)


def _ours(name: str, **overrides) -> nn.Module:
    return registry.build(name, num_classes=C, input_dim=D, **overrides)


def _load_reference_checkpoint(name: str, tmp_path) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = REFERENCE_CLASSES[name]()
    _randomise_batchnorm(theirs)
    path = tmp_path / f"{name}.pth"
    torch.save({"model_state": theirs.state_dict()}, path)
    ours = _ours(name)
    ours.load_state_dict(torch.load(path, weights_only=True)["model_state"], strict=True)
    return theirs.eval(), ours.eval()


@pytest.mark.parametrize("name", sorted(REFERENCE_CLASSES))
def test_reference_checkpoint_loads_and_outputs_match(name, tmp_path):
    theirs, ours = _load_reference_checkpoint(name, tmp_path)
    for batch in (1, 5, 16):
        x = torch.rand(batch, T, D, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = theirs(x).reshape(batch, C)  # the reference MSResNet drops N=1
            got = ours(x)
        assert got.shape == (batch, C)
        assert (got - expected).abs().max().item() < 1e-5
        with torch.inference_mode():
            assert (ours(x) - expected).abs().max().item() < 1e-5


def test_transformer_matches_reference_for_any_length(tmp_path):
    theirs, ours = _load_reference_checkpoint("transformer", tmp_path)
    for length in (1, 12, 45, 71):
        x = torch.rand(4, length, D)
        with torch.no_grad():
            expected = theirs(x)
        with torch.inference_mode():  # fused fast path
            assert (ours(x) - expected).abs().max().item() < 1e-5
        assert (ours(x) - expected).abs().max().item() < 1e-5  # with autograd: regular path


def test_transformer_attention_weights_leave_forward_unchanged():
    torch.manual_seed(0)
    model = TransformerModel(n_layers=3, n_head=2).eval()
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


def test_inceptiontime_registers_all_layers_and_matches_reference(tmp_path):
    torch.manual_seed(0)
    theirs = reference.InceptionTime(num_classes=C, input_dim=D, num_layers=6, hidden_dims=32)
    for module in theirs.inception_modules_list + theirs.shortcut_layer_list:
        _randomise_batchnorm(module)
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


def test_omniscalecnn_training_mode_matches_reference():
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


def test_starrnn_layers_are_distinct_modules():
    model = StarRNN(hidden_dims=8, num_layers=3)
    assert len({id(layer) for layer in model.block}) == 3
    with pytest.raises(ConfigurationError, match="bidirectional"):
        StarRNN(bidirectional=True)


@pytest.mark.parametrize("name", sorted(ZOO))
@pytest.mark.parametrize("method", [DeepLift, IntegratedGradients], ids=["deeplift", "ig"])
def test_captum_attributions(name, method):
    """DeepLift needs every module used once and no in-place op; all models qualify.

    ``nn.LSTM`` and the functional gates of StarRNN are not in Captum's list of DeepLift
    non-linearities: Captum does not fail, it propagates plain gradients through them.
    """
    torch.manual_seed(0)
    model = registry.spec(name).cls(input_dim=D, num_classes=C, **TINY[name]).eval()
    x = torch.rand(2, T, D)
    kwargs = {"n_steps": 8} if method is IntegratedGradients else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attributions = method(model).attribute(x, target=3, **kwargs)
    assert attributions.shape == (2, T, D)
    assert torch.isfinite(attributions).all()
    assert attributions.abs().sum() > 0


def test_published_hparams_are_the_reference_defaults():
    for name in ZOO:
        entry = registry.spec(name)
        reference_cls = getattr(reference, entry.cls.__name__)
        defaults = {
            key: p.default
            for key, p in inspect.signature(reference_cls).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        ours = inspect.signature(entry.cls).parameters
        published = {**entry.defaults, **({entry.fixed_length_arg: entry.sequence_length}
                                         if entry.fixed_length_arg else {})}
        for key, value in published.items():
            assert key in ours, (name, key)
            if key in defaults:
                expected = tuple(defaults[key]) if isinstance(defaults[key], list) else defaults[key]
                assert value == expected, (name, key)
            assert ours[key].default == value, (name, key)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_demo_configuration_is_small_and_runs(name):
    entry = registry.spec(name)
    model = registry.build(name, num_classes=C, input_dim=D, **entry.demo_hparams).eval()
    published = _ours(name)
    assert set(model.state_dict()) <= set(published.state_dict())  # same architecture and names
    megabytes = sum(p.numel() for p in model.parameters()) * 4 / 2**20
    assert megabytes < 4
    assert (entry.fixed_length_arg is not None) == ("sequencelength" in inspect.signature(entry.cls).parameters)
    with torch.no_grad():
        out = model(torch.rand(3, T, D))
    assert out.shape == (3, C)
    assert torch.allclose(out.exp().sum(-1), torch.ones(3), atol=1e-5)
