"""The BreizhCrops model zoo, reimplemented with checkpoint-compatible parameter names.

``SEQUENCE_MODELS`` maps registry names to a :class:`ZooEntry`: the class, the published
hyper-parameters (BreizhCrops defaults, without ``input_dim``/``num_classes``), whether the model
needs a fixed sequence length (then ``sequencelength`` is one of its hyper-parameters) and a
small "demo" configuration with the same architecture and parameter names that trains quickly
on a CPU. Every model maps N x T x D float inputs to N x C log-probabilities.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from cropviz.models.zoo.inceptiontime import InceptionTime
from cropviz.models.zoo.lstm import LSTM
from cropviz.models.zoo.msresnet import MSResNet
from cropviz.models.zoo.omniscalecnn import OmniScaleCNN
from cropviz.models.zoo.starrnn import StarRNN
from cropviz.models.zoo.tempcnn import TempCNN
from cropviz.models.zoo.transformer import TransformerModel

__all__ = [
    "SEQUENCE_MODELS",
    "InceptionTime",
    "LSTM",
    "MSResNet",
    "OmniScaleCNN",
    "StarRNN",
    "TempCNN",
    "TransformerModel",
    "ZooEntry",
]


class ZooEntry(NamedTuple):
    """One registry entry of :data:`SEQUENCE_MODELS`."""

    cls: type[nn.Module]
    hparams: dict[str, Any]
    requires_fixed_length: bool
    demo_hparams: dict[str, Any]


SEQUENCE_MODELS: dict[str, ZooEntry] = {
    "transformer": ZooEntry(
        TransformerModel,
        {"d_model": 64, "n_head": 2, "n_layers": 5, "d_inner": 128, "activation": "relu",
         "dropout": 0.017998950510888446},
        False,
        {"d_model": 64, "n_head": 2, "n_layers": 3, "d_inner": 128, "dropout": 0.1},
    ),
    "lstm": ZooEntry(
        LSTM,
        {"hidden_dims": 128, "num_layers": 4, "dropout": 0.5713020228087161, "bidirectional": True,
         "use_layernorm": True},
        False,
        {"hidden_dims": 64, "num_layers": 2, "bidirectional": True, "use_layernorm": True, "dropout": 0.3},
    ),
    "tempcnn": ZooEntry(
        TempCNN,
        {"sequencelength": 45, "kernel_size": 7, "hidden_dims": 128, "dropout": 0.18203942949809093},
        True,
        {"sequencelength": 45, "kernel_size": 7, "hidden_dims": 64, "dropout": 0.2},
    ),
    "msresnet": ZooEntry(
        MSResNet,
        {"layers": (1, 1, 1, 1), "hidden_dims": 32},
        False,
        {"hidden_dims": 32},
    ),
    "inceptiontime": ZooEntry(
        InceptionTime,
        {"num_layers": 6, "hidden_dims": 128, "use_bias": False, "use_residual": True},
        False,
        {"num_layers": 3, "hidden_dims": 32},
    ),
    "starrnn": ZooEntry(
        StarRNN,
        {"hidden_dims": 128, "num_layers": 3, "dropout": 0.5, "use_batchnorm": False, "use_layernorm": True},
        False,
        {"hidden_dims": 64, "num_layers": 2, "use_layernorm": True, "dropout": 0.3},
    ),
    "omniscalecnn": ZooEntry(
        OmniScaleCNN,
        {"sequencelength": 45, "paramenter_number_of_layer_list": (8 * 128, 5 * 128 * 256 + 2 * 256 * 128)},
        True,
        {"sequencelength": 45, "paramenter_number_of_layer_list": (8 * 128, 32 * 1024)},
    ),
}
