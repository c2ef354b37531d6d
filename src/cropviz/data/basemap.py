"""An offline basemap of a region from its own imagery: true-colour and NDVI rasters per date.

A basemap is a folder ``<root>/<year>/basemap/<region>/`` holding ``basemap.json`` (dates, bounds
in WGS84, where the pixels come from) and one PNG per kind and date (``rgb-2017-05-15.png``,
``ndvi-2017-05-15.png``). The PNGs lie on a Web-Mercator grid, so a map draws them with their
lon/lat bounds without warping. The simulated demo writes one per region from its parcels' own
clear observations (:func:`write_dataset_basemap`); a region without one can be drawn on a light
outline of where its parcels are (:func:`region_outline`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from cropviz.data.bands import REFLECTANCE_SCALE
from cropviz.errors import ConfigurationError, DatasetError

#: Kinds of basemap image: true colour (B4, B3, B2) and NDVI ((B8 - B4) / (B8 + B4)).
KINDS: tuple[str, ...] = ("rgb", "ndvi")
#: Longest side of a basemap image in pixels.
MAX_SIDE = 2048
#: Colour of a parcel with no clear observation near a date.
BACKGROUND_RGB: tuple[int, int, int] = (236, 234, 226)
#: Gain of the true-colour stretch: reflectance 1 / TRUE_COLOUR_GAIN is drawn white.
TRUE_COLOUR_GAIN = 3.2
#: NDVI drawn from brown (NDVI_RANGE[0]) through yellow to green (NDVI_RANGE[1]).
NDVI_RANGE: tuple[float, float] = (-0.1, 0.9)
_NDVI_STOPS = np.array([[140, 81, 10], [216, 179, 101], [246, 232, 195], [166, 217, 106],
                        [26, 150, 65], [0, 90, 40]], dtype=float)
#: Kinds of land a basemap can paint where there is no parcel, in drawing order (later on top):
#: hedges (with verges and rough ground: whatever the others leave), fields outside the dataset
#: (they borrow a parcel's observations), woods, villages, roads.
LAND_COVER_KINDS: tuple[str, ...] = ("hedge", "field", "wood", "village", "road")
#: Reflectance (B4, B3, B2, B8) of the kinds but fields with leaves off and on: deciduous woods and
#: hedges green up in April and shed in late October; gardens green villages a little; roads stay grey.
_LAND_SPECTRA: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "hedge": ((0.050, 0.060, 0.040, 0.22), (0.032, 0.060, 0.030, 0.34)),
    "wood": ((0.055, 0.050, 0.040, 0.17), (0.025, 0.045, 0.022, 0.33)),
    "village": ((0.130, 0.120, 0.110, 0.19), (0.110, 0.115, 0.100, 0.24)),
    "road": ((0.100, 0.095, 0.090, 0.12), (0.100, 0.095, 0.090, 0.12)),
}
_WEB_MERCATOR = "EPSG:3857"
_MANIFEST = "basemap.json"


@dataclass(frozen=True)
class Basemap:
    """A region's basemap on disk: image files per kind and date, and their WGS84 bounds."""

    folder: Path
    dates: tuple[str, ...]
    bounds: tuple[float, float, float, float]  # west, south, east, north (degrees)
    source: str
    size: tuple[int, int]  # width, height in pixels

    def image_path(self, kind: str, date: str) -> Path:
        """The PNG of ``kind`` ('rgb' or 'ndvi') at ``date`` (one of :attr:`dates`)."""
        if kind not in KINDS:
            raise ConfigurationError(f"unknown basemap kind {kind!r}; use one of {', '.join(KINDS)}")
        if date not in self.dates:
            raise ConfigurationError(f"the basemap of {self.folder} has no image at {date}; "
                                     f"dates: {', '.join(self.dates)}")
        return self.folder / f"{kind}-{date}.png"


