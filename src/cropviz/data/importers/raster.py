"""Parcel statistics from Sentinel-2 rasters (GeoTIFF / COG), written in the BreizhCrops layout.

For every parcel and date: the mean and standard deviation of each band over the parcel's clear
pixels (centre inside the polygon, ``rasterio.features.geometry_mask``, ``all_touched=False``),
the pixel count and, with a cloud layer, the parcel's ``clear_fraction``. The cloud layer (SCL, a
0/1 mask or a cloud probability; the kind is read from its values) is looked up at every band
pixel's centre, so a 20 m SCL masks 10 m bands; cloudy pixels are left out of the means (an
observation without a clear pixel keeps the mean of all its pixels and is flagged cloudy, as is
every observation with ``clear_fraction`` < 0.5). Files of one date are mosaicked: a pixel comes
from the first file (in name order) that holds a valid value there, never from an average.
Index layers (NDVI, ...) are kept as extra columns beside the bands. Polygons are reprojected to
each raster's CRS; every parcel is read through its own small window (never a whole tile); parcel
chunks are processed in parallel. A polygon smaller than a pixel falls back to the pixel
containing its centroid (counted). The statistics then go through
:func:`cropviz.data.importers.table.import_table`.
"""

from __future__ import annotations

import glob
import re
import shutil
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cropviz.data.breizhcrops import SCL_CLOUDY_CODES
from cropviz.data.importers.bandnames import band_in_filename, canonical_band, date_in_name, looks_like_band
from cropviz.data.importers.table import ID_NAMES, LABEL_NAMES, _guess, import_table
from cropviz.data.importers.writer import check_target, command_text
from cropviz.data.indices import INDICES
from cropviz.errors import ConfigurationError, DatasetError

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2")
CLOUD = "CLD"
#: Layer or file-name tokens that name a cloud layer (separators removed, lower case).
CLOUD_WORDS = ("scl", "clm", "cld", "cloud", "clouds", "cloudmask", "cloudprob", "cloudprobability",
               "mskcldprb", "fmask", "mask", "qa60")
#: Cloud kinds of an extraction's cloud layer.
RASTER_CLOUD_KINDS = ("scl", "boolean", "probability")
#: Clear share of a parcel's pixels below which an observation is flagged cloudy.
MIN_CLEAR_FRACTION = 0.5
_SCL_NO_DATA = 0


@dataclass
class _Layer:
    index: int  # 1-based band index in the file
    band: str  # canonical band, index name (extra column) or CLD
    date: np.datetime64


@dataclass(frozen=True)
class _CloudSpec:
    kind: str  # scl, boolean or probability
    threshold: float  # probability at and above which a pixel is cloudy


