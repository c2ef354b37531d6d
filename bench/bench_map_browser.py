"""The map page of a 200k-parcel region in headless Chromium: load, interactivity, frame time, memory.

    python bench/bench_map_browser.py --root /tmp/cropviz-map-200k [--parcels 200000] [--port 8641]

Generates (once, when ``--root`` holds no region) a BreizhCrops-layout region ``frh04`` of
``--parcels`` simulated polygons with their classes and ONE placeholder observation per parcel
(the map needs geometry and class only; no time series are simulated), serves the app with
``streamlit run`` (fresh cache folder) and opens the map in headless Debian Chromium (software
WebGL: SwiftShader) with no model chosen, so the time is the map's. It reports:

* page: seconds from opening the URL until the script has finished and the deck.gl canvas is on
  the page (server: read polygons, build the records, cut the vector tiles into the static folder
  when they are not there yet: the first run per region and colour);
* data: how many vector tiles the browser fetched (only those in view: every parcel of them, no
  sampling), their size, and when the last had arrived;
* interactive: when hovering the map centre first shows a parcel's tooltip (tiles parsed, drawn,
  pickable);
* frame time while panning (pointer drags), from requestAnimationFrame intervals: at the default
  view and with the whole region in view (every parcel on screen, drawn as one picture);
* the whole region: seconds until its picture has loaded and drawn, then, zooming in with the
  mouse wheel from there, until a parcel's tooltip shows again (the tiles back in view);
* memory: the JS heap and the resident memory of all Chromium processes;
* selection: seconds from a click on another parcel until the URL and the page show it.

Screenshots go to ``--screenshots`` (map_200k_*.png). The machine may be shared: timings are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--enable-unsafe-swiftshader", "--window-size=1500,1000")
REGION, YEAR = "frh04", 2017
PAN_SCRIPT = """
const [moves, done] = arguments;
const canvas = document.querySelector('#deckgl-overlay');
const box = canvas.getBoundingClientRect();
let x = box.left + box.width / 2, y = box.top + box.height / 2, k = 0;
const times = [];
const fire = (type, buttons) => canvas.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y,
    bubbles: true, cancelable: true, pointerId: 1, pointerType: 'mouse', isPrimary: true, buttons}));
fire('pointerdown', 1);
const step = (t) => {
  times.push(t);
  if (k++ < moves) { x += (k % 20 < 10 ? 6 : -6); y += 1; fire('pointermove', 1); requestAnimationFrame(step); }
  else { fire('pointerup', 0); done(times); }
};
requestAnimationFrame(step);
"""


def generate_region(root: Path, n: int, seed: int = 0) -> float:
    """Write region frh04 of ``n`` simulated polygons (one placeholder observation each); seconds."""
    import geopandas as gpd
    import h5py
    import pandas as pd

    from cropviz.data.bands import H5_COLUMNS
    from cropviz.data.simulate.parcels import make_region

    started = time.perf_counter()
    level_dir = root / str(YEAR) / "L1C"
    level_dir.mkdir(parents=True, exist_ok=True)
    package = resources.files("cropviz.data.resources")
    (root / "classmapping.csv").write_bytes(package.joinpath("classmapping.csv").read_bytes())
    (root / "codes.csv").write_bytes(package.joinpath("rpg_codes.csv").read_bytes())
    mapped_codes = set(pd.read_csv(root / "classmapping.csv")["code"].astype(str))
    region = make_region(REGION, int(n * 1.15), np.random.default_rng(seed), id_offset=40_000_000)
    keep = np.flatnonzero(np.isin(region.codes.astype(str), list(mapped_codes)))[:n]
    ids, codes = region.ids[keep], region.codes[keep]
    gpd.GeoDataFrame({"ID": ids}, geometry=region.geometry[keep], crs="EPSG:2154").to_parquet(
        root / str(YEAR) / f"{REGION}.parquet")
    columns = H5_COLUMNS["L1C"]
    row = np.zeros((1, len(columns)))
    row[0, columns.index("doa")] = float(np.datetime64(f"{YEAR}-06-15", "ns").astype(np.int64))
    paths = [f"{REGION}/{i}" for i in ids]
    with h5py.File(level_dir / f"{REGION}.h5", "w", libver="latest") as h5:
        for path in paths:
            h5.create_dataset(path, data=row)
    pd.DataFrame({"idx": np.arange(len(ids)), "id": ids, "CODE_CULTU": codes, "path": paths,
                  "meanQA60": 0.0, "sequencelength": 1}).to_csv(level_dir / f"{REGION}.csv", index=False)
    (root / "cropviz.json").write_text(json.dumps({
        "simulated": True, "year": YEAR, "levels": ["L1C"],
        "source": "cropviz map benchmark: simulated polygons, one placeholder observation per parcel",
        "regions": {REGION: {"parcels": len(ids)}}}, indent=2))
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:``port`` (the checkout's config), once its health check answers."""
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                                   cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"streamlit did not start: {log.read_text()[-2000:]}")


