"""One interface over every registry model: prepare a dataset's parcels, predict, explain.

Pages and commands use :class:`Classifier` and never special-case a model: it knows the input
form, band order, sequence length, time shuffling and normalisation recorded in the checkpoint.
Importing this module is cheap: torch and the readers are imported when a model is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cropviz.data.bands import band_order
from cropviz.errors import CheckpointError
from cropviz.types import IntArray

if TYPE_CHECKING:
    import torch

    from cropviz.models.checkpoint import ModelInfo
    from cropviz.models.inputs import ModelInput
    from cropviz.models.registry import ModelSpec

ProgressCallback = Callable[[int, int], None]


class Classifier:
    """A loaded model plus what it expects of its input."""

    def __init__(self, model: Any, info: ModelInfo, device: torch.device) -> None:
        self.model = model
        self.info = info
        self.device = device
        #: the forward pass :meth:`compile` set up (compiled and / or bfloat16), else None
        self._fast: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._fast_compiled = False
        #: the precision :meth:`log_probs` computes in ("float32", or "bfloat16" after :meth:`compile`)
        self.precision = "float32"

    @classmethod
    def open(cls, name_or_path: str | Path, arch: str | None = None,
             device: str | torch.device = "auto") -> Classifier:
        """Load shipped weights (registry name) or a checkpoint file."""
        import torch

        from cropviz.devices import resolve_device
        from cropviz.models import checkpoint

        resolved = resolve_device(device)
        model = checkpoint.load(name_or_path, arch=arch, device=resolved)
        if not isinstance(model, torch.nn.Module):  # the Random Forest
            resolved = torch.device("cpu")
        info: ModelInfo = getattr(model, "cropviz_info")  # noqa: B009 - set by checkpoint.load, untyped
        return cls(model, info, resolved)

    @property
    def name(self) -> str:
        """The architecture's registry name."""
        return self.info.arch

    @property
    def label(self) -> str:
        """A name telling weights apart: the checkpoint file's stem (e.g. transformer_shuffled)."""
        return Path(self.info.path).stem if self.info.path else self.info.arch

    @property
    def classes(self) -> list[str]:
        """Class names, in the order of the model's outputs."""
        return list(self.info.classes)

    @property
    def spec(self) -> ModelSpec:
        """The registry entry of this model's architecture."""
        from cropviz.models import registry

        return registry.spec(self.info.arch)

    @property
    def differentiable(self) -> bool:
        """Whether gradient-based explanations apply (False for the Random Forest)."""
        import torch

        return isinstance(self.model, torch.nn.Module)

    @property
    def has_attention(self) -> bool:
        """Whether the model exposes ``attention_weights`` (the transformer)."""
        return hasattr(self.model, "attention_weights")

    @property
    def is_early(self) -> bool:
        """Whether the model classifies early (exposes ``forward_steps``, ELECTS)."""
        return hasattr(self.model, "forward_steps")

    @property
    def reads_patches(self) -> bool:
        """Whether the model reads parcel patches (seed 004's spatial models) instead of band series."""
        from cropviz.models import registry

        return self.spec.input_form == registry.PATCH

    @property
    def temperature(self) -> float:
        """The temperature stored in the model's card (1.0, i.e. uncalibrated, when there is none)."""
        calibration = (self.info.card or {}).get("calibration") or {}
        return float(calibration.get("temperature", 1.0))

    @property
    def is_calibrated(self) -> bool:
        """Whether the model's card holds a fitted temperature."""
        return "temperature" in ((self.info.card or {}).get("calibration") or {})

    @property
    def calibration_source(self) -> str | None:
        """What the temperature was fitted on (the card's ``fitted_on``), or None when uncalibrated."""
        return ((self.info.card or {}).get("calibration") or {}).get("fitted_on") if self.is_calibrated else None

    @property
    def has_dropout(self) -> bool:
        """Whether the model has dropout layers with a positive rate (MC dropout applies)."""
        import torch

        return self.differentiable and any(
            isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in self.model.modules())

    def check_fits(self, dataset: Any) -> None:
        """Raise CheckpointError when the model's bands or classes do not fit ``dataset``."""
        where = self.info.path or self.info.arch
        from cropviz.models.registry import PATCH

        if self.spec.input_form != PATCH:
            expected = list(band_order(dataset.level, self.info.band_order))
            if expected != list(self.info.bands):
                raise CheckpointError(where, f"expects bands {self.info.bands} but {dataset.level} "
                                      f"data gives {expected}")
        if list(dataset.classes) != self.classes:
            raise CheckpointError(where, f"predicts {len(self.classes)} classes {self.classes[:4]}... "
                                  f"but the dataset has {len(dataset.classes)} {list(dataset.classes)[:4]}...")

    def parcel_ids(self, dataset: Any) -> np.ndarray:
        """The parcels of ``dataset`` this model can read: all, or those with a patch."""
        from cropviz.models.inputs import readable_ids

        return readable_ids(dataset, self.spec.input_form)

    def inputs(self, dataset: Any, ids: IntArray, seed: int = 0) -> ModelInput:
        """Model inputs for parcels ``ids`` (band order, sampling, shuffling as in training)."""
        from cropviz.models.inputs import prepare

        prepared = prepare(dataset, ids, self.spec.input_form, order=self.info.band_order,
                                  sequence_length=self.info.sequence_length, seed=seed,
                                  shuffle_time=self.info.shuffle_time,
                                  shuffle_seed=self.info.shuffle_seed)
        if self.info.normalization is not None:
            prepared.x = normalize_patches(prepared.x, self.info.normalization)
        return prepared

    def compile(self, compiled: bool = True, bfloat16: bool = False) -> Classifier:
        """Run :meth:`log_probs` through TorchInductor (``compiled``, CPU models only) and / or in
        bfloat16 from now on; returns self.

        Compiled, whole-region inference gets faster after a one-off compilation of about 10 s of
        CPU (:func:`cropviz.models.fast.compiled_inference`); the values stay those of the eager
        model up to float rounding. In bfloat16 (:func:`cropviz.models.fast.bfloat16_inference`;
        devices with native bfloat16) class probabilities move by up to a few hundredths. Raises
        ConfigurationError for the Random Forest, compilation on a GPU, a machine without a C++
        compiler, or bfloat16 where it is not native.
        """
        from cropviz.errors import ConfigurationError
        from cropviz.models.fast import bfloat16_inference, compiled_inference

        where = self.info.path or self.name
        if not self.differentiable:
            raise ConfigurationError(f"{where}: the Random Forest has nothing to compile")
        if compiled and self.device.type != "cpu":
            raise ConfigurationError(f"{where}: compiled inference is for the CPU; the model is on {self.device}")
        try:
            self._fast = (bfloat16_inference(self.model, compiled) if bfloat16
                          else compiled_inference(self.model) if compiled else None)
        except ConfigurationError as error:
            raise ConfigurationError(f"{where}: {error}") from error
        self._fast_compiled = compiled
        self.precision = "bfloat16" if bfloat16 else "float32"
        return self

    def log_probs(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Log-probabilities N x C for prepared inputs, batched, without gradients.

        Runs under ``torch.inference_mode`` and never changes the model, so threads may share it;
        after :meth:`compile` it runs that forward pass (a compiled graph is meant for one worker thread).
        """
        import torch

        if not self.differentiable:  # the Random Forest
            return np.log(np.clip(self.model.predict_proba(x), 1e-8, None))
        out = []
        with torch.inference_mode(not self._fast_compiled):  # a compiled graph runs under no_grad
            for start in range(0, len(x), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(self.device)
                output = self.model(batch) if self._fast is None else self._fast(batch)
                out.append(output.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def predict(self, dataset: Any, ids: IntArray | None = None, batch_size: int = 512,
                seed: int = 0, progress: ProgressCallback | None = None) -> pd.DataFrame:
        """One row per parcel: id, true, pred, confidence, prob_<class> for every class."""
        self.check_fits(dataset)
        wanted = np.asarray(self.parcel_ids(dataset) if ids is None else ids, dtype=np.int64)
        chunks = []
        for start in range(0, len(wanted), batch_size):
            prepared = self.inputs(dataset, wanted[start:start + batch_size].tolist(), seed=seed)
            proba = np.exp(self.log_probs(prepared.x, batch_size))
            chunks.append((prepared.ids, prepared.labels, proba))
            if progress is not None:
                progress(min(start + batch_size, len(wanted)), len(wanted))
        return predictions_frame(chunks, self.classes)


def predictions_frame(chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                      classes: Sequence[str]) -> pd.DataFrame:
    """Assemble (ids, labels, probabilities) chunks into the predictions table."""
    num_classes = len(classes)
    ids = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, np.int64)
    labels = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros(0, np.int64)
    proba = np.concatenate([c[2] for c in chunks]) if chunks else np.zeros((0, num_classes))
    frame = pd.DataFrame({"id": ids, "true": labels, "pred": proba.argmax(axis=1) if len(proba) else [],
                          "confidence": proba.max(axis=1) if len(proba) else []})
    for k, name in enumerate(classes):
        frame[f"prob_{name}"] = proba[:, k].astype(np.float32) if len(proba) else []
    return frame


def normalize_patches(x: np.ndarray, normalization: dict[str, list]) -> np.ndarray:
    """Per-date, per-band standardisation of patches inside the parcel; outside stays zero."""
    mean = np.asarray(normalization["mean"], dtype=np.float32)[None, :, :, None, None]
    std = np.asarray(normalization["std"], dtype=np.float32)[None, :, :, None, None]
    inside = (x != 0).any(axis=2, keepdims=True)
    return np.where(inside, (x - mean) / std, 0.0).astype(np.float32)


def patch_normalization(x: np.ndarray) -> dict[str, list]:
    """Per-date, per-band mean and std over in-parcel pixels of training patches N x T x C x H x W."""
    inside = (x != 0).any(axis=2, keepdims=True)
    weights = np.broadcast_to(inside, x.shape)
    count = weights.sum(axis=(0, 3, 4)).clip(min=1)
    mean = (x * weights).sum(axis=(0, 3, 4)) / count
    var = (((x - mean[None, :, :, None, None]) ** 2) * weights).sum(axis=(0, 3, 4)) / count
    return {"mean": mean.tolist(), "std": np.sqrt(var).clip(min=1e-4).tolist()}
