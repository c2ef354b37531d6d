import json
import math
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pytest
import shapely

from cropviz.errors import ConfigurationError
from cropviz.viz.maps import clickable_view, fit_view, parcel_deck, parcel_layer_data, picked_parcel, tile_properties
from cropviz.viz.tiles import BUFFER, EXTENT, LAYER, overview_png, read_tiles, tile_zooms, write_tiles

ZOOMS = (9, 11, 13)  # points at 9 and 10, polygons at 11 to 13


def _parcels(n_side: int = 6, size: float = 0.004, gap: float = 0.006) -> tuple[np.ndarray, np.ndarray]:
    """A grid of square parcels near (-2.0, 48.0), ids 40,000,000 + k (above float32's exact range)."""
    k = np.arange(n_side * n_side)
    west, south = -2.0 + gap * (k % n_side), 48.0 + gap * (k // n_side)
    return shapely.box(west, south, west + size, south + size), 40_000_000 + k


def _tiles(folder: Path, z: int) -> dict[tuple[int, int], dict]:
    out = {}
    for path in (folder / str(z)).glob("*/*.pbf"):
        layers = mapbox_vector_tile.decode(path.read_bytes(), default_options={"y_coord_down": True})
        out[(int(path.parent.name), int(path.stem))] = layers[LAYER]
    return out


def _lonlat(x: float, y: float, tile: tuple[int, int], z: int) -> tuple[float, float]:
    wx, wy = (tile[0] + x / EXTENT) / 2**z, (tile[1] + y / EXTENT) / 2**z
    return wx * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * wy))))


def _area(ring: list) -> float:
    xy = np.asarray(ring, dtype=float)
    return float(np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]) / 2)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    geoms, ids = _parcels()
    folder = tmp_path_factory.mktemp("tiles") / "region"
    properties = {"true": np.where(ids % 2, "wheat", "barley"), "r": (ids % 7).astype(np.int64)}
    return write_tiles(geoms, ids, properties, folder, zooms=ZOOMS), geoms, ids


def test_every_parcel_is_a_polygon_in_its_tiles_with_its_properties(written):
    tiles, geoms, ids = written
    assert (tiles.min_zoom, tiles.polygon_zoom, tiles.max_zoom, tiles.parcels) == (*ZOOMS, 36)
    for z in (11, 12, 13):
        found: dict[int, list] = {}
        for tile, layer in _tiles(Path(tiles.folder), z).items():
            assert layer["extent"] == EXTENT
            for feature in layer["features"]:
                assert feature["geometry"]["type"] == "Polygon"
                assert feature["id"] == int(feature["properties"]["id"])
                found.setdefault(feature["id"], []).append((tile, feature))
        assert sorted(found) == ids.tolist()
        for pid, pieces in found.items():
            k = int(pid - ids[0])
            expected = {"id": str(pid), "true": "wheat" if pid % 2 else "barley", "r": pid % 7}
            assert pieces[0][1]["properties"] == expected
            west, south, east, north = shapely.bounds(geoms[k])
            unit = 360 / 2**z / EXTENT  # one tile unit in degrees of longitude
            for tile, feature in pieces:
                ring = feature["geometry"]["coordinates"][0]
                assert _area(ring) > 0  # exterior: positive area in MVT's y-down tile frame
                xy = np.asarray(ring)
                assert xy.min() >= -BUFFER and xy.max() <= EXTENT + BUFFER  # clipped to the tile
                lonlat = np.array([_lonlat(x, y, tile, z) for x, y in xy])
                assert lonlat[:, 0].min() >= west - unit and lonlat[:, 0].max() <= east + unit
                assert lonlat[:, 1].min() >= south - unit and lonlat[:, 1].max() <= north + unit
            if len(pieces) == 1:  # whole in one tile: its corners come back to within a tile unit
                assert lonlat[:, 0].min() == pytest.approx(west, abs=unit)
                assert lonlat[:, 1].max() == pytest.approx(north, abs=unit)