def wait_settled(driver: Any, timeout: float = 900) -> None:
    """Until the script has stopped running and the deck.gl canvas is on the page."""
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')
        errors = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stException"], '
                                                       '[data-testid="stMain"] [data-testid="stAlertContentError"]')
        if errors:
            raise SystemExit(f"the page shows an error: {errors[0].text[:300]}")
        if not busy and driver.find_elements(By.CSS_SELECTOR, "#deckgl-overlay"):
            return
        time.sleep(0.1)
    raise SystemExit(f"the map was not drawn within {timeout} s")


def tooltip_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    tips = [t for t in driver.find_elements(By.CSS_SELECTOR, ".deck-tooltip") if t.is_displayed()]
    return tips[0].text if tips else ""


def wait_interactive(driver: Any, canvas: Any, timeout: float = 900) -> float:
    """Seconds until hovering around the map centre shows a parcel's tooltip."""
    from selenium.webdriver.common.action_chains import ActionChains

    started = time.perf_counter()
    offsets = [(dx, dy) for dy in range(-40, 41, 20) for dx in range(-40, 41, 20)]
    k = 0
    while time.perf_counter() - started < timeout:
        dx, dy = offsets[k % len(offsets)]
        ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).perform()
        if tooltip_text(driver).startswith("parcel "):
            return time.perf_counter() - started
        k += 1
        time.sleep(0.05)
    raise SystemExit(f"no tooltip on the map within {timeout} s")


WHEEL_SCRIPT = """
const [clicks, done] = arguments;
const canvas = document.querySelector('#deckgl-overlay');
const box = canvas.getBoundingClientRect();
let k = 0;
const step = () => {
  canvas.dispatchEvent(new WheelEvent('wheel', {clientX: box.left + box.width / 2, clientY: box.top + box.height / 2,
      deltaY: -100, deltaMode: 0, bubbles: true, cancelable: true}));
  if (++k < clicks) { requestAnimationFrame(step); } else { done(k); }
};
requestAnimationFrame(step);
"""


def coloured_share(canvas: Any) -> float:
    """Share of the map's pixels in a saturated colour (parcels; not the grey outline or white)."""
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB")).astype(int)
    return float(((pixels.max(axis=-1) - pixels.min(axis=-1)) > 40).mean())


def wait_picture(driver: Any, timeout: float = 900) -> tuple[float, float]:
    """Seconds until the whole-region picture (a PNG from the app's static folder) has arrived,
    and until the map shows it (a tenth of its pixels in colour)."""
    from selenium.webdriver.common.by import By

    started = time.perf_counter()
    arrived = None
    while time.perf_counter() - started < timeout:
        if arrived is None and driver.execute_script(
                "return performance.getEntriesByType('resource').some(e => "
                "e.name.includes('cropviz-map/') && e.name.endsWith('.png') && e.responseEnd > 0);"):
            arrived = time.perf_counter() - started
        if arrived is not None and coloured_share(driver.find_element(By.CSS_SELECTOR, "#deckgl-overlay")) > 0.1:
            return arrived, time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit(f"the whole-region picture was not drawn within {timeout} s")


def pan_frames(driver: Any, moves: int = 30) -> dict[str, float]:
    """Drag the map by ``moves`` pointer moves, one per animation frame (events dispatched in the
    page, so the measurement does not wait on the driver); frame intervals in ms."""
    frames = driver.execute_async_script(PAN_SCRIPT, moves)
    gaps = np.diff(np.asarray(frames, dtype=float))
    return {"frames": int(len(gaps)), "median_ms": float(np.median(gaps)),
            "p95_ms": float(np.percentile(gaps, 95)), "max_ms": float(gaps.max())}


def chromium_rss(driver: Any) -> float:
    """Resident memory (MiB) of every process under chromedriver (browser, renderer, GPU)."""
    import psutil

    root = psutil.Process(driver.service.process.pid)
    return sum(p.memory_info().rss for p in root.children(recursive=True)) / 2**20


def tile_fetch(driver: Any) -> tuple[int, float, float]:
    """(vector tiles fetched, seconds after navigation start when the last had arrived, MB)."""
    entries = driver.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('cropviz-map/')"
        " && e.name.endsWith('.pbf')).map(e => [e.responseEnd, e.decodedBodySize]);")
    if not entries:
        return 0, float("nan"), float("nan")
    return len(entries), max(e[0] for e in entries) / 1000, sum(e[1] for e in entries) / 1e6


