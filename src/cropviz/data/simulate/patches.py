"""32 x 32 parcel patches (seed 004 form): 24 dates, 10 bands, in-field texture, zeros outside.

A patch is rendered at Sentinel-2's 10 m pixels over the parcel's bounding box and resized to
32 x 32 (nearest neighbour), as in seed 004, where most parcels are upsampled. The in-field texture (soil
brightness and crop vigour fields) is drawn from one distribution for every class, so space
tells little about the crop beyond the parcel's season. Cloudy pixels are filled by linear
interpolation in time between the previous and next clear dates, as the paper's preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.transform import from_bounds
from scipy.ndimage import gaussian_filter
from shapely.geometry.base import BaseGeometry

from . import clouds, spectra
from .phenology import fractions

SIZE = 32
N_DATES = 24
#: Indices of the patch bands (B2 B3 B4 B5 B6 B7 B8 B8A B11 B12) among the 13 L1C bands.
BAND_INDEX = np.array([1, 2, 3, 4, 5, 6, 7, 8, 11, 12])
#: Sentinel-2 pixel size (m) of the native grid before resizing to SIZE x SIZE.
NATIVE_M = 10.0
#: Patch bands observed at 20 m (B5 B6 B7 B8A B11 B12): 2 x 2 native pixels share one value.
BANDS_20M = np.array([3, 4, 5, 7, 8, 9])
#: Ranges of the texture amplitudes, the same for every class: relative soil / canopy brightness
#: and relative green-cover vigour, and the texture's correlation length in native pixels.
BRIGHT_AMP = (0.01, 0.03)
VIGOUR_AMP = (0.03, 0.10)
CORRELATION_PX = (2.0, 5.0)


def patch_doy() -> np.ndarray:
    """Days of year of the 24 patch dates, January to October 2017."""
    return np.round(np.linspace(8, 296, N_DATES)).astype(int)


def patch_dates() -> np.ndarray:
    """The patch dates as datetime64[D]."""
    return np.datetime64(f"{clouds.YEAR}-01-01") + (patch_doy() - 1).astype("timedelta64[D]")


def _field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Standardised smooth random field of ``shape`` (correlation length ``sigma`` pixels)."""
    f = gaussian_filter(rng.normal(0, 1, shape), sigma, mode="reflect")
    return (f - f.mean()) / max(float(f.std()), 1e-9)


