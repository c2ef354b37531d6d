"""Acquisition calendar and spatially correlated clouds over Brittany in 2017.

Sentinel-2A alone (10-day revisit per orbit) until July, Sentinel-2B afterwards (5 days); parcels
where relative orbits overlap get extra dates. Each acquisition date carries a random cloud field
(sum of plane waves, tens of km) so neighbouring parcels share their cloudy dates. Opaque clouds
and cirrus set QA60 bits 10 / 11; shadows and thin haze are not flagged, as in the real product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

YEAR = 2017
S2B_START_DOY = 182  # Sentinel-2B acquisitions from July 2017
N_WAVES = 8
#: Opaque cloud spectrum shape over the 13 bands (times brightness 0.3-0.9).
CLOUD_SHAPE = np.array([1.0, 1.0, 0.98, 0.96, 0.95, 0.94, 0.93, 0.92, 0.92, 0.6, 0.25, 0.68, 0.47])
#: Low thin haze (unflagged): bright in VNIR, invisible in the B10 water-vapour-absorbed band.
HAZE_SHAPE = 0.32 * np.array([1.0, 1.0, 0.97, 0.95, 0.93, 0.92, 0.9, 0.9, 0.9, 0.5, 0.01, 0.6, 0.4])
CIRRUS_SHAPE = np.array([0.5, 0.5, 0.45, 0.42, 0.42, 0.4, 0.4, 0.38, 0.38, 0.2, 1.0, 0.3, 0.2])

CLEAR, OPAQUE, CIRRUS, SHADOW, HAZE = 0, 1, 2, 3, 4


@dataclass
class Acquisitions:
    """Region-level acquisition dates (days of year 2017) and per-date weather."""

    doy: np.ndarray          # int (D,)
    orbit: np.ndarray        # int (D,) relative orbit index 0..2
    orbit_edges: np.ndarray  # (2,) normalised x position limits of orbits 1 and 2
    cover: np.ndarray        # (D,) opaque cloud cover fraction of that date
    cirrus: np.ndarray       # (D,) cirrus cover fraction
    aerosol: np.ndarray      # (D,) path radiance scale
    vapour: np.ndarray       # (D,) B9 transmittance factor
    moist: np.ndarray        # (D,) soil wetness darkening factor
    waves: np.ndarray        # (D, 2, N_WAVES, 4) kx, ky, phase, amplitude (cloud, cirrus)

    def dates(self) -> np.ndarray:
        """Acquisition dates as datetime64[ns]."""
        return np.datetime64(f"{YEAR}-01-01", "ns") + (self.doy - 1).astype("timedelta64[D]")


def make_acquisitions(rng: np.random.Generator) -> Acquisitions:
    """Draw a region's orbits, dates and weather."""
    offsets = rng.choice(5, size=3, replace=False)  # distinct dates mod 5: no duplicates
    doys, orbits = [], []
    for k, o in enumerate(offsets):
        a = np.arange(1 + o, 366, 10)
        b = np.arange(1 + (o + 5) % 10, 366, 10)
        d = np.sort(np.concatenate([a, b[b >= S2B_START_DOY]]))
        doys.append(d)
        orbits.append(np.full(len(d), k))
    doy, orbit = np.concatenate(doys), np.concatenate(orbits)
    order = np.lexsort((orbit, doy))
    doy, orbit = doy[order], orbit[order]
    D = len(doy)
    season = 0.33 + 0.14 * np.cos(2 * np.pi * (doy - 10) / 365.0)
    conc = 1.6
    cover = rng.beta(season * conc, (1 - season) * conc)
    cirrus = rng.beta(0.6, 4.0, size=D) * (0.7 + 0.6 * (1 - season))
    haze_season = 0.9 + 0.25 * np.sin(2 * np.pi * (doy - 100) / 365)   # more aerosol in summer
    aerosol = np.clip(rng.lognormal(0.0, 0.25, D) * haze_season, 0.4, 2.5)
    humid = np.sin(np.pi * (doy - 60) / 240).clip(0)                    # more water vapour in summer
    vapour = np.clip(0.9 - 0.35 * humid - rng.uniform(0, 0.1, D), 0.35, 1.0)
    moist = np.clip(0.9 + 0.12 * np.sin(2 * np.pi * (doy - 110) / 365) + rng.normal(0, 0.03, D), 0.7, 1.1)
    wavelength = rng.uniform(6_000, 70_000, size=(D, 2, N_WAVES))
    angle = rng.uniform(0, 2 * np.pi, size=(D, 2, N_WAVES))
    kx, ky = 2 * np.pi / wavelength * np.cos(angle), 2 * np.pi / wavelength * np.sin(angle)
    phase = rng.uniform(0, 2 * np.pi, size=(D, 2, N_WAVES))
    amp = rng.uniform(0.5, 1.5, size=(D, 2, N_WAVES))
    amp /= np.sqrt((amp**2).sum(-1, keepdims=True) / 2)
    waves = np.stack([kx, ky, phase, amp], -1)
    edges = np.array([rng.uniform(0.6, 0.9), rng.uniform(0.45, 0.8)])
    return Acquisitions(doy, orbit, edges, cover, cirrus, aerosol, vapour, moist, waves)


