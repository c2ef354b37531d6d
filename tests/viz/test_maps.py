import json
import time

import geopandas as gpd
import numpy as np
import pydeck as pdk
import pytest
import shapely

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import CLASS_COLORS, CORRECT_COLOR, WRONG_COLOR, hex_to_rgb
from cropviz.viz.maps import (
    CLICKABLE_PX,
    NO_MAP_STYLE,
    basemap_layer,
    clickable_view,
    fit_view,
    image_data_url,
    legend_items,
    locator_png,
    metres_per_pixel,
    outline_layer,
    parcel_deck,
    parcel_layer_data,
    record_bounds,
    with_borders,
)

CLASSES = ["barley", "wheat", "rapeseed", "corn", "sunflower", "orchards", "nuts",
           "permanent meadows", "temporary meadows"]


def _gdf(n=4, crs="EPSG:4326"):
    rng = np.random.default_rng(0)
    x = -2.0 + 0.01 * np.arange(n)
    geoms = [shapely.box(xi, 48.0, xi + 0.005, 48.004) for xi in x]
    true = [CLASSES[i % 9] for i in range(n)]
    pred = [CLASSES[(i + (i % 2)) % 9] for i in range(n)]
    return gpd.GeoDataFrame({"id": np.arange(100, 100 + n), "code": "BTH", "classname": true,
                             "predicted": pred, "confidence": rng.uniform(size=n),
                             "ndvi": rng.uniform(size=n)}, geometry=geoms, crs=crs)


