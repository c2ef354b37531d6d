"""A contiguous agricultural landscape: fields tiling farmland between roads, woods and villages.

``make_landscape`` lays out a square window of a department, cuts it into road blocks, removes
woods and villages, tiles each block with strips of skewed quadrilateral fields (own orientation
per block, strip widths and field lengths like the RPG's: mostly 1-10 ha, elongated), leaves
hedges between fields, and keeps the ``n`` fields nearest the window's centre. Farms are
contiguous groups of neighbouring fields (nearest farmstead), so that a farm's rotation shows
as a cluster of fields sharing their crops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from cropviz.errors import ConfigurationError

#: Expected field area (m^2) and the share of the window the kept fields cover (sizes the window).
MEAN_FIELD_M2 = 2.9e4
FILL = 0.5
#: Half widths (m) of the gaps: roads (with verges) and hedges between fields.
ROAD_HALF_WIDTH = 7.0
HEDGE_HALF_WIDTH = 3.0
#: Smallest field kept (m^2); smaller leftovers of the tiling are rough ground.
MIN_FIELD_M2 = 4_000.0
MAX_FIELD_M2 = 140_000.0
#: Mean number of fields per farm.
FIELDS_PER_FARM = 14


@dataclass
class Landscape:
    """Fields of a window (polygons, Lambert-93), their farms, the non-farmland gaps, and the
    fields of the window that were not kept (farmland outside the region's parcels)."""

    fields: np.ndarray        # shapely polygons (n,), nearest the window centre first
    farm: np.ndarray          # int (n,), contiguous farms
    window: BaseGeometry      # the square window laid out
    woods: BaseGeometry       # union of woods
    villages: BaseGeometry    # union of villages
    roads: BaseGeometry       # union of road surfaces
    unlisted: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))  # fields not kept


def _blob(rng: np.random.Generator, x: float, y: float, radius: float, lobes: int) -> BaseGeometry:
    """An irregular patch: union of discs scattered around (x, y)."""
    dx, dy = rng.normal(0, radius * 0.6, (2, lobes))
    r = radius * rng.uniform(0.35, 0.8, lobes)
    return shapely.union_all(shapely.buffer(shapely.points(x + dx, y + dy), r, quad_segs=6))


def _roads(rng: np.random.Generator, x0: float, y0: float, side: float) -> BaseGeometry:
    """Road surfaces: gently bending lines crossing the window, about one per 1.6 km of side."""
    k = max(2, int(round(2 * side / 1_600.0)))
    lines = []
    for _ in range(k):
        angle = rng.uniform(0, np.pi)
        cx, cy = x0 + rng.uniform(0.1, 0.9) * side, y0 + rng.uniform(0.1, 0.9) * side
        s = np.linspace(-side * 1.5, side * 1.5, 7)
        bend = np.cumsum(rng.normal(0, 0.06, 7)) + angle
        xs = cx + np.cumsum(np.cos(bend) * np.diff(s, prepend=s[0] - s[1]))
        ys = cy + np.cumsum(np.sin(bend) * np.diff(s, prepend=s[0] - s[1]))
        xs, ys = xs - xs[3] + cx, ys - ys[3] + cy
        lines.append(shapely.linestrings(xs, ys))
    return shapely.union_all(shapely.buffer(np.array(lines), ROAD_HALF_WIDTH, cap_style="flat"))


