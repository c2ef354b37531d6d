"""Per-parcel crop calendars (FIELD.md section 5) as cover fractions over the day of year.

``draw_params`` draws every random quantity of a parcel's season once; ``fractions`` is then a
deterministic function of (params, day of year), so the h5 series and the patches agree.
Fractions: green vegetation, dry vegetation / straw, yellow flowers; soil is the remainder.
"""

from __future__ import annotations

import numpy as np

N_CUTS = 5
_NAMES = ("barley", "wheat", "rapeseed", "corn", "sunflower", "orchards", "nuts",
          "permanent meadows", "temporary meadows")


def _sig(t: np.ndarray, t0: np.ndarray | float, k: float | np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip((t - t0) / k, -60, 60)))


def _u(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, size=n)


def draw_params(rng: np.random.Generator, classnames: list[str], classid: np.ndarray,
                codes: np.ndarray, farm_shift: np.ndarray, region_shift: float) -> dict[str, np.ndarray]:
    """Random season parameters per parcel (arrays of length N, cut arrays N x N_CUTS).

    ``farm_shift`` (days, per parcel) delays all management of a farm alike; ``region_shift``
    shifts the whole region's season (a mild domain shift between departments).
    """
    n = len(classid)
    name = np.array(classnames, dtype=object)[classid]
    shift = farm_shift + region_shift + rng.normal(0, 4, n)
    p: dict[str, np.ndarray] = {"kind": np.array([_NAMES.index(c) for c in name]), "shift": shift}
    p["vigour"] = np.clip(rng.normal(0.9, 0.07, n), 0.65, 1.0)
    p["g0"] = _u(rng, 0.15, 0.42, n)              # winter cover of autumn-sown crops
    p["greenup"] = rng.normal(72, 9, n)
    p["peak"] = rng.normal(128, 8, n)
    p["sen"] = rng.normal(168, 6, n)
    p["harvest"] = rng.normal(201, 7, n)
    p["plough"] = p["harvest"] + _u(rng, 15, 70, n)
    p["cover"] = np.where(rng.random(n) < 0.45, _u(rng, 0.15, 0.45, n), 0.0)  # catch crop / resown
    p["cover_sow"] = p["plough"] + _u(rng, 5, 25, n)
    p["flower"] = rng.normal(110, 6, n)
    p["flower_amp"] = _u(rng, 0.3, 0.55, n)
    p["sow"] = rng.normal(132, 9, n)
    p["winter_cover"] = np.where(rng.random(n) < 0.5, _u(rng, 0.1, 0.35, n), 0.0)
    p["leaf_out"] = rng.normal(106, 6, n)
    p["leaf_fall"] = rng.normal(308, 8, n)
    p["tree"] = _u(rng, 0.22, 0.4, n)
    p["grass"] = _u(rng, 0.3, 0.5, n)
    p["gbase"] = _u(rng, 0.45, 0.68, n)
    p["gmax"] = _u(rng, 0.72, 0.88, n)
    p["drought"] = _u(rng, 0.0, 0.25, n)
    p["resow"] = np.full(n, np.inf)               # temporary meadows ploughed and resown
    cuts = np.full((n, N_CUTS), np.inf)
    depth = np.zeros((n, N_CUTS))
    tau = _u(rng, 10, 20, n)

    k = p["kind"]
    bar, whe, rap, cor, sun, _, nut, pm, tm = range(9)  # kinds, in _NAMES order
    sel = k == bar   # winter barley: 2-3 weeks ahead of wheat
    p["greenup"][sel] -= 8
    p["peak"][sel] -= 12
    p["sen"][sel] -= 15
    p["harvest"][sel] -= 18
    p["plough"][sel] -= 18
    p["cover_sow"][sel] -= 18
    sel = k == rap   # winter rapeseed: green in January
    p["g0"][sel] = _u(rng, 0.42, 0.65, int(sel.sum()))
    p["greenup"][sel] -= 12
    p["sen"][sel] -= 8
    p["harvest"][sel] -= 12
    sel = np.isin(k, (whe, bar, rap)) & np.isin(codes, ("BTP", "ORP", "CZP"))  # spring sown
    p["g0"][sel] = 0.02
    p["greenup"][sel] += 35
    p["peak"][sel] += 20
    sel = k == cor   # silage (MIE) in September, grain in October
    silage = sel & (codes == "MIE")
    p["sen"][sel] = p["sow"][sel] + rng.normal(120, 7, int(sel.sum()))
    p["harvest"][sel] = np.where(silage[sel], p["sen"][sel] + _u(rng, 8, 18, int(sel.sum())),
                                 p["sen"][sel] + _u(rng, 30, 50, int(sel.sum())))
    p["plough"][sel] = p["harvest"][sel] + _u(rng, 10, 40, int(sel.sum()))
    p["cover_sow"][sel] = p["plough"][sel] + 10
    sel = k == sun
    p["sow"][sel] -= 16
    p["sen"][sel] = p["sow"][sel] + rng.normal(102, 5, int(sel.sum()))
    p["harvest"][sel] = p["sen"][sel] + _u(rng, 35, 50, int(sel.sum()))
    p["plough"][sel] = p["harvest"][sel] + 30
    sel = k == nut   # walnut / hazel: later leaf-out, earlier leaf-fall, larger trees
    p["leaf_out"][sel] += 22
    p["leaf_fall"][sel] -= 12
    p["tree"][sel] = _u(rng, 0.3, 0.48, int(sel.sum()))
    p["grass"][sel] = _u(rng, 0.22, 0.42, int(sel.sum()))
    # Meadows: mowing / grazing events.
    sel = np.flatnonzero(k == pm)
    m = len(sel)
    first = rng.normal(150, 14, m)
    ncut = rng.choice([0, 1, 2, 3], p=[0.2, 0.35, 0.3, 0.15], size=m)
    gaps = _u(rng, 35, 70, m)
    for j in range(3):
        cuts[sel, j] = np.where(j < ncut, first + j * gaps, np.inf)
        depth[sel, j] = _u(rng, 0.2, 0.5, m)
    sel = np.flatnonzero(k == tm)
    m = len(sel)
    p["gbase"][sel] = _u(rng, 0.35, 0.62, m)
    p["gmax"][sel] = _u(rng, 0.78, 0.93, m)
    first = rng.normal(132, 12, m)
    ncut = rng.choice([1, 2, 3, 4, 5], p=[0.1, 0.2, 0.3, 0.3, 0.1], size=m)
    gaps = _u(rng, 30, 48, m)
    for j in range(N_CUTS):
        cuts[sel, j] = np.where(j < ncut, first + j * gaps, np.inf)
        depth[sel, j] = _u(rng, 0.3, 0.62, m)
    plough = rng.random(m) < 0.22
    spring = rng.random(m) < 0.5
    p["resow"][sel] = np.where(plough, np.where(spring, rng.normal(105, 12, m), rng.normal(255, 15, m)),
                               np.inf)
    cuts[sel] = np.where(plough[:, None] & spring[:, None] & (cuts[sel] < p["resow"][sel, None] + 60),
                         np.inf, cuts[sel])
    p["cuts"], p["depth"], p["tau"] = cuts, depth, tau
    for key in ("greenup", "peak", "sen", "harvest", "plough", "cover_sow", "flower", "sow",
                "leaf_out", "leaf_fall", "resow"):
        p[key] = p[key] + shift
    p["cuts"] = p["cuts"] + shift[:, None]
    return p


