"""Regions, farms, crop labels and parcel polygons of the simulated demo (Lambert-93, EPSG:2154)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import shapely

from cropviz.errors import ConfigurationError

#: Region -> (xmin, ymin, xmax, ymax) in Lambert-93 metres, roughly the four Brittany departments.
REGION_BOXES: dict[str, tuple[float, float, float, float]] = {
    "frh01": (115_000.0, 6_785_000.0, 200_000.0, 6_868_000.0),   # Finistere (west)
    "frh02": (215_000.0, 6_805_000.0, 305_000.0, 6_875_000.0),   # Cotes-d'Armor (north)
    "frh03": (315_000.0, 6_740_000.0, 390_000.0, 6_850_000.0),   # Ille-et-Vilaine (east)
    "frh04": (190_000.0, 6_715_000.0, 300_000.0, 6_785_000.0),   # Morbihan (south)
}
REGIONS: tuple[str, ...] = tuple(REGION_BOXES)
SPLITS: dict[str, str] = {"frh01": "train", "frh02": "train", "frh03": "validation", "frh04": "test"}

#: Class shares of frh04 2017 (FIELD.md section 1), by class name.
CLASS_SHARES: dict[str, float] = {
    "barley": 0.049, "wheat": 0.139, "rapeseed": 0.026, "corn": 0.256, "sunflower": 0.0001,
    "orchards": 0.0045, "nuts": 0.0001, "permanent meadows": 0.213, "temporary meadows": 0.313,
}
#: Within-class RPG code weights (codes must exist in classmapping.csv).
CODE_WEIGHTS: dict[str, dict[str, float]] = {
    "barley": {"ORH": 0.9, "ORP": 0.1},
    "wheat": {"BTH": 0.95, "BTP": 0.05},
    "rapeseed": {"CZH": 0.95, "CZP": 0.05},
    "corn": {"MIE": 0.6, "MIS": 0.36, "MID": 0.04},
    "sunflower": {"TRN": 1.0},
    "orchards": {"VRG": 0.55, "PFR": 0.25, "AGR": 0.1, "PWT": 0.1},
    "nuts": {"NOS": 0.55, "CTG": 0.25, "NOX": 0.15, "CAB": 0.03, "PIS": 0.02},
    "permanent meadows": {"PPH": 0.8, "PRL": 0.2},
    "temporary meadows": {"PTR": 0.75, "RGA": 0.25},
}
#: Codes absent from classmapping.csv (a real index has them; readers must skip them), with the
#: mapped class whose phenology they borrow.
UNMAPPED_CODES: dict[str, str] = {
    "TTH": "wheat", "MLG": "temporary meadows", "J6P": "permanent meadows", "SNE": "permanent meadows",
}
UNMAPPED_SHARE = 0.02
MIN_PER_CLASS = 5
FARM_BLOCK = 4  # a farm owns a FARM_BLOCK x FARM_BLOCK block of parcel cells


def classmapping() -> pd.DataFrame:
    """The published classmapping (columns '', id, classname, code) shipped with cropviz."""
    with resources.files("cropviz.data.resources").joinpath("classmapping.csv").open("rb") as f:
        return pd.read_csv(f)


def class_names() -> list[str]:
    """Class names in class-id order, read from the shipped classmapping."""
    cm = classmapping().drop_duplicates("id").sort_values("id")
    return list(cm["classname"])


@dataclass
class RegionParcels:
    """Static description of a region's parcels (everything except the time series)."""

    region: str
    ids: np.ndarray          # int64 (N,)
    classid: np.ndarray      # int (N,), phenology class (unmapped codes borrow a class)
    codes: np.ndarray        # object (N,) RPG code
    farm: np.ndarray         # int (N,) farm index
    geometry: np.ndarray     # shapely polygons (N,)
    centroid: np.ndarray     # float (N, 2) metres
    area_ha: np.ndarray      # float (N,)


