"""Saving and safely loading checkpoints: ours, and the published BreizhCrops ones.

Loading never executes pickled code: torch files are read with ``weights_only=True`` and Random
Forests are ``.npz`` files read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cropviz.devices import resolve_device
from cropviz.errors import CheckpointError, ConfigurationError
from cropviz.models import registry
from cropviz.models.forest import RandomForest

#: Class names of the published BreizhCrops checkpoints (classmapping.csv, ids 0-8).
BREIZHCROPS_CLASSES = ("barley", "wheat", "rapeseed", "corn", "sunflower", "orchards", "nuts",
                       "permanent meadows", "temporary meadows")


@dataclass
class ModelInfo:
    """What a loaded model expects and where it came from (attached as ``model.cropviz_info``)."""

    arch: str
    classes: list[str]
    level: str = "L1C"
    band_order: str = "breizhcrops"
    bands: list[str] = field(default_factory=list)
    sequence_length: int | None = 45
    hparams: dict[str, Any] = field(default_factory=dict)
    shuffle_time: bool = False
    shuffle_seed: int = 0
    normalization: dict[str, list] | None = None
    trained_on: str = "unknown"
    path: str | None = None
    sha256: str | None = None
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def input_form(self) -> str:
        """Input form of the architecture (sequence, patch or grid)."""
        return registry.spec(self.arch).input_form

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-serialisable)."""
        return asdict(self)


def models_dir() -> Path:
    """The folder of shipped weights: $CROPVIZ_MODELS, else ``models/`` of the source checkout."""
    env = os.environ.get("CROPVIZ_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "models"


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(path: str | Path, model: nn.Module | RandomForest, info: ModelInfo) -> Path:
    """Write a checkpoint (``.pt`` for torch models, ``.npz`` for forests) and its model card."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in info.to_dict().items() if k not in ("path", "sha256", "card")}
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    if isinstance(model, RandomForest):
        model.save(tmp, {"cropviz_info": json.dumps(meta)})
    else:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save({"model_state": state, "cropviz_info": json.dumps(meta)}, tmp)
    tmp.replace(path)
    card = {**info.card, **meta, "checkpoint": path.name, "sha256": file_sha256(path)}
    path.with_suffix(".json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    return path


def _read_torch_file(path: Path) -> dict[str, Any]:
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(path, "refused: the file contains pickled objects or code that a "
                              f"weights-only load does not run ({str(error).splitlines()[0][:120]})") from None
    except Exception as error:  # torch raises many types on foreign bytes; all mean the same here
        detail = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise CheckpointError(path, f"not a PyTorch checkpoint ({detail})") from None
    if isinstance(content, dict) and "model_state" in content:
        return content
    if isinstance(content, dict) and content and all(isinstance(v, torch.Tensor) for v in content.values()):
        return {"model_state": content}
    raise CheckpointError(path, "not a model checkpoint: expected a state dict or {'model_state': ...}")


def _mismatch_message(error: RuntimeError, model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    parts = []
    if missing:
        parts.append(f"missing keys {missing[:4]}{' ...' if len(missing) > 4 else ''}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}")
    if shapes:
        parts.append(f"shape mismatch {'; '.join(shapes[:3])}")
    return "; ".join(parts) or str(error).splitlines()[0]


def _infer_published(state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(num_classes, input_dim) from a published BreizhCrops state dict's first and last layers."""
    tensors = [v for v in state.values() if v.ndim >= 2]
    num_classes = int(tensors[-1].shape[0]) if tensors else 9
    first = tensors[0] if tensors else None
    input_dim = int(first.shape[1]) if first is not None else 13
    return num_classes, input_dim


def shipped_checkpoint(name: str) -> Path:
    """The file of shipped weights called ``name`` (a registry name or a variant such as
    ``transformer_shuffled``) in :func:`models_dir`; CheckpointError when there is none."""
    for suffix in (".pt", ".npz"):
        path = models_dir() / f"{name}{suffix}"
        if path.exists():
            return path
    if name.lower() in registry.names():
        raise CheckpointError(models_dir() / name, f"no shipped weights for {name!r}; train them with "
                              f"`cropviz train --model {name}` (see models/README.md)")
    raise CheckpointError(name, "no such file, and no shipped weights of that name")


def shipped_names() -> list[str]:
    """Names of all shipped weights, registry models first in registry order, then variants."""
    stems = {p.stem for p in models_dir().glob("*.pt")} | {p.stem for p in models_dir().glob("*.npz")}
    stems = {s for s in stems if not s.endswith(".tmp")}
    order = {name: k for k, name in enumerate(registry.names())}
    return sorted(stems, key=lambda s: (order.get(s, order.get(s.split("_")[0], 99)), s not in order, s))


def load(name_or_path: str | Path, arch: str | None = None,
         device: str | torch.device = "auto") -> nn.Module | RandomForest:
    """Load a registry model's shipped weights or a checkpoint file, in eval mode on ``device``.

    ``name_or_path`` is a registry name (its shipped demo weights in ``models/``) or a file: a
    cropviz checkpoint (architecture recorded) or a published BreizhCrops checkpoint
    (``{"model_state": ...}``; give ``arch``). The returned model carries ``cropviz_info``.
    """
    target = Path(name_or_path)
    if not target.exists():
        target = shipped_checkpoint(str(name_or_path))
    if target.suffix == ".npz":
        forest, meta = RandomForest.load_arrays(target)
        info = ModelInfo(**json.loads(meta["cropviz_info"]))
        _finish_info(info, target)
        forest.cropviz_info = info
        return forest
    content = _read_torch_file(target)
    state = content["model_state"]
    if "cropviz_info" in content:
        info = ModelInfo(**json.loads(content["cropviz_info"]))
        if arch and arch != info.arch:
            raise CheckpointError(target, f"holds a {info.arch!r} model, not {arch!r}")
        num_classes, input_dim = len(info.classes), len(info.bands)
    else:
        if arch is None:
            raise CheckpointError(target, "no architecture recorded in the file; pass arch= "
                                  f"(one of {', '.join(registry.names())})")
        spec = registry.spec(arch)
        num_classes, input_dim = _infer_published(state)
        classes = list(BREIZHCROPS_CLASSES) if num_classes == 9 else [f"class {i}" for i in range(num_classes)]
        info = ModelInfo(arch=spec.name, classes=classes, hparams=dict(spec.defaults),
                         bands=list(registry_bands(spec.band_order, input_dim)),
                         sequence_length=spec.sequence_length,
                         trained_on="BreizhCrops (published checkpoint)")
    model = registry.build(info.arch, num_classes=num_classes, input_dim=input_dim,
                           sequence_length=info.sequence_length, **info.hparams)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(target, f"does not fit {info.arch!r} with {num_classes} classes and "
                              f"{input_dim} bands: {_mismatch_message(error, model, state)}") from None
    _finish_info(info, target)
    model.cropviz_info = info  # type: ignore[assignment]  # nn.Module keeps it as a plain attribute
    return model.to(resolve_device(device)).eval()


def registry_bands(order: str, input_dim: int) -> tuple[str, ...]:
    """The band names of a band order with ``input_dim`` bands (L1C for 13, L2A for 10)."""
    from cropviz.data.bands import band_order

    level = "L1C" if input_dim == 13 else "L2A"
    try:
        bands = band_order(level, order)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    return bands if len(bands) == input_dim else tuple(f"band{i}" for i in range(input_dim))


def _finish_info(info: ModelInfo, path: Path) -> None:
    info.path = str(path)
    info.sha256 = file_sha256(path)
    card = path.with_suffix(".json")
    if card.exists():
        info.card = json.loads(card.read_text())
