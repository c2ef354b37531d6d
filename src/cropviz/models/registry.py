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


def _zoo(name: str, description: str, attention: bool = False) -> ModelSpec:
    from cropviz.models.zoo import SEQUENCE_MODELS

    entry = SEQUENCE_MODELS[name]
    strip = (lambda h: {k: v for k, v in h.items() if k != "sequencelength"})
    return ModelSpec(name, f"{entry.cls.__module__}:{entry.cls.__name__}", "BreizhCrops zoo", description,
                     SEQUENCE, "breizhcrops", 45, strip(entry.hparams), strip(entry.demo_hparams),
                     fixed_length_arg="sequencelength" if entry.requires_fixed_length else None,
                     attention=attention)


def _patch(name: str, description: str) -> ModelSpec:
    from cropviz.models.spatiotemporal import PATCH_MODELS

    cls, hparams = PATCH_MODELS[name]
    return ModelSpec(name, f"{cls.__module__}:{cls.__name__}", "seed 004", description, PATCH, "patch", None,
                     dict(hparams), dict(hparams))


_SPECS: tuple[ModelSpec, ...] = (
    _zoo("transformer", "Self-attention encoder (Rußwurm & Körner 2020), max-pooled over time.", attention=True),
    _zoo("lstm", "Bidirectional LSTM with layer normalisation of input and cell states."),
    _zoo("tempcnn", "Temporal CNN (Pelletier et al. 2019): three 1-D convolutions and a dense layer."),
    _zoo("msresnet", "Multi-scale 1-D residual network."),
    _zoo("inceptiontime", "InceptionTime (Fawaz et al. 2020), layers registered as proper sub-modules."),
    _zoo("starrnn", "StarRNN (Turkoglu et al. 2019) with layer normalisation."),
    _zoo("omniscalecnn", "Omni-scale 1-D CNN (Tang et al. 2020)."),
    _patch("gru", "GRU on per-date mean and std of each band (temporal only)."),
    _patch("cnn", "Per-date CNN on 32x32 patches, max over dates (spatial only)."),
    _patch("cnn_gru7", "Per-date CNN then GRU, 70 % temporal parameters."),
    _patch("cnn_gru8", "Per-date CNN then GRU, 80 % temporal parameters."),
    _patch("cnn_gru9", "Per-date CNN then GRU, 90 % temporal parameters."),
    _patch("convlstm", "Convolutional LSTM with image-shaped states."),
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
