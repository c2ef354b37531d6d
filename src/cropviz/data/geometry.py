"""Parcel polygons beside a BreizhCrops region: reading and reprojection."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cropviz.errors import DatasetError

if TYPE_CHECKING:
    import geopandas as gpd

#: Geometry file suffixes looked for beside a region, in order of preference.
GEOMETRY_SUFFIXES: tuple[str, ...] = (".shp", ".gpkg", ".parquet", ".geojson")

#: Parcel-id column names found in BreizhCrops polygon files (2017: ID, 2018: ID_PARCEL).
ID_COLUMNS: tuple[str, ...] = ("ID", "ID_PARCEL", "id")

#: CRS of the BreizhCrops polygons (Lambert-93), assumed when a file declares none.
LAYOUT_CRS = "EPSG:2154"


def read_geometry_file(path: str | PathLike[str]) -> gpd.GeoDataFrame:
    """Read any vector file geopandas reads (GeoParquet too); one-line DatasetError when it cannot."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "geometry file does not exist")
    try:
        import geopandas as gpd  # imported on use: the app starts without it

        return gpd.read_parquet(path) if path.suffix.lower() == ".parquet" else gpd.read_file(path)
    except Exception as exc:  # pyogrio / pyarrow raise many types on unreadable files
        raise DatasetError(path, f"not a readable geometry file ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from exc


def read_parcel_geometries(path: str | PathLike[str]) -> gpd.GeoDataFrame:
    """Read parcel polygons from .shp/.gpkg/.geojson/.parquet into a GeoDataFrame with an int64 ``id``.

    The id column is taken from ``ID`` or ``ID_PARCEL`` (or ``id``); the file CRS is kept.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.exists() and suffix not in GEOMETRY_SUFFIXES:
        raise DatasetError(path, f"unsupported geometry format {suffix!r}; use one of "
                                 f"{', '.join(GEOMETRY_SUFFIXES)}")
    gdf = read_geometry_file(path)
    id_column = next((c for c in ID_COLUMNS if c in gdf.columns), None)
    if id_column is None:
        raise DatasetError(path, f"no parcel id column (expected one of {', '.join(ID_COLUMNS)}; "
                                 f"found {', '.join(map(str, gdf.columns))})")
    ids = pd.to_numeric(gdf[id_column], errors="coerce")
    if ids.isna().any():
        raise DatasetError(path, f"column {id_column} has {int(ids.isna().sum())} non-integer ids")
    out = gdf.drop(columns=[c for c in ID_COLUMNS if c in gdf.columns and c != id_column])
    out = out.rename(columns={id_column: "id"})
    out["id"] = ids.astype("int64").to_numpy()
    return out


def to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` in WGS84 (EPSG:4326); a frame without CRS is taken as EPSG:2154."""
    if gdf.crs is None:
        gdf = gdf.set_crs(LAYOUT_CRS)
    return gdf.to_crs("EPSG:4326")


def points_as_squares(gdf: gpd.GeoDataFrame, half_side_m: float = 20.0) -> gpd.GeoDataFrame:
    """Replace point geometries (parcels imported from lon/lat) by small squares, for polygon maps."""
    points = gdf.geometry.geom_type == "Point"
    if not points.any():
        return gdf
    metric = gdf.to_crs(3857)
    squares = metric.geometry[points].buffer(half_side_m, cap_style="square").to_crs(gdf.crs)
    result = gdf.copy()
    result.loc[points, "geometry"] = squares.to_numpy()
    return result


def centroids(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Parcel centroids in the frame's own (projected) CRS: columns id, x, y."""
    points = gdf.geometry.centroid
    return pd.DataFrame({"id": gdf["id"].to_numpy(), "x": points.x.to_numpy(), "y": points.y.to_numpy()})
