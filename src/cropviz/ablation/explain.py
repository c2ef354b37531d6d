"""One parcel as an ablation model sees it: the NDVI of its input sequence in input order, and
attributions of patch models through a flattening wrapper."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cropviz.data.bands import PATCH_BANDS
from cropviz.data.indices import index_array
from cropviz.errors import ConfigurationError
from cropviz.models import registry
from cropviz.models.inputs import prepare

if TYPE_CHECKING:
    from cropviz.data.breizhcrops import BreizhCropsDataset


def input_ndvi(classifier: Any, dataset: BreizhCropsDataset, parcel_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(dates, NDVI) of the model input sequence of one parcel *in input order* (shuffled for a
    shuffled checkpoint); for patches, the mean NDVI over pixels inside the parcel."""
    info = classifier.info
    raw = prepare(dataset, [int(parcel_id)], classifier.spec.input_form, order=info.band_order,
                  sequence_length=info.sequence_length, shuffle_time=info.shuffle_time,
                  shuffle_seed=info.shuffle_seed)
    bands = list(PATCH_BANDS if classifier.spec.input_form == registry.PATCH else info.bands)
    x = raw.x[0]
    ndvi = index_array(np.moveaxis(x, 1, -1) if x.ndim == 4 else x, bands, "NDVI")
    if ndvi.ndim == 3:  # T x H x W patches: mean over in-parcel pixels
        inside = (raw.x[0] != 0).any(axis=1)
        ndvi = np.array([np.nanmean(v[m]) if m.any() else np.nan for v, m in zip(ndvi, inside, strict=False)])
    return raw.dates[0], ndvi.astype(np.float32)


class _Flat(torch.nn.Module):
    """Makes a patch model take N x T x (C*H*W) so sequence attribution methods apply."""

    def __init__(self, model: torch.nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.model, self.shape = model, shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], x.shape[1], *self.shape))


def explain_input(classifier: Any, dataset: BreizhCropsDataset, parcel_id: int, method: str = "integrated_gradients",
                  target: int | None = None, **options: Any) -> Any:
    """Attribution (``cropviz.explain.attribute``) of one parcel's model input, in input order.
    Patch inputs are flattened per date, so ``values`` is T x (C*H*W) and ``per_observation`` T."""
    from cropviz.explain import attribute

    if not classifier.differentiable:
        raise ConfigurationError(f"{classifier.name}: gradient attributions need a neural network")
    x = classifier.inputs(dataset, [int(parcel_id)]).x[0]
    model = classifier.model
    if x.ndim == 4:
        model, x = _Flat(model, x.shape[1:]), x.reshape(x.shape[0], -1)
    return attribute(model, x, method, target=target, **options)
