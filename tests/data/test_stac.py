"""extract --stac offline: a local static STAC catalog of generated Cloud-Optimised GeoTIFFs."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pystac
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box, mapping

from cropviz.data import open_breizhcrops
from cropviz.data.stac import extract_stac
from cropviz.errors import DatasetError

ORIGIN = (400000.0, 5300200.0)  # EPSG:32630
ASSETS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}  # Earth Search spelling


def write_cog(path, plane, resolution, dtype="uint16"):
    with rasterio.open(path, "w", driver="COG", height=plane.shape[0], width=plane.shape[1], count=1, dtype=dtype,
                       crs="EPSG:32630", transform=from_origin(*ORIGIN, resolution, resolution), nodata=0) as dst:
        dst.write(plane.astype(dtype)[None])


def make_catalog(folder, offset=False):
    """Three items of sentinel-2-l2a (two in 2017, one in 2019) and one of another collection;
    per item 10 m band COGs and a 20 m SCL COG. Returns the catalog path and the arrays."""
    rng = np.random.default_rng(0)
    catalog = pystac.Catalog("test", "local Sentinel-2 catalog")
    s2 = pystac.Collection("sentinel-2-l2a", "S2 L2A", pystac.Extent(pystac.SpatialExtent([[-180, -90, 180, 90]]),
                                                                     pystac.TemporalExtent([[None, None]])))
    other = pystac.Collection("landsat-c2-l2", "other", s2.extent)
    catalog.add_children([s2, other])
    footprint = gpd.GeoSeries([box(ORIGIN[0], ORIGIN[1] - 400, ORIGIN[0] + 400, ORIGIN[1])], crs=32630).to_crs(4326)
    geometry, bbox = mapping(footprint.iloc[0]), list(footprint.total_bounds)
    truth = {}
    for name, when, collection in (("a", datetime(2017, 5, 4, 11), s2), ("b", datetime(2017, 6, 13, 11), s2),
                                   ("c", datetime(2019, 6, 13, 11), s2), ("d", datetime(2017, 5, 20, 11), other)):
        item = pystac.Item(f"S2_{name}", geometry, bbox, when, {"proj:epsg": 32630, "eo:cloud_cover": 20.0})
        bands = {key: rng.integers(1200, 4000, (40, 40)) for key in ASSETS}
        scl = rng.choice([4, 5, 8, 9], (20, 20), p=[0.4, 0.3, 0.2, 0.1])
        for key, plane in bands.items():
            write_cog(folder / f"{name}_{key}.tif", plane, 10)
            extra = {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]} if offset else {}
            item.add_asset(key, pystac.Asset(str(folder / f"{name}_{key}.tif"), media_type=pystac.MediaType.COG,
                                             extra_fields=extra))
        write_cog(folder / f"{name}_scl.tif", scl, 20, dtype="uint8")
        item.add_asset("scl", pystac.Asset(str(folder / f"{name}_scl.tif"), media_type=pystac.MediaType.COG))
        collection.add_item(item)
        truth[name] = (bands, scl)
    catalog.normalize_hrefs(str(folder / "stac"))
    catalog.save(pystac.CatalogType.ABSOLUTE_PUBLISHED)
    return folder / "stac" / "catalog.json", truth


def parcels(folder):
    x0, y0 = ORIGIN
    gdf = gpd.GeoDataFrame({"id": [1, 2], "crop": ["wheat", "corn"]},
                           geometry=[box(x0 + 20, y0 - 120, x0 + 120, y0 - 20),
                                     box(x0 + 250, y0 - 390, x0 + 330, y0 - 300)],
                           crs="EPSG:32630").to_crs("EPSG:2154")
    gdf.to_file(folder / "parcels.gpkg")
    return folder / "parcels.gpkg"


def clear_mean(plane, scl, rows, cols, shift=0.0):
    """Numpy: mean of a 10 m plane over the parcel's pixels whose 20 m SCL pixel is clear."""
    window = plane[rows, cols].astype(float) + shift
    clear = ~np.kron(np.isin(scl, (3, 8, 9, 10)), np.ones((2, 2), bool))[rows, cols]
    return window[clear].mean() if clear.any() else window.mean(), clear.mean()


@pytest.mark.parametrize("offset", [False, True])
def test_static_catalog_items_in_range_are_extracted_with_scl_masking(tmp_path, offset):
    path, truth = make_catalog(tmp_path, offset=offset)
    s = extract_stac(path, parcels(tmp_path), tmp_path / "root", "r", start="2017-01-01", end="2017-12-31",
                     workers=1, progress=False)
    assert s["stac_items"] == 2 and s["stac_dates"] == 2 and s["cloud_mask"] == "scl" and s["parcels"] == 2
    assert s["stac_assets"] == {"blue": "B2", "green": "B3", "red": "B4", "nir": "B8"} and s["level"] == "CUSTOM"
    ds = open_breizhcrops(tmp_path / "root", "r")
    assert ds.classes == ["corn", "wheat"] and ds.year == 2017
    shift = -1000.0 if offset else 0.0
    for parcel_id, rows, cols in ((1, slice(2, 12), slice(2, 12)), (2, slice(30, 39), slice(25, 33))):
        p = ds.parcel(parcel_id)
        assert [str(d)[:10] for d in p.dates] == ["2017-05-04", "2017-06-13"]
        for t, name in enumerate(("a", "b")):
            bands, scl = truth[name]
            for key, band in ASSETS.items():
                mean, clear = clear_mean(bands[key], scl, rows, cols, shift)
                assert p.bands[band.replace("B0", "B")].iloc[t] == pytest.approx(mean)
            assert p.extra["clear_fraction"].iloc[t] == pytest.approx(clear)


def test_empty_search_and_missing_assets_name_the_catalog(tmp_path):
    path, _ = make_catalog(tmp_path)
    with pytest.raises(DatasetError, match=r"catalog\.json: no sentinel-2-l2a items over the parcels .* from "
                                           r"2018-01-01 to 2018-12-31"):
        extract_stac(path, parcels(tmp_path), tmp_path / "root", "r", start="2018-01-01", end="2018-12-31",
                     progress=False)
    with pytest.raises(DatasetError, match=r"catalog\.json: item S2_a has no assets B8A .*--bands"):
        extract_stac(path, parcels(tmp_path), tmp_path / "root", "r", start="2017-01-01", end="2017-12-31",
                     bands=["blue", "B8A"], progress=False)
    assert not (tmp_path / "root").exists()


def test_cli_extract_stac_and_its_one_line_errors(tmp_path):
    from typer.testing import CliRunner

    from cropviz.cli import app

    path, _ = make_catalog(tmp_path)
    base = ["extract", "--parcels", str(parcels(tmp_path)), "--root", str(tmp_path / "root"), "--region", "r"]
    result = CliRunner().invoke(app, [*base, "--stac", str(path), "--start", "2017-05-01", "--end", "2017-05-31",
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert '"stac_items": 1' in result.output and '"cloud_mask": "scl"' in result.output
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 2 and "give either --rasters or --stac" in result.output
    result = CliRunner().invoke(app, [*base, "--stac", str(path)])
    assert result.exit_code == 2 and "--stac needs --start and --end" in result.output
    assert "Traceback" not in result.output