def _tile_block(rng: np.random.Generator, block: BaseGeometry, scale: float) -> np.ndarray:
    """Skewed quadrilateral fields in strips covering ``block`` (before clipping to it); field
    sizes times ``scale`` squared."""
    theta = rng.uniform(0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    xy = shapely.get_coordinates(block)
    u, v = xy[:, 0] * c + xy[:, 1] * s, -xy[:, 0] * s + xy[:, 1] * c
    quads = []
    vb = v.min()
    while vb < v.max():
        width = rng.uniform(80.0, 230.0) * scale
        mean_length = MEAN_FIELD_M2 * scale * scale / width * 0.95
        lengths = np.clip(rng.lognormal(np.log(mean_length), 0.55, 64), 0.8 * width, 700.0 * scale)
        cuts = u.min() - rng.uniform(0, 300.0 * scale) + np.concatenate([[0.0], np.cumsum(lengths)])
        while cuts[-1] < u.max():
            cuts = np.concatenate([cuts, cuts[-1] + np.cumsum(lengths)])
        cuts = cuts[: np.searchsorted(cuts, u.max()) + 1]
        spacing = np.diff(cuts).min(initial=width)
        skew = np.clip(rng.normal(0, 0.25 * width, len(cuts)), -spacing / 3, spacing / 3)
        a, b = cuts[:-1], cuts[1:]
        vt = vb + width
        lo, hi = np.full(len(a), vb), np.full(len(a), vt)
        quads.append(np.stack([np.stack([a, lo], -1), np.stack([b, lo], -1), np.stack([b + skew[1:], hi], -1),
                               np.stack([a + skew[:-1], hi], -1), np.stack([a, lo], -1)], 1))
        vb = vt
    ring = np.concatenate(quads)
    x = ring[..., 0] * c - ring[..., 1] * s
    y = ring[..., 0] * s + ring[..., 1] * c
    return shapely.polygons(np.stack([x, y], -1))


def _largest_parts(polys: np.ndarray) -> np.ndarray:
    """One polygon per input: its largest part (empty geometries dropped)."""
    parts, owner = shapely.get_parts(polys, return_index=True)
    area = shapely.area(parts)
    order = np.lexsort((-area, owner))
    first = np.unique(owner[order], return_index=True)[1]
    return parts[order[first]]


def _fields(rng: np.random.Generator, x0: float, y0: float, width: float, height: float,
            scale: float) -> Landscape:
    window = shapely.box(x0, y0, x0 + width, y0 + height)
    km2 = width * height / 1e6

    def spots(per_km2: float, radius: tuple[float, float], lobes: int) -> BaseGeometry:
        count = max(1, int(rng.poisson(km2 * per_km2)))
        return shapely.union_all([_blob(rng, x0 + rng.uniform() * width, y0 + rng.uniform() * height,
                                        rng.uniform(*radius), lobes) for _ in range(count)])

    roads = shapely.intersection(_roads(rng, x0, y0, max(width, height)), window)
    villages = shapely.union_all([spots(1 / 15, (180, 380), 6), spots(1 / 3, (40, 90), 3)])  # villages, hamlets
    woods = spots(1 / 4, (90, 330), 8)
    farmland = shapely.difference(window, shapely.union_all([roads, villages, woods]))
    min_area, max_area = MIN_FIELD_M2 * scale**2, MAX_FIELD_M2 * scale**2
    fields = []
    for block in shapely.get_parts(farmland):
        if block.area < min_area:
            continue
        quads = _tile_block(rng, block, scale)
        quads = quads[shapely.intersects(quads, block)]
        fields.append(shapely.intersection(quads, block))
    polys = _largest_parts(np.concatenate(fields)) if fields else np.array([], dtype=object)
    polys = _largest_parts(shapely.buffer(polys, -HEDGE_HALF_WIDTH * min(1.0, 2 * scale), join_style="mitre"))
    polys = shapely.set_precision(polys, 0.01)
    polys = polys[shapely.is_valid(polys) & ~shapely.is_empty(polys)]
    area = shapely.area(polys)
    polys = polys[(area >= min_area) & (area <= max_area)]
    return Landscape(polys, np.zeros(len(polys), dtype=int), window, woods, villages, roads)


def make_landscape(rng: np.random.Generator, n: int, box: tuple[float, float, float, float]) -> Landscape:
    """``n`` contiguous fields in a window inside ``box`` (xmin, ymin, xmax, ymax; metres).

    The window is sized for ``n`` RPG-sized fields; when the box cannot hold them (BreizhCrops-sized
    regions), the window is the whole box and fields shrink to fit.
    """
    if n < 1:
        raise ConfigurationError(f"a landscape needs at least one field, got {n}")
    xmin, ymin, xmax, ymax = box
    box_w, box_h = xmax - xmin, ymax - ymin
    need = n * MEAN_FIELD_M2 / FILL
    scale = float(min(1.0, np.sqrt(0.8 * box_w * box_h / need)))
    land = None
    for _ in range(12):
        side = float(np.sqrt(need)) * scale + 600.0
        width = min(side, box_w)
        height = min(side * side / width, box_h)
        x0 = xmin + rng.uniform(0.3, 0.7) * (box_w - width)
        y0 = ymin + rng.uniform(0.3, 0.7) * (box_h - height)
        land = _fields(rng, x0, y0, width, height, scale)
        if len(land.fields) >= n:
            break
        if width < box_w or height < box_h:
            need *= 1.25
        else:
            scale *= 0.9
    if land is None or len(land.fields) < n:
        raise ConfigurationError(f"{n} parcels do not fit in a demo region of {box}")
    # Keep the n fields nearest the centre (an irregular ellipse): one contiguous patchwork.
    cen = shapely.get_coordinates(shapely.centroid(land.fields))
    mid = np.array([x0 + width / 2, y0 + height / 2])
    stretch, turn = rng.uniform(1.0, 1.5), rng.uniform(0, np.pi)
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    rel = (cen - mid) @ rot
    dist = np.hypot(rel[:, 0] / stretch, rel[:, 1]) * (1 + 0.08 * rng.standard_normal(len(cen)))
    keep = np.argsort(dist, kind="stable")[:n]
    fields, cen = land.fields[keep], cen[keep]
    n_farms = max(1, int(round(n / FIELDS_PER_FARM)))
    seeds = cen[rng.choice(n, size=n_farms, replace=False)]
    farm = cKDTree(seeds).query(cen)[1].astype(int)
    unlisted = np.delete(land.fields, keep)
    return Landscape(fields, farm, land.window, land.woods, land.villages, land.roads, unlisted)
