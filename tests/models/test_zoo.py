"""The cropviz model zoo against the reference breizhcrops package (a test dependency), table-driven.

What is specific to one architecture is tested in ``tests/models/zoo/test_<module>.py``.
"""

from __future__ import annotations

import inspect
import warnings

import breizhcrops.models as reference
import pytest
import torch
from captum.attr import DeepLift, IntegratedGradients
from torch import nn

from cropviz.models import registry
from tests.models.zoo.helpers import randomise_batchnorm

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


def _ours(name: str, **overrides) -> nn.Module:
    return registry.build(name, num_classes=C, input_dim=D, **overrides)


def _load_reference_checkpoint(name: str, tmp_path) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = REFERENCE_CLASSES[name]()
    randomise_batchnorm(theirs)
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
        # with gradients recorded (the explanations' path: module calls, nothing in place) too
        assert (ours(x).detach() - expected).abs().max().item() < 1e-5


def test_transformer_matches_reference_for_any_length(tmp_path):
    theirs, ours = _load_reference_checkpoint("transformer", tmp_path)
    for length in (1, 12, 45, 71):
        x = torch.rand(4, length, D)
        with torch.no_grad():
            expected = theirs(x)
        with torch.inference_mode():  # fused fast path
            assert (ours(x) - expected).abs().max().item() < 1e-5
        assert (ours(x) - expected).abs().max().item() < 1e-5  # with autograd: regular path


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
