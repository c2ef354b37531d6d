"""The model's own view of a parcel: its penultimate embedding, and a 2-D projection of many.

The embedding is the input of the classification head, taken generically with a forward
pre-hook on the model's last ``nn.Linear`` whose output size is the number of classes (for
models that classify every time step, such as ELECTS, the last step's input). The hook is
private to one call and removed before it returns; a lock keeps concurrent calls on a shared
model from seeing each other's activations.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
from torch import nn

from cropviz.errors import ConfigurationError
from cropviz.types import IntArray

_HOOK_LOCK = threading.Lock()


def classifier_head(model: nn.Module, num_classes: int) -> nn.Linear:
    """The last ``nn.Linear`` of ``model`` with ``num_classes`` outputs (its classification head)."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    if not heads:
        raise ConfigurationError(f"{type(model).__name__} has no linear layer with {num_classes} outputs; "
                                 "cannot take its penultimate embedding")
    return heads[-1]


def forward_with_embedding(model: nn.Module, x: np.ndarray, num_classes: int, device: torch.device,
                           batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(log-probabilities N x C, embeddings N x E float32) of prepared inputs ``x`` in one pass."""
    head = classifier_head(model, num_classes)
    captured: list[torch.Tensor] = []

    def keep_input(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured.append(args[0].detach())

    log_probs, embeddings = [], []
    with _HOOK_LOCK:
        handle = head.register_forward_pre_hook(keep_input)
        try:
            with torch.inference_mode():
                for start in range(0, len(x), batch_size):
                    captured.clear()
                    batch = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(device)
                    log_probs.append(model(batch).float().cpu().numpy())
                    # models that run large batches in blocks call the head once per block
                    features = torch.cat(captured)
                    if len(features) != len(batch):
                        raise ConfigurationError(f"{type(model).__name__}: its head saw {len(features)} rows "
                                                 f"for a batch of {len(batch)}; cannot take the embedding")
                    if features.ndim == 3:  # one embedding per time step: the last one decides
                        features = features[:, -1]
                    embeddings.append(features.reshape(len(batch), -1).float().cpu().numpy())
        finally:
            handle.remove()
    if not log_probs:
        return np.zeros((0, num_classes), np.float32), np.zeros((0, head.in_features), np.float32)
    return np.concatenate(log_probs), np.concatenate(embeddings).astype(np.float32)


def embed(model: Any, ds: Any, ids: IntArray | None = None, batch_size: int = 256,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate embeddings of parcels ``ids`` (default: all the model reads) of ``ds``.

    ``model`` is a :class:`cropviz.models.Classifier`. Returns (ids, N x E float32). Models that
    are not neural networks (the Random Forest) have no embedding: ConfigurationError.
    """
    if not model.differentiable:
        raise ConfigurationError(f"{model.label}: a {model.name} has no neural embedding")
    model.check_fits(ds)
    wanted = model.parcel_ids(ds) if ids is None else np.asarray(ids, dtype=np.int64)
    out_ids, out = [], []
    for start in range(0, len(wanted), batch_size):
        prepared = model.inputs(ds, wanted[start:start + batch_size], seed=seed)
        _, features = forward_with_embedding(model.model, prepared.x, len(model.classes), model.device, batch_size)
        out_ids.append(prepared.ids)
        out.append(features)
    if not out:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(out_ids), np.concatenate(out)


def project_2d(embeddings: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """UMAP projection N x 2 (float32) of embeddings N x E, seeded (umap-learn, imported here:
    it is slow to import). Fewer than 4 points are placed by PCA instead."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if len(embeddings) < 4:
        centred = embeddings - embeddings.mean(axis=0, keepdims=True)
        if len(embeddings) < 2:
            return np.zeros((len(embeddings), 2), np.float32)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        coords = centred @ vt[:2].T
        return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1]))).astype(np.float32)
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(embeddings) - 1), random_state=seed,
                        n_jobs=1, init="spectral" if len(embeddings) > 10 else "random")
    return reducer.fit_transform(embeddings).astype(np.float32)
