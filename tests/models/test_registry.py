"""The one model table: every model cropviz knows, built from its registry entry."""

from __future__ import annotations

import inspect

import pytest
import torch

from cropviz.errors import ConfigurationError
from cropviz.models import registry


def test_every_family_is_in_the_one_table():
    assert registry.names(registry.ZOO) == ["transformer", "lstm", "tempcnn", "msresnet", "inceptiontime",
                                            "starrnn", "omniscalecnn"]
    assert registry.names(registry.SEED004) == ["gru", "cnn", "cnn_gru7", "cnn_gru8", "cnn_gru9", "convlstm"]
    assert registry.names("ELECTS") == ["elects"] and registry.names("baseline") == ["random_forest"]
    assert len(registry.names()) == 15
    assert [n for n in registry.names() if registry.spec(n).attention] == ["transformer"]


@pytest.mark.parametrize("name", registry.names())
def test_defaults_are_arguments_of_the_class(name):
    spec = registry.spec(name)
    parameters = inspect.signature(spec.cls).parameters
    for key in {**spec.defaults, **spec.demo_hparams}:
        assert key in parameters, (name, key)
    if spec.fixed_length_arg:
        assert spec.fixed_length_arg in parameters and spec.sequence_length


@pytest.mark.parametrize("name", [n for n in registry.names() if registry.spec(n).input_form == registry.SEQUENCE])
def test_sequence_models_build_from_the_table_and_give_log_probabilities(name):
    spec = registry.spec(name)
    torch.manual_seed(0)
    model = registry.build(name, num_classes=4, input_dim=13, **spec.demo_hparams).eval()
    with torch.no_grad():
        out = model(torch.rand(2, spec.sequence_length or 45, 13))
    assert out.shape == (2, 4)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(2), atol=1e-4, rtol=0)


def test_unknown_names_list_the_choices():
    with pytest.raises(ConfigurationError, match="unknown model 'resnet'; choose one of: transformer, lstm"):
        registry.spec("resnet")
    assert registry.spec("TempCNN").name == "tempcnn"