def test_below_the_polygon_zoom_parcels_are_points_inside_them(written):
    tiles, geoms, ids = written
    for z in (9, 10):
        points = {f["id"]: (tile, f["geometry"]) for tile, layer in _tiles(Path(tiles.folder), z).items()
                  for f in layer["features"]}
        assert sorted(points) == ids.tolist()
        for pid, (tile, geometry) in points.items():
            assert geometry["type"] == "Point"
            lon, lat = _lonlat(*geometry["coordinates"], tile, z)
            west, south, east, north = shapely.bounds(geoms[int(pid - ids[0])])
            unit = 360 / 2**z / EXTENT
            assert west - unit <= lon <= east + unit and south - unit <= lat <= north + unit


def test_holes_wind_against_their_exterior_and_the_manifest_reads_back(tmp_path):
    outer = shapely.Polygon([(-2.0, 48.0), (-1.99, 48.0), (-1.99, 48.01), (-2.0, 48.01)],
                            [[(-1.998, 48.002), (-1.992, 48.002), (-1.992, 48.008), (-1.998, 48.008)]])
    tiles = write_tiles(np.array([outer]), np.array([7]), {}, tmp_path / "t", zooms=(12, 12, 12))
    (layer,) = _tiles(tmp_path / "t", 12).values()
    exterior, hole = layer["features"][0]["geometry"]["coordinates"]
    assert _area(exterior) > 0 > _area(hole)
    assert read_tiles(tmp_path / "t") == tiles and read_tiles(tmp_path / "missing") is None
    assert json.loads((tmp_path / "t" / "tiles.json").read_text())["tiles"] == tiles.tiles == 1
    again = write_tiles(np.array([outer]), np.array([8]), {}, tmp_path / "t", zooms=(12, 12, 12))
    assert again.tiles == 1 and [p.name for p in tmp_path.iterdir()] == ["t"]  # no leftovers


def test_tile_zooms_follow_parcel_size():
    geoms, _ = _parcels(size=0.004)
    # median parcel: 0.004 deg of latitude / cos(48) = 0.006 deg, 4 px at zoom 8.9, 32 px at 11.9;
    # the region (0.034 deg wide) fits in two tiles at 14: no points needed
    assert tile_zooms(geoms) == (9, 9, 12)
    spread, _ = _parcels(size=0.001, gap=0.2)  # 1 deg wide: two tiles at zoom 9, points up to 10
    assert tile_zooms(spread) == (9, 11, 14)


def test_bad_input_is_named(tmp_path):
    geoms, ids = _parcels(2)
    with pytest.raises(ConfigurationError, match="one id per parcel"):
        write_tiles(geoms, ids[:2], {}, tmp_path / "a")
    with pytest.raises(ConfigurationError, match="'true' has 1 values"):
        write_tiles(geoms, ids, {"true": np.array(["x"])}, tmp_path / "a")
    assert not any(tmp_path.iterdir())


def test_the_deck_draws_tiles_and_a_click_gives_the_parcel(tmp_path):
    import geopandas as gpd

    geoms, ids = _parcels(3)
    gdf = gpd.GeoDataFrame({"id": ids, "classname": "wheat", "predicted": "barley", "confidence": 0.5},
                           geometry=geoms, crs="EPSG:4326")
    records = parcel_layer_data(gdf, color_by="pred")
    tile_ids, properties = tile_properties(records)
    assert tile_ids.tolist() == ids.tolist() and properties["predicted"][0] == "barley"
    assert properties["confidence_text"][0] == "0.50" and properties["r"].dtype.kind == "i"
    tiles = write_tiles(geoms, tile_ids, properties, tmp_path / "t")
    url = "app/static/cropviz-map/t/{z}/{x}/{y}.pbf"
    worker = "app/static/vendor/mvt-worker.js"
    deck = json.loads(parcel_deck(records, selected_id=int(ids[4]), tiles=(tiles, url, worker)).to_json())
    layer = [d for d in deck["layers"] if d["id"] == "parcels"][0]
    assert layer["@@type"] == "MVTLayer" and layer["data"] == url and layer["uniqueIdProperty"] == "id"
    assert (layer["minZoom"], layer["maxZoom"]) == (tiles.min_zoom, tiles.max_zoom) and layer["pickable"]
    assert layer["getFillColor"] == "@@=[properties.r, properties.g, properties.b, 200]"
    assert layer["loadOptions"] == {"mvt": {"workerUrl": worker}}  # the app's own, not a CDN's
    assert "visibleMinZoom" not in layer  # drawn at any zoom
    assert [d["id"] for d in deck["layers"]] == ["parcels", "selected", "selected-core"]
    assert picked_parcel({"type": "Feature", "properties": {"id": "40000004"}}) == 40_000_004
    assert picked_parcel({"id": 12}) == 12 and picked_parcel({"properties": {}}) is None
    # the page's "Whole region" view asks for no parcel size (min_px 0): every parcel in view
    whole = clickable_view(records, None, height_px=540, min_px=0.0)
    assert whole.zoom == fit_view(*tiles.bounds, width_px=800, height_px=540).zoom
    # seen whole, the region is one picture; the tiles come in three zoom levels closer
    deck = json.loads(parcel_deck(records, view=whole, tiles=(tiles, url, worker),
                                  overview=("app/static/cropviz-map/o.png", tiles.bounds)).to_json())
    assert [d["id"] for d in deck["layers"]] == ["overview", "parcels"]
    picture, layer = deck["layers"]
    assert picture["@@type"] == "BitmapLayer" and picture["image"] == "app/static/cropviz-map/o.png"
    assert picture["bounds"] == list(tiles.bounds) and not picture["pickable"]
    assert layer["visibleMinZoom"] == pytest.approx(whole.zoom + 3.0)