def select_another(driver: Any, canvas: Any, selected: str) -> tuple[str, float]:
    """Click a parcel other than ``selected`` (found by hovering); its id and seconds until shown."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    for dy in range(-200, 201, 16):
        for dx in range(-300, 301, 16):
            ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).perform()
            text = tooltip_text(driver)
            if text.startswith("parcel ") and text.split()[1] != selected:
                other = text.split()[1]
                started = time.perf_counter()
                ActionChains(driver).click().perform()
                while time.perf_counter() - started < 300:
                    body = driver.find_element(By.TAG_NAME, "body").text
                    if f"parcel={other}" in driver.current_url and f"Selected parcel {other}" in body:
                        return other, time.perf_counter() - started
                    time.sleep(0.1)
                raise SystemExit(f"clicking parcel {other} did not select it")
    raise SystemExit("no other parcel found under the pointer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--parcels", type=int, default=200_000)
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--screenshots", type=Path, default=Path("/tmp"))
    parser.add_argument("--moves", type=int, default=30, help="pointer moves of each pan (one per frame)")
    parser.add_argument("--no-whole", action="store_true", help="skip the whole-region view")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    if not (args.root / str(YEAR) / "L1C" / f"{REGION}.csv").exists():
        print(f"generating {args.parcels:,} parcels in {args.root}: {generate_region(args.root, args.parcels):.1f} s")
    port = args.port or free_port()
    cache = tempfile.mkdtemp(prefix="cropviz-map-bench-")
    query = urllib.parse.urlencode({"source": "Dataset folder", "root": str(args.root.resolve()), "region": REGION,
                                    "level": "L1C", "model": "Upload a checkpoint..."})
    url = f"http://127.0.0.1:{port}/map?{query}"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    server = start_server(port, {**os.environ, "CROPVIZ_CACHE_DIR": cache}, Path(cache) / "server.log")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    driver.command_executor.client_config.timeout = 1800  # a busy software-WebGL renderer answers late
    driver.set_script_timeout(1800)
    results: dict[str, Any] = {"parcels": args.parcels}
    try:
        started = time.perf_counter()
        driver.get(url)
        wait_settled(driver)
        results["page_s"] = time.perf_counter() - started
        print(f"page ready: {results['page_s']:.1f} s", flush=True)
        canvas = driver.find_element(By.CSS_SELECTOR, "#deckgl-overlay")
        results["interactive_s"] = results["page_s"] + wait_interactive(driver, canvas)
        results["tiles_fetched"], results["data_s"], results["tiles_mb"] = tile_fetch(driver)
        results["heap_mib"] = driver.execute_script("return performance.memory.usedJSHeapSize") / 2**20
        results["chromium_rss_mib"] = chromium_rss(driver)
        print(f"interactive: {json.dumps(results)}", flush=True)
        driver.save_screenshot(str(args.screenshots / "map_200k_default.png"))
        results["pan_default"] = pan_frames(driver, args.moves)
        print(f"panned: {results['pan_default']}", flush=True)
        driver.save_screenshot(str(args.screenshots / "map_200k_panned.png"))
        selected = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query).get("parcel", [""])[0]
        results["selected_before"] = selected
        results["selected"], results["select_s"] = select_another(driver, canvas, selected)
        print(f"selected: {results['selected']} in {results['select_s']:.1f} s", flush=True)
        wait_settled(driver)
        driver.save_screenshot(str(args.screenshots / "map_200k_selected.png"))
        if args.no_whole:
            return
        toggle = driver.find_element(By.XPATH, "//label[.//p[text()='Whole region']]")
        started = time.perf_counter()
        toggle.click()
        time.sleep(0.5)
        wait_settled(driver)
        canvas = driver.find_element(By.CSS_SELECTOR, "#deckgl-overlay")
        arrived, drawn = wait_picture(driver)
        settled = time.perf_counter() - started - drawn
        results["whole_picture_s"], results["whole_drawn_s"] = settled + arrived, settled + drawn
        print(f"whole region: picture arrived after {results['whole_picture_s']:.1f} s, "
              f"drawn after {results['whole_drawn_s']:.1f} s", flush=True)
        driver.save_screenshot(str(args.screenshots / "map_200k_whole.png"))
        results["pan_whole"] = pan_frames(driver, args.moves)
        print(f"panned the whole region: {results['pan_whole']}", flush=True)
        results["chromium_rss_whole_mib"] = chromium_rss(driver)
        started = time.perf_counter()
        driver.execute_async_script(WHEEL_SCRIPT, 7)  # about +0.55 zoom levels each
        results["zoomed_in_interactive_s"] = time.perf_counter() - started + wait_interactive(driver, canvas)
        print(f"zoomed in from the whole region: a tooltip after {results['zoomed_in_interactive_s']:.1f} s",
              flush=True)
        driver.save_screenshot(str(args.screenshots / "map_200k_whole_zoomed.png"))
    finally:
        results["browser_errors"] = [e["message"][:300] for e in driver.get_log("browser")][:5]
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
        print(json.dumps(results, indent=2), flush=True)

if __name__ == "__main__":
    main()
