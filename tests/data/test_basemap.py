import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image

from cropviz.data import open_breizhcrops
from cropviz.data.basemap import (
    BACKGROUND_RGB,
    basemap_folder,
    land_cover_reflectance,
    ndvi,
    ndvi_colour,
    parcel_index_raster,
    parcel_reflectance,
    read_basemap,
    region_outline,
    render_basemap,
    true_colour,
    write_basemap,
    write_dataset_basemap,
)
from cropviz.errors import ConfigurationError, DatasetError


def _squares(n: int = 3, side: float = 200.0, gap: float = 1000.0) -> gpd.GeoSeries:
    """``n`` squares of ``side`` metres in a row (Lambert-93, Brittany)."""
    return gpd.GeoSeries([shapely.box(250_000 + k * gap, 6_750_000, 250_000 + k * gap + side, 6_750_000 + side)
                          for k in range(n)], crs="EPSG:2154")


def test_index_raster_places_each_parcel_and_bounds_are_wgs84():
    index, (west, south, east, north) = parcel_index_raster(_squares(), max_side=256)
    assert index.shape[1] == 256 and index.shape[0] < 64  # a wide strip (turned a little in Web Mercator)
    assert set(np.unique(index)) == {0, 1, 2, 3}
    columns = [np.flatnonzero((index == k).any(axis=0)).mean() for k in (1, 2, 3)]
    assert columns[0] < columns[1] < columns[2]  # west to east, as drawn
    assert abs((columns[1] - columns[0]) - (columns[2] - columns[1])) < 1.5
    assert -4 < west < east < -1 and 47 < south < north < 49


def test_a_parcel_smaller_than_a_pixel_still_gets_one():
    index, _ = parcel_index_raster(_squares(side=5.0, gap=20_000.0), max_side=64)
    assert set(np.unique(index)) == {0, 1, 2, 3}


def test_colours_of_reflectance_and_ndvi():
    rgb = true_colour(np.array([[0.1, 0.1, 0.1], [1.0, 1.0, 1.0], [np.nan, 0.1, 0.1]]))
    assert rgb[0].tolist() == [round(255 * (0.1 * 3.2) ** 0.8)] * 3
    assert rgb[1].tolist() == [255, 255, 255]
    assert rgb[2].tolist() == list(BACKGROUND_RGB)
    values = ndvi(np.array([0.05, 0.2, 0.0, np.nan]), np.array([0.45, 0.2, 0.0, 0.3]))
    assert values[0] == pytest.approx(0.8) and values[1] == 0.0 and np.isnan(values[2:]).all()
    colours = ndvi_colour(np.array([0.8, -0.1, np.nan]))
    assert colours[0, 1] > colours[0, 0] and colours[1, 0] > colours[1, 1]  # green vs brown
    assert colours[2].tolist() == list(BACKGROUND_RGB)


def test_render_paints_parcels_and_leaves_the_rest_transparent():
    index = np.array([[0, 1], [2, 2]])
    reflectance = np.array([[[0.1, 0.1, 0.1, 0.5]], [[np.nan] * 4]], dtype=np.float32)  # 2 parcels, 1 date
    images = render_basemap(index, reflectance)
    rgb, green = images["rgb"][0], images["ndvi"][0]
    assert rgb.shape == (2, 2, 4) and rgb[0, 0, 3] == 0 and rgb[0, 1, 3] == 255
    assert rgb[0, 1, :3].tolist() == true_colour(np.array([0.1, 0.1, 0.1])).tolist()
    assert rgb[1, 0, :3].tolist() == list(BACKGROUND_RGB)  # parcel 2: no clear observation
    assert green[0, 1, :3].tolist() == ndvi_colour(np.array(2 / 3)).tolist()


def test_write_and_read_back(tmp_path):
    images = {"rgb": [np.zeros((3, 4, 4), np.uint8)] * 2, "ndvi": [np.full((3, 4, 3), 9, np.uint8)] * 2}
    written = write_basemap(tmp_path / "bm", images, ["2017-05-15", "2017-06-15"], (-3.0, 47.0, -2.0, 48.0), "test")
    assert read_basemap(tmp_path / "bm") == written
    assert written.size == (4, 3) and written.source == "test"
    assert np.asarray(Image.open(written.image_path("ndvi", "2017-06-15"))).tolist() == images["ndvi"][1].tolist()
    with pytest.raises(ConfigurationError, match="no image at 2017-07-15"):
        written.image_path("rgb", "2017-07-15")
    assert read_basemap(tmp_path / "nothing") is None
    (tmp_path / "bm" / "rgb-2017-05-15.png").unlink()
    with pytest.raises(DatasetError, match="missing: rgb-2017-05-15.png"):
        read_basemap(tmp_path / "bm")
    (tmp_path / "bm" / "basemap.json").write_text("{not json")
    with pytest.raises(DatasetError, match="basemap.json"):
        read_basemap(tmp_path / "bm")


def test_parcel_reflectance_takes_the_nearest_clear_observation(demo_root):
    ds = open_breizhcrops(demo_root, "frh04", level="L2A")
    dates = ["2017-06-15", "2017-01-02"]
    values = parcel_reflectance(ds, dates, window_days=20)
    assert values.shape == (len(ds), 2, 4)
    parcel = ds.parcel(int(ds.ids[0]))
    clear = parcel.bands[~parcel.cloudy]
    gaps = np.abs((clear.index - np.datetime64("2017-06-15")).days)
    nearest = clear.iloc[int(np.argmin(gaps))]
    assert values[0, 0].tolist() == pytest.approx((nearest[["B4", "B3", "B2", "B8"]] / 10000).tolist(), rel=1e-6)
    summer = values[:, 0, :]
    assert np.isfinite(summer).all(axis=1).mean() > 0.9  # June is mostly clear
    assert (ndvi(summer[:, 0], summer[:, 3])[np.isfinite(summer[:, 0])] > 0).mean() > 0.8


