"""The model registry and the one interface over all models.

``build(name, num_classes=..., **hparams)`` builds a registry model, ``load(name_or_path, arch=None,
device="auto")`` loads shipped weights or a checkpoint (safely, in eval mode), ``names()`` lists
the registry, and :class:`Classifier` prepares a dataset's parcels and predicts for any model.
Names are imported on first use (torch is heavy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cropviz._lazy import attach

if TYPE_CHECKING:
    from cropviz.models.checkpoint import ModelInfo, load
    from cropviz.models.classifier import Classifier
    from cropviz.models.registry import ModelSpec, build, names, spec

__all__ = ["Classifier", "ModelInfo", "ModelSpec", "build", "load", "names", "spec"]
__getattr__, __dir__ = attach(__name__, {
    "ModelInfo": "checkpoint", "load": "checkpoint", "Classifier": "classifier", "ModelSpec": "registry",
    "build": "registry", "names": "registry", "spec": "registry",
})