def _picture(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _pixel(lon: float, lat: float, bounds: tuple[float, ...], shape: tuple[int, ...]) -> tuple[int, int]:
    """(row, column) of a WGS84 point in a web-mercator picture over ``bounds``."""
    def world(lo: float, la: float) -> tuple[float, float]:
        return (lo + 180) / 360, 0.5 - math.log(math.tan(math.pi / 4 + math.radians(la) / 2)) / (2 * math.pi)

    (x0, y0), (x1, y1) = world(bounds[0], bounds[3]), world(bounds[2], bounds[1])
    x, y = world(lon, lat)
    return int((y - y0) / (y1 - y0) * shape[0]), int((x - x0) / (x1 - x0) * shape[1])


def test_the_overview_fills_every_parcel_with_its_colour():
    geoms, ids = _parcels()
    rgb = np.column_stack([ids % 256, (ids * 7) % 256, np.full(len(ids), 200)])
    png, bounds = overview_png(geoms, rgb, max_px=256)
    picture = _picture(png)
    assert max(picture.shape[:2]) == 256
    west, south, east, north = shapely.total_bounds(geoms)
    margin = 0.03 * 0.034 / math.cos(math.radians(48))  # 2 % of the long side (and a pixel), in longitude
    assert west - margin < bounds[0] < west and east < bounds[2] < east + margin
    assert south - margin < bounds[1] < south and north < bounds[3] < north + margin
    centres = shapely.get_coordinates(shapely.centroid(geoms))
    for (lon, lat), colour in zip(centres, rgb, strict=True):
        assert picture[_pixel(lon, lat, bounds, picture.shape)].tolist() == [*colour.tolist(), 255]
    gap = _pixel(-2.0 + 0.005, 48.0 + 0.005, bounds, picture.shape)  # between four parcels
    assert picture[gap][3] == 0


def test_the_overview_marks_parcels_smaller_than_a_pixel_and_refuses_bad_input():
    geoms, ids = _parcels(size=0.0002)  # under a tenth of a pixel at 16 pixels for the region
    rgb = np.column_stack([np.arange(len(ids)) * 7, np.full(len(ids), 9), np.full(len(ids), 9)])
    picture = _picture(overview_png(geoms, rgb, max_px=16)[0])
    shown = {tuple(p) for p in picture[picture[..., 3] == 255][:, :3].tolist()}
    assert shown == {tuple(c) for c in rgb.tolist()}  # each of the 36 parcels is in the picture
    with pytest.raises(ConfigurationError, match="one RGB colour per parcel"):
        overview_png(geoms, rgb[:3], max_px=16)
    with pytest.raises(ConfigurationError, match="no parcel geometries"):
        overview_png(np.array([shapely.Polygon()]), np.zeros((1, 3)), max_px=16)
