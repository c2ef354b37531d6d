"""The map page (AppTest): imagery under the parcels, a clickable default view, selection and links on."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from app_support import cache
from cropviz.viz.tiles import read_tiles
from tests.app.browser import NEEDS_CHROMIUM, streamlit_server
from tests.app.browser import chromium as start_chromium


def _no_failures(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _deck(at) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


def test_map_draws_the_demo_imagery_under_clickable_parcels_with_no_map_style(app):
    app.run()
    _no_failures(app)
    spec = _deck(app)
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert spec["mapStyle"] == "__MAP_STYLE__"  # Streamlit then draws no Carto basemap
    assert "mapProvider" not in spec or spec["mapProvider"] is None
    assert list(layers)[0] == "basemap" and layers["basemap"]["@@type"] == "BitmapLayer"
    image = layers["basemap"]["image"]
    assert image.startswith("data:image/png;base64,") or image.startswith("app/static/")
    west, south, east, north = layers["basemap"]["bounds"]
    assert -5 < west < east < 0 and 47 < south < north < 49
    assert len(layers["parcels"]["data"]) == len(app.session_state["context"].table)  # all, inline
    selected = app.session_state["parcel"]
    assert [d["id"] for d in layers["selected"]["data"]] == [selected]
    # the region is ~100 km wide: the default view is the selected parcel's neighbourhood, where
    # parcels of ~150 m span >= 28 px (zoom >= 12.5 at 512 px per world at zoom 0), not the region
    view = spec["initialViewState"]
    assert view["zoom"] >= 12.5
    ring = layers["selected"]["data"][0]["polygon"][0]
    assert min(p[0] for p in ring) - 0.01 < view["longitude"] < max(p[0] for p in ring) + 0.01
    assert any("Selected parcel" in m.value for m in app.markdown)
    assert app.select_slider(key="map_date").value == "2017-07-15"


def test_imagery_choice_and_date_change_the_basemap_image(app):
    app.run()
    before = _deck(app)["layers"][0]["image"]
    app.select_slider(key="map_date").set_value("2017-03-15").run()
    _no_failures(app)
    march = _deck(app)["layers"][0]["image"]
    assert march != before
    app.radio(key="map_imagery").set_value("none").run()
    layers = [layer["id"] for layer in _deck(app)["layers"]]
    assert layers[0] == "outline"


def test_a_row_of_the_table_selects_and_centres_the_parcel_and_links_keep_it(app):
    app.run()
    table = app.session_state["context"].table
    row = 7
    wanted = int(table.iloc[row]["id"])
    # AppTest cannot click a dataframe row: set the selection state the widget would send
    app.session_state["map_table"] = {"selection": {"rows": [row], "columns": []}}
    app.run()
    _no_failures(app)
    assert app.session_state["parcel"] == wanted
    assert app.query_params["parcel"] == str(wanted)
    spec = _deck(app)
    centre = [d for d in spec["layers"] if d["id"] == "parcels"][0]["data"]
    parcel = [d for d in centre if d["id"] == wanted][0]
    ring = parcel["polygon"][0]
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    assert abs(spec["initialViewState"]["longitude"] - lon) < 0.01
    links = app.get("page_link")
    targets = {link.proto.page: link.proto.query_string for link in links}
    assert any(page.endswith("inspector") for page in targets), targets
    assert all(f"parcel={wanted}" in query for query in targets.values())


def test_a_click_on_the_map_selects_the_parcel_and_keeps_the_view(app):
    app.run()
    before = _deck(app)["initialViewState"]
    rows = [d for d in _deck(app)["layers"] if d["id"] == "parcels"][0]["data"]
    other = next(int(r["id"]) for r in rows if int(r["id"]) != app.session_state["parcel"])
    # AppTest cannot click a canvas: set the selection state the chart would send
    app.session_state["parcel_map"] = {"selection": {"indices": {"parcels": [0]},
                                                     "objects": {"parcels": [{"id": other}]}}}
    app.run()
    _no_failures(app)
    assert app.session_state["parcel"] == other and app.query_params["parcel"] == str(other)
    spec = _deck(app)
    assert spec["initialViewState"] == before  # the map does not jump under the pointer
    assert [d["id"] for d in spec["layers"] if d["id"] == "selected"] == ["selected"]
    assert [d["id"] for d in [x for x in spec["layers"] if x["id"] == "selected"][0]["data"]] == [other]


def test_without_imagery_the_region_outline_is_drawn(app, monkeypatch):
    monkeypatch.setattr(cache, "basemap_of", lambda ds: None)
    app.run()
    _no_failures(app)
    layers = _deck(app)["layers"]
    assert layers[0]["id"] == "outline" and layers[0]["data"][0]["polygon"]
    assert app.button[0].label.startswith("Draw imagery")


@pytest.mark.parametrize("static", [True, False])
def test_large_regions_travel_as_vector_tiles(app, monkeypatch, tmp_path, static):
    monkeypatch.setattr(cache, "INLINE_PARCELS", 10)
    monkeypatch.setattr(cache, "STATIC_DIR", tmp_path)
    monkeypatch.setattr(cache, "static_serving", lambda: static)
    app.run()
    _no_failures(app)
    parcels = [layer for layer in _deck(app)["layers"] if layer["id"] == "parcels"][0]
    n = len(app.session_state["context"].table)
    if static:
        assert parcels["@@type"] == "MVTLayer" and parcels["uniqueIdProperty"] == "id"
        assert parcels["data"].startswith("app/static/cropviz-map/tiles-")
        assert parcels["data"].endswith("/{z}/{x}/{y}.pbf")
        folder = tmp_path / parcels["data"].removeprefix("app/static/").removesuffix("/{z}/{x}/{y}.pbf")
        tiles = read_tiles(folder)
        assert tiles.parcels == n and (tiles.min_zoom, tiles.max_zoom) == (parcels["minZoom"], parcels["maxZoom"])
        assert len(list(folder.glob(f"{tiles.max_zoom}/*/*.pbf"))) >= 1
        assert (tmp_path / "cropviz-map" / ".gitignore").read_text().strip() == "*"
        assert "overview" not in [layer["id"] for layer in _deck(app)["layers"]]
        # the whole region: one picture of every parcel, the tiles from three zoom levels closer
        app.session_state["map_whole"] = True
        app.run()
        _no_failures(app)
        layers = {layer["id"]: layer for layer in _deck(app)["layers"]}
        picture = tmp_path / layers["overview"]["image"].removeprefix("app/static/")
        assert picture.exists() and picture.read_bytes().startswith(b"\x89PNG")
        assert layers["parcels"]["visibleMinZoom"] == pytest.approx(_deck(app)["initialViewState"]["zoom"] + 3)
        assert any("one picture of every parcel" in c.value for c in app.caption)
        app.session_state["map_whole"] = False
        app.run()
        # a click on a tile gives the feature: its properties hold the id (as text)
        other = int(app.session_state["context"].table["id"].iloc[3])
        app.session_state["parcel_map"] = {"selection": {"indices": {"parcels": [0]}, "objects": {
            "parcels": [{"type": "Feature", "properties": {"id": str(other)}}]}}}
        app.run()
        _no_failures(app)
        assert app.session_state["parcel"] == other and app.query_params["parcel"] == str(other)
        # filtered down to few enough to travel in the page: drawn there, with the parcels' edges
        counts = app.session_state["context"].table["classname"].value_counts()
        app.session_state["map_true"] = [counts[counts <= 10].index[0]]
        app.run()
        _no_failures(app)
        layers = {layer["id"]: layer for layer in _deck(app)["layers"]}
        assert layers["parcels"]["@@type"] == "PolygonLayer" and len(layers["borders"]["data"]) >= 1
    else:
        assert len(parcels["data"]) == n
    assert "borders" in [layer["id"] for layer in _deck(app)["layers"]]  # edges wherever parcels are in the page


# --- In a real browser -------------------------------------------------------------------------

SHOTS = Path(os.environ.get("CROPVIZ_MAP_SHOTS", "/tmp"))


@pytest.fixture(scope="module")
def served_app(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """`streamlit run app.py` on a free loopback port (the checkout's config: static serving on)."""
    with streamlit_server(app_env, tmp_path_factory.mktemp("map-server") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def chromium():
    driver = start_chromium(height=1000, performance_log=True)
    yield driver
    driver.quit()


def _settled(driver, timeout: float = 300) -> None:
    """Wait until the script has stopped running and the deck.gl canvas is on the page."""
    from selenium.webdriver.common.by import By

    deadline, quiet = time.time() + timeout, None
    while time.time() < deadline:
        busy = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')
        drawn = driver.find_elements(By.CSS_SELECTOR, "h1")
        if drawn and not busy:
            quiet = quiet or time.time()
            if time.time() - quiet > 2.0:
                return
        else:
            quiet = None
        time.sleep(0.3)
    raise AssertionError(f"the page did not settle in {timeout} s")


def _foreign_requests(driver, own: str) -> list[str]:
    """URLs the page asked for from any host but the app's own (from Chromium's network log)."""
    host = urllib.parse.urlsplit(own).netloc
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return [u for u in urls if urllib.parse.urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urllib.parse.urlsplit(u).netloc != host]


def _hover_for_other_parcel(driver, canvas, selected: str) -> tuple[int, int, str]:
    """Move over the map until the tooltip names a parcel other than ``selected``; its offset and id."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    width, height = canvas.size["width"], canvas.size["height"]
    for dy in range(-height // 2 + 20, height // 2 - 20, 14):
        for dx in range(-width // 2 + 20, width // 2 - 20, 14):
            ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).perform()
            tips = [t for t in driver.find_elements(By.CSS_SELECTOR, ".deck-tooltip") if t.is_displayed()]
            text = tips[0].text if tips else ""
            if text.startswith("parcel ") and not text.startswith(f"parcel {selected}\n"):
                return dx, dy, text.split()[1]
    raise AssertionError("no other parcel under the pointer anywhere on the map")


@pytest.mark.browser
@NEEDS_CHROMIUM
def test_in_a_browser_the_map_is_offline_a_click_selects_and_the_link_opens_the_inspector(served_app, chromium):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    chromium.get(f"{served_app}/map")
    _settled(chromium)
    canvas = chromium.find_element(By.CSS_SELECTOR, "#deckgl-overlay")
    time.sleep(1.0)
    chromium.save_screenshot(str(SHOTS / "map_browser_default.png"))
    selected = urllib.parse.parse_qs(urllib.parse.urlsplit(chromium.current_url).query)["parcel"][0]
    dx, dy, other = _hover_for_other_parcel(chromium, canvas, selected)
    tip = [t for t in chromium.find_elements(By.CSS_SELECTOR, ".deck-tooltip") if t.is_displayed()][0]
    box, frame = tip.rect, canvas.rect  # the tooltip stays inside the map
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
    chromium.save_screenshot(str(SHOTS / "map_browser_tooltip.png"))
    ActionChains(chromium).move_to_element_with_offset(canvas, dx, dy).click().perform()
    deadline = time.time() + 60
    while f"parcel={other}" not in chromium.current_url and time.time() < deadline:
        time.sleep(0.3)
    _settled(chromium)
    assert f"parcel={other}" in chromium.current_url
    assert f"Selected parcel {other}" in chromium.find_element(By.TAG_NAME, "body").text
    chromium.save_screenshot(str(SHOTS / "map_browser_selected.png"))
    link = chromium.find_element(By.PARTIAL_LINK_TEXT, "Open in the inspector")
    assert link.location["y"] + link.size["height"] < chromium.execute_script("return window.innerHeight")
    link.click()
    deadline = time.time() + 60
    while "/inspector" not in chromium.current_url and time.time() < deadline:
        time.sleep(0.3)
    _settled(chromium)
    chromium.save_screenshot(str(SHOTS / "map_browser_inspector.png"))
    assert "/inspector" in chromium.current_url and f"parcel={other}" in chromium.current_url
    assert other in chromium.find_element(By.TAG_NAME, "body").text
    assert _foreign_requests(chromium, served_app) == []
