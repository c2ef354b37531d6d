"""The one table of attribution methods: what each is, what it needs, what it costs.

Every other place (the library's dispatch and validation, the CLI, the page pickers, the tests)
reads :data:`TABLE`; adding a method means adding a row here and its runner in
:mod:`cropviz.explain.attribution`. Importing this module is cheap (no torch, no Captum).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cropviz.errors import ConfigurationError


@dataclass(frozen=True)
class Method:
    """One attribution method.

    ``captum_class`` names the class of ``captum.attr`` that defines the method (cropviz runs
    integrated gradients, saliency and input x gradient with its own batched kernels that equal
    Captum's values); ``options`` maps each accepted option to its default; ``passes`` gives the
    number of model evaluations per parcel for the settings and sequence length T, and
    ``gradients`` whether each of them also runs a backward pass (the relative cost).
    """

    name: str
    label: str
    captum_class: str
    needs_baseline: bool
    has_delta: bool
    options: Mapping[str, Any]
    passes: Callable[[Mapping[str, Any], int], int]
    gradients: bool
    summary: str
    stochastic: bool = False
    extra_checks: Callable[[Mapping[str, Any], int], str | None] = field(default=lambda settings, T: None)

    def captum(self) -> type:
        """The Captum class (imported on demand: Captum is heavy)."""
        return getattr(importlib.import_module("captum.attr"), self.captum_class)

    def cost(self, T: int, **options: Any) -> int:
        """Model evaluations per parcel (each with a backward pass when ``gradients``)."""
        return self.passes(self.settings(options, T), T)

    def settings(self, options: Mapping[str, Any], T: int) -> dict[str, Any]:
        """Validate ``options`` and return the full settings, defaults filled in."""
        unknown = set(options) - set(self.options)
        if unknown:
            raise ConfigurationError(
                f"{self.name}: unknown option(s) {', '.join(sorted(unknown))}; accepted: "
                f"{', '.join(self.options) or 'none'}")
        settings = {**self.options, **options}
        if "internal_batch_size" in settings and settings["internal_batch_size"] is None:
            settings["internal_batch_size"] = settings["n_steps"]
        problem = self.extra_checks(settings, T)
        if problem:
            raise ConfigurationError(f"{self.name}: {problem}")
        return settings


def _occlusion_fits(settings: Mapping[str, Any], T: int) -> str | None:
    if 1 <= settings["window"] <= T and settings["stride"] >= 1:
        return None
    return f"window {settings['window']} / stride {settings['stride']} do not fit a sequence of length {T}"


def _positive(name: str) -> Callable[[Mapping[str, Any], int], str | None]:
    def check(settings: Mapping[str, Any], T: int) -> str | None:
        return None if int(settings[name]) >= 1 else f"{name} must be >= 1, got {settings[name]}"
    return check


_ROWS: tuple[Method, ...] = (
    Method("integrated_gradients", "Integrated gradients", "IntegratedGradients", True, True,
           MappingProxyType({"n_steps": 50, "internal_batch_size": None, "ig_method": "gausslegendre"}),
           lambda s, T: int(s["n_steps"]) + 2, True,
           "Gradients averaged along the straight path from the baseline to the parcel, times the "
           "difference; they add up to the change of the class log-probability.",
           extra_checks=_positive("n_steps")),
    Method("saliency", "Saliency (|gradient|)", "Saliency", False, False,
           MappingProxyType({"abs": True}), lambda s, T: 1, True,
           "The gradient of the class log-probability at the parcel (its absolute value by default)."),
    Method("input_x_gradient", "Input x gradient", "InputXGradient", False, False,
           MappingProxyType({}), lambda s, T: 1, True,
           "The gradient at the parcel times the parcel's reflectance."),
    Method("deeplift", "DeepLift", "DeepLift", True, True,
           MappingProxyType({}), lambda s, T: 2, True,
           "Differences of each layer's activations from the baseline's, propagated with the "
           "rescale rule; they add up to the change of the class log-probability."),
    Method("gradient_shap", "GradientShap", "GradientShap", True, True,
           MappingProxyType({"n_samples": 20, "stdevs": 0.0, "seed": 0}),
           lambda s, T: 3 * int(s["n_samples"]), True,
           "Expected gradients: integrated gradients at random points between random baselines "
           "from a reference set and the parcel (seeded).",
           stochastic=True, extra_checks=_positive("n_samples")),
    Method("occlusion", "Occlusion", "Occlusion", True, False,
           MappingProxyType({"window": 3, "stride": 1}),
           lambda s, T: (T - int(s["window"])) // int(s["stride"]) + 2, False,
           "Drop in the class log-probability when a window of observations (all bands) is "
           "replaced by the baseline's.",
           extra_checks=_occlusion_fits),
    Method("feature_ablation", "Feature ablation", "FeatureAblation", True, False,
           MappingProxyType({}), lambda s, T: T + 1, False,
           "Drop in the class log-probability when one observation at a time is replaced by the "
           "baseline's."),
)

#: Every attribution method by name, in the order the pickers show them.
TABLE: Mapping[str, Method] = MappingProxyType({m.name: m for m in _ROWS})
#: Method names (the pickers' order).
METHODS: tuple[str, ...] = tuple(TABLE)
#: Methods that take a baseline (reference input).
BASELINE_METHODS: tuple[str, ...] = tuple(m.name for m in _ROWS if m.needs_baseline)
#: Methods that report a convergence delta.
DELTA_METHODS: tuple[str, ...] = tuple(m.name for m in _ROWS if m.has_delta)


def method(name: str) -> Method:
    """The table row of ``name``; ConfigurationError naming the known methods otherwise."""
    if name not in TABLE:
        raise ConfigurationError(f"unknown attribution method {name!r}; use one of {', '.join(METHODS)}")
    return TABLE[name]


def settings(name: str, options: Mapping[str, Any], T: int) -> dict[str, Any]:
    """Validate the options of method ``name`` for sequences of length T; defaults filled in."""
    return method(name).settings(options, T)
