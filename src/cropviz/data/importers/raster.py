"""Parcel statistics from Sentinel-2 rasters (GeoTIFF / COG), written in the BreizhCrops layout.

For every parcel and date: the mean and standard deviation of each band over the pixels whose
centre lies inside the polygon (``rasterio.features.geometry_mask``, ``all_touched=False``), the
pixel count and, with a cloud band, the share of cloudy pixels. Polygons are reprojected to each
raster's CRS; every parcel is read through its own small window (never a whole tile); files are
processed in parallel. A polygon smaller than a pixel falls back to the pixel containing its
centroid (counted). Parcels split over several files of a date are pooled by pixel count.
The statistics then go through :func:`cropviz.data.importers.table.import_table`.
"""

from __future__ import annotations

import glob
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cropviz.data.breizhcrops import SCL_CLOUDY_CODES
from cropviz.data.importers.bandnames import band_in_filename, canonical_band, date_in_name, looks_like_band
from cropviz.data.importers.table import ID_NAMES, LABEL_NAMES, _guess, import_table
from cropviz.data.importers.writer import check_target, command_text
from cropviz.errors import ConfigurationError, DatasetError

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2")
CLOUD = "CLD"


@dataclass
class _Layer:
    index: int  # 1-based band index in the file
    band: str  # canonical band or CLD
    date: np.datetime64


