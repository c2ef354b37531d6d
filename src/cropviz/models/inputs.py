"""Turning parcels of a dataset into model inputs, the same way at training and at inference.

Three input forms (see ``cropviz.models.registry``):

- ``sequence``: the BreizhCrops default transform. Reflectance (DN x 1e-4) in a stated band
  order; ``L`` observations drawn without replacement (with replacement when the parcel has fewer
  than ``L``) and sorted in time, exactly as the package draws them, but seeded by
  ``(seed, parcel id)`` so a parcel always gets the same observations for a seed.
- ``grid``: reflectance linearly interpolated from the clear observations onto a fixed grid of
  dates (every ``GRID_STEP_DAYS`` days over the calendar year), for feature-based baselines.
- ``patch``: the seed 004 parcel patches, T x 10 x 32 x 32 reflectance.

``shuffle_time`` permutes the time axis of each parcel with a permutation seeded by
``(shuffle_seed, parcel id)``: a true permutation (same multiset of observations), identical at
training and evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cropviz.data.bands import REFLECTANCE_SCALE, band_order
from cropviz.data.breizhcrops import RawSeries, sample_indices
from cropviz.data.series import interpolate_to_grid
from cropviz.errors import DatasetError
from cropviz.types import IntArray

if TYPE_CHECKING:
    from cropviz.data.breizhcrops import BreizhCropsDataset

GRID_STEP_DAYS = 10


@dataclass
class ModelInput:
    """A batch of parcels prepared for one model: arrays plus what each time step is."""

    ids: np.ndarray  # N parcel ids
    x: np.ndarray  # float32, N x T x D (sequence, grid) or N x T x C x H x W (patch)
    dates: np.ndarray  # N x T datetime64[ns]: the date of each time step
    cloudy: np.ndarray | None  # N x T bool (None for patches)
    labels: np.ndarray  # N class ids (-1 when unknown)

    def __len__(self) -> int:
        return len(self.ids)


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in keys])


def time_permutation(length: int, shuffle_seed: int, parcel_id: int) -> np.ndarray:
    """The time-order permutation applied to one parcel in the shuffled-order ablation."""
    return _rng(shuffle_seed, parcel_id, 7919).permutation(length)


def grid_dates(year: int) -> np.ndarray:
    """The fixed date grid of the ``grid`` input form: every GRID_STEP_DAYS days of ``year``."""
    start = np.datetime64(f"{year}-01-01")
    end = np.datetime64(f"{year + 1}-01-01")
    return np.arange(start, end, np.timedelta64(GRID_STEP_DAYS, "D")).astype("datetime64[ns]")


def readable_ids(dataset: BreizhCropsDataset, input_form: str) -> np.ndarray:
    """The parcels of ``dataset`` a model of ``input_form`` can read: all, or those with a patch."""
    ids = dataset.index["id"].to_numpy(dtype=np.int64)
    if input_form == "patch":
        patches = dataset.patches()
        with_patch = set() if patches is None else {int(i) for i in patches.ids}
        ids = np.array([i for i in ids if int(i) in with_patch], dtype=np.int64)
    return ids


def read_series(dataset: BreizhCropsDataset, ids: IntArray, order: str = "breizhcrops") -> list[RawSeries]:
    """Read parcels ``ids`` once as arrays: reflectance in band ``order``, dates, cloud mask."""
    bands = list(band_order(dataset.level, order))
    return [raw._replace(values=raw.values * (1.0 / REFLECTANCE_SCALE))
            for raw in dataset.raw_series(np.asarray(ids, dtype=np.int64), bands)]


def from_series(series: Sequence[RawSeries], input_form: str, *, year: int,
                sequence_length: int | None = 45, seed: int = 0, shuffle_time: bool = False,
                shuffle_seed: int = 0) -> ModelInput:
    """Model inputs of already-read parcels (cheap: call it again for another sampling seed)."""
    xs, dates, clouds = [], [], []
    grid = grid_dates(year) if input_form == "grid" else None
    rng = np.random.RandomState(0)
    for raw in series:
        if grid is not None:
            xs.append(interpolate_to_grid(raw.dates, raw.values, raw.cloudy, grid))
            dates.append(grid)
            clouds.append(np.zeros(len(grid), dtype=bool))
        else:
            length = sequence_length or len(raw.dates)
            index = sample_indices(len(raw.dates), length, seed, raw.id, rng=rng)
            xs.append(raw.values[index].astype(np.float32))
            dates.append(raw.dates[index])
            clouds.append(raw.cloudy[index])
    result = ModelInput(ids=np.array([raw.id for raw in series], dtype=np.int64),
                        x=np.stack(xs) if xs else np.zeros((0, 0, 0), np.float32),
                        dates=np.stack(dates) if dates else np.zeros((0, 0), "datetime64[ns]"),
                        cloudy=np.stack(clouds) if clouds else np.zeros((0, 0), bool),
                        labels=np.array([raw.classid for raw in series], dtype=np.int64))
    if shuffle_time:
        _shuffle_in_place(result, shuffle_seed)
    return result


def prepare(dataset: BreizhCropsDataset, ids: IntArray, input_form: str, *, order: str = "breizhcrops",
            sequence_length: int | None = 45, seed: int = 0, shuffle_time: bool = False,
            shuffle_seed: int = 0) -> ModelInput:
    """Prepare parcels ``ids`` of ``dataset`` for a model taking ``input_form``."""
    if input_form == "patch":
        result = _prepare_patches(dataset, np.asarray(ids, dtype=np.int64))
        if shuffle_time:
            _shuffle_in_place(result, shuffle_seed)
        return result
    return from_series(read_series(dataset, ids, order), input_form, year=int(dataset.year),
                       sequence_length=sequence_length, seed=seed, shuffle_time=shuffle_time,
                       shuffle_seed=shuffle_seed)


def _prepare_patches(dataset: BreizhCropsDataset, ids: np.ndarray) -> ModelInput:
    patches = dataset.patches()
    if patches is None:
        raise DatasetError(dataset.root, f"has no parcel patches for {dataset.region} (the patch models need "
                           "<root>/<year>/patches/); choose a sequence model")
    x = np.stack([patches.read(int(i)) for i in ids]).astype(np.float32)
    labels = dataset.index.set_index("id").loc[ids, "classid"].to_numpy(dtype=np.int64)
    dates = np.broadcast_to(np.asarray(patches.dates, dtype="datetime64[ns]"), (len(ids), x.shape[1]))
    return ModelInput(ids=ids, x=x, dates=np.array(dates), cloudy=None, labels=labels)


def _shuffle_in_place(model_input: ModelInput, shuffle_seed: int) -> None:
    length = model_input.x.shape[1]
    for row, parcel_id in enumerate(model_input.ids):
        perm = time_permutation(length, shuffle_seed, int(parcel_id))
        model_input.x[row] = model_input.x[row][perm]
        model_input.dates[row] = model_input.dates[row][perm]
        if model_input.cloudy is not None:
            model_input.cloudy[row] = model_input.cloudy[row][perm]