def _winter_crop(p: dict[str, np.ndarray], i: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g0, gu, pk = p["g0"][i, None], p["greenup"][i, None], p["peak"][i, None]
    sen, hv, pl = p["sen"][i, None], p["harvest"][i, None], p["plough"][i, None]
    v = p["vigour"][i, None]
    canopy = v * (g0 + (1 - g0) * _sig(t, gu, 11)) * (0.86 + 0.14 * np.exp(-((t - pk) / 30) ** 2))
    green = canopy * (1 - _sig(t, sen, 7))
    standing = v * _sig(t, sen, 7) * (1 - _sig(t, hv, 1.5))
    stubble = 0.38 * _sig(t, hv, 1.5) * (1 - _sig(t, pl, 2))
    regrow = p["cover"][i, None] * _sig(t, p["cover_sow"][i, None] + 28, 8)
    return green + regrow, standing * 0.95 + stubble


def fractions(p: dict[str, np.ndarray], doy: np.ndarray,
              rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Green, dry and flower fractions (N x T each) of parcels ``rows`` at days of year ``doy``."""
    rows = np.arange(len(p["kind"])) if rows is None else rows
    t = np.asarray(doy, dtype=float)[None, :]
    n, T = len(rows), t.shape[1]
    green, dry, flower = np.zeros((n, T)), np.zeros((n, T)), np.zeros((n, T))
    kind = p["kind"][rows]
    for kd in range(9):
        loc = np.flatnonzero(kind == kd)
        if not len(loc):
            continue
        i = rows[loc]
        v = p["vigour"][i, None]
        if kd in (0, 1, 2):
            g, d = _winter_crop(p, i, t)
            f = np.zeros_like(g)
            if kd == 2:  # rapeseed: yellow flowers cover the canopy in April
                f = p["flower_amp"][i, None] * np.exp(-((t - p["flower"][i, None]) / 11) ** 2)
                g = g * (1 - f)
        elif kd in (3, 4):  # corn, sunflower: bare soil until spring sowing
            sow, sen, hv, pl = (p[k][i, None] for k in ("sow", "sen", "harvest", "plough"))
            wc = p["winter_cover"][i, None] * (1 - _sig(t, sow - 18, 3))
            rise = 50 if kd == 3 else 44
            peak_shape = 0.85 + 0.15 * np.exp(-((t - (sow + 100 if kd == 3 else sow + 80)) / 25) ** 2)
            canopy = v * _sig(t, sow + rise, 8 if kd == 3 else 7) * peak_shape
            g = canopy * (1 - _sig(t, sen, 9)) + wc
            g = g + p["cover"][i, None] * 0.6 * _sig(t, p["cover_sow"][i, None] + 28, 8)
            d = (v * _sig(t, sen, 9) * (1 - _sig(t, hv, 1.5)) * 0.9
                 + 0.3 * _sig(t, hv, 1.5) * (1 - _sig(t, pl, 3)) + 0.5 * wc)
            f = np.zeros_like(g)
            if kd == 4:  # brown heads after flowering
                d = d + 0.25 * v * np.exp(-((t - (sen - 15)) / 15) ** 2)
        elif kd in (5, 6):  # orchards, nuts: grass rows plus deciduous trees
            leaf = _sig(t, p["leaf_out"][i, None], 6) * (1 - _sig(t, p["leaf_fall"][i, None], 9))
            grass = p["grass"][i, None] * (0.8 + 0.25 * _sig(t, 80, 15) * (1 - _sig(t, 290, 20)))
            grass = grass * (1 - 0.35 * p["drought"][i, None] * np.exp(-((t - 215) / 25) ** 2))
            g = grass + p["tree"][i, None] * leaf * v
            d = 0.12 + 0.1 * p["tree"][i, None] * (1 - leaf)
            f = np.zeros_like(g)
        else:  # meadows: green all year, dips at mowing / grazing, maybe ploughed
            gb, gm = p["gbase"][i, None], p["gmax"][i, None]
            season = _sig(t, 75, 14) * (1 - _sig(t, 300, 18))
            g = gb + (gm - gb) * season
            dr = p["drought"][i, None] * np.exp(-((t - 215) / 25) ** 2)
            g = g * (1 - dr)
            d = 0.05 + dr * 0.6
            tau = p["tau"][i, None]
            for j in range(N_CUTS):
                x = t - p["cuts"][i, j, None]
                hit = np.where(x >= 0, np.exp(-np.maximum(x, 0) / tau), 0.0) * p["depth"][i, j, None]
                d = d + g * hit * 0.5 * np.exp(-np.maximum(x, 0) / 6) * (x >= 0)
                g = g * (1 - hit)
            rs = p["resow"][i, None]
            bare = _sig(t, rs, 1.5)
            regrow = gm * _sig(t, rs + 40, 8)
            g = g * (1 - bare) + regrow * bare
            d = d * (1 - bare)
            f = np.zeros_like(g)
        green[loc], dry[loc], flower[loc] = g, d, f
    total = green + dry + flower
    scale = np.where(total > 0.98, 0.98 / np.maximum(total, 1e-9), 1.0)
    return green * scale, dry * scale, flower * scale
