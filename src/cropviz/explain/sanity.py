"""Model-randomisation sanity check of attribution methods (Adebayo et al. 2018).

An attribution that depends on what the model learned must change when the weights are
randomised. :func:`sanity_check` re-initialises a copy of the model (seeded), recomputes the
attribution for the same parcel and the same target, and reports the Spearman rank correlation
of ``|per_observation|`` between the trained and the randomised model: a value near 1 means the
method does not see the model (it mostly reflects the input).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from cropviz.errors import ConfigurationError
from cropviz.explain.attribution import attribute


def _reinit(module: nn.Module, recurse: bool) -> None:
    """Re-initialise a layer: each (sub)module's own (_)reset_parameters, else N(0, 0.02).

    With ``recurse`` the submodules are reset too (``nn.MultiheadAttention._reset_parameters``
    leaves its ``out_proj`` weight alone; that child's ``reset_parameters`` covers it);
    without, only the parameters the module owns directly.
    """
    for sub in module.modules() if recurse else [module]:
        reset = getattr(sub, "reset_parameters", None) or getattr(sub, "_reset_parameters", None)
        if callable(reset):
            reset()
            continue
        with torch.no_grad():
            for p in sub.parameters(recurse=False):
                p.normal_(0.0, 0.02)


def _layers(model: nn.Module) -> list[tuple[str, nn.Module, bool]]:
    """Layers (name, module, recurse), in reverse registration order (output side first).

    A module with its own (_)reset_parameters is one layer with all its submodules; any other
    module owning parameters directly is a layer of just those parameters.
    """
    layers: list[tuple[str, nn.Module, bool]] = []
    covered: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(c + ".") or c == "" for c in covered):
            continue
        has_reset = callable(getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None))
        if has_reset and any(True for _ in module.parameters()):
            layers.append((name, module, True))
            covered.append(name)
        elif any(True for _ in module.parameters(recurse=False)):
            layers.append((name, module, False))
    return layers[::-1]


def randomized_copy(model: nn.Module, seed: int = 0, n_layers: int | None = None) -> nn.Module:
    """A copy of ``model`` with its top ``n_layers`` layers (all when None) re-initialised, seeded."""
    clone = copy.deepcopy(model)
    layers = _layers(clone)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _, module, recurse in layers[: len(layers) if n_layers is None else n_layers]:
            _reinit(module, recurse)
    return clone


def sanity_check(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method: str = "integrated_gradients",
    seed: int = 0,
    mode: str = "full",
    target: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Compare attributions of the trained and a randomised copy of ``model`` for parcel ``x``.

    ``mode='full'`` re-initialises every layer at once; ``mode='cascading'`` re-initialises the
    layers one by one from the output side and reports the correlation after each step
    (``cascade``: list of (layer name, spearman)); ``spearman`` is then the fully randomised one.
    ``options`` go to :func:`cropviz.explain.attribute`. Returns ``spearman``, ``pvalue``,
    ``method``, ``mode``, ``seed``, ``target``, ``original`` and ``randomized``
    (|per_observation| arrays) and, for cascading, ``cascade``.
    """
    if mode not in ("full", "cascading"):
        raise ConfigurationError(f"sanity_check: unknown mode {mode!r}; use 'full' or 'cascading'")
    original = attribute(model, x, method, target=target, **options)
    ref = np.abs(original.per_observation)

    def compare(n_layers: int | None) -> tuple[float, float, np.ndarray]:
        rand = attribute(randomized_copy(model, seed, n_layers), x, method, target=original.target, **options)
        other = np.abs(rand.per_observation)
        rho, p = spearmanr(ref, other)
        return float(rho), float(p), other

    result: dict[str, Any] = {"method": method, "mode": mode, "seed": seed, "target": original.target,
                              "original": ref}
    if mode == "cascading":
        names = [name or "<root>" for name, _, _ in _layers(model)]
        cascade = []
        for i, name in enumerate(names, start=1):
            rho, p, other = compare(i)
            cascade.append((name, rho))
        result["cascade"] = cascade
    else:
        rho, p, other = compare(None)
    result.update(spearman=rho, pvalue=p, randomized=other)
    return result
