"""Linear spectral mixing of endmembers (FIELD.md section 5) and a simple L1C atmosphere."""

from __future__ import annotations

import numpy as np

#: The 13 Sentinel-2 bands in wavelength order (L1C spectral bands).
BANDS: tuple[str, ...] = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")

#: Surface reflectance endmembers, FIELD.md table; flowers: yellow rapeseed petals (green/red high).
GREEN = np.array([0.03, 0.03, 0.07, 0.03, 0.10, 0.30, 0.38, 0.40, 0.42, 0.12, 0.0, 0.20, 0.10])
SOIL = np.array([0.08, 0.08, 0.11, 0.14, 0.17, 0.19, 0.21, 0.23, 0.24, 0.09, 0.0, 0.32, 0.26])
DRY = np.array([0.06, 0.07, 0.10, 0.12, 0.16, 0.22, 0.25, 0.27, 0.28, 0.10, 0.0, 0.35, 0.27])
FLOWER = np.array([0.04, 0.05, 0.19, 0.17, 0.24, 0.31, 0.36, 0.38, 0.39, 0.12, 0.0, 0.24, 0.13])

#: L1C path radiance (reflectance units, mean aerosol load) and two-way transmittance per band.
PATH = np.array([0.095, 0.070, 0.045, 0.030, 0.026, 0.022, 0.019, 0.017, 0.016, 0.010, 0.001, 0.004, 0.002])
TRANS = np.array([0.78, 0.82, 0.88, 0.91, 0.92, 0.93, 0.94, 0.95, 0.95, 0.55, 0.05, 0.96, 0.93])
#: Band-specific leaf chlorophyll / structure sensitivity used for per-parcel green variation.
_CHL = np.array([0.3, 0.4, 1.0, 0.5, 0.9, 0.4, 0.2, 0.0, 0.0, 0.1, 0.0, 0.3, 0.3])
_NIR = np.array([0.0, 0.0, 0.1, 0.0, 0.2, 0.8, 1.0, 1.0, 1.0, 0.8, 0.0, 0.3, 0.1])


def endmembers(soil_bright: np.ndarray, chl: np.ndarray, lai: np.ndarray) -> np.ndarray:
    """Per-parcel endmember matrix N x 5 x 13: green, dry, flower, soil, dense-canopy NIR excess.

    ``soil_bright``, ``chl`` and ``lai`` (N,) vary soil brightness and leaf optics per parcel.
    """
    n = len(soil_bright)
    g_end = GREEN[None, :] * (1 + chl[:, None] * _CHL[None, :] * 0.35) * (1 + lai[:, None] * _NIR * 0.12)
    return np.stack([g_end, np.broadcast_to(DRY, (n, 13)), np.broadcast_to(FLOWER, (n, 13)),
                     SOIL[None, :] * soil_bright[:, None], np.broadcast_to(0.06 * _NIR, (n, 13))], 1)


def surface(green: np.ndarray, dry: np.ndarray, flower: np.ndarray, soil_moist: np.ndarray,
            ends: np.ndarray) -> np.ndarray:
    """Bottom-of-atmosphere reflectance N x T x B from cover fractions (N x T) by linear mixing.

    ``soil_moist`` (N x T) darkens wet soil; ``ends`` (N x 5 x B) from ``endmembers``. Dense
    canopies scatter more in NIR than the linear mix predicts (the squared-green term).
    """
    soil = np.clip(1.0 - green - dry - flower, 0.0, 1.0)
    frac = np.stack([green, dry, flower, soil * soil_moist, green**2], -1)
    return np.einsum("ntk,nkb->ntb", frac, ends)


def top_of_atmosphere(boa: np.ndarray, aerosol: np.ndarray, vapour: np.ndarray) -> np.ndarray:
    """L1C reflectance: transmittance, path radiance scaled by aerosol load (N x T), water vapour."""
    trans = TRANS[None, None, :] * np.ones_like(boa)
    trans[..., 9] *= vapour  # B9 water vapour absorption varies with the atmosphere
    return boa * trans + aerosol[..., None] * PATH[None, None, :]


def ndvi(refl: np.ndarray, bands: tuple[str, ...] = BANDS) -> np.ndarray:
    """NDVI from reflectance (..., bands) given the band names of the last axis."""
    nir, red = refl[..., bands.index("B8")], refl[..., bands.index("B4")]
    return (nir - red) / np.maximum(nir + red, 1e-6)