def basemap_folder(root: str | PathLike[str], region: str, year: int | str) -> Path:
    """Where the basemap of ``region`` lives in a BreizhCrops-layout ``root``."""
    return Path(root) / str(year) / "basemap" / str(region)


def monthly_dates(year: int, months: Sequence[int] = tuple(range(1, 13)), day: int = 15) -> list[str]:
    """ISO dates of day ``day`` of ``months`` of ``year`` (the demo's basemap dates)."""
    return [f"{int(year):04d}-{m:02d}-{day:02d}" for m in months]


def parcel_reflectance(ds: Any, dates: Sequence[str], bands: Sequence[str] = ("B4", "B3", "B2", "B8"),
                       window_days: float = 20.0) -> np.ndarray:
    """Reflectance of each parcel of ``ds`` at each date: its clear observation nearest in time.

    Returns an array (parcels in ``ds.ids`` order, dates, bands) of reflectances (0-1); NaN where
    a parcel has no clear observation within ``window_days`` of a date.
    """
    missing = [b for b in bands if b not in ds.columns]
    if missing:
        raise ConfigurationError(f"level {ds.level} of {ds.root} has no band {', '.join(missing)} "
                                 "for a basemap; use a level with B2, B3, B4 and B8")
    targets = np.array([np.datetime64(d, "ns") for d in dates]).astype(np.int64)
    window_ns = window_days * 86_400e9
    out = np.full((len(ds), len(dates), len(bands)), np.nan, dtype=np.float32)
    for row, series in enumerate(ds.raw_series(ds.ids, bands)):
        clear = ~series.cloudy & np.isfinite(series.values).all(axis=1)
        times = series.dates.astype(np.int64)[clear]
        if not len(times):
            continue
        order = np.argsort(times)
        times, values = times[order], series.values[clear][order]
        right = np.clip(np.searchsorted(times, targets), 0, len(times) - 1)
        left = np.clip(right - 1, 0, len(times) - 1)
        nearest = np.where(np.abs(times[left] - targets) <= np.abs(times[right] - targets), left, right)
        close = np.abs(times[nearest] - targets) <= window_ns
        out[row, close] = values[nearest[close]] / REFLECTANCE_SCALE
    return out


def true_colour(red_green_blue: np.ndarray) -> np.ndarray:
    """8-bit true colour of reflectances (..., 3: red, green, blue); NaN gives the background."""
    scaled = np.clip(np.nan_to_num(red_green_blue) * TRUE_COLOUR_GAIN, 0.0, 1.0) ** 0.8
    out = np.round(scaled * 255).astype(np.uint8)
    out[np.isnan(red_green_blue).any(axis=-1)] = BACKGROUND_RGB
    return out


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """(NIR - red) / (NIR + red); NaN where the sum is not positive or an input is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        total = nir + red
        return np.where(total > 0, (nir - red) / np.where(total > 0, total, 1.0), np.nan)


def ndvi_colour(values: np.ndarray) -> np.ndarray:
    """8-bit colours of NDVI values on a brown-yellow-green ramp over NDVI_RANGE; NaN: background."""
    lo, hi = NDVI_RANGE
    position = np.clip((np.nan_to_num(values, nan=lo) - lo) / (hi - lo), 0, 1) * (len(_NDVI_STOPS) - 1)
    below = np.minimum(np.floor(position).astype(int), len(_NDVI_STOPS) - 2)
    share = (position - below)[..., None]
    out = np.round(_NDVI_STOPS[below] * (1 - share) + _NDVI_STOPS[below + 1] * share).astype(np.uint8)
    out[np.isnan(values)] = BACKGROUND_RGB
    return out


def _grid(geometries: Any, max_side: int) -> tuple[Any, tuple[int, int], Any]:
    """Parcels in Web Mercator, the grid's (height, width) and its affine transform."""
    from rasterio.transform import from_bounds

    merc = geometries.to_crs(_WEB_MERCATOR)
    x0, y0, x1, y1 = merc.total_bounds
    pad = 0.02 * max(x1 - x0, y1 - y0, 1.0)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    scale = max(x1 - x0, y1 - y0) / max_side
    width, height = max(int(np.ceil((x1 - x0) / scale)), 1), max(int(np.ceil((y1 - y0) / scale)), 1)
    return merc, (height, width), from_bounds(x0, y0, x0 + width * scale, y0 + height * scale, width, height)