def test_records_carry_class_palette_and_tooltip_fields():
    rec = parcel_layer_data(_gdf(), "true", alpha=180)
    for _, r in rec.iterrows():
        assert r["fill_color"] == [*hex_to_rgb(CLASS_COLORS[r["true"]]), 180]
    assert {"id", "code", "crop", "true", "predicted", "confidence_text", "polygon"} <= set(rec)
    ring = rec["polygon"].iloc[0][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert all(round(v, 6) == v for pt in ring for v in pt)
    pred = parcel_layer_data(_gdf(), "pred")
    expected = hex_to_rgb(CLASS_COLORS[pred["predicted"].iloc[1]])
    assert pred["fill_color"].iloc[1][:3] == list(expected)


def test_correct_colouring_and_missing_predictions():
    gdf = _gdf()
    gdf.loc[3, "predicted"] = None
    rec = parcel_layer_data(gdf, "correct")
    assert rec["fill_color"].iloc[0][:3] == list(hex_to_rgb(CORRECT_COLOR))
    assert rec["fill_color"].iloc[1][:3] == list(hex_to_rgb(WRONG_COLOR))
    assert rec["predicted"].iloc[3] == ""
    rec = parcel_layer_data(gdf.drop(columns=["confidence"]), "confidence")
    assert (rec["confidence_text"] == "-").all()


def test_integer_class_ids_are_mapped_to_names():
    gdf = _gdf(3).assign(true=[0, 1, 2], pred=[0, 2, -1])
    rec = parcel_layer_data(gdf, "correct", true_col="true", pred_col="pred", classes=CLASSES)
    assert list(rec["true"]) == ["barley", "wheat", "rapeseed"]
    assert list(rec["predicted"]) == ["barley", "rapeseed", ""]
    assert [c[:3] for c in rec["fill_color"]] == [list(hex_to_rgb(c)) for c in
                                                  (CORRECT_COLOR, WRONG_COLOR, "#BBBBBB")]


def test_projected_input_is_reprojected_and_multipolygons_exploded():
    gdf = _gdf(2).to_crs("EPSG:2154")
    moved = shapely.affinity.translate(gdf.geometry[1], 2000)
    gdf.loc[1, "geometry"] = shapely.MultiPolygon([gdf.geometry[1], moved])
    rec = parcel_layer_data(gdf)
    assert list(rec["id"]) == [100, 101, 101]
    assert -3 < rec["lon"].iloc[0] < -1 and 47 < rec["lat"].iloc[0] < 49
    with pytest.raises(ConfigurationError):
        parcel_layer_data(_gdf(), "colour")


def test_deck_has_pickable_parcels_layer_selection_and_no_map_style():
    rec = parcel_layer_data(_gdf())
    deck = parcel_deck(rec, selected_id=101)
    assert isinstance(deck, pdk.Deck)
    spec = json.loads(deck.to_json())
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert layers["parcels"]["@@type"] == "PolygonLayer" and layers["parcels"]["pickable"]
    assert len(layers["parcels"]["data"]) == 4
    assert [d["id"] for d in layers["selected"]["data"]] == [101]
    # Streamlit's chart replaces a missing style with a Carto style from the internet
    assert spec["mapStyle"] == NO_MAP_STYLE and "mapProvider" not in spec
    view = spec["initialViewState"]
    assert -2.0 < view["longitude"] < -1.95
    assert deck._tooltip["html"].startswith("<b>parcel {id}</b>")  # what st.pydeck_chart sends


def test_fit_view_uses_deck_gl_512_pixel_world():
    # 0.01 degree of longitude over 800 px at the equator: 800 = 512 * 2**z * 0.01 / 360
    view = fit_view(0.0, 0.0, 0.01, 0.0, width_px=800, padding=0.0)
    assert view.zoom == pytest.approx(np.log2(800 * 360 / (512 * 0.01)), abs=0.01)


def test_clickable_view_zooms_to_the_selected_parcel_when_the_region_is_too_wide():
    # two groups of 0.005-degree parcels 2 degrees apart: fitting both makes parcels ~2 px
    gdf = _gdf(4)
    gdf.loc[2:, "geometry"] = gdf.geometry[2:].translate(2.0, 0.0)
    rec = parcel_layer_data(gdf)
    view = clickable_view(rec, selected_id=103, width_px=800, height_px=560)
    # a box of 0.005 x 0.004 degrees at 48 N is taller than wide on a mercator map
    span_px = 512 * 2 ** view.zoom * max(0.005, 0.004 / np.cos(np.radians(48.002))) / 360
    assert span_px == pytest.approx(CLICKABLE_PX, rel=0.01)
    target = rec[rec["id"] == 103].iloc[0]
    # 103 is the easternmost parcel: the view keeps it but does not show empty ground east of the
    # region; the group is lower than the view, so the view is centred on it north-south
    west, south, east, north = record_bounds(rec)
    half_lon = 400 * metres_per_pixel(view.zoom, target["lat"]) / (111_320.0 * np.cos(np.radians(target["lat"])))
    assert view.longitude + half_lon == pytest.approx(east)
    assert abs(view.longitude - target["lon"]) < half_lon
    assert view.latitude == pytest.approx((south + north) / 2)
    middle = clickable_view(rec, selected_id=101, width_px=800, height_px=560)  # 101 lies in the west group
    assert middle.longitude - half_lon == pytest.approx(west)
    near = parcel_layer_data(_gdf(2))  # 0.015 degrees wide: fits at a clickable size
    whole = clickable_view(near, selected_id=100)
    assert whole.zoom == fit_view(*record_bounds(near), width_px=800, height_px=560).zoom


def test_layers_under_the_parcels(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG fake")
    bitmap = basemap_layer("app/static/cropviz-map/x.png", (-3.0, 47.0, -2.0, 48.0))
    outline = outline_layer(shapely.MultiPolygon([shapely.box(-3, 47, -2.5, 47.5), shapely.box(-2.4, 47, -2, 47.5)]))
    rec = parcel_layer_data(_gdf(2))
    spec = json.loads(parcel_deck(rec, under=[bitmap, outline]).to_json())
    ids = [layer["id"] for layer in spec["layers"]]
    assert ids[:3] == ["basemap", "outline", "parcels"]
    assert spec["layers"][0]["image"] == "app/static/cropviz-map/x.png"  # a URL, not inlined by pydeck
    assert spec["layers"][0]["bounds"] == [-3.0, 47.0, -2.0, 48.0]
    assert len(spec["layers"][1]["data"]) == 2 and not spec["layers"][1]["pickable"]
    assert image_data_url(png).startswith("data:image/png;base64,")


def test_legend_one_entry_per_class():
    items = legend_items("true", CLASSES)
    assert [label for label, _ in items] == CLASSES
    assert all(h == CLASS_COLORS[c] for c, h in items)
    assert [label for label, _ in legend_items("correct")][:2] == ["correct", "wrong"]
    assert len(legend_items("ndvi", steps=3)) == 3
    with pytest.raises(ConfigurationError):
        legend_items("pred")


def _ellipses(n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` 24-vertex elliptic parcels (about 300 x 330 m) scattered over Brittany."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(0, 2 * np.pi, 24)
    cx, cy = rng.uniform(-3, -1, n), rng.uniform(47.5, 48.5, n)
    geoms = shapely.polygons(np.stack([cx[:, None] + 0.002 * np.cos(theta),
                                       cy[:, None] + 0.0015 * np.sin(theta)], axis=-1))
    return gpd.GeoDataFrame({"id": np.arange(n), "classname": rng.choice(CLASSES, n)},
                            geometry=geoms, crs="EPSG:4326")


def test_5000_parcels_build_fast():
    n = 5000
    gdf = _ellipses(n, 0)
    start = time.perf_counter()
    rec = parcel_layer_data(gdf, "true", simplify_m=10)
    assert time.perf_counter() - start < 2.0  # well under 1 s on an idle machine
    assert len(rec) == n


def test_uncertainty_colours_run_from_certain_to_uniform():
    from cropviz.viz.colors import continuous_colors
    from cropviz.viz.maps import legend_items, parcel_colors

    names = np.array(["wheat", "corn", "wheat"])
    uncertainty = np.array([0.0, 1.0, np.nan])
    rgb = parcel_colors(names, names, np.array([0.9, 0.3, 0.5]), np.full(3, np.nan), "uncertainty",
                        uncertainty=uncertainty)
    np.testing.assert_array_equal(rgb[:2], continuous_colors([1.0, 0.0], "confidence"))
    assert rgb[2].tolist() == continuous_colors([np.nan], "confidence")[0].tolist()  # unknown: grey
    legend = legend_items("uncertainty", steps=3)
    assert [label for label, _ in legend] == ["0.00", "0.50", "1.00"]


def _metre_squares(sizes_m, lat=48.0, crs="EPSG:4326"):
    """Squares of the given sides in metres, 1 km apart, as WGS84 (metres through a local UTM zone)."""
    utm = gpd.GeoDataFrame(geometry=[shapely.Point(-2.0, lat)], crs="EPSG:4326").estimate_utm_crs()
    origin = gpd.GeoSeries([shapely.Point(-2.0, lat)], crs="EPSG:4326").to_crs(utm).iloc[0]
    geoms = [shapely.box(origin.x + 1000 * i, origin.y, origin.x + 1000 * i + s, origin.y + s)
             for i, s in enumerate(sizes_m)]
    return gpd.GeoDataFrame({"id": np.arange(len(sizes_m)), "classname": "wheat"}, geometry=geoms,
                            crs=utm).to_crs(crs), utm


def _area_m2(rings, utm):
    """Area in m² of a [exterior, *holes] list of [lon, lat] rings."""
    poly = shapely.Polygon(rings[0], rings[1:])
    return float(gpd.GeoSeries([poly], crs="EPSG:4326").to_crs(utm).area.iloc[0])


def test_border_is_the_parcel_minus_a_4_m_inset():
    gdf, utm = _metre_squares([100.0, 6.0])
    rec = parcel_layer_data(gdf)
    outer, hole = rec["border"].iloc[0]
    assert outer == rec["polygon"].iloc[0][0]  # the parcel's own exterior ring, not a copy of other values
    parcel = shapely.Polygon(outer)
    inset = shapely.Polygon(hole)
    assert parcel.contains(inset)
    inset_m2 = float(gpd.GeoSeries([inset], crs="EPSG:4326").to_crs(utm).area.iloc[0])
    assert inset_m2 == pytest.approx(92.0 ** 2, rel=0.01)
    assert _area_m2(rec["border"].iloc[0], utm) == pytest.approx(100.0 ** 2 - 92.0 ** 2, rel=0.02)
    # a 6 m parcel vanishes under the inset: drawn whole as border
    assert rec["border"].iloc[1] == [rec["polygon"].iloc[1][0]]
    wide = parcel_layer_data(gdf, border_m=10.0)
    assert _area_m2([wide["border"].iloc[0][1]], utm) == pytest.approx(80.0 ** 2, rel=0.01)


def test_border_of_multipolygons_and_holes_keeps_one_record_per_part():
    _, utm = _metre_squares([100.0])
    origin = gpd.GeoSeries([shapely.Point(-2.0, 48.0)], crs="EPSG:4326").to_crs(utm).iloc[0]
    a = shapely.box(origin.x, origin.y, origin.x + 100, origin.y + 100)
    b = shapely.affinity.translate(a, 500)
    holed = shapely.Polygon(shapely.affinity.translate(a, 1000).exterior,
                            [shapely.affinity.translate(a, 1000).centroid.buffer(20).exterior])
    gdf = gpd.GeoDataFrame({"id": [0, 1]}, geometry=[shapely.MultiPolygon([a, b]), holed], crs=utm)
    rec = parcel_layer_data(gdf.to_crs("EPSG:4326"))
    assert list(rec["id"]) == [0, 0, 1]
    assert [len(b) for b in rec["border"]] == [2, 2, 2]  # exterior + inset exterior, per part
    assert len(rec["polygon"].iloc[2]) == 2  # the parcel keeps its hole
    for _, r in rec.iterrows():
        assert shapely.Polygon(r["polygon"][0]).contains(shapely.Polygon(r["border"][1]))
        assert _area_m2([r["border"][1]], utm) == pytest.approx(92.0 ** 2, rel=0.01)


def test_borders_added_later_match_those_made_with_the_records():
    _, utm = _metre_squares([100.0])
    origin = gpd.GeoSeries([shapely.Point(-2.0, 48.0)], crs="EPSG:4326").to_crs(utm).iloc[0]
    a = shapely.box(origin.x, origin.y, origin.x + 100, origin.y + 100)
    holed = shapely.Polygon(shapely.affinity.translate(a, 1000).exterior,
                            [shapely.affinity.translate(a, 1000).centroid.buffer(20).exterior])
    tiny = shapely.affinity.translate(shapely.box(0, 0, 6, 6), origin.x + 2000, origin.y)
    gdf = gpd.GeoDataFrame({"id": [0, 1, 2]}, geometry=[a, holed, tiny], crs=utm).to_crs("EPSG:4326")
    plain = parcel_layer_data(gdf, border_m=None)
    assert "border" not in plain.columns  # the tiled map's records: no edges computed
    later, made = with_borders(plain), parcel_layer_data(gdf)
    assert later.drop(columns="border").equals(plain)
    for ours, theirs in zip(later["border"], made["border"], strict=True):
        assert ours[0] == theirs[0] and len(ours) == len(theirs)
        for inset, expected in zip(ours[1:], theirs[1:], strict=True):  # from coordinates rounded to ~0.1 m
            assert _area_m2([inset], utm) == pytest.approx(_area_m2([expected], utm), rel=0.005)
    assert len(later["border"].iloc[2]) == 1  # the 6 m parcel vanishes under the inset: drawn whole


def test_no_layer_is_stroked_or_a_path():
    gdf, _ = _metre_squares([100.0, 150.0, 80.0])
    rec = parcel_layer_data(gdf)
    outline = outline_layer(shapely.box(-2.1, 47.9, -1.9, 48.1))
    spec = json.loads(parcel_deck(rec, selected_id=1, under=[outline]).to_json())
    assert [layer["id"] for layer in spec["layers"]] == ["outline", "parcels", "borders", "selected",
                                                         "selected-core"]
    for layer in spec["layers"]:
        assert layer["@@type"] not in ("PathLayer", "LineLayer", "GeoJsonLayer"), layer["id"]
        assert not layer.get("stroked", False), layer["id"]
        assert "lineWidthMinPixels" not in layer, layer["id"]
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert layers["parcels"]["pickable"] and not layers["borders"]["pickable"]
    assert "border" not in layers["parcels"]["data"][0]  # each layer carries only what it draws
    assert list(layers["borders"]["data"][0]) == ["border"]


def test_selected_parcel_is_a_ring_around_it_of_a_few_pixels():
    gdf, utm = _metre_squares([100.0, 150.0])
    rec = parcel_layer_data(gdf)
    zoom = 15.0
    spec = json.loads(parcel_deck(rec, selected_id=1, view={"latitude": 48.0, "longitude": -2.0,
                                                            "zoom": zoom}, ring_px=3.0).to_json())
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert [d["id"] for d in layers["selected"]["data"]] == [1]
    assert [d["id"] for d in layers["selected-core"]["data"]] == [1]
    white, black = layers["selected"]["data"][0]["polygon"], layers["selected-core"]["data"][0]["polygon"]
    parcel = shapely.Polygon(rec["polygon"].iloc[1][0])
    assert white[1] == rec["polygon"].iloc[1][0]  # the hole is the parcel itself
    assert shapely.Polygon(white[0]).contains(parcel.boundary)
    assert shapely.Polygon(white[0]).contains(shapely.Polygon(black[0]))
    # 3 px at zoom 15 and 48 N: 3 * 40075017 * cos(48) / (512 * 2**15) = 4.77 m around a 150 m square
    px_m = 40_075_016.686 * np.cos(np.radians(48.0)) / (512 * 2 ** zoom)
    ring_m2 = _area_m2(white, utm)
    width = 3 * px_m
    assert ring_m2 == pytest.approx(4 * 150 * width + np.pi * width ** 2, rel=0.03)
    assert _area_m2(black, utm) == pytest.approx(4 * 150 * width / 2 + np.pi * (width / 2) ** 2, rel=0.03)
    assert "selected" not in [layer["id"] for layer in json.loads(parcel_deck(rec, selected_id=7).to_json())["layers"]]


def test_borders_stay_compact():
    n = 500
    gdf = _ellipses(n, 1)
    rec = parcel_layer_data(gdf, "true")
    # the inset ring has no more vertices than the parcel (mitred corners, no rounded arcs)
    assert all(len(b[1]) <= len(p[0]) for b, p in zip(rec["border"], rec["polygon"], strict=True))
    assert all(b[0] is p[0] for b, p in zip(rec["border"], rec["polygon"], strict=True))  # shared, not copied
    deck = parcel_deck(rec, selected_id=3)
    compact = deck.to_json()
    assert json.loads(compact) == json.loads(pdk.Deck.to_json(deck))  # pydeck's content, unindented
    assert "\n" not in compact and len(compact) < 0.4 * len(pdk.Deck.to_json(deck))



def test_the_locator_is_a_still_picture_of_the_parcel_among_its_neighbours_over_the_imagery(tmp_path):
    import io

    from PIL import Image

    records = parcel_layer_data(_gdf(n=3))  # boxes of 0.005 x 0.004 degrees (372 x 445 m), 0.01 apart
    center = (-1.9975, 48.002)  # parcel 100's centre; 800 m across, so 101 and 102 lie outside
    picture = Image.open(io.BytesIO(locator_png(records, 100, center, radius_m=400.0, size_px=560)))
    assert picture.size == (560, 560) and picture.mode == "RGB"
    fill = np.array(hex_to_rgb(CLASS_COLORS["barley"]))
    background = np.array([244, 242, 236])
    inside = np.array(picture.getpixel((280, 280)))  # the parcel, at 0.7 opacity over the background
    np.testing.assert_allclose(inside, 0.7 * fill + 0.3 * background, atol=2)
    np.testing.assert_array_equal(picture.getpixel((5, 5)), background)  # no parcel, no imagery
    # the selected parcel's west edge, 186 m left of the centre (0.7 px per metre): black and white
    edge = [picture.getpixel((x, 280)) for x in range(146, 156)]
    assert (0, 0, 0) in edge and (255, 255, 255) in edge
    # imagery under the parcels: a red image over bounds wider than the picture shows where no parcel is
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "rgb.png")
    over = Image.open(io.BytesIO(locator_png(records, 100, center, radius_m=400.0, size_px=560,
                                             imagery=tmp_path / "rgb.png", imagery_bounds=(-2.1, 47.9, -1.9, 48.1))))
    assert over.getpixel((5, 5)) == (200, 30, 30)
    np.testing.assert_allclose(over.getpixel((280, 280)), 0.7 * fill + 0.3 * np.array([200, 30, 30]), atol=2)
