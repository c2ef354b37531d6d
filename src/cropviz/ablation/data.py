"""Seed 004 ablation data: patches or series of regions read once, folds, region splits and
the inputs of each epoch (ordered or per-parcel shuffled time)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from cropviz.data.bands import BREIZHCROPS_SEQUENCE_LENGTH
from cropviz.errors import ConfigurationError, DatasetError
from cropviz.models import registry
from cropviz.models.classifier import normalize_patches
from cropviz.models.inputs import from_series, prepare, read_series, time_permutation
from cropviz.types import IntArray


@dataclass
class AblationData:
    """Parcels of one or more regions prepared once: ``payload`` is raw reflectance patches
    (N x T x 10 x 32 x 32) or a list of raw series (sequence models)."""

    ids: np.ndarray
    labels: np.ndarray
    regions: np.ndarray
    payload: Any
    classes: list[str]
    form: str
    year: int

    def __len__(self) -> int:
        return len(self.ids)


def open_region(root: str | Path, region: str, year: int, level: str) -> Any:
    """One region of the dataset at ``root``."""
    from cropviz.data import open_breizhcrops

    return open_breizhcrops(root, region, year=year, level=level)


def load_patches(root: str | Path, regions: Sequence[str], year: int = 2017, level: str = "L1C",
                 limit: int | None = None) -> AblationData:
    """Patch parcels of ``regions`` (at most ``limit`` per region, first in index order)."""
    parts, classes = [], None
    for region in regions:
        ds = open_region(root, region, year, level)
        patches = ds.patches()
        if patches is None:
            raise DatasetError(Path(root) / str(year) / "patches", f"no patches for region {region} "
                               "(seed 004 models need <root>/<year>/patches/<region>.csv)")
        have = set(int(i) for i in patches.ids)
        ids = np.array([i for i in ds.index["id"] if int(i) in have], dtype=np.int64)[:limit]
        if classes is None:
            classes = list(ds.classes)
        elif list(ds.classes) != classes:
            raise DatasetError(ds.root, f"region {region} has other classes than {regions[0]}")
        prepared = prepare(ds, ids, registry.PATCH)
        parts.append((prepared, region))
    return AblationData(ids=np.concatenate([p.ids for p, _ in parts]),
                        labels=np.concatenate([p.labels for p, _ in parts]),
                        regions=np.concatenate([[r] * len(p.ids) for p, r in parts]),
                        payload=np.concatenate([p.x for p, _ in parts]), classes=classes or [],
                        form=registry.PATCH, year=year)


def load_sequences(root: str | Path, regions: Sequence[str], year: int = 2017, level: str = "L1C",
                   limit: int | None = None) -> AblationData:
    """Raw series of every parcel of ``regions`` (at most ``limit`` per region), BreizhCrops band order."""
    series, regs, classes = [], [], None
    for region in regions:
        ds = open_region(root, region, year, level)
        if classes is None:
            classes = list(ds.classes)
        elif list(ds.classes) != classes:
            raise DatasetError(ds.root, f"region {region} has other classes than {regions[0]}")
        ids = ds.index["id"].to_numpy()[:limit]
        part = read_series(ds, ids, "breizhcrops")
        series += part
        regs += [region] * len(part)
    return AblationData(ids=np.array([s.id for s in series], dtype=np.int64),
                        labels=np.array([s.classid for s in series], dtype=np.int64),
                        regions=np.array(regs), payload=series, classes=classes or [],
                        form=registry.SEQUENCE, year=year)


def shuffle_time(x: np.ndarray, ids: IntArray, seed: int) -> np.ndarray:
    """A copy of ``x`` (N x T x ...) with each parcel's time axis permuted by
    ``time_permutation(T, seed, id)``: the permutation shuffled checkpoints apply at inference."""
    ids = np.asarray(ids)
    if len(ids) != len(x):
        raise ConfigurationError(f"shuffle_time: {len(ids)} ids for {len(x)} parcels")
    out = np.empty_like(x)
    for row, parcel_id in enumerate(ids):
        out[row] = x[row][time_permutation(x.shape[1], seed, int(parcel_id))]
    return out


def fold_splits(labels: IntArray, folds: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Stratified, seeded cross-validation splits: fold k tests on part k, validates on part k+1
    and trains on the rest (3:1:1 for 5 folds). Returns index arrays ``train, val, test``."""
    labels = np.asarray(labels)
    if folds < 3:
        raise ConfigurationError(f"folds={folds}: cross-validation needs at least 3 folds (train, val, test)")
    if len(labels) < folds:
        raise ConfigurationError(f"folds={folds}: only {len(labels)} parcels")
    with warnings.catch_warnings():  # rare classes with fewer members than folds are expected
        warnings.simplefilter("ignore", UserWarning)
        parts = [test for _, test in StratifiedKFold(folds, shuffle=True, random_state=seed)
                 .split(np.zeros(len(labels)), labels)]
    splits = []
    for k in range(folds):
        val = parts[(k + 1) % folds]
        train = np.sort(np.concatenate([p for j, p in enumerate(parts) if j not in (k, (k + 1) % folds)]))
        splits.append({"train": train, "val": np.sort(val), "test": np.sort(parts[k])})
    return splits


def region_split(data: AblationData, train: Sequence[str], val: str, test: str) -> dict[str, np.ndarray]:
    """Index arrays of a split by region."""
    split = {"train": np.flatnonzero(np.isin(data.regions, list(train))),
             "val": np.flatnonzero(data.regions == val), "test": np.flatnonzero(data.regions == test)}
    for part, index in split.items():
        if len(index) == 0:
            raise ConfigurationError(f"the {part} part of the split ({train}/{val}/{test}) has no parcels")
    return split


def model_inputs(data: AblationData, index: np.ndarray, shuffled: bool, seed: int, draw: int,
                 normalization: dict | None) -> np.ndarray:
    """Model inputs of parcels ``index``: patches (normalised, shuffled per parcel when asked) or
    sequences with observations drawn by ``draw`` (a new draw each training epoch)."""
    if data.form == registry.PATCH:
        x = data.payload[index]
        x = shuffle_time(x, data.ids[index], seed) if shuffled else x
        return x if normalization is None else normalize_patches(x, normalization)
    return from_series([data.payload[i] for i in index], registry.SEQUENCE, year=data.year,
                       sequence_length=BREIZHCROPS_SEQUENCE_LENGTH, seed=draw, shuffle_time=shuffled,
                       shuffle_seed=seed).x