def test_the_demo_writes_a_basemap_of_every_region(demo_root):
    for region in ("frh01", "frh04"):
        basemap = read_basemap(basemap_folder(demo_root, region, 2017))
        assert basemap is not None and basemap.source == "simulated demo"
        assert len(basemap.dates) == 12 and basemap.dates[6] == "2017-07-15"
        manifest = json.loads((basemap.folder / "basemap.json").read_text())
        assert manifest["crs"] == "EPSG:3857"
        image = np.asarray(Image.open(basemap.image_path("rgb", "2017-07-15")))
        assert image.shape[2] == 4 and (image[..., 3] == 255).mean() > 0.9  # parcels and the land between
        parcels = open_breizhcrops(demo_root, region).geodataframe().to_crs(4326)
        west, south, east, north = parcels.total_bounds
        b = basemap.bounds
        assert b[0] < west < east < b[2] and b[1] < south < north < b[3]


def test_land_cover_follows_the_seasons():
    dates = ["2017-01-15", "2017-07-15", "2017-11-30"]
    wood = land_cover_reflectance("wood", dates)
    wood_ndvi = ndvi(wood[:, 0], wood[:, 3])
    assert wood_ndvi[1] > 0.8 and wood_ndvi[0] < 0.6 and wood_ndvi[2] < 0.6  # leaves on in July only
    road = land_cover_reflectance("road", dates)
    assert np.allclose(road, road[0]) and ndvi(road[:, 0], road[:, 3])[0] < 0.15
    with pytest.raises(ConfigurationError, match="no spectrum for land cover 'lake'"):
        land_cover_reflectance("lake", dates)


def _mercator_grid(basemap) -> tuple:
    from rasterio.transform import from_bounds

    corners = gpd.GeoSeries(shapely.points([basemap.bounds[:2], basemap.bounds[2:]]), crs=4326).to_crs(3857)
    (x0, y0), (x1, y1) = shapely.get_coordinates(corners.to_numpy())
    width, height = basemap.size
    return (height, width), from_bounds(x0, y0, x1, y1, width, height)


def test_the_demo_basemap_paints_the_land_between_its_parcels(demo_root):
    """Woods, villages and roads in their own colours, the window's other fields as a demo parcel."""
    from rasterio.features import rasterize

    from cropviz.data.demo import land_cover

    ds = open_breizhcrops(demo_root, "frh04", level="L2A")
    basemap = read_basemap(basemap_folder(demo_root, "frh04", 2017))
    shape, transform = _mercator_grid(basemap)
    made = json.loads((demo_root / "cropviz.json").read_text())
    cover = land_cover("frh04", made["regions"]["frh04"]["parcels"], seed=made["seed"]).to_crs(3857)
    parcels = rasterize(ds.geodataframe().to_crs(3857).geometry, out_shape=shape, transform=transform) > 0
    july = np.asarray(Image.open(basemap.image_path("rgb", "2017-07-15")))
    assert (july[..., 3] == 255).mean() > 0.9  # the window is land, not a blank page
    wood = rasterize(cover[cover["kind"] == "wood"].geometry, out_shape=shape, transform=transform) > 0
    later = rasterize(cover[cover["kind"].isin(["village", "road"])].geometry, out_shape=shape,
                      transform=transform) > 0
    only_wood = wood & ~later & ~parcels
    assert only_wood.sum() > 20
    expected = true_colour(land_cover_reflectance("wood", ["2017-07-15"])[:, :3])[0]
    assert (july[only_wood][:, :3] == expected).all(axis=1).mean() > 0.8
    # the largest other field shows its donor parcel's clear observation of the month
    fields = cover[cover["kind"] == "field"]
    largest = fields.iloc[int(np.argmax(fields.area))]
    inside = (rasterize([largest.geometry], out_shape=shape, transform=transform) > 0) & ~wood & ~later
    donor = parcel_reflectance(ds, ["2017-07-15"])[list(ds.ids).index(largest["donor"])]
    donor_colour = true_colour(donor[:, :3])[0]
    assert inside.sum() > 5 and (july[inside][:, :3] == donor_colour).all(axis=1).mean() > 0.8


def test_a_land_cover_of_an_unknown_kind_is_refused(demo_root, tmp_path):
    ds = open_breizhcrops(demo_root, "frh03", level="L2A")
    lake = gpd.GeoDataFrame({"kind": ["lake"], "donor": [-1]}, geometry=[ds.geodataframe().union_all().envelope],
                            crs=ds.geodataframe().crs)
    with pytest.raises(ConfigurationError, match="unknown land cover lake"):
        write_dataset_basemap(ds, tmp_path / "bm", dates=["2017-04-15"], max_side=100, land_cover=lake)


def test_write_dataset_basemap_to_another_folder(demo_root, tmp_path):
    ds = open_breizhcrops(demo_root, "frh03", level="L1C")
    basemap = write_dataset_basemap(ds, tmp_path / "bm", dates=["2017-04-15"], max_side=300)
    assert basemap.dates == ("2017-04-15",) and max(basemap.size) == 300


def test_region_outline_covers_the_parcels():
    parcels = _squares(4, gap=600.0)
    outline = region_outline(parcels, cells=64)
    assert outline.covers(shapely.union_all(parcels.to_crs(4326).centroid.to_numpy()))
    assert outline.area < 2 * shapely.box(*parcels.to_crs(4326).total_bounds).area + 1e-4
    with pytest.raises(ConfigurationError):
        region_outline(parcels[:0])