def parcel_index_raster(geometries: Any,
                        max_side: int = MAX_SIDE) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Raster of parcel rows (1-based; 0 outside parcels) on a Web-Mercator grid, and its WGS84 bounds.

    ``geometries``: a GeoSeries with a CRS. Every parcel gets at least the pixel of its centroid.
    """
    from pyproj import Transformer
    from rasterio.features import rasterize

    if geometries.crs is None:
        raise ConfigurationError("parcel geometries have no CRS; a basemap needs to know where they lie")
    if not len(geometries) or (geometries.isna() | geometries.is_empty).all():
        raise ConfigurationError("no parcel geometries to draw a basemap of")
    merc, shape, transform = _grid(geometries, max_side)
    shapes = [(g, i + 1) for i, g in enumerate(merc.to_numpy()) if g is not None and not g.is_empty]
    index = rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32")
    centroids = shapely.get_coordinates(shapely.centroid(merc.to_numpy()))
    cols, rows = ~transform @ (centroids[:, 0], centroids[:, 1])
    rows = np.clip(np.asarray(rows, dtype=int), 0, shape[0] - 1)
    cols = np.clip(np.asarray(cols, dtype=int), 0, shape[1] - 1)
    unseen = ~np.isin(np.arange(1, len(merc) + 1), index)
    index[rows[unseen], cols[unseen]] = np.flatnonzero(unseen) + 1
    to_wgs84 = Transformer.from_crs(_WEB_MERCATOR, "EPSG:4326", always_xy=True)
    west, north = to_wgs84.transform(transform.c, transform.f)
    east, south = to_wgs84.transform(transform.c + transform.a * shape[1], transform.f + transform.e * shape[0])
    return index, (float(west), float(south), float(east), float(north))


def land_cover_reflectance(kind: str, dates: Sequence[str]) -> np.ndarray:
    """Reflectance (dates, B4 B3 B2 B8) of hedges, woods, villages or roads (``kind``) at ``dates``."""
    if kind not in _LAND_SPECTRA:
        raise ConfigurationError(f"no spectrum for land cover {kind!r}; use one of {', '.join(_LAND_SPECTRA)}")
    doy = pd.DatetimeIndex(pd.to_datetime(list(dates))).day_of_year.to_numpy(dtype=float)
    leaves = 1 / (1 + np.exp(-(doy - 120) / 8)) / (1 + np.exp((doy - 300) / 10))
    off, on = (np.asarray(spectrum, dtype=np.float32) for spectrum in _LAND_SPECTRA[kind])
    return (off[None, :] * (1 - leaves[:, None]) + on[None, :] * leaves[:, None]).astype(np.float32)


def _land_cover_rows(land_cover: Any, parcels: Any, max_side: int, dates: Sequence[str],
                     reflectance: np.ndarray, rows: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The land cover rasterised on the parcels' basemap grid (row k + 1 of ``land_cover`` in
    drawing order, 0 elsewhere) and each row's reflectance (rows, dates, B4 B3 B2 B8)."""
    from rasterio.features import rasterize

    unknown = sorted(set(land_cover["kind"]) - set(LAND_COVER_KINDS))
    if unknown:
        raise ConfigurationError(f"unknown land cover {', '.join(map(str, unknown))}; "
                                 f"use {', '.join(LAND_COVER_KINDS)}")
    cover = land_cover.iloc[np.argsort([LAND_COVER_KINDS.index(k) for k in land_cover["kind"]], kind="stable")]
    cover = cover.to_crs(_WEB_MERCATOR).reset_index(drop=True)
    _, shape, transform = _grid(parcels, max_side)
    shapes = [(g, k + 1) for k, g in enumerate(cover.geometry) if g is not None and not g.is_empty]
    raster = (rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32") if shapes
              else np.zeros(shape, dtype="int32"))
    spectra = {kind: land_cover_reflectance(kind, dates) for kind in _LAND_SPECTRA}
    out = np.full((len(cover), len(dates), reflectance.shape[2]), np.nan, dtype=np.float32)
    for k, row in enumerate(cover.itertuples()):
        if row.kind != "field":
            out[k] = spectra[row.kind]
        elif int(row.donor) in rows:  # a field outside the dataset, painted as one of its parcels
            out[k] = reflectance[rows[int(row.donor)]]
    return raster, out