def coverage(acq: Acquisitions, xnorm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bool N x D: which acquisitions see each parcel (orbit footprints plus random dropouts)."""
    in_orbit = np.stack([np.ones_like(xnorm, bool), xnorm < acq.orbit_edges[0],
                         xnorm > acq.orbit_edges[1]], 1)                     # N x 3
    seen = in_orbit[:, acq.orbit]
    missing = rng.uniform(0.02, 0.3, size=(len(xnorm), 1))  # swath edges, no-data, processing gaps
    seen &= rng.random(seen.shape) > missing
    seen[:, 0] = True  # at least the first acquisition of the year
    return seen


def _field(waves: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Smooth standard-normal-ish random field: waves (D, W, 4), xy (N, 2) -> N x D."""
    arg = (xy[:, None, None, 0] * waves[None, :, :, 0] + xy[:, None, None, 1] * waves[None, :, :, 1]
           + waves[None, :, :, 2])
    return (np.cos(arg) * waves[None, :, :, 3]).sum(-1)


def contamination(acq: Acquisitions, xy: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per parcel and date: state (CLEAR/OPAQUE/CIRRUS/SHADOW/HAZE) and its strength, N x D."""
    f = _field(acq.waves[:, 0], xy)
    c = _field(acq.waves[:, 1], xy)
    thr = ndtri(1 - np.clip(acq.cover, 1e-4, 1 - 1e-4))[None, :]
    thr_c = ndtri(1 - np.clip(acq.cirrus, 1e-4, 1 - 1e-4))[None, :]
    state = np.zeros(f.shape, dtype=np.int8)
    margin = f - thr
    state[(margin > -0.9) & (margin <= -0.45)] = HAZE
    state[(margin > -0.45) & (margin <= 0) & (rng.random(f.shape) < 0.55)] = SHADOW
    state[c > thr_c] = CIRRUS
    state[margin > 0] = OPAQUE
    strength = np.where(state == OPAQUE, np.clip(0.6 + 0.6 * margin, 0.6, 1.0), 0.0)
    strength = np.where(state == CIRRUS, np.clip(0.01 + 0.03 * (c - thr_c), 0.008, 0.06), strength)
    strength = np.where(state == SHADOW, rng.uniform(0.35, 0.7, f.shape), strength)
    strength = np.where(state == HAZE, rng.uniform(0.03, 0.15, f.shape), strength)
    bright = rng.uniform(0.3, 0.9, f.shape)
    return {"state": state, "strength": strength, "bright": bright}


def apply(refl: np.ndarray, cont: dict[str, np.ndarray], bands: np.ndarray) -> np.ndarray:
    """Contaminate reflectance N x T x B (bands: indices into the 13 L1C bands)."""
    state, s = cont["state"][..., None], cont["strength"][..., None]
    cloud = cont["bright"][..., None] * CLOUD_SHAPE[bands]
    out = np.where(state == OPAQUE, (1 - s) * refl + s * cloud, refl)
    out = np.where(state == CIRRUS, out + s * CIRRUS_SHAPE[bands], out)
    dark = np.where(bands >= 11, 0.5 + 0.5 * s, s)  # SWIR less darkened (diffuse light)
    out = np.where(state == SHADOW, out * dark, out)
    out = np.where(state == HAZE, (1 - s) * out + s * HAZE_SHAPE[bands], out)
    return out


def qa60(state: np.ndarray) -> np.ndarray:
    """QA60 values: bit 10 opaque, bit 11 cirrus (shadows and haze unflagged)."""
    return np.where(state == OPAQUE, 1024.0, np.where(state == CIRRUS, 2048.0, 0.0))


def cld(cont: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """L2A cloud probability in percent (integer-valued float)."""
    state, s = cont["state"], cont["strength"]
    shape = state.shape
    p = np.where(rng.random(shape) < 0.8, 0.0, rng.uniform(0, 12, shape))
    p = np.where(state == OPAQUE, 35 + 65 * s + rng.normal(0, 8, shape), p)
    p = np.where(state == CIRRUS, rng.uniform(25, 75, shape), p)
    p = np.where(state == HAZE, rng.uniform(5, 45, shape), p)
    p = np.where(state == SHADOW, rng.uniform(0, 20, shape), p)
    return np.round(np.clip(p, 0, 100))
