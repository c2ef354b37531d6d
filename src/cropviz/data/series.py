"""Band and index series of parcels, and per-class envelopes over a region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cropviz.data.bands import REFLECTANCE_SCALE
from cropviz.data.indices import INDICES, class_envelope, compute_index

if TYPE_CHECKING:
    from cropviz.data.breizhcrops import BreizhCropsDataset

ENVELOPE_STEP_DAYS = 7


def series_names(spectral_bands: Sequence[str]) -> list[str]:
    """Indices computable from ``spectral_bands``, then the bands themselves."""
    available = set(spectral_bands)
    indices = [name for name, (_, need) in INDICES.items() if set(need) <= available]
    return indices + list(spectral_bands)


def parcel_series(parcel: Any, names: Sequence[str]) -> pd.DataFrame:
    """One column per name: an index, or a band as reflectance (DN / 1e4); index = dates."""
    columns = {}
    for name in names:
        if name in parcel.bands.columns:
            columns[name] = parcel.bands[name].to_numpy(dtype=float) / REFLECTANCE_SCALE
        else:
            columns[name] = compute_index(parcel.bands, name).to_numpy()
    return pd.DataFrame(columns, index=pd.DatetimeIndex(parcel.dates, name="date"))


def season_grid(year: int, step_days: int = ENVELOPE_STEP_DAYS) -> np.ndarray:
    """Dates every ``step_days`` days over calendar year ``year``."""
    return np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"),
                     np.timedelta64(step_days, "D")).astype("datetime64[ns]")


def class_envelopes(dataset: BreizhCropsDataset, name: str, classes: Sequence[str] | None = None,
                    max_parcels: int = 200, clear_only: bool = True, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Mean, spread and quantiles of band or index ``name`` per class on a weekly date grid.

    At most ``max_parcels`` parcels per class (a seeded random sample) are read; cloud-flagged
    observations are left out when ``clear_only``. Returns class name -> envelope table.
    """
    index = dataset.index
    wanted = list(classes) if classes is not None else list(dataset.classes)
    rng = np.random.default_rng(seed)
    grid = season_grid(int(dataset.year))
    result: dict[str, pd.DataFrame] = {}
    for classname in wanted:
        ids = index.loc[index["classname"] == classname, "id"].to_numpy()
        if len(ids) == 0:
            continue
        if len(ids) > max_parcels:
            ids = np.sort(rng.choice(ids, max_parcels, replace=False))
        dates, values = [], []
        for parcel in dataset.parcels(ids):
            series = parcel_series(parcel, [name])[name].to_numpy()
            keep = ~parcel.cloudy if clear_only and (~parcel.cloudy).sum() >= 2 else np.ones(len(series), bool)
            dates.append(parcel.dates[keep])
            values.append(series[keep])
        result[classname] = class_envelope(dates, values, grid)
    return result


def interpolate_to_grid(dates: np.ndarray, values: np.ndarray, cloudy: np.ndarray,
                        grid: np.ndarray) -> np.ndarray:
    """Interpolate T x D ``values`` from clear observations onto ``grid`` (all if none is clear)."""
    keep = ~cloudy if (~cloudy).any() else np.ones(len(dates), dtype=bool)
    t = dates[keep].astype("int64").astype(np.float64)
    g = grid.astype("int64").astype(np.float64)
    v = values[keep]
    return np.stack([np.interp(g, t, v[:, d]) for d in range(v.shape[1])], axis=1).astype(np.float32)


def region_index_grid(dataset: BreizhCropsDataset, name: str, step_days: int = 14, max_parcels: int = 3000,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, grid dates, N x G values) of band or index ``name`` for a region's parcels.

    Values are interpolated from clear observations onto a ``step_days`` grid (a seeded sample of
    at most ``max_parcels`` parcels), for season animations of the region.
    """
    ids = dataset.index["id"].to_numpy()
    if len(ids) > max_parcels:
        ids = np.sort(np.random.default_rng(seed).choice(ids, max_parcels, replace=False))
    grid = season_grid(int(dataset.year), step_days)
    rows = []
    for parcel in dataset.parcels(ids):
        values = parcel_series(parcel, [name]).to_numpy()
        rows.append(interpolate_to_grid(parcel.dates, values, parcel.cloudy, grid)[:, 0])
    return ids, grid, np.stack(rows) if rows else np.zeros((0, len(grid)), np.float32)


def region_season(dataset: BreizhCropsDataset, name: str, step_days: int = 14,
                  max_parcels: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, grid dates, N x G values, N x 2 projected centroids) of ``name`` over the season
    (:func:`region_index_grid` plus where each parcel lies, for season maps)."""
    from cropviz.data.geometry import centroids

    ids, grid, values = region_index_grid(dataset, name, step_days=step_days, max_parcels=max_parcels)
    xy = centroids(dataset.geodataframe()).set_index("id").loc[ids, ["x", "y"]].to_numpy()
    return ids, grid, values, xy
