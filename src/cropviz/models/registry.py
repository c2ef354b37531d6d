"""One registry of every model cropviz knows: name -> class, hyper-parameters, input form, bands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from cropviz.data.bands import BREIZHCROPS_SEQUENCE_LENGTH
from cropviz.early.elects import ElectsModel
from cropviz.errors import ConfigurationError
from cropviz.models import spatiotemporal as st
from cropviz.models import zoo
from cropviz.models.forest import RandomForest

#: Input forms a model can take (see ``cropviz.models.inputs``).
SEQUENCE = "sequence"  # N x T x D raw reflectances, T observations sampled per parcel
PATCH = "patch"  # N x T x 10 x 32 x 32 parcel patches (seed 004)
GRID = "grid"  # N x G x D reflectances interpolated on a fixed date grid (Random Forest)


@dataclass(frozen=True)
class ModelSpec:
    """What cropviz needs to know to build, feed and describe one registry model."""

    name: str
    cls: type
    family: str
    description: str
    input_form: str
    band_order: str  # 'breizhcrops', 'spectral' or 'patch'
    sequence_length: int | None
    defaults: dict[str, Any] = field(default_factory=dict)  # published / paper hyper-parameters
    demo_hparams: dict[str, Any] = field(default_factory=dict)  # small, for shipped demo weights
    fixed_length_arg: str | None = None  # constructor argument that receives the sequence length
    attention: bool = False


ZOO, SEED004 = "BreizhCrops zoo", "seed 004"


def _zoo(name: str, cls: type, description: str, defaults: dict[str, Any], demo: dict[str, Any],
         fixed_length: bool = False, attention: bool = False) -> ModelSpec:
    return ModelSpec(name, cls, ZOO, description, SEQUENCE, "breizhcrops", BREIZHCROPS_SEQUENCE_LENGTH, defaults,
                     demo, fixed_length_arg="sequencelength" if fixed_length else None, attention=attention)


def _patch(name: str, cls: type, description: str, hparams: dict[str, Any]) -> ModelSpec:
    """A seed 004 patch model with its Table 1 hyper-parameters (also the demo's)."""
    return ModelSpec(name, cls, SEED004, description, PATCH, "patch", None, hparams, hparams)


#: Every model cropviz knows, in the order pages and the CLI list them. Zoo defaults are the
#: BreizhCrops package's published hyper-parameters; demo ones are small versions with the same
#: architecture and parameter names that train quickly on a CPU.
_SPECS: tuple[ModelSpec, ...] = (
    _zoo("transformer", zoo.TransformerModel,
         "Self-attention encoder (Rußwurm & Körner 2020), max-pooled over time.",
         {"d_model": 64, "n_head": 2, "n_layers": 5, "d_inner": 128, "activation": "relu",
          "dropout": 0.017998950510888446},
         {"d_model": 64, "n_head": 2, "n_layers": 3, "d_inner": 128, "dropout": 0.1}, attention=True),
    _zoo("lstm", zoo.LSTM, "Bidirectional LSTM with layer normalisation of input and cell states.",
         {"hidden_dims": 128, "num_layers": 4, "dropout": 0.5713020228087161, "bidirectional": True,
          "use_layernorm": True},
         {"hidden_dims": 64, "num_layers": 2, "bidirectional": True, "use_layernorm": True, "dropout": 0.3}),
    _zoo("tempcnn", zoo.TempCNN, "Temporal CNN (Pelletier et al. 2019): three 1-D convolutions and a dense layer.",
         {"kernel_size": 7, "hidden_dims": 128, "dropout": 0.18203942949809093},
         {"kernel_size": 7, "hidden_dims": 64, "dropout": 0.2}, fixed_length=True),
    _zoo("msresnet", zoo.MSResNet, "Multi-scale 1-D residual network.",
         {"layers": (1, 1, 1, 1), "hidden_dims": 32}, {"hidden_dims": 32}),
    _zoo("inceptiontime", zoo.InceptionTime,
         "InceptionTime (Fawaz et al. 2020), layers registered as proper sub-modules.",
         {"num_layers": 6, "hidden_dims": 128, "use_bias": False, "use_residual": True},
         {"num_layers": 3, "hidden_dims": 32}),
    _zoo("starrnn", zoo.StarRNN, "StarRNN (Turkoglu et al. 2019) with layer normalisation.",
         {"hidden_dims": 128, "num_layers": 3, "dropout": 0.5, "use_batchnorm": False, "use_layernorm": True},
         {"hidden_dims": 64, "num_layers": 2, "use_layernorm": True, "dropout": 0.3}),
    _zoo("omniscalecnn", zoo.OmniScaleCNN, "Omni-scale 1-D CNN (Tang et al. 2020).",
         {"paramenter_number_of_layer_list": (8 * 128, 5 * 128 * 256 + 2 * 256 * 128)},
         {"paramenter_number_of_layer_list": (8 * 128, 32 * 1024)}, fixed_length=True),
    _patch("gru", st.PatchGRU, "GRU on per-date mean and std of each band (temporal only).",
           {"hidden_dims": 156, "head_hidden": (64,)}),
    _patch("cnn", st.PatchCNN, "Per-date CNN on 32x32 patches, max over dates (spatial only).",
           {"kernels": (16, 32, 96), "head_hidden": (128, 64)}),
    _patch("cnn_gru7", st.CNNGRU, "Per-date CNN then GRU, 70 % temporal parameters.",
           {"kernels": (16, 32, 64), "hidden_dims": 64, "head_hidden": (64,)}),
    _patch("cnn_gru8", st.CNNGRU, "Per-date CNN then GRU, 80 % temporal parameters.",
           {"kernels": (16, 32, 36), "hidden_dims": 96, "head_hidden": (64,)}),
    _patch("cnn_gru9", st.CNNGRU, "Per-date CNN then GRU, 90 % temporal parameters.",
           {"kernels": (16, 16, 16), "hidden_dims": 128, "head_hidden": (64,)}),
    _patch("convlstm", st.ConvLSTMClassifier, "Convolutional LSTM with image-shaped states.",
           {"kernels": (30, 64), "hidden_dims": 64, "cell_kernel": 1, "cell_bias": False, "head_hidden": (128, 64)}),
    ModelSpec("elects", ElectsModel, "ELECTS",
              "LSTM backbone with per-step classification and learned stopping (Rußwurm et al. 2023).",
              SEQUENCE, "breizhcrops", 70, dict(hidden_dims=64, num_layers=2, dropout=0.2),
              dict(hidden_dims=64, num_layers=2, dropout=0.2)),
    ModelSpec("random_forest", RandomForest, "baseline",
              "Random Forest on band reflectances interpolated every 10 days.", GRID, "spectral",
              None, dict(n_estimators=100, max_depth=None, min_samples_leaf=2),
              dict(n_estimators=60, max_depth=18, min_samples_leaf=3)),
)

_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def names(family: str | None = None) -> list[str]:
    """Names of every registry model (of one ``family``: ZOO, SEED004, "ELECTS", "baseline")."""
    return [name for name, entry in _REGISTRY.items() if family is None or entry.family == family]


def spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; ConfigurationError names the choices when unknown."""
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}") from None


def build(name: str, num_classes: int = 9, input_dim: int | None = None,
          sequence_length: int | None = None, **hparams: Any) -> nn.Module:
    """Build registry model ``name`` with its default hyper-parameters updated by ``hparams``."""
    model_spec = spec(name)
    kwargs: dict[str, Any] = {**model_spec.defaults, **hparams, "num_classes": num_classes}
    if input_dim is None:
        input_dim = 10 if model_spec.input_form == PATCH else 13
    kwargs["input_dim"] = input_dim
    if model_spec.fixed_length_arg:
        kwargs[model_spec.fixed_length_arg] = sequence_length or model_spec.sequence_length
    return model_spec.cls(**kwargs)