def texture(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Class-independent in-field texture on a native grid: relative brightness and vigour fields."""
    sigma = rng.uniform(*CORRELATION_PX)
    bright = rng.uniform(*BRIGHT_AMP) * _field(rng, shape, sigma)
    vigour = rng.uniform(*VIGOUR_AMP) * _field(rng, shape, sigma)
    return bright, vigour


def cloud_mask(rng: np.random.Generator, doy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool T x H x W: cloudy (or shadowed) pixels, whole or partial cover on about a third of dates."""
    T = len(doy)
    cloudy = rng.random(T) < 0.22 + 0.16 * np.cos(2 * np.pi * (doy - 10) / 365.0)
    mask = np.zeros((T, *shape), dtype=bool)
    for t in np.flatnonzero(cloudy):
        mask[t] = _field(rng, shape, max(shape) / 3) + rng.uniform(-1.0, 2.5) > 0
    return mask


def fill_clouds(refl: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace masked values (T x P x B, mask T x P) by linear interpolation in time between the
    previous and next clear dates of the pixel (nearest clear date at the ends; kept if none)."""
    T = refl.shape[0]
    t = np.arange(T)[:, None]
    clear = ~mask
    prev = np.maximum.accumulate(np.where(clear, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(clear, t, T)[::-1], axis=0)[::-1]
    has = np.asarray(clear.any(axis=0))[None, :]
    prev_ok, next_ok = prev >= 0, nxt < T
    lo = np.where(prev_ok, prev, nxt).clip(0, T - 1)
    hi = np.where(next_ok, nxt, prev).clip(0, T - 1)
    w = np.where(prev_ok & next_ok, (t - lo) / np.maximum(hi - lo, 1), 0.0)[..., None]
    a = np.take_along_axis(refl, lo[..., None], axis=0)
    b = np.take_along_axis(refl, hi[..., None], axis=0)
    filled = (1 - w) * a + w * b
    return np.where((mask & has)[..., None], filled, refl)


def _coarsen(x: np.ndarray) -> np.ndarray:
    """Means of 2 x 2 pixel blocks of the last two axes, repeated back to the input's shape."""
    h, w = x.shape[-2:]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, h % 2), (0, w % 2)], mode="edge")
    blocks = padded.reshape(*x.shape[:-2], (h + 1) // 2, 2, (w + 1) // 2, 2).mean(axis=(-3, -1))
    return blocks.repeat(2, axis=-2).repeat(2, axis=-1)[..., :h, :w]


def render(poly: BaseGeometry, params: dict[str, np.ndarray], row: int, ends: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, Affine]:
    """Patch DN array (24*10, 32, 32) uint16 for one parcel, and its affine transform.

    ``ends``: the parcel's endmember matrix (5 x 13, ``spectra.endmembers``). Everything drawn
    from ``rng`` (texture, noise, clouds) is independent of the parcel's class.
    """
    xmin, ymin, xmax, ymax = poly.bounds
    transform = from_bounds(xmin, ymin, xmax, ymax, SIZE, SIZE)
    inside = geometry_mask([poly], out_shape=(SIZE, SIZE), transform=transform, invert=True)
    if not inside.any():
        inside[SIZE // 2, SIZE // 2] = True
    shape = (int(np.clip(np.ceil((ymax - ymin) / NATIVE_M), 2, SIZE)),
             int(np.clip(np.ceil((xmax - xmin) / NATIVE_M), 2, SIZE)))
    P = shape[0] * shape[1]
    doy = patch_doy()
    g, d, f = fractions(params, doy, np.array([row]))                  # 1 x T
    bright, vigour = texture(rng, shape)
    mod = np.clip(1 + vigour, 0.3, 1.7).reshape(1, -1)                # 1 x P
    gp = np.clip(g.T * mod, 0, 0.98)                                    # T x P
    fp = np.clip(f.T * mod, 0, 1)
    dp = np.broadcast_to(d.T, gp.shape)
    tot = np.maximum(gp + dp + fp, 1e-9)
    s = np.where(tot > 0.98, 0.98 / tot, 1.0)
    gp, dp, fp = gp * s, dp * s, fp * s
    T = len(doy)
    moist = np.clip(0.9 + 0.12 * np.sin(2 * np.pi * (doy - 110) / 365), 0.7, 1.1)
    refl = spectra.surface(gp.reshape(1, -1), dp.reshape(1, -1), fp.reshape(1, -1),
                           np.repeat(moist, P)[None, :], ends[None, :, BAND_INDEX]).reshape(T, P, -1)
    refl *= (1 + bright.reshape(1, P, 1)) * (1 + rng.normal(0, 0.01, (T, 1, len(BAND_INDEX))))
    refl = fill_clouds(refl, cloud_mask(rng, doy, shape).reshape(T, P))
    native = refl.reshape(T, *shape, -1).transpose(0, 3, 1, 2)         # T x B x H x W
    native[:, BANDS_20M] = _coarsen(native[:, BANDS_20M])
    native = np.clip(np.round(native * 1e4), 1, 65535).astype(np.uint16)
    rows = ((np.arange(SIZE) + 0.5) * shape[0] / SIZE).astype(int)
    cols = ((np.arange(SIZE) + 0.5) * shape[1] / SIZE).astype(int)
    dn = native[:, :, rows][:, :, :, cols]                              # nearest resize to SIZE x SIZE
    dn = dn.reshape(T * len(BAND_INDEX), SIZE, SIZE)
    dn[:, ~inside] = 0
    return dn, transform


def write(path: Path, dn: np.ndarray, transform: Affine) -> None:
    """Write a patch GeoTIFF (EPSG:2154, DEFLATE + horizontal predictor, pixel interleaved)."""
    with rasterio.open(path, "w", driver="GTiff", height=SIZE, width=SIZE, count=dn.shape[0],
                       dtype="uint16", crs="EPSG:2154", transform=transform, nodata=0,
                       compress="deflate", predictor=2, interleave="pixel", tiled=True,
                       blockxsize=SIZE, blockysize=SIZE) as dst:
        dst.write(dn)
