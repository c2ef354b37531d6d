"""Spectral indices of Sentinel-2 band tables and per-class envelopes on a common date grid.

Ratio indices are scale-free, so DN (reflectance x 1e4) and reflectance give the same values;
EVI has an additive term and is computed on reflectance (DN input is rescaled, see
:func:`compute_index`). Division by zero gives NaN, never inf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from cropviz.data.bands import REFLECTANCE_SCALE
from cropviz.errors import ConfigurationError

_Arrays = dict[str, np.ndarray]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out)] = np.nan
    return out


def _nd(a: str, b: str) -> Callable[[_Arrays], np.ndarray]:
    return lambda x: _ratio(x[a] - x[b], x[a] + x[b])


#: name -> (formula text, required bands). NDWI is McFeeters' water index (green/NIR);
#: NDMI is Gao's moisture index (NIR/SWIR, also published as "NDWI").
INDICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "NDVI": ("(B8 - B4) / (B8 + B4)", ("B8", "B4")),
    "NDWI": ("(B3 - B8) / (B3 + B8)", ("B3", "B8")),
    "NDMI": ("(B8 - B11) / (B8 + B11)", ("B8", "B11")),
    "NDRE": ("(B8 - B5) / (B8 + B5)", ("B8", "B5")),
    "CIre": ("B7 / B5 - 1", ("B7", "B5")),
    "MTCI": ("(B6 - B5) / (B5 - B4)", ("B6", "B5", "B4")),
    "EVI": ("2.5 (B8 - B4) / (B8 + 6 B4 - 7.5 B2 + 1)  (reflectance)", ("B8", "B4", "B2")),
}

_FORMULAS: dict[str, Callable[[_Arrays], np.ndarray]] = {
    "NDVI": _nd("B8", "B4"),
    "NDWI": _nd("B3", "B8"),
    "NDMI": _nd("B8", "B11"),
    "NDRE": _nd("B8", "B5"),
    "CIre": lambda x: _ratio(x["B7"], x["B5"]) - 1.0,
    "MTCI": lambda x: _ratio(x["B6"] - x["B5"], x["B5"] - x["B4"]),
    "EVI": lambda x: 2.5 * _ratio(x["B8"] - x["B4"], x["B8"] + 6 * x["B4"] - 7.5 * x["B2"] + 1.0),
}


def index_name(name: str) -> str:
    """Return the canonical spelling of index ``name`` (case-insensitive), or raise."""
    for key in INDICES:
        if key.lower() == str(name).lower():
            return key
    raise ConfigurationError(f"unknown spectral index {name!r}; choose one of {', '.join(INDICES)}")


def index_array(values: np.ndarray, bands: Sequence[str], name: str = "NDVI") -> np.ndarray:
    """Spectral index ``name`` of an array whose last axis holds ``bands`` (reflectance, any
    leading shape: T x D model inputs, T x D x H x W patches moved to the end, ...).

    The same formulas as :func:`compute_index`; NaN where a denominator is zero."""
    key = index_name(name)
    bands = list(bands)
    missing = [b for b in INDICES[key][1] if b not in bands]
    if missing:
        raise ConfigurationError(f"index {key} needs bands {', '.join(INDICES[key][1])}; "
                                 f"missing {', '.join(missing)} (available: {', '.join(bands)})")
    arrays = {b: np.asarray(values[..., bands.index(b)], dtype=np.float64) for b in INDICES[key][1]}
    return _FORMULAS[key](arrays)


def compute_index(bands: pd.DataFrame, name: str, scale: float | None = None) -> pd.Series:
    """Compute spectral index ``name`` per row of ``bands`` (columns = band names).

    ``scale`` divides the bands before EVI (the only non-ratio index): None detects DN input
    (any absolute value above 2 means DN, divided by 1e4). Returns a float Series named after
    the index with the index of ``bands``; NaN where a denominator is zero or a band is NaN.
    """
    key = index_name(name)
    required = INDICES[key][1]
    missing = [b for b in required if b not in bands.columns]
    if missing:
        raise ConfigurationError(
            f"index {key} needs bands {', '.join(required)}; missing {', '.join(missing)} "
            f"(available: {', '.join(map(str, bands.columns))})")
    arrays = {b: bands[b].to_numpy(dtype=np.float64) for b in required}
    if key == "EVI":
        if scale is None:
            values = np.concatenate(list(arrays.values()))
            scale = REFLECTANCE_SCALE if np.nanmax(np.abs(values), initial=0.0) > 2.0 else 1.0
        arrays = {b: a / scale for b, a in arrays.items()}
    return pd.Series(_FORMULAS[key](arrays), index=bands.index, name=key)


def _days(dates: Sequence | np.ndarray) -> np.ndarray:
    """Dates (anything pandas parses) as float days since the epoch."""
    stamps = pd.to_datetime(np.asarray(dates)).to_numpy(dtype="datetime64[ns]")
    return stamps.astype("int64") / 86_400e9


def class_envelope(dates_list: Sequence, values_list: Sequence, grid: Sequence | np.ndarray,
                   quantiles: tuple[float, float] = (0.1, 0.9)) -> pd.DataFrame:
    """Mean, std and quantiles over parcels of series interpolated on a common date grid.

    Each parcel's (dates, values) is sorted, NaNs dropped and linearly interpolated onto
    ``grid``; grid dates outside a parcel's observed range are not extrapolated (NaN) and do not
    count. Returns a DataFrame indexed by the grid dates with columns
    ``mean, std`` (population std, ddof=0), ``q10, q90`` (or the requested quantiles) and ``n``.
    """
    if len(dates_list) != len(values_list):
        raise ConfigurationError(
            f"class_envelope got {len(dates_list)} date arrays but {len(values_list)} value arrays")
    grid_index = pd.DatetimeIndex(pd.to_datetime(np.asarray(grid)))
    g = _days(grid_index)
    stack = np.full((len(values_list), len(g)), np.nan)
    for i, (d, v) in enumerate(zip(dates_list, values_list, strict=False)):
        x = _days(d)
        y = np.asarray(v, dtype=np.float64)
        if x.shape != y.shape:
            raise ConfigurationError(
                f"class_envelope: parcel {i} has {x.size} dates but {y.size} values")
        ok = np.isfinite(y)
        x, y = x[ok], y[ok]
        if x.size == 0:
            continue
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        inside = (g >= x[0]) & (g <= x[-1])
        stack[i, inside] = np.interp(g[inside], x, y)
    n = np.isfinite(stack).sum(axis=0)
    lo_name, hi_name = (f"q{round(q * 100):02d}" for q in quantiles)
    out = pd.DataFrame(index=grid_index, columns=["mean", "std", lo_name, hi_name], dtype=float)
    has = n > 0
    if has.any():
        sub = stack[:, has]
        with np.errstate(invalid="ignore"):
            out.loc[has, "mean"] = np.nanmean(sub, axis=0)
            out.loc[has, "std"] = np.nanstd(sub, axis=0)
            out.loc[has, lo_name] = np.nanquantile(sub, quantiles[0], axis=0)
            out.loc[has, hi_name] = np.nanquantile(sub, quantiles[1], axis=0)
    out["n"] = n
    return out
