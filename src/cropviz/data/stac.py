"""Parcel statistics straight from a STAC catalog of Sentinel-2 L2A Cloud-Optimised GeoTIFFs.

``extract_stac`` finds the items of a collection (default ``sentinel-2-l2a``) over the parcels
and a date range, in a STAC API (pystac-client item search: Earth Search, Planetary Computer) or
in a static catalog (a ``catalog.json`` walked with pystac), reads only the parcels' surroundings
from the COGs with odc-stac (windowed HTTP range or file reads; items of one solar day mosaicked,
first valid pixel), and hands per-date stacks of the bands and SCL to
:func:`cropviz.data.importers.raster.extract_rasters`, which masks clouds pixel by pixel and
writes the region. Parcels are read in spatial cells (default 5 km) so that far-apart parcels
never load the whole tile between them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cropviz.data.importers.bandnames import canonical_band
from cropviz.errors import ConfigurationError, DatasetError

DEFAULT_COLLECTION = "sentinel-2-l2a"
#: Asset keys of the scene classification layer in the common catalogs.
SCL_ASSETS = ("scl", "SCL")
DEFAULT_CELL_METRES = 5000.0


def extract_stac(catalog: str | PathLike[str], parcels: str | PathLike[str], root: str | PathLike[str],
                 region: str, *, start: str, end: str, collection: str = DEFAULT_COLLECTION,
                 bands: Sequence[str] | None = None, max_cloud_cover: float | None = None,
                 resolution: float = 10.0, cell_metres: float = DEFAULT_CELL_METRES,
                 label_col: str | None = None, id_col: str | None = None, workers: int = 2,
                 year: int | None = None, level: str | None = None, overwrite: bool = False,
                 modifier: Callable[[Any], Any] | None = None, progress: bool = True) -> dict[str, Any]:
    """Extract per-parcel, per-date band statistics from a STAC catalog into region ``region``.

    ``catalog``: a STAC API URL (e.g. https://earth-search.aws.element84.com/v1) or a static
    catalog (path or URL of its ``catalog.json``). ``start``/``end``: the date range (inclusive
    days). ``bands``: asset keys to read (default: every Sentinel-2 band asset of the first item;
    both ``blue``/``nir08`` and ``B02``/``B8A`` spellings are understood); the SCL asset is read
    when the items have one. ``max_cloud_cover``: skip items whose ``eo:cloud_cover`` is higher.
    ``modifier``: signs item URLs (``planetary_computer.sign_inplace``). Digital numbers are
    corrected by the assets' ``raster:bands`` offset (processing baseline 04.00: -1000).
    Returns the extraction summary plus ``stac_items`` and ``stac_dates``.
    """
    started = time.perf_counter()
    if resolution <= 0 or cell_metres <= 0:
        raise ConfigurationError(f"--resolution and the cell size must be positive, got {resolution}, {cell_metres}")
    first_day, last_day = _day_range(start, end)
    from cropviz.data.importers.raster import _read_parcels, extract_rasters

    gdf, _, _ = _read_parcels(Path(parcels), id_col, label_col)
    if gdf.empty:
        raise DatasetError(Path(parcels), "no parcels with a geometry")
    bbox = tuple(float(v) for v in gdf.to_crs("EPSG:4326").total_bounds)
    items = search_items(catalog, collection, bbox, first_day, last_day, max_cloud_cover, modifier)
    if not items:
        raise DatasetError(catalog, f"no {collection} items over the parcels ({', '.join(f'{v:.4f}' for v in bbox)}) "
                                    f"from {first_day.date()} to {last_day.date()}")
    assets, scl = _choose_assets(catalog, items[0], bands)
    crs = _common_crs(items)
    root = Path(root)
    spool = root.absolute().parent / f".{root.name}.stac-{region}"
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir(parents=True)
    try:
        dates = _write_cells(items, assets, scl, gdf.to_crs(crs), crs, resolution, cell_metres, spool, progress)
        if not dates:
            raise DatasetError(catalog, f"none of the {len(items)} items holds data over the parcels")
        try:
            summary = extract_rasters(spool, parcels, root, region, layout="per-date", id_col=id_col,
                                      label_col=label_col, cloud_band="SCL" if scl else "none", workers=workers,
                                      year=year, level=level, overwrite=overwrite, progress=progress,
                                      _provenance={"source_files": [str(catalog), str(parcels)],
                                                   "command": f"cropviz extract --stac {catalog} --collection "
                                                              f"{collection} --start {start} --end {end}"})
        except DatasetError as error:  # name the catalog, never the spool
            if Path(error.path).absolute().is_relative_to(spool):
                raise DatasetError(catalog, error.problem) from error
            raise
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    summary.update({"stac_catalog": str(catalog), "stac_collection": collection, "stac_items": len(items),
                    "stac_dates": len(dates), "stac_assets": {a: b for a, b in assets}, "stac_crs": crs,
                    "seconds": round(time.perf_counter() - started, 2)})
    return summary


def _day_range(start: str, end: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        first, last = pd.Timestamp(start), pd.Timestamp(end)
    except ValueError as exc:
        raise ConfigurationError(f"--start/--end must be dates such as 2017-01-01, got {start!r}, {end!r}") from exc
    if last < first:
        raise ConfigurationError(f"--end {end} is before --start {start}")
    return first.normalize(), last.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)


def search_items(catalog: str | PathLike[str], collection: str, bbox: tuple[float, ...], first: pd.Timestamp,
                 last: pd.Timestamp, max_cloud_cover: float | None = None,
                 modifier: Callable[[Any], Any] | None = None) -> list[Any]:
    """The items of ``collection`` intersecting ``bbox`` (lon/lat) between ``first`` and ``last``,
    sorted by time: by item search for an API, by walking a static catalog otherwise."""
    import pystac
    import pystac_client
    from pystac_client.conformance import ConformanceClasses

    target = str(catalog)
    try:
        client = pystac_client.Client.open(target, modifier=modifier)
    except (pystac.STACError, pystac_client.exceptions.APIError, OSError, ValueError) as exc:
        raise DatasetError(catalog, f"not a readable STAC catalog or API ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if client.conforms_to(ConformanceClasses.ITEM_SEARCH):
        query = {"eo:cloud_cover": {"lte": max_cloud_cover}} if max_cloud_cover is not None else None
        try:
            search = client.search(collections=[collection], bbox=list(bbox), query=query,
                                   datetime=[first.to_pydatetime(), last.to_pydatetime()])
            items = list(search.items())
        except pystac_client.exceptions.APIError as exc:
            raise DatasetError(catalog, f"item search failed ({str(exc).splitlines()[0]})") from exc
    else:
        from shapely.geometry import box, shape

        area = box(*bbox)
        items = []
        for item in client.get_items(recursive=True):
            when = pd.Timestamp(item.datetime).tz_localize(None) if item.datetime else None
            if item.collection_id != collection or when is None or not first <= when <= last:
                continue
            if item.geometry is None or not shape(item.geometry).intersects(area):
                continue
            cover = item.properties.get("eo:cloud_cover")
            if max_cloud_cover is not None and cover is not None and cover > max_cloud_cover:
                continue
            if modifier is not None:
                modifier(item)
            items.append(item)
    return sorted(items, key=lambda item: (item.datetime, item.id))


def _choose_assets(catalog: str | PathLike[str], item: Any, bands: Sequence[str] | None
                   ) -> tuple[list[tuple[str, str]], str | None]:
    """(asset key, canonical band) pairs to read, and the SCL asset key (or None)."""
    keys = list(item.assets)
    if bands is None:
        chosen = []
        seen = set()
        for key in keys:
            band = _asset_band(item, key)
            if band is not None and band not in seen and not key.endswith("-jp2"):
                chosen.append((key, band))
                seen.add(band)
    else:
        missing = [b for b in bands if b not in item.assets]
        if missing:
            raise DatasetError(catalog, f"item {item.id} has no assets {', '.join(missing)} "
                                        f"(assets: {', '.join(keys)}); name others with --bands")
        chosen = [(b, _asset_band(item, b) or b) for b in bands]
    if not any(canonical_band(band) for _, band in chosen):
        raise DatasetError(catalog, f"item {item.id} has no Sentinel-2 band assets (assets: {', '.join(keys)})")
    scl = next((k for k in SCL_ASSETS if k in item.assets), None)
    return chosen, scl


def _asset_band(item: Any, key: str) -> str | None:
    """The Sentinel-2 band of an asset: from its eo:bands name, else from its key."""
    asset = item.assets[key]
    for entry in asset.extra_fields.get("eo:bands", []) or []:
        band = canonical_band(str(entry.get("name", "")))
        if band is not None:
            return band
    return canonical_band(key)


def _common_crs(items: list[Any]) -> str:
    """The most common ``proj:epsg``/``proj:code`` of the items (all data are read in it)."""
    codes = []
    for item in items:
        props = item.properties
        code = props.get("proj:code") or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
        if code is None:
            for asset in item.assets.values():
                epsg = asset.extra_fields.get("proj:epsg")
                code = asset.extra_fields.get("proj:code") or (f"EPSG:{epsg}" if epsg else None)
                if code:
                    break
        if code:
            codes.append(str(code))
    if not codes:
        raise ConfigurationError("the STAC items do not say their projection (proj:epsg or proj:code)")
    return pd.Series(codes).value_counts().index[0]


def _offsets(item: Any, assets: list[tuple[str, str]]) -> dict[str, float]:
    """Per asset: the digital-number offset from ``raster:bands`` (offset / scale, e.g. -1000)."""
    out = {}
    for key, _ in assets:
        entries = item.assets[key].extra_fields.get("raster:bands") or [{}]
        scale, offset = entries[0].get("scale"), entries[0].get("offset")
        out[key] = float(offset) / float(scale) if scale and offset else 0.0
    return out


def _write_cells(items: list[Any], assets: list[tuple[str, str]], scl: str | None, gdf: Any, crs: str,
                 resolution: float, cell_metres: float, folder: Path, progress: bool) -> list[str]:
    """Per spatial cell of parcels and solar day: a GeoTIFF of the bands (DN) and SCL, layer
    descriptions naming them. Returns the days written."""
    import odc.stac
    import rasterio
    from odc.geo.geom import box as geo_box
    from tqdm.auto import tqdm

    keys = [key for key, _ in assets] + ([scl] if scl else [])
    names = [band for _, band in assets] + (["SCL"] if scl else [])
    offsets_by_day: dict[str, dict[str, float]] = {}
    for item in items:  # the first item of a day gives its offsets
        offsets_by_day.setdefault(pd.Timestamp(item.datetime).strftime("%Y%m%d"), _offsets(item, assets))
    centroids = gdf.geometry.centroid
    cells = pd.Series(list(zip(np.floor(centroids.x / cell_metres).astype(int),
                               np.floor(centroids.y / cell_metres).astype(int), strict=True)), index=gdf.index)
    days: set[str] = set()
    groups = list(gdf.groupby(cells.to_numpy()))
    for k, (_, members) in enumerate(tqdm(groups, desc="stac", unit=" cell", disable=not progress)):
        x0, y0, x1, y1 = members.total_bounds
        pad = 2 * resolution
        area = geo_box(x0 - pad, y0 - pad, x1 + pad, y1 + pad, crs=crs)
        data = odc.stac.load(items, bands=keys, crs=crs, resolution=resolution, geopolygon=area,
                             groupby="solar_day", resampling="nearest", fail_on_error=True)
        transform = data.odc.geobox.affine
        for t, when in enumerate(pd.to_datetime(data.time.values)):
            day = when.strftime("%Y%m%d")
            offsets = offsets_by_day.get(day, {})
            layers = []
            for key in keys:
                plane = data[key].isel(time=t).values.astype(np.float64)
                shift = offsets.get(key, 0.0)
                if shift and key != scl:
                    plane = np.where(plane > 0, np.maximum(plane + shift, 1.0), 0.0)
                layers.append(plane)
            stack = np.stack(layers).astype(np.float32)
            if not np.any(stack[: len(assets)] > 0):
                continue  # the day has no data over this cell
            path = folder / f"cell{k:05d}_{day}.tif"
            with rasterio.open(path, "w", driver="GTiff", height=stack.shape[1], width=stack.shape[2],
                               count=stack.shape[0], dtype="float32", crs=crs, transform=transform,
                               nodata=0) as dst:
                dst.write(stack)
                for i, name in enumerate(names):
                    dst.set_band_description(i + 1, name)
            days.add(day)
    return sorted(days)
