"""Tiny writer of BreizhCrops-layout folders for tests (FIELD.md section 1), with broken variants."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pandas as pd
from shapely.geometry import box

from cropviz.data.bands import H5_COLUMNS, PATCH_BANDS

REFERENCE = Path("/work/shared/reference")
CLASSMAPPING_CSV = REFERENCE / "classmapping.csv"
RPG_CODES_CSV = REFERENCE / "rpg_codes.csv"

#: (id, CODE_CULTU, array T x C in H5 column order)
ParcelRows = Sequence[tuple[int, str, np.ndarray]]


def make_series(level: str, n_dates: int, seed: int = 0, start: str = "2017-01-03",
                step_days: int = 5, cloudy: Iterable[int] = (), shuffle: bool = False) -> np.ndarray:
    """A T x C float64 array in the h5 column order of ``level``; DN values, doa in ns.

    Band b at date t has the value ``1000 + 100 * band_position + t`` (easy to assert on);
    dates listed in ``cloudy`` get QA60 = 1024 (L1C) or CLD = 90 (L2A), others 0 / 10.
    """
    rng = np.random.default_rng(seed)
    columns = H5_COLUMNS[level]
    dates = pd.date_range(start, periods=n_dates, freq=f"{step_days}D")
    out = np.zeros((n_dates, len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        if name.startswith("B"):
            out[:, j] = 1000 + 100 * j + np.arange(n_dates)
    out[:, columns.index("doa")] = dates.as_unit("ns").asi8.astype(np.float64)
    cloudy = list(cloudy)
    if level == "L1C":
        out[:, columns.index("QA10")] = rng.integers(0, 5, n_dates)
        out[cloudy, columns.index("QA60")] = 1024
    else:
        out[:, columns.index("CLD")] = 10
        out[cloudy, columns.index("CLD")] = 90
    if shuffle:
        out = out[rng.permutation(n_dates)]
    return out


def write_reference_files(root: Path, classmapping_columns: Sequence[str] | None = None,
                          codes: bool = True) -> None:
    """Write codes.csv and classmapping.csv (optionally with reordered columns)."""
    root.mkdir(parents=True, exist_ok=True)
    if codes:
        shutil.copyfile(RPG_CODES_CSV, root / "codes.csv")
    mapping = pd.read_csv(CLASSMAPPING_CSV, index_col=0)
    if classmapping_columns is None:
        shutil.copyfile(CLASSMAPPING_CSV, root / "classmapping.csv")
    else:
        mapping[list(classmapping_columns)].to_csv(root / "classmapping.csv")


def parcel_polygons(ids: Iterable[int], id_column: str = "ID") -> gpd.GeoDataFrame:
    """Square 100 m parcels in Lambert-93 (EPSG:2154) near Quimper."""
    ids = list(ids)
    geoms = [box(170000 + 200 * i, 6790000, 170100 + 200 * i, 6790100) for i in range(len(ids))]
    return gpd.GeoDataFrame({id_column: ids}, geometry=geoms, crs="EPSG:2154")


def write_layout(root: Path, parcels: ParcelRows, region: str = "frh04", year: int | str = 2017,
                 level: str = "L1C", index_form: str = "pristine", geometry: str | None = "shp",
                 id_column: str = "ID", missing_in_h5: Iterable[int] = (),
                 missing_geometry: Iterable[int] = (), sequencelength: dict[int, int] | None = None,
                 classmapping_columns: Sequence[str] | None = None,
                 key_pattern: str = "{region}/{id}") -> Path:
    """Write one region of a BreizhCrops-layout folder under ``root`` and return ``root``.

    ``index_form`` is 'pristine' (idx,id,CODE_CULTU,path,meanQA60,sequencelength) or
    'rewritten' (what breizhcrops writes back: 'Unnamed: 0', meanCLD, classid, classname,
    region). ``geometry`` is 'shp', 'gpkg', 'parquet', 'geojson' or None.
    """
    root = Path(root)
    write_reference_files(root, classmapping_columns)
    level_dir = root / str(year) / level
    level_dir.mkdir(parents=True, exist_ok=True)
    columns = H5_COLUMNS[level]
    cloud_col = columns.index("QA60" if level == "L1C" else "CLD")
    missing_in_h5 = set(missing_in_h5)
    rows = []
    with h5py.File(level_dir / f"{region}.h5", "w") as h5:
        for i, (pid, code, array) in enumerate(parcels):
            key = key_pattern.format(region=region, id=pid)
            if pid not in missing_in_h5:
                h5.create_dataset(key, data=np.asarray(array, dtype=np.float64))
            valid = array[~np.isnan(array).any(axis=1)] if array.ndim == 2 and array.size else array
            mean_cloud = float(valid[:, cloud_col].mean()) if valid.ndim == 2 and len(valid) and \
                valid.shape[1] > cloud_col else 0.0
            rows.append({"idx": i + 1, "id": pid, "CODE_CULTU": code, "path": key,
                         "meanQA60": mean_cloud,
                         "sequencelength": (sequencelength or {}).get(pid, len(valid))})
    index = pd.DataFrame(rows, columns=["idx", "id", "CODE_CULTU", "path", "meanQA60",
                                        "sequencelength"])
    if index_form == "pristine":
        index.to_csv(level_dir / f"{region}.csv", index=False)
    elif index_form == "rewritten":
        mapping = pd.read_csv(CLASSMAPPING_CSV, index_col=0).set_index("code")
        index = index.rename(columns={"meanQA60": "meanCLD"})
        index["classid"] = [mapping["id"].get(c, -1) for c in index["CODE_CULTU"]]
        index["classname"] = [mapping["classname"].get(c, "") for c in index["CODE_CULTU"]]
        index["region"] = region
        index.to_csv(level_dir / f"{region}.csv")  # unnamed first column -> 'Unnamed: 0'
    else:
        raise ValueError(index_form)

    if geometry is not None:
        missing_geometry = set(missing_geometry)
        gdf = parcel_polygons([p for p, _, _ in parcels if p not in missing_geometry], id_column)
        target = root / str(year) / f"{region}.{geometry}"
        if geometry == "parquet":
            gdf.to_parquet(target)
        else:
            gdf.to_file(target)
    return root


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file to a fraction of its size (a broken download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def write_patches(root: Path, ids: Sequence[int], n_dates: int = 3, region: str = "frh04",
                  year: int | str = 2017, size: int = 32) -> Path:
    """Write the patch form: index, dates.csv and one uint16 GeoTIFF per parcel (value = 100*date+band)."""
    import rasterio
    from affine import Affine

    folder = Path(root) / str(year) / "patches"
    (folder / region).mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"date": pd.date_range("2017-01-03", periods=n_dates, freq="10D")
                  .strftime("%Y-%m-%d")}).to_csv(folder / "dates.csv", index=False)
    n_bands = n_dates * len(PATCH_BANDS)
    rows = []
    for pid in ids:
        data = np.stack([np.full((size, size), 100 * (k // len(PATCH_BANDS)) + k % len(PATCH_BANDS) + 1,
                                 dtype=np.uint16) for k in range(n_bands)])
        rel = f"{year}/patches/{region}/{pid}.tif"
        with rasterio.open(Path(root) / rel, "w", driver="GTiff", width=size, height=size,
                           count=n_bands, dtype="uint16", crs="EPSG:2154",
                           transform=Affine(10, 0, 170000, 0, -10, 6790100)) as dst:
            dst.write(data)
        rows.append({"id": pid, "path": rel, "classid": 0})
    pd.DataFrame(rows).to_csv(folder / f"{region}.csv", index=False)
    return folder
