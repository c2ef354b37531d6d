"""32 x 32 parcel patches (seed 004 form): 24 dates, 10 bands, in-field texture, zeros outside."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.transform import from_bounds
from scipy.ndimage import zoom
from shapely.geometry.base import BaseGeometry

from . import clouds, spectra
from .phenology import fractions

SIZE = 32
N_DATES = 24
#: Indices of the patch bands (B2 B3 B4 B5 B6 B7 B8 B8A B11 B12) among the 13 L1C bands.
BAND_INDEX = np.array([1, 2, 3, 4, 5, 6, 7, 8, 11, 12])
#: Amplitude of row / track modulation of green cover per class kind (see phenology._NAMES).
ROW_AMP = np.array([0.05, 0.05, 0.05, 0.14, 0.14, 0.35, 0.4, 0.0, 0.03])
PIXEL_NOISE = 0.0008
HET_AMP = np.array([0.06, 0.06, 0.07, 0.08, 0.08, 0.1, 0.1, 0.14, 0.1])


def patch_doy() -> np.ndarray:
    """Days of year of the 24 patch dates, January to October 2017."""
    return np.round(np.linspace(8, 296, N_DATES)).astype(int)


def patch_dates() -> np.ndarray:
    """The patch dates as datetime64[D]."""
    return np.datetime64(f"{clouds.YEAR}-01-01") + (patch_doy() - 1).astype("timedelta64[D]")


def _smooth(rng: np.random.Generator, coarse: int = 4) -> np.ndarray:
    return zoom(rng.normal(0, 1, (coarse, coarse)), SIZE / coarse, order=1, mode="nearest")


def render(poly: BaseGeometry, params: dict[str, np.ndarray], row: int, ends: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, Affine]:
    """Patch DN array (24*10, 32, 32) uint16 for one parcel, and its affine transform.

    ``ends``: the parcel's endmember matrix (5 x 13, ``spectra.endmembers``).
    """
    xmin, ymin, xmax, ymax = poly.bounds
    transform = from_bounds(xmin, ymin, xmax, ymax, SIZE, SIZE)
    inside = geometry_mask([poly], out_shape=(SIZE, SIZE), transform=transform, invert=True)
    if not inside.any():
        inside[SIZE // 2, SIZE // 2] = True
    doy = patch_doy()
    g, d, f = fractions(params, doy, np.array([row]))                  # 1 x T
    kind = int(params["kind"][row])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    theta, period = rng.uniform(0, np.pi), rng.uniform(2.5, 5.0)
    rows = np.cos(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    vig = 1 + HET_AMP[kind] * _smooth(rng)
    mod = np.clip(vig * (1 + ROW_AMP[kind] * rows), 0.2, 1.6).reshape(1, -1)   # 1 x P
    gp = np.clip(g.T * mod, 0, 0.98)                                     # T x P
    dp = np.clip(d.T * (1 + 0.1 * _smooth(rng)).reshape(1, -1), 0, 1)
    fp = np.clip(f.T * mod, 0, 1)
    tot = np.maximum(gp + dp + fp, 1e-9)
    s = np.where(tot > 0.98, 0.98 / tot, 1.0)
    gp, dp, fp = gp * s, dp * s, fp * s
    T, P = gp.shape
    moist = np.clip(0.9 + 0.12 * np.sin(2 * np.pi * (doy - 110) / 365), 0.7, 1.1)
    refl = spectra.surface(gp.reshape(1, -1), dp.reshape(1, -1), fp.reshape(1, -1),
                           np.repeat(moist, P)[None, :], ends[None, :, BAND_INDEX]).reshape(T, P, -1)
    refl *= 1 + rng.normal(0, 0.01, (T, 1, len(BAND_INDEX)))
    refl += rng.normal(0, PIXEL_NOISE, refl.shape)
    # A few cloudy dates: a bright blob over part of the patch.
    cloudy = rng.random(T) < 0.08 + 0.1 * (np.abs(doy - 180) / 180)
    for t in np.flatnonzero(cloudy):
        alpha = np.clip(_smooth(rng, 2).reshape(-1) + rng.uniform(-0.5, 0.8), 0, 1)[:, None]
        cloud = rng.uniform(0.3, 0.8) * clouds.CLOUD_SHAPE[BAND_INDEX]
        refl[t] = (1 - alpha) * refl[t] + alpha * cloud
    dn = np.clip(np.round(refl * 1e4), 1, 65535).astype(np.uint16)   # T x P x 10
    dn = dn.transpose(0, 2, 1).reshape(T * len(BAND_INDEX), SIZE, SIZE)
    dn[:, ~inside] = 0
    return dn, transform


def write(path: Path, dn: np.ndarray, transform: Affine) -> None:
    """Write a patch GeoTIFF (EPSG:2154, DEFLATE + horizontal predictor, pixel interleaved)."""
    with rasterio.open(path, "w", driver="GTiff", height=SIZE, width=SIZE, count=dn.shape[0],
                       dtype="uint16", crs="EPSG:2154", transform=transform, nodata=0,
                       compress="deflate", predictor=2, interleave="pixel") as dst:
        dst.write(dn)