@dataclass
class _Piece:
    """One file's window over one parcel: pixel planes of the used layers and the parcel mask."""

    crs: str
    transform: Any  # affine of the window
    inside: np.ndarray  # H x W bool
    planes: np.ndarray  # L x H x W float64, one plane per layer of ``layers``
    layers: list[_Layer]
    nodata: float | None
    _valid: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)

    def valid(self, positions: tuple[int, ...], scl: bool = False) -> np.ndarray:
        """Pixels where every plane at ``positions`` holds data (not nodata, finite; SCL not 0)."""
        key = (*positions, -1) if scl else positions
        if key not in self._valid:
            planes = self.planes[list(positions)]
            ok = np.isfinite(planes).all(axis=0)
            if self.nodata is not None:
                ok &= (planes != self.nodata).all(axis=0)
            if scl:
                ok &= (planes != _SCL_NO_DATA).all(axis=0)
            self._valid[key] = ok
        return self._valid[key]

    def centres(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World coordinates (in the file's CRS) of the centres of the pixels in ``mask``."""
        rows, cols = np.nonzero(mask)
        a = self.transform
        x = a.c + a.a * (cols + 0.5) + a.b * (rows + 0.5)
        y = a.f + a.d * (cols + 0.5) + a.e * (rows + 0.5)
        return x, y

    def locate(self, x: np.ndarray, y: np.ndarray, crs: str, transformers: dict[tuple[str, str], Any]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, inside-window) of points given in ``crs`` on this window's grid."""
        if crs != self.crs:
            key = (crs, self.crs)
            if key not in transformers:
                from pyproj import Transformer

                transformers[key] = Transformer.from_crs(crs, self.crs, always_xy=True)
            x, y = transformers[key].transform(x, y)
        inverse = ~self.transform
        cols = np.floor(inverse.a * x + inverse.b * y + inverse.c).astype(np.int64)
        rows = np.floor(inverse.d * x + inverse.e * y + inverse.f).astype(np.int64)
        ok = (rows >= 0) & (rows < self.inside.shape[0]) & (cols >= 0) & (cols < self.inside.shape[1])
        return np.where(ok, rows, 0), np.where(ok, cols, 0), ok


def extract_rasters(rasters: str | PathLike[str] | Sequence[str | PathLike[str]], parcels: str | PathLike[str],
                    root: str | PathLike[str], region: str, *, layout: str | None = None,
                    dates_csv: str | PathLike[str] | None = None, band_names: Sequence[str] | None = None,
                    label_col: str | None = None, id_col: str | None = None, cloud_band: str | None = None,
                    cloud_kind: str | None = None, patches: bool = False, workers: int = 2,
                    year: int | None = None, level: str | None = None, overwrite: bool = False,
                    progress: bool = True, _provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Extract per-parcel, per-date band statistics from rasters into region ``region`` of ``root``.

    ``rasters``: a folder, a glob or a list of files. ``layout``: 'per-date' (one file per date,
    bands as layers named by their descriptions, ``band_names`` or a band token in the file name),
    'per-band' (one file per band, one layer per date: dates from layer descriptions or
    ``dates_csv``) or None (per-date when the file name holds a date). ``dates_csv``: columns
    file,date (per-date) or file,layer,date (per-band). ``cloud_band``: name of the layer or file
    token holding the cloud layer; None finds one named like SCL, CLM, CLD or cloud; 'none'
    uses no cloud layer. ``cloud_kind``: 'scl', 'boolean' or 'probability'; None reads it from
    the values. ``parcels``: polygon file with an id column (``id_col``) and optional labels
    (``label_col``). Returns the import summary plus extraction counts and ``warnings``.
    """
    if layout not in (None, "per-date", "per-band"):
        raise ConfigurationError(f"--layout must be 'per-date' or 'per-band', got {layout!r}")
    if cloud_kind is not None and cloud_kind not in RASTER_CLOUD_KINDS:
        raise ConfigurationError(f"--cloud-kind must be one of {', '.join(RASTER_CLOUD_KINDS)}, got {cloud_kind!r}")
    started = time.perf_counter()
    root = Path(root)
    check_target(root.absolute(), region, overwrite)
    files = _resolve_files(rasters)
    where = _describe(rasters, files)
    gdf, id_name, label_name = _read_parcels(Path(parcels), id_col, label_col)
    table_dates = _read_dates_csv(Path(dates_csv)) if dates_csv is not None else None
    import rasterio

    chosen_cloud = None if cloud_band is None or cloud_band.lower() == "none" else cloud_band
    if cloud_band is None:
        chosen_cloud = _find_cloud_layer(files, band_names)
    plans: list[tuple[Path, list[_Layer]]] = []
    crs_of: dict[Path, str] = {}
    unused: dict[str, list[str]] = {}
    for path in files:
        try:
            with rasterio.open(path) as src:
                layers, skipped = _layers(path, src.count, src.descriptions, layout, band_names, chosen_cloud,
                                          table_dates)
                crs = src.crs.to_string() if src.crs else None
        except rasterio.errors.RasterioIOError as exc:
            raise DatasetError(path, "not a readable raster") from exc
        if crs is None:
            raise DatasetError(path, "raster has no CRS")
        crs_of[path] = crs
        for name in skipped:
            unused.setdefault(name, []).append(path.name)
        plans.append((path, layers))
    used = {layer.band for _, layers in plans for layer in layers}
    spectral = [b for b in used if canonical_band(b) is not None]
    if not spectral:
        found = sorted(used | set(unused))
        raise DatasetError(where, f"no Sentinel-2 band layer in {len(files)} raster files (layers: "
                                  f"{', '.join(found) or 'none named'}); cropviz models read bands B2..B12, "
                                  "so add band rasters (index layers such as NDVI are kept beside them)")
    notes = []
    for name, names in unused.items():
        if _is_cloud_word(name):
            notes.append(f"layer {name!r} ({names[0]}{' ...' if len(names) > 1 else ''}) looks like a cloud "
                         f"layer but is not used; pass --cloud-band {name} to mask clouds with it")
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    cloud = _detect_cloud(plans, cloud_kind) if CLOUD in used else None
    crs_list = sorted(set(crs_of.values()))
    by_crs = {crs: gdf.to_crs(crs).geometry.to_numpy() for crs in crs_list}
    ids = gdf["id"].to_numpy()
    tasks = _tasks(plans, crs_of, by_crs, ids, cloud, workers)
    frames, fallback = [], set()
    bar = tqdm(total=len(tasks), desc="extract", unit=" task", disable=not progress)
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for frame, small in pool.map(_zonal_task, tasks):
                frames.append(frame)
                fallback |= small
                bar.update(1)
    else:
        for task in tasks:
            frame, small = _zonal_task(task)
            frames.append(frame)
            fallback |= small
            bar.update(1)
    bar.close()
    stats = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    outside = np.setdiff1d(ids, stats["id"].unique() if len(stats) else [])
    if stats.empty:
        raise DatasetError(Path(parcels), f"all {len(gdf)} parcels lie outside every raster "
                                          f"({len(files)} files)")
    table = _pool(stats)
    if label_name is not None:
        table["label"] = table["id"].map(gdf.set_index("id")[label_name])
    spool = root.absolute().parent / f".{root.name}.extract-{region}"
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir(parents=True)
    provenance = {"source_files": [str(p) for p in files] + [str(parcels)],
                  "command": command_text("extract_rasters", {"rasters": where, "parcels": str(parcels),
                                                              "root": str(root), "region": region})}
    provenance.update(_provenance or {})
    try:
        patch_ids = _write_patches(plans, gdf, spool / "patches", region, crs_list) if patches else None
        table_path = spool / "stats.parquet"
        table.to_parquet(table_path, index=False)
        geom_path = spool / "parcels.gpkg"
        gdf[["id", "geometry"]].to_file(geom_path, driver="GPKG")
        try:
            summary = import_table(table_path, root, region, form="long", id_col="id", date_col="date",
                                   label_col="label" if label_name is not None else None, scale="auto",
                                   cloud_col=CLOUD if CLOUD in table.columns else None,
                                   cloud_kind="probability" if CLOUD in table.columns else None,
                                   geometry=geom_path, year=year, level=level, overwrite=overwrite,
                                   progress=progress, _provenance=provenance)
        except DatasetError as error:  # name the user's rasters, never the spool file
            if Path(error.path).absolute().is_relative_to(spool):
                raise DatasetError(where, error.problem) from error
            raise
        if patch_ids is not None:
            summary["patches"] = _move_patches(spool / "patches", root, region, summary["year"], summary["level"])
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    summary.update({"raster_files": len(files),
                    "raster_crs": {c: sum(v == c for v in crs_of.values()) for c in crs_list},
                    "parcel_dates": int(table[["id", "date"]].drop_duplicates().shape[0]),
                    "parcels_in_file": int(len(gdf)), "outside_rasters": int(len(outside)),
                    "outside_ids": [int(i) for i in outside[:20]], "centroid_fallback": len(fallback),
                    "id_column": id_name, "label_column": label_name,
                    "cloud_layer": chosen_cloud if cloud is not None else None,
                    "cloud_mask": cloud.kind if cloud is not None else None,
                    "cloudy_observations": (int((table[CLOUD] > 100 * (1 - MIN_CLEAR_FRACTION)).sum())
                                            if CLOUD in table.columns else None),
                    "unused_layers": sorted(unused), "warnings": notes,
                    "seconds": round(time.perf_counter() - started, 2)})
    summary["parcel_dates_per_second"] = round(summary["parcel_dates"] / max(summary["seconds"], 1e-9), 1)
    return summary


def _describe(rasters: Any, files: list[Path]) -> str:
    """How the user named the rasters (folder, glob or first file), for messages."""
    if isinstance(rasters, (str, PathLike)):
        return str(rasters)
    return str(files[0]) + (f" (+{len(files) - 1} files)" if len(files) > 1 else "")


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
    id_name = _guess(cols, id_col, (*ID_NAMES, "id_parcel"), "--id-col", path, required=True)
    if id_name is None:  # required: _guess raised
        raise DatasetError(path, "no id column; name it with --id-col")
    label_name = _guess(cols, label_col, LABEL_NAMES, "--label-col", path, required=False)
    ids = pd.to_numeric(gdf[id_name], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        raise DatasetError(path, f"column {id_name} has {int(ids.isna().sum())} non-integer ids; "
                                 "extract needs integer parcel ids (name another column with --id-col)")
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


def _word(text: str) -> str:
    return re.sub(r"[-_ .]", "", text).lower()


def _is_cloud_word(text: str) -> bool:
    return _word(text) in CLOUD_WORDS


def _tokens(name: str) -> list[str]:
    """Tokens of a file name without its suffix (split at - _ .)."""
    stem = re.sub(r"\.(tif|tiff|jp2|vrt)$", "", name, flags=re.IGNORECASE)
    return [t for t in re.split(r"[-_.]", stem) if t]


def _index_in(label: str) -> str | None:
    """The spectral index a layer label or file-name token names (NDVI, EVI, ...), or None."""
    lower = {k.lower(): k for k in INDICES}
    return lower.get(_word(label))


def _find_cloud_layer(files: list[Path], band_names: Sequence[str] | None) -> str | None:
    """The name of the first cloud-like layer (description, band_names or file-name token), or None."""
    import rasterio

    for name in band_names or ():
        if _is_cloud_word(name):
            return name
    for path in files:
        for token in _tokens(path.name):
            if _is_cloud_word(token):
                return token
        try:
            with rasterio.open(path) as src:
                descriptions = src.descriptions
        except rasterio.errors.RasterioIOError as exc:
            raise DatasetError(path, "not a readable raster") from exc
        for label in descriptions:
            if label and _is_cloud_word(label):
                return label
    return None


def _layers(path: Path, count: int, descriptions: Sequence[str | None], layout: str | None,
            band_names: Sequence[str] | None, cloud_band: str | None, dates: pd.DataFrame | None
            ) -> tuple[list[_Layer], list[str]]:
    """(layer index, band, date) of every layer used in a file, and the labels of unused layers."""
    name = path.name
    listed = None if dates is None else dates.loc[dates["file"] == name]
    file_date = (listed["date"].iloc[0].to_datetime64() if listed is not None and len(listed) and "layer" not in listed
                 else date_in_name(name))
    if layout is None:
        layout = "per-date" if file_date is not None else "per-band"
    cloud = cloud_band.lower() if cloud_band else None

    def is_cloud(label: str) -> bool:
        return cloud is not None and (label.lower() == cloud or f"_{cloud}" in label.lower())

    def band_of(label: str) -> str | None:
        if is_cloud(label):
            return CLOUD
        return canonical_band(label) or _index_in(label)

    def band_of_file() -> str | None:
        if cloud is not None and any(t.lower() == cloud for t in _tokens(name)):
            return CLOUD
        return band_in_filename(name) or next((i for t in _tokens(name) if (i := _index_in(t))), None)

    layers, skipped = [], []
    if layout == "per-date":
        if file_date is None:
            raise DatasetError(path, "no date in the file name and none in the --dates-csv file")
        if band_names is not None and len(band_names) != count:
            raise DatasetError(path, f"{count} layers but {len(band_names)} names in --band-names")
        names = list(band_names) if band_names is not None else list(descriptions)
        for k in range(count):
            label = names[k]
            if label:
                band = band_of(label)
            elif count == 1:  # a single-band file: the band, index or cloud token is in its name
                band = band_of_file()
                label = Path(name).stem
            else:
                raise DatasetError(path, f"layer {k + 1} has no band name; name the layers with --band-names")
            if band is None:
                if looks_like_band(label):
                    raise DatasetError(path, f"layer {k + 1} {label!r} is not a Sentinel-2 band")
                skipped.append(label)
                continue
            layers.append(_Layer(k + 1, band, pd.Timestamp(file_date).to_datetime64()))
        return layers, skipped
    band = band_of_file()
    if band is None:
        if any(_is_cloud_word(t) for t in _tokens(name)):
            return [], [next(t for t in _tokens(name) if _is_cloud_word(t))]
        raise DatasetError(path, "per-band file without a band in its name (e.g. _B04)")
    for k in range(count):
        date = date_in_name(descriptions[k] or "") if descriptions[k] else None
        if listed is not None and "layer" in listed:
            hit = listed.loc[listed["layer"] == k + 1, "date"]
            date = hit.iloc[0].to_datetime64() if len(hit) else date
        if date is None:
            raise DatasetError(path, f"layer {k + 1} has no date (a layer description or --dates-csv "
                                     "with columns file,layer,date)")
        layers.append(_Layer(k + 1, band, pd.Timestamp(date).to_datetime64()))
    return layers, skipped


def _detect_cloud(plans: list[tuple[Path, list[_Layer]]], kind: str | None) -> _CloudSpec:
    """The cloud layer's kind from its values (a sample of the first file that has one): only 0
    and 1 -> boolean mask; integers up to 11 -> SCL; else a probability (0-1 or 0-100)."""
    import rasterio
    from rasterio.enums import Resampling

    path, layer = next((p, la) for p, layers in plans for la in layers if la.band == CLOUD)
    with rasterio.open(path) as src:
        shape = (min(src.height, 512), min(src.width, 512))
        values = src.read(layer.index, out_shape=shape, resampling=Resampling.nearest).astype(np.float64).ravel()
        if src.nodata is not None:
            values = values[values != src.nodata]
    values = values[np.isfinite(values)]
    if not len(values):
        raise DatasetError(path, f"cloud layer {layer.index} holds no values")
    top = float(values.max())
    if kind is None:
        if np.isin(values, (0.0, 1.0)).all():
            kind = "boolean"
        elif (values == np.round(values)).all() and top <= 11:
            kind = "scl"
        else:
            kind = "probability"
    return _CloudSpec(kind, 0.5 if top <= 1.0 else 50.0)


def _clear(values: np.ndarray, cloud: _CloudSpec) -> np.ndarray:
    """True where a cloud-layer value says the pixel is clear."""
    if cloud.kind == "scl":
        return ~np.isin(values, SCL_CLOUDY_CODES)
    if cloud.kind == "boolean":
        return values == 0
    return values < cloud.threshold


def _tasks(plans: list[tuple[Path, list[_Layer]]], crs_of: dict[Path, str], by_crs: dict[str, np.ndarray],
           ids: np.ndarray, cloud: _CloudSpec | None, workers: int) -> list[tuple]:
    """Work units: the files that share dates (one date's mosaic, or all per-band files) times a
    chunk of parcels."""
    group_of: dict[int, int] = {}
    date_owner: dict[np.datetime64, int] = {}
    for f, (_, layers) in enumerate(plans):  # union files that share a date
        group_of[f] = f
        for layer in layers:
            other = date_owner.setdefault(layer.date, f)
            a, b = _root(group_of, f), _root(group_of, other)
            group_of[a] = b
    groups: dict[int, list[int]] = {}
    for f in range(len(plans)):
        groups.setdefault(_root(group_of, f), []).append(f)
    # parcels are split only when there are too few file groups to keep the workers busy
    chunks = max(1, int(np.ceil(2 * max(workers, 1) / max(len(groups), 1))))
    chunk = max(1, int(np.ceil(len(ids) / chunks)))
    tasks = []
    for members in groups.values():
        files = [(str(plans[f][0]), crs_of[plans[f][0]], plans[f][1]) for f in members if plans[f][1]]
        if not files:
            continue
        for start in range(0, len(ids), chunk):
            stop = start + chunk
            tasks.append((files, {c: g[start:stop] for c, g in by_crs.items()}, ids[start:stop], cloud))
    return tasks


def _root(parent: dict[int, int], f: int) -> int:
    while parent[f] != f:
        parent[f] = parent[parent[f]]
        f = parent[f]
    return f


def _zonal_task(task: tuple) -> tuple[pd.DataFrame, set[int]]:
    """Statistics of a chunk of parcels over a group of files: id, date, band, mean, std, n."""
    import rasterio
    import shapely

    files, geoms_by_crs, ids, cloud = task
    rows: list[tuple] = []
    small: set[int] = set()
    transformers: dict[tuple[str, str], Any] = {}
    handles = [rasterio.open(path) for path, _, _ in files]
    try:
        trees = {crs: shapely.STRtree(geoms) for crs, geoms in geoms_by_crs.items()}
        hits = [set(trees[crs].query(shapely.box(*src.bounds)).tolist())
                for (_, crs, _), src in zip(files, handles, strict=True)]
        for g in sorted(set().union(*hits)):
            pieces = []
            for f, ((_, crs, layers), src) in enumerate(zip(files, handles, strict=True)):
                if g in hits[f]:
                    piece = _read_piece(src, geoms_by_crs[crs][g], crs, layers)
                    if piece is not None:
                        pieces.append(piece[0])
                        if piece[1]:
                            small.add(int(ids[g]))
            rows.extend(_parcel_rows(int(ids[g]), pieces, cloud, transformers))
    finally:
        for src in handles:
            src.close()
    return pd.DataFrame(rows, columns=["id", "date", "band", "mean", "std", "n"]), small


def _read_piece(src: Any, geom: Any, crs: str, layers: list[_Layer]) -> tuple[_Piece, bool] | None:
    """The window of ``src`` around one parcel (None when the parcel misses the file), and
    whether the centroid pixel stood in for a polygon smaller than a pixel."""
    from rasterio.features import geometry_mask
    from rasterio.windows import Window

    minx, miny, maxx, maxy = geom.bounds
    inverse = ~src.transform
    (ca, ra), (cb, rb) = inverse @ (minx, maxy), inverse @ (maxx, miny)
    col0, row0 = max(int(np.floor(min(ca, cb))), 0), max(int(np.floor(min(ra, rb))), 0)
    col1 = min(int(np.ceil(max(ca, cb))), src.width)
    row1 = min(int(np.ceil(max(ra, rb))), src.height)
    if col1 <= col0 or row1 <= row0:
        return None
    win = Window(col0, row0, col1 - col0, row1 - row0)
    transform = src.window_transform(win)
    inside = geometry_mask([geom], out_shape=(int(win.height), int(win.width)), transform=transform,
                           invert=True, all_touched=False)
    fallback = False
    if not inside.any():
        c = geom.centroid
        row, col = src.index(c.x, c.y)
        r, q = row - int(win.row_off), col - int(win.col_off)
        if not (0 <= r < win.height and 0 <= q < win.width):
            return None
        inside[r, q] = True
        fallback = True
    planes = src.read([layer.index for layer in layers], window=win).astype(np.float64)
    return _Piece(crs, transform, inside, planes, layers, src.nodata), fallback


def _parcel_rows(parcel_id: int, pieces: list[_Piece], cloud: _CloudSpec | None,
                 transformers: dict[tuple[str, str], Any]) -> list[tuple]:
    """Rows (id, date, band, mean, std, n) of one parcel: bands over the clear pixels of the
    date's mosaic, CLD = 100 x (1 - clear fraction)."""
    groups: dict[tuple[np.datetime64, tuple[str, ...]], list[tuple[_Piece, tuple[int, ...]]]] = {}
    clouds: dict[np.datetime64, list[tuple[_Piece, tuple[int, ...]]]] = {}
    for piece in pieces:
        for date in sorted({layer.date for layer in piece.layers}):
            at = [k for k, layer in enumerate(piece.layers) if layer.date == date]
            bands = tuple(sorted((k for k in at if piece.layers[k].band != CLOUD), key=lambda k: piece.layers[k].band))
            cld = tuple(k for k in at if piece.layers[k].band == CLOUD)[:1]
            if bands:
                groups.setdefault((date, tuple(piece.layers[k].band for k in bands)), []).append((piece, bands))
            if cld:
                clouds.setdefault(date, []).append((piece, cld))
    scl = cloud is not None and cloud.kind == "scl"
    rows: list[tuple] = []
    clear_share: dict[np.datetime64, tuple[int, float]] = {}
    for (date, names), entries in groups.items():
        values, clear_parts, known_parts = [], [], []
        for piece, positions, take in _mosaic(entries, transformers):
            n = int(take.sum())
            if not n:
                continue
            clear, known = np.ones(n, bool), np.zeros(n, bool)
            if cloud is not None and date in clouds:
                clear, known = _cloud_at(piece, take, clouds[date], cloud, scl, transformers)
            clear_parts.append(clear)
            known_parts.append(known)
            values.append(piece.planes[list(positions)][:, take])
        if not values:
            continue
        clear = np.concatenate(clear_parts)
        known = np.concatenate(known_parts)
        pixels = np.concatenate(values, axis=1)
        if clear.any() and not clear.all():
            pixels = pixels[:, clear]
        means, stds = pixels.mean(axis=1), pixels.std(axis=1)
        n_used = pixels.shape[1]
        rows += [(parcel_id, date, band, float(m), float(sd), n_used)
                 for band, m, sd in zip(names, means, stds, strict=True)]
        if known.any() and known.sum() > clear_share.get(date, (0, 0.0))[0]:
            clear_share[date] = (int(known.sum()), float(clear[known].mean()))
    for date, (n, share) in clear_share.items():
        rows.append((parcel_id, date, CLOUD, 100.0 * (1.0 - share), 0.0, n))
    return rows


def _mosaic(entries: list[tuple[_Piece, tuple[int, ...]]], transformers: dict[tuple[str, str], Any]
            ) -> list[tuple[_Piece, tuple[int, ...], np.ndarray]]:
    """Each file's share of a date's mosaic: its valid parcel pixels not covered by a valid pixel
    of an earlier file (first valid pixel wins)."""
    out = []
    for i, (piece, positions) in enumerate(entries):
        take = piece.inside & piece.valid(positions)
        if i and take.any():
            x, y = piece.centres(take)
            covered = np.zeros(len(x), bool)
            for earlier, earlier_positions in entries[:i]:
                r, c, ok = earlier.locate(x, y, piece.crs, transformers)
                covered |= ok & earlier.valid(earlier_positions)[r, c]
            take = take.copy()
            take[take] = ~covered
        out.append((piece, positions, take))
    return out


def _cloud_at(piece: _Piece, take: np.ndarray, sources: list[tuple[_Piece, tuple[int, ...]]], cloud: _CloudSpec,
              scl: bool, transformers: dict[tuple[str, str], Any]) -> tuple[np.ndarray, np.ndarray]:
    """(clear, known) of the pixels ``take`` of ``piece``: the first cloud layer with a valid value
    at each pixel's centre decides; pixels no cloud layer covers count as clear and unknown."""
    n = int(take.sum())
    clear, known = np.ones(n, bool), np.zeros(n, bool)
    x = y = None
    for source, (k,) in sources:
        valid = source.valid((k,), scl=scl)
        if source is piece:
            hit = valid[take] & ~known
            values = source.planes[k][take]
        else:
            if x is None or y is None:
                x, y = piece.centres(take)
            r, c, ok = source.locate(x, y, piece.crs, transformers)
            hit = ok & valid[r, c] & ~known
            values = source.planes[k][r, c]
        clear[hit] = _clear(values[hit], cloud)
        known |= hit
        if known.all():
            break
    return clear, known


def _pool(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per (id, date): band means, <band>_std, pixels, CLD and clear_fraction."""
    g = stats.groupby(["id", "date", "band"], sort=True)[["mean", "std", "n"]].first()
    wide = g["mean"].unstack("band")
    spectral = [c for c in wide.columns if c != CLOUD]
    out = wide[spectral].copy()
    std = g["std"].unstack("band")
    for band in spectral:
        out[f"{band}_std"] = std[band]
    out["pixels"] = g["n"].unstack("band")[spectral].max(axis=1)
    if CLOUD in wide.columns:
        out[CLOUD] = wide[CLOUD]
        out["clear_fraction"] = 1.0 - wide[CLOUD] / 100.0
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
    pd.DataFrame({"date": [str(pd.Timestamp(d).date()) for d in dates]}).to_csv(folder / "dates.csv", index=False)
    geoms = gdf.to_crs(crs_list[0])
    handles: dict[Path, Any] = {}
    written = []
    try:
        for parcel_id, geom in zip(geoms["id"], geoms.geometry, strict=True):
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
