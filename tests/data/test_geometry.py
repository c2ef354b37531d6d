"""Tests of parcel polygon reading and reprojection."""

from __future__ import annotations

import pytest

from cropviz.data import read_parcel_geometries, to_wgs84
from cropviz.errors import DatasetError
from tests.data.layout_fixtures import parcel_polygons


@pytest.mark.parametrize("fmt,id_column", [("shp", "ID"), ("gpkg", "ID_PARCEL"),
                                           ("parquet", "ID"), ("geojson", "ID_PARCEL")])
def test_read_formats_and_id_columns(tmp_path, fmt, id_column):
    path = tmp_path / f"frh04.{fmt}"
    gdf = parcel_polygons([5, 9, 1234567], id_column=id_column)
    gdf.to_parquet(path) if fmt == "parquet" else gdf.to_file(path)
    out = read_parcel_geometries(path)
    assert "id" in out.columns and id_column not in out.columns
    assert out["id"].tolist() == [5, 9, 1234567] and str(out["id"].dtype) == "int64"
    assert out.crs.to_epsg() == 2154
    assert out.geometry.area.tolist() == pytest.approx([10000.0] * 3)


def test_to_wgs84_lands_in_brittany():
    wgs = to_wgs84(parcel_polygons([1]))
    assert wgs.crs.to_epsg() == 4326
    c = wgs.geometry.iloc[0].centroid
    assert c.x == pytest.approx(-4.1149, abs=1e-3) and c.y == pytest.approx(47.9958, abs=1e-3)  # Quimper
    no_crs = parcel_polygons([1]).set_crs(None, allow_override=True)
    assert to_wgs84(no_crs).geometry.iloc[0].centroid.x == pytest.approx(c.x)


def test_bad_geometry_files(tmp_path):
    with pytest.raises(DatasetError, match=r"missing\.shp: geometry file does not exist"):
        read_parcel_geometries(tmp_path / "missing.shp")
    gdf = parcel_polygons([1], id_column="PARCEL_NO")
    gdf.to_file(tmp_path / "noid.gpkg")
    with pytest.raises(DatasetError, match=r"noid\.gpkg: no parcel id column \(expected one of ID, "
                                           r"ID_PARCEL, id; found PARCEL_NO, geometry\)"):
        read_parcel_geometries(tmp_path / "noid.gpkg")
    (tmp_path / "broken.gpkg").write_bytes(b"not a geopackage")
    with pytest.raises(DatasetError, match=r"broken\.gpkg: not a readable geometry file"):
        read_parcel_geometries(tmp_path / "broken.gpkg")
    (tmp_path / "parcels.kml").write_text("x")
    with pytest.raises(DatasetError, match="unsupported geometry format '.kml'"):
        read_parcel_geometries(tmp_path / "parcels.kml")