def render_basemap(index: np.ndarray, reflectance: np.ndarray) -> dict[str, list[np.ndarray]]:
    """RGBA images per date (transparent outside parcels) from a parcel-row raster and a
    reflectance array (parcels, dates, B4 B3 B2 B8)."""
    lookup = np.concatenate([np.full((1, *reflectance.shape[1:]), np.nan, np.float32), reflectance])
    images: dict[str, list[np.ndarray]] = {"rgb": [], "ndvi": []}
    opaque = np.full((len(lookup), 1), 255, dtype=np.uint8)
    opaque[0] = 0
    flat = index.ravel()
    for d in range(reflectance.shape[1]):
        for kind, colours in (("rgb", true_colour(lookup[:, d, :3])),
                              ("ndvi", ndvi_colour(ndvi(lookup[:, d, 0], lookup[:, d, 3])))):
            packed = np.ascontiguousarray(np.concatenate([colours, opaque], axis=1)).view(np.uint32)[:, 0]
            images[kind].append(packed[flat].view(np.uint8).reshape(*index.shape, 4))
    return images


def write_basemap(folder: str | PathLike[str], images: dict[str, list[np.ndarray]], dates: Sequence[str],
                  bounds: tuple[float, float, float, float], source: str) -> Basemap:
    """Write images (kind -> one H x W x 3 or 4 uint8 array per date) and their manifest to ``folder``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {img.shape[:2] for kind_images in images.values() for img in kind_images}
    if len(sizes) != 1 or any(len(kind_images) != len(dates) for kind_images in images.values()):
        raise ConfigurationError("basemap images must all have one size and one image per date")
    height, width = sizes.pop()
    for kind, kind_images in images.items():
        for date, image in zip(dates, kind_images, strict=True):
            Image.fromarray(image, "RGBA" if image.shape[-1] == 4 else "RGB").save(
                folder / f"{kind}-{date}.png", compress_level=1)
    manifest = {"dates": [str(d) for d in dates], "bounds": [float(b) for b in bounds], "crs": _WEB_MERCATOR,
                "kinds": sorted(images), "size": [width, height], "source": source}
    (folder / _MANIFEST).write_text(json.dumps(manifest, indent=2))
    west, south, east, north = (float(b) for b in bounds)
    return Basemap(folder, tuple(str(d) for d in dates), (west, south, east, north), source, (width, height))


def read_basemap(folder: str | PathLike[str]) -> Basemap | None:
    """The basemap in ``folder``, or None when the folder has none."""
    path = Path(folder) / _MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        dates = tuple(str(d) for d in manifest["dates"])
        west, south, east, north = (float(b) for b in manifest["bounds"])
        width, height = (int(s) for s in manifest["size"])
        source = str(manifest.get("source", "unknown"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(path, f"not a readable basemap manifest ({exc})") from exc
    if not dates or not (west < east and south < north):
        raise DatasetError(path, "basemap manifest has no dates or empty bounds")
    basemap = Basemap(Path(folder), dates, (west, south, east, north), source, (width, height))
    absent = [p.name for d in dates for k in KINDS if not (p := basemap.image_path(k, d)).exists()]
    if absent:
        raise DatasetError(path, f"basemap images missing: {', '.join(absent[:3])}")
    return basemap


def write_dataset_basemap(ds: Any, folder: str | PathLike[str] | None = None, dates: Sequence[str] | None = None,
                          max_side: int | None = None, source: str = "parcel observations",
                          land_cover: Any = None) -> Basemap:
    """Draw and write the basemap of a dataset from its parcels' own clear observations.

    Each parcel is painted with its clear observation nearest to each date (monthly by default);
    parcels without a clear observation near a date get the background colour. Pixels outside
    parcels are transparent, unless ``land_cover`` (a GeoDataFrame with a CRS, ``kind`` one of
    :data:`LAND_COVER_KINDS` and, for fields, ``donor``: the id of a parcel whose observations
    they show) paints them. Written to :func:`basemap_folder` of the dataset unless ``folder`` is given.
    """
    gdf = ds.geodataframe()
    if gdf is None or not len(gdf):
        raise DatasetError(ds.root, f"region {ds.region} has no parcel polygons to draw a basemap of")
    dates = list(dates) if dates is not None else monthly_dates(int(ds.year))
    reflectance = parcel_reflectance(ds, dates)
    rows = {int(i): k for k, i in enumerate(ds.ids)}
    keep = gdf["id"].map(rows).notna().to_numpy()
    gdf = gdf[keep]
    side = max_side or int(np.clip(64 * np.sqrt(len(gdf)), 512, MAX_SIDE))
    index, bounds = parcel_index_raster(gdf.geometry, side)
    order = gdf["id"].map(rows).to_numpy(dtype=np.int64)
    lookup = reflectance[order]
    if land_cover is not None and len(land_cover):
        cover, cover_reflectance = _land_cover_rows(land_cover, gdf.geometry, side, dates, reflectance, rows)
        index = np.where(index > 0, index, np.where(cover > 0, cover + len(lookup), 0))
        lookup = np.concatenate([lookup, cover_reflectance])
    images = render_basemap(index, lookup)
    target = basemap_folder(ds.root, ds.region, ds.year) if folder is None else Path(folder)
    return write_basemap(target, images, dates, bounds, source)


def region_outline(geometries: Any, cells: int = 256, grow: int = 2) -> Any:
    """A light outline of where a region's parcels are: the occupied cells of a coarse grid, merged.

    ``geometries``: a GeoSeries with a CRS. Returns a shapely (multi)polygon in WGS84: fast for
    hundreds of thousands of parcels (centroids on a ``cells``-wide grid, closed by ``grow`` cells).
    """
    from rasterio.features import shapes
    from scipy.ndimage import binary_closing, binary_dilation

    if not len(geometries):
        raise ConfigurationError("no parcel geometries to outline")
    merc, shape, transform = _grid(geometries, cells)
    xy = shapely.get_coordinates(shapely.centroid(merc.to_numpy()))
    cols, rows = ~transform @ (xy[:, 0], xy[:, 1])
    occupied = np.zeros(shape, dtype=bool)
    occupied[np.clip(np.asarray(rows, dtype=int), 0, shape[0] - 1),
             np.clip(np.asarray(cols, dtype=int), 0, shape[1] - 1)] = True
    structure = np.ones((3, 3), dtype=bool)
    occupied = binary_closing(binary_dilation(occupied, structure, iterations=grow), structure, iterations=grow)
    polygons = [shapely.geometry.shape(geom) for geom, value in
                shapes(occupied.astype(np.uint8), mask=occupied, transform=transform) if value]
    import geopandas as gpd

    merged = shapely.union_all(polygons)
    return gpd.GeoSeries([merged], crs=_WEB_MERCATOR).to_crs("EPSG:4326").iloc[0]