def _draw_labels(rng: np.random.Generator, farm: np.ndarray, n_farms: int,
                 names: list[str]) -> np.ndarray:
    """Class per parcel: global shares tilted by a per-farm preference (farms are clustered)."""
    shares = np.array([CLASS_SHARES[c] for c in names])
    shares = shares / shares.sum()
    # Farm types: each farm prefers a few classes (rotation), strength ~ lognormal.
    pref = rng.normal(0.0, 1.0, size=(n_farms, len(names)))
    logits = np.log(shares)[None, :] + 1.2 * pref - 0.72  # -sigma^2/2 keeps marginals near shares
    p = np.exp(logits[farm])
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(len(farm))[:, None]
    cls = (u > np.cumsum(p, axis=1)).sum(axis=1)
    cls = np.minimum(cls, len(names) - 1)
    # Guarantee MIN_PER_CLASS of every class (when n allows): relabel parcels of the largest class.
    need = min(MIN_PER_CLASS, len(cls) // len(names))
    counts = np.bincount(cls, minlength=len(names))
    for c in range(len(names)):
        while counts[c] < need:
            donor = int(np.argmax(counts))
            take = rng.choice(np.flatnonzero(cls == donor))
            cls[take] = c
            counts[donor] -= 1
            counts[c] += 1
    return cls


def _draw_codes(rng: np.random.Generator, cls: np.ndarray, names: list[str]) -> np.ndarray:
    """RPG code per parcel from the class's code weights, plus a few unmapped codes."""
    codes = np.empty(len(cls), dtype=object)
    u = rng.random(len(cls))
    for c, name in enumerate(names):
        sel = np.flatnonzero(cls == c)
        w = CODE_WEIGHTS[name]
        cw = np.cumsum(list(w.values()))
        k = np.minimum(np.searchsorted(cw / cw[-1], u[sel], side="right"), len(w) - 1)
        codes[sel] = np.array(list(w))[k]
    # A small share of parcels carry codes outside the class mapping (readers skip them).
    counts = np.bincount(cls, minlength=len(names))
    cand = np.flatnonzero((counts[cls] > 10 * MIN_PER_CLASS) & (rng.random(len(cls)) < UNMAPPED_SHARE))
    unm = list(UNMAPPED_CODES)
    for i, k in zip(cand, rng.integers(0, len(unm), size=len(cand)), strict=False):
        codes[i] = unm[k]
        cls[i] = names.index(UNMAPPED_CODES[unm[k]])
    return codes


def make_region(region: str, n: int, rng: np.random.Generator, id_offset: int) -> RegionParcels:
    """Farms, labels and polygons for ``n`` parcels of ``region`` (deterministic for ``rng``)."""
    names = class_names()
    xmin, ymin, xmax, ymax = REGION_BOXES[region]
    margin = 2_000.0
    width, height = xmax - xmin - 2 * margin, ymax - ymin - 2 * margin
    # Cell size of one parcel slot: 450 m, shrunk when the region must hold many parcels
    # (BreizhCrops-sized regions: ~170 m cells, parcels up to ~3 ha).
    cell = min(450.0, float(np.sqrt(width * height / (1.25 * max(n, 1)))))
    block = FARM_BLOCK * cell
    nbx, nby = int(width // block), int(height // block)
    # Parcels per farm: 1 + geometric, at most a full block; full blocks when space is short.
    drawn: list[int] = []
    while sum(drawn) < n:
        drawn.extend(np.minimum(1 + rng.geometric(1 / 6.0, size=max(16, n // 4)), FARM_BLOCK**2).tolist())
    sizes = np.array(drawn)
    n_farms = int(np.searchsorted(np.cumsum(sizes), n) + 1)
    sizes = sizes[:n_farms]
    sizes[-1] -= int(sizes.sum() - n)
    if n_farms > nbx * nby:
        n_farms = nbx * nby
        sizes = n // n_farms + (np.arange(n_farms) < n % n_farms)
        if sizes.max() > FARM_BLOCK**2:
            raise ConfigurationError(f"{n} parcels do not fit in demo region {region}")
    blocks = rng.choice(nbx * nby, size=n_farms, replace=False)
    farm = np.repeat(np.arange(n_farms), sizes)
    # Slot of each parcel inside its farm block (random distinct cells of the block).
    slot = np.concatenate([rng.permutation(FARM_BLOCK**2)[:s] for s in sizes])
    bx, by = blocks[farm] % nbx, blocks[farm] // nbx
    cx = xmin + margin + bx * block + (slot % FARM_BLOCK + 0.5) * cell
    cy = ymin + margin + by * block + (slot // FARM_BLOCK + 0.5) * cell

    # Shape: rotated, jittered rectangle with an optional cut corner, clipped to its cell.
    area = np.clip(rng.lognormal(np.log(2.3e4), 0.75, size=n), 4_500.0, 145_000.0)  # m^2
    aspect = rng.uniform(1.0, 2.6, size=n)
    length, wid = np.sqrt(area * aspect), np.sqrt(area / aspect)
    theta = rng.normal(0, 0.6, size=n_farms)[farm] + rng.normal(0, 0.12, size=n)
    unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [0.25, 0.5], [-0.5, 0.5]])
    pts = np.broadcast_to(unit, (n, 5, 2)).copy()
    cut = rng.random(n) < 0.35  # cut corner: move vertex 3 down-right to make a pentagon
    pts[:, 3, 0] = np.where(cut, 0.5 - rng.uniform(0.15, 0.4, n), 0.0)
    pts[:, 2, 1] = np.where(cut, 0.5 - rng.uniform(0.15, 0.4, n), 0.5)
    pts += rng.normal(0, 0.06, size=pts.shape)
    pts[..., 0] *= length[:, None]
    pts[..., 1] *= wid[:, None]
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    x = cx[:, None] + rng.normal(0, 0.05 * cell, n)[:, None] + c * pts[..., 0] - s * pts[..., 1]
    y = cy[:, None] + rng.normal(0, 0.05 * cell, n)[:, None] + s * pts[..., 0] + c * pts[..., 1]
    ring = np.concatenate([np.stack([x, y], -1), np.stack([x[:, :1], y[:, :1]], -1)], axis=1)
    polys = shapely.polygons(ring)
    polys = shapely.make_valid(polys)
    boxes = shapely.box(cx - cell / 2 + 4, cy - cell / 2 + 4, cx + cell / 2 - 4, cy + cell / 2 - 4)
    polys = shapely.intersection(polys, boxes)
    # Keep one polygon per parcel (largest part if clipping split it).
    parts = shapely.get_parts(polys, return_index=True)
    if len(parts[0]) != n:
        keep = pd.Series(shapely.area(parts[0])).groupby(parts[1]).idxmax().to_numpy()
        polys = parts[0][keep]
    polys = shapely.set_precision(polys, 0.01)
    names_cls = _draw_labels(rng, farm, n_farms, names)
    codes = _draw_codes(rng, names_cls, names)
    ids = id_offset + np.arange(n, dtype=np.int64)
    cen = shapely.get_coordinates(shapely.centroid(polys))
    return RegionParcels(region, ids, names_cls, codes, farm, polys, cen, shapely.area(polys) / 1e4)
