"""One registry of every model cropviz knows: name -> class, hyper-parameters, input form, bands."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from cropviz.errors import ConfigurationError

#: Input forms a model can take (see ``cropviz.models.inputs``).
SEQUENCE = "sequence"  # N x T x D raw reflectances, T observations sampled per parcel
PATCH = "patch"  # N x T x 10 x 32 x 32 parcel patches (seed 004)
GRID = "grid"  # N x G x D reflectances interpolated on a fixed date grid (Random Forest)


@dataclass(frozen=True)
class ModelSpec:
    """What cropviz needs to know to build, feed and describe one registry model."""

    name: str
    target: str  # "module.path:ClassName"
    family: str
    description: str
    input_form: str
    band_order: str  # 'breizhcrops', 'spectral' or 'patch'
    sequence_length: int | None
    defaults: dict[str, Any] = field(default_factory=dict)  # published / paper hyper-parameters
    demo_hparams: dict[str, Any] = field(default_factory=dict)  # small, for shipped demo weights
    fixed_length_arg: str | None = None  # constructor argument that receives the sequence length
    attention: bool = False

    def model_class(self) -> type:
        """Import and return the class implementing this model."""
        module_name, class_name = self.target.split(":")
        return getattr(importlib.import_module(module_name), class_name)


_ZOO = "cropviz.models.zoo"
_ST = "cropviz.models.spatiotemporal"

_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("transformer", f"{_ZOO}.transformer:TransformerModel", "BreizhCrops zoo",
              "Self-attention encoder (Rußwurm & Körner 2020), max-pooled over time.",
              SEQUENCE, "breizhcrops", 45,
              dict(d_model=64, n_head=2, n_layers=5, d_inner=128),
              dict(d_model=64, n_head=2, n_layers=3, d_inner=128, dropout=0.1), attention=True),
    ModelSpec("lstm", f"{_ZOO}.lstm:LSTM", "BreizhCrops zoo",
              "Bidirectional LSTM with layer normalisation of input and cell states.",
              SEQUENCE, "breizhcrops", 45,
              dict(hidden_dims=128, num_layers=4, bidirectional=True, use_layernorm=True),
              dict(hidden_dims=64, num_layers=2, bidirectional=True, use_layernorm=True, dropout=0.3)),
    ModelSpec("tempcnn", f"{_ZOO}.tempcnn:TempCNN", "BreizhCrops zoo",
              "Temporal CNN (Pelletier et al. 2019): three 1-D convolutions and a dense layer.",
              SEQUENCE, "breizhcrops", 45, dict(kernel_size=7, hidden_dims=128),
              dict(kernel_size=7, hidden_dims=64, dropout=0.2), fixed_length_arg="sequencelength"),
    ModelSpec("msresnet", f"{_ZOO}.msresnet:MSResNet", "BreizhCrops zoo",
              "Multi-scale 1-D residual network.", SEQUENCE, "breizhcrops", 45,
              dict(hidden_dims=32), dict(hidden_dims=32)),
    ModelSpec("inceptiontime", f"{_ZOO}.inceptiontime:InceptionTime", "BreizhCrops zoo",
              "InceptionTime (Fawaz et al. 2020), layers registered as proper sub-modules.",
              SEQUENCE, "breizhcrops", 45, dict(num_layers=6, hidden_dims=128),
              dict(num_layers=3, hidden_dims=32)),
    ModelSpec("starrnn", f"{_ZOO}.starrnn:StarRNN", "BreizhCrops zoo",
              "StarRNN (Turkoglu et al. 2019) with layer normalisation.", SEQUENCE, "breizhcrops",
              45, dict(hidden_dims=128, num_layers=3, use_layernorm=True),
              dict(hidden_dims=64, num_layers=2, use_layernorm=True, dropout=0.3)),
    ModelSpec("omniscalecnn", f"{_ZOO}.omniscalecnn:OmniScaleCNN", "BreizhCrops zoo",
              "Omni-scale 1-D CNN (Tang et al. 2020).", SEQUENCE, "breizhcrops", 45, {}, {},
              fixed_length_arg="sequencelength"),
    ModelSpec("gru", f"{_ST}:PatchGRU", "seed 004",
              "GRU on per-date mean and std of each band (temporal only).", PATCH, "patch", None),
    ModelSpec("cnn", f"{_ST}:PatchCNN", "seed 004",
              "Per-date CNN on 32x32 patches, max over dates (spatial only).", PATCH, "patch", None),
    ModelSpec("cnn_gru7", f"{_ST}:CNNGRU", "seed 004",
              "Per-date CNN then GRU, 70 % temporal parameters.", PATCH, "patch", None,
              dict(kernels=(16, 32, 64), hidden_dims=64)),
    ModelSpec("cnn_gru8", f"{_ST}:CNNGRU", "seed 004",
              "Per-date CNN then GRU, 80 % temporal parameters.", PATCH, "patch", None,
              dict(kernels=(16, 32, 36), hidden_dims=96)),
    ModelSpec("cnn_gru9", f"{_ST}:CNNGRU", "seed 004",
              "Per-date CNN then GRU, 90 % temporal parameters.", PATCH, "patch", None,
              dict(kernels=(16, 16, 16), hidden_dims=128)),
    ModelSpec("convlstm", f"{_ST}:ConvLSTMClassifier", "seed 004",
              "Convolutional LSTM with image-shaped states.", PATCH, "patch", None),
    ModelSpec("elects", "cropviz.early.elects:ElectsModel", "ELECTS",
              "LSTM backbone with per-step classification and learned stopping (Rußwurm et al. 2023).",
              SEQUENCE, "breizhcrops", 70, dict(hidden_dims=64, num_layers=2, dropout=0.2),
              dict(hidden_dims=64, num_layers=2, dropout=0.2)),
    ModelSpec("random_forest", "cropviz.models.forest:RandomForest", "baseline",
              "Random Forest on band reflectances interpolated every 10 days.", GRID, "spectral",
              None, dict(n_estimators=100, max_depth=None, min_samples_leaf=2),
              dict(n_estimators=60, max_depth=18, min_samples_leaf=3)),
)

_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def names() -> list[str]:
    """Names of every registry model."""
    return list(_REGISTRY)


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
    return model_spec.model_class()(**kwargs)
