"""Regions, farms, crop labels and parcel polygons of the simulated demo (Lambert-93, EPSG:2154)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import shapely

from cropviz.data.simulate.landscape import Landscape, make_landscape

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
    land: Landscape          # the landscape around them (woods, villages, roads, other fields)


def _draw_labels(rng: np.random.Generator, farm: np.ndarray, n_farms: int,
                 names: list[str]) -> np.ndarray:
    """Class per parcel: global shares tilted by a per-farm preference (farms are clustered)."""
    shares = np.array([CLASS_SHARES[c] for c in names])
    shares = shares / shares.sum()
    # Farm types: each farm prefers a few classes (rotation), strength ~ lognormal.
    pref = rng.normal(0.0, 1.0, size=(n_farms, len(names)))
    logits = np.log(shares)[None, :] + 1.5 * pref - 1.125  # -sigma^2/2 keeps marginals near shares
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
    """Farms, labels and polygons for ``n`` parcels of ``region`` (deterministic for ``rng``).

    The parcels are one contiguous patchwork of fields (``landscape.make_landscape``) inside the
    department's box; farms are clusters of neighbouring fields that share a rotation.
    """
    names = class_names()
    land = make_landscape(rng, n, REGION_BOXES[region])
    farm, polys = land.farm, land.fields
    names_cls = _draw_labels(rng, farm, int(farm.max()) + 1, names)
    codes = _draw_codes(rng, names_cls, names)
    ids = id_offset + np.arange(n, dtype=np.int64)
    cen = shapely.get_coordinates(shapely.centroid(polys))
    return RegionParcels(region, ids, names_cls, codes, farm, polys, cen, shapely.area(polys) / 1e4, land)