def extract_rasters(rasters: str | PathLike[str] | Sequence[str | PathLike[str]], parcels: str | PathLike[str],
                    root: str | PathLike[str], region: str, *, layout: str | None = None,
                    dates_csv: str | PathLike[str] | None = None, band_names: Sequence[str] | None = None,
                    label_col: str | None = None, id_col: str | None = None, cloud_band: str | None = None,
                    cloud_kind: str = "scl", patches: bool = False, workers: int = 2, year: int | None = None,
                    level: str | None = None, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Extract per-parcel, per-date band statistics from rasters into region ``region`` of ``root``.

    ``rasters``: a folder, a glob or a list of files. ``layout``: 'per-date' (one file per date,
    bands as layers named by their descriptions, ``band_names`` or a band token in the file name),
    'per-band' (one file per band, one layer per date: dates from layer descriptions or
    ``dates_csv``) or None (per-date when the file name holds a date). ``dates_csv``: columns
    file,date (per-date) or file,layer,date (per-band). ``cloud_band``: name of a layer or file
    token holding a cloud mask (``cloud_kind='boolean'``) or Sentinel-2 SCL (``'scl'``).
    ``parcels``: polygon file with an id column (``id_col``) and optional labels (``label_col``).
    Returns the import summary plus extraction counts.
    """
    if layout not in (None, "per-date", "per-band"):
        raise ConfigurationError(f"layout must be 'per-date', 'per-band' or None, got {layout!r}")
    if cloud_kind not in ("scl", "boolean"):
        raise ConfigurationError(f"cloud_kind must be 'scl' or 'boolean', got {cloud_kind!r}")
    started = time.perf_counter()
    root = Path(root)
    check_target(root.absolute(), region, overwrite)
    files = _resolve_files(rasters)
    gdf, id_name, label_name = _read_parcels(Path(parcels), id_col, label_col)
    table_dates = _read_dates_csv(Path(dates_csv)) if dates_csv is not None else None
    plans, crs_of = [], {}
    import rasterio

    for path in files:
        try:
            with rasterio.open(path) as src:
                layers = _layers(path, src.count, src.descriptions, layout, band_names, cloud_band, table_dates)
                crs_of[path] = src.crs.to_string() if src.crs else None
        except rasterio.errors.RasterioIOError as exc:
            raise DatasetError(path, "not a readable raster") from exc
        if crs_of[path] is None:
            raise DatasetError(path, "raster has no CRS")
        plans.append((path, layers))
    crs_list = sorted(set(crs_of.values()))
    by_crs = {crs: gdf.to_crs(crs) for crs in crs_list}
    tasks = [(str(p), layers, by_crs[crs_of[p]].geometry.to_numpy(), gdf["id"].to_numpy(), cloud_kind)
             for p, layers in plans]
    frames, fallback = [], set()
    bar = tqdm(total=len(tasks), desc="extract", unit=" file", disable=not progress)
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for frame, small in pool.map(_zonal_file, tasks):
                frames.append(frame)
                fallback |= small
                bar.update(1)
    else:
        for task in tasks:
            frame, small = _zonal_file(task)
            frames.append(frame)
            fallback |= small
            bar.update(1)
    bar.close()
    stats = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    outside = np.setdiff1d(gdf["id"].to_numpy(), stats["id"].unique() if len(stats) else [])
    if stats.empty:
        raise DatasetError(Path(parcels), f"all {len(gdf)} parcels lie outside every raster "
                                          f"({len(files)} files)")
    table = _pool(stats)
    if label_name is not None:
        table["label"] = table["id"].map(gdf.set_index("id")[label_name])
    spool = root.absolute().parent / f".{root.name}.extract-{region}"
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir(parents=True)
    try:
        patch_ids = _write_patches(plans, gdf, spool / "patches", region, crs_list) if patches else None
        table_path = spool / "stats.parquet"
        table.to_parquet(table_path, index=False)
        geom_path = spool / "parcels.gpkg"
        gdf[["id", "geometry"]].to_file(geom_path, driver="GPKG")
        summary = import_table(table_path, root, region, form="long", id_col="id", date_col="date",
                               label_col="label" if label_name is not None else None, scale="auto",
                               cloud_col=CLOUD if CLOUD in table.columns else None,
                               cloud_kind="probability" if CLOUD in table.columns else None,
                               geometry=geom_path, year=year, level=level, overwrite=overwrite,
                               progress=progress, _provenance={
                                   "source_files": [str(p) for p in files] + [str(parcels)],
                                   "command": command_text("extract_rasters", {
                                       "rasters": [str(p) for p in files][:3] + (["..."] if len(files) > 3 else []),
                                       "parcels": str(parcels), "root": str(root), "region": region})})
        if patch_ids is not None:
            summary["patches"] = _move_patches(spool / "patches", root, region, summary["year"], summary["level"])
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    summary.update({"raster_files": len(files), "raster_crs": {c: sum(v == c for v in crs_of.values()) for c in crs_list},
                    "parcel_dates": int(table[["id", "date"]].drop_duplicates().shape[0]),
                    "parcels_in_file": int(len(gdf)), "outside_rasters": int(len(outside)),
                    "outside_ids": [int(i) for i in outside[:20]], "centroid_fallback": len(fallback),
                    "id_column": id_name, "label_column": label_name,
                    "seconds": round(time.perf_counter() - started, 2)})
    summary["parcel_dates_per_second"] = round(summary["parcel_dates"] / max(summary["seconds"], 1e-9), 1)
    return summary


def _resolve_files(rasters: Any) -> list[Path]:
    if isinstance(rasters, (str, PathLike)):
        text = str(rasters)
        if Path(text).is_dir():
            files = [p for p in sorted(Path(text).iterdir()) if p.suffix.lower() in RASTER_SUFFIXES]
        elif any(ch in text for ch in "*?["):
            files = [Path(p) for p in sorted(glob.glob(text))]
        else:
            files = [Path(text)]
    else:
        files = [Path(p) for p in rasters]
    if not files:
        raise DatasetError(Path(str(rasters)), "no raster files found")
    for path in files:
        if not path.is_file():
            raise DatasetError(path, "raster file does not exist")
    return files


def _read_parcels(path: Path, id_col: str | None, label_col: str | None) -> tuple[Any, str, str | None]:
    from cropviz.data.geometry import read_geometry_file

    gdf = read_geometry_file(path)
    if gdf.crs is None:
        raise DatasetError(path, "polygon file has no CRS")
    cols = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    id_name = _guess(cols, id_col, (*ID_NAMES, "id_parcel"), "id", path, required=True)
    label_name = _guess(cols, label_col, LABEL_NAMES, "label", path, required=False)
    ids = pd.to_numeric(gdf[id_name], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        raise DatasetError(path, f"column {id_name} has {int(ids.isna().sum())} non-integer ids; "
                                 "extract_rasters needs integer parcel ids")
    out = gdf.assign(id=ids.astype(np.int64).to_numpy())
    empty = out.geometry.isna() | out.geometry.is_empty
    return out.loc[~empty.to_numpy()].reset_index(drop=True), id_name, label_name


def _read_dates_csv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(path, f"not a readable dates CSV ({type(exc).__name__})") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "file" not in table.columns or "date" not in table.columns:
        raise DatasetError(path, "dates CSV needs columns file,date (and layer for per-band files)")
    table["date"] = pd.to_datetime(table["date"], errors="coerce")
    if table["date"].isna().any():
        raise DatasetError(path, f"{int(table['date'].isna().sum())} dates do not parse")
    table["file"] = table["file"].map(lambda f: Path(str(f)).name)
    return table


def _layers(path: Path, count: int, descriptions: Sequence[str | None], layout: str | None,
            band_names: Sequence[str] | None, cloud_band: str | None, dates: pd.DataFrame | None) -> list[_Layer]:
    """(layer index, band, date) of every layer used in a file."""
    name = path.name
    listed = None if dates is None else dates.loc[dates["file"] == name]
    file_date = (listed["date"].iloc[0].to_datetime64() if listed is not None and len(listed) and "layer" not in listed
                 else date_in_name(name))
    if layout is None:
        layout = "per-date" if file_date is not None else "per-band"
    cloud = cloud_band.lower() if cloud_band else None

    def band_of(label: str | None) -> str | None:
        if label is None:
            return None
        if cloud is not None and (label.lower() == cloud or f"_{cloud}" in label.lower()):
            return CLOUD
        return canonical_band(label)

    layers = []
    if layout == "per-date":
        if file_date is None:
            raise DatasetError(path, "no date in the file name and none in the dates CSV")
        names = list(band_names) if band_names is not None else list(descriptions)
        if band_names is not None and len(band_names) != count:
            raise DatasetError(path, f"{count} layers but {len(band_names)} band_names")
        for k in range(count):
            label = names[k] or (Path(name).stem if count == 1 else None)
            if names[k]:
                band = band_of(label)
            elif count == 1:  # a single-band file: the band (or the cloud token) is in its name
                band = CLOUD if cloud and cloud in name.lower() else band_in_filename(name)
            else:
                band = None
            if band is None:
                if label and looks_like_band(label):
                    raise DatasetError(path, f"layer {k + 1} {label!r} is not a Sentinel-2 band")
                if label is None:
                    raise DatasetError(path, f"layer {k + 1} has no band name; give band_names")
                continue  # another layer (e.g. an index): not used
            layers.append(_Layer(k + 1, band, np.datetime64(file_date, "ns")))
        return layers
    band = CLOUD if cloud and cloud in name.lower() else band_in_filename(name)
    if band is None:
        raise DatasetError(path, "per-band file without a band in its name (e.g. _B04)")
    for k in range(count):
        date = date_in_name(descriptions[k] or "") if descriptions[k] else None
        if listed is not None and "layer" in listed:
            hit = listed.loc[listed["layer"] == k + 1, "date"]
            date = hit.iloc[0].to_datetime64() if len(hit) else date
        if date is None:
            raise DatasetError(path, f"layer {k + 1} has no date (description or dates CSV file,layer,date)")
        layers.append(_Layer(k + 1, band, np.datetime64(date, "ns")))
    return layers


def _zonal_file(task: tuple) -> tuple[pd.DataFrame, set[int]]:
    """Statistics of every parcel intersecting one file: id, date, band, mean, std, n."""
    import rasterio
    import shapely
    from rasterio.features import geometry_mask
    from rasterio.windows import Window

    path, layers, geoms, ids, cloud_kind = task
    rows: list[tuple] = []
    small: set[int] = set()
    with rasterio.open(path) as src:
        inverse = ~src.transform
        left, bottom, right, top = src.bounds
        tree = shapely.STRtree(geoms)
        hits = tree.query(shapely.box(left, bottom, right, top))
        indexes = [layer.index for layer in layers]
        nodata = src.nodata
        for g in np.sort(hits):
            geom = geoms[g]
            minx, miny, maxx, maxy = geom.bounds
            (ca, ra), (cb, rb) = inverse @ (minx, maxy), inverse @ (maxx, miny)
            col0, row0 = max(int(np.floor(min(ca, cb))), 0), max(int(np.floor(min(ra, rb))), 0)
            col1 = min(int(np.ceil(max(ca, cb))), src.width)
            row1 = min(int(np.ceil(max(ra, rb))), src.height)
            if col1 <= col0 or row1 <= row0:
                continue
            win = Window(col0, row0, col1 - col0, row1 - row0)
            transform = src.window_transform(win)
            inside = geometry_mask([geom], out_shape=(int(win.height), int(win.width)), transform=transform,
                                   invert=True, all_touched=False)
            if not inside.any():
                c = geom.centroid
                row, col = src.index(c.x, c.y)
                r, q = row - int(win.row_off), col - int(win.col_off)
                if not (0 <= r < win.height and 0 <= q < win.width):
                    continue
                inside[r, q] = True
                small.add(int(ids[g]))
            data = src.read(indexes, window=win).astype(np.float64)
            for layer, plane in zip(layers, data):
                values = plane[inside]
                if nodata is not None and layer.band != CLOUD:
                    values = values[values != nodata]
                values = values[np.isfinite(values)]
                if not len(values):
                    continue
                if layer.band == CLOUD:
                    flagged = np.isin(values, SCL_CLOUDY_CODES) if cloud_kind == "scl" else values > 0
                    rows.append((int(ids[g]), layer.date, CLOUD, 100.0 * float(flagged.mean()), 0.0, len(values)))
                else:
                    rows.append((int(ids[g]), layer.date, layer.band, float(values.mean()),
                                 float(values.std()), len(values)))
    return pd.DataFrame(rows, columns=["id", "date", "band", "mean", "std", "n"]), small


def _pool(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per (id, date): band means, <band>_std, pixels and CLD, pooled over files by pixel count."""
    stats = stats.assign(s1=stats["mean"] * stats["n"], s2=(stats["std"] ** 2 + stats["mean"] ** 2) * stats["n"])
    g = stats.groupby(["id", "date", "band"], sort=True)[["n", "s1", "s2"]].sum()
    mean = g["s1"] / g["n"]
    std = np.sqrt(np.maximum(g["s2"] / g["n"] - mean ** 2, 0.0))
    wide = mean.unstack("band")
    spectral = [c for c in wide.columns if c != CLOUD]
    out = wide[spectral].copy()
    for band in spectral:
        out[f"{band}_std"] = std.unstack("band")[band]
    out["pixels"] = g["n"].unstack("band")[spectral].max(axis=1)
    if CLOUD in wide.columns:
        out[CLOUD] = wide[CLOUD]
    out = out.reset_index()
    out.columns.name = None
    return out


def _write_patches(plans: list[tuple[Path, list[_Layer]]], gdf: Any, folder: Path, region: str,
                   crs_list: list[str]) -> list[int]:
    """32x32 patch GeoTIFFs of seed 004 (bounding box, outside pixels zero, T*10 bands uint16,
    date-major, PATCH_BANDS order) of every parcel, in the rasters' CRS; dates.csv beside them."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.features import geometry_mask
    from rasterio.transform import from_bounds
    from rasterio.windows import from_bounds as window_from_bounds

    from cropviz.data.bands import PATCH_BANDS
    from cropviz.data.simulate.patches import SIZE

    if len(crs_list) != 1:
        raise ConfigurationError(f"patches need rasters in one CRS; found {', '.join(crs_list)}")
    where = {(layer.date, layer.band): (path, layer.index) for path, layers in plans for layer in layers}
    dates = sorted({d for d, _ in where})
    missing = [b for b in PATCH_BANDS if not any((d, b) in where for d in dates)]
    if missing:
        raise ConfigurationError(f"patches need bands {', '.join(PATCH_BANDS)}; rasters lack {', '.join(missing)}")
    (folder / region).mkdir(parents=True)
    pd.DataFrame({"date": [str(np.datetime64(d, "D")) for d in dates]}).to_csv(folder / "dates.csv", index=False)
    geoms = gdf.to_crs(crs_list[0])
    handles: dict[Path, Any] = {}
    written = []
    try:
        for parcel_id, geom in zip(geoms["id"], geoms.geometry):
            bounds = geom.bounds
            transform = from_bounds(*bounds, SIZE, SIZE)
            inside = geometry_mask([geom], out_shape=(SIZE, SIZE), transform=transform, invert=True)
            if not inside.any():
                inside[SIZE // 2, SIZE // 2] = True
            cube = np.zeros((len(dates), len(PATCH_BANDS), SIZE, SIZE), dtype=np.uint16)
            hit = False
            for t, date in enumerate(dates):
                for b, band in enumerate(PATCH_BANDS):
                    if (date, band) not in where:
                        continue
                    path, index = where[(date, band)]
                    src = handles.get(path) or handles.setdefault(path, rasterio.open(path))
                    window = window_from_bounds(*bounds, transform=src.transform)
                    plane = src.read(index, window=window, out_shape=(SIZE, SIZE), boundless=True, fill_value=0,
                                     resampling=Resampling.bilinear)
                    hit |= bool(plane.any())
                    cube[t, b] = np.where(inside, np.clip(plane, 0, 65535), 0)
            if not hit:
                continue
            with rasterio.open(folder / region / f"{int(parcel_id)}.tif", "w", driver="GTiff", height=SIZE,
                               width=SIZE, count=cube.shape[0] * cube.shape[1], dtype="uint16", crs=crs_list[0],
                               transform=transform, nodata=0, compress="deflate", predictor=2,
                               interleave="pixel") as dst:
                dst.write(cube.reshape(-1, SIZE, SIZE))
            written.append(int(parcel_id))
    finally:
        for src in handles.values():
            src.close()
    return written


def _move_patches(folder: Path, root: Path, region: str, year: int, level: str) -> int:
    """Move written patches into ``<root>/<year>/patches`` with their index (class ids from the dataset)."""
    from cropviz.data import open_breizhcrops

    target = root / str(year) / "patches"
    old_dates = target / "dates.csv"
    if old_dates.exists() and not pd.read_csv(old_dates)["date"].equals(pd.read_csv(folder / "dates.csv")["date"]):
        raise DatasetError(old_dates, "other regions' patches have other dates; patches of one year share dates")
    ds = open_breizhcrops(root, region, year=year, level=level)
    classid = ds.index.set_index("id")["classid"]
    ids = [int(p.stem) for p in sorted((folder / region).glob("*.tif")) if int(p.stem) in classid.index]
    target.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target / region, ignore_errors=True)
    shutil.move(str(folder / region), str(target / region))
    shutil.copyfile(folder / "dates.csv", target / "dates.csv")
    pd.DataFrame({"id": ids, "path": [f"{year}/patches/{region}/{i}.tif" for i in ids],
                  "classid": classid.loc[ids].to_numpy(dtype=np.int64)}).to_csv(target / f"{region}.csv", index=False)
    return len(ids)
