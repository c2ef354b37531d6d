"""Time the app as a user waits for it, in headless Chromium against `streamlit run` on the demo.

    python bench/bench_pages.py [--demo data/demo] [--port 8633] [--repeats 3] [--pages map,inspector]

Measured (the issue's targets in brackets):
- imports: a fresh Python process importing what app.py imports (streamlit and app_support), and
  which heavy libraries that pulls in (torch, captum, geopandas, rasterio) [< 1.5 s];
- first render of every page, once the server is warm (every page visited once, the demo's caches
  on disk) [< 3 s], two ways: in a fresh browser tab (a new session: the tab loads Streamlit and,
  on its first chart, Plotly's or deck.gl's code) and from the sidebar of a session already open on
  another page (what a user waits for when moving between pages);
- a new parcel picked with "next misclassified" on inspector, attributions and attention [< 1 s];
- a cached rerun of the same page (the "r" key) [< 0.5 s];
- the floor: the same fresh-tab first render, and a cached rerun, of a trivial Streamlit page with
  0, 1 and 3 small Plotly charts (what this browser pays before cropviz draws anything).
A render ends when the server has answered (the tab's websocket received a message after the
action), Streamlit's running indicator is gone, the page title (and, for a new parcel, its
number) is drawn, no element is still loading, and the DOM has not changed for a while. The time is
taken in the page's own clock: from the action (the document's start for a fresh tab) to the
drawn frame of the page's last DOM change, so the bench's own looks (kept cheap, every 0.1 s) do
not set the time. On the map a first render also waits for the map's canvas to
show its first pixels (WebGL draws seconds after the page is ready in a browser without a GPU).
The load average before and after is printed: on a busy machine the numbers are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAGES = ["map", "inspector", "explorer", "phenology", "attention", "attributions", "early", "order", "space_time",
         "diagnosis", "dossier", "embedding"]
PICKER_PAGES = {"inspector": "inspector_parcel", "attributions": "attr_parcel", "attention": "attention_parcel"}
#: URL path of each page: the default page (the map) is served at the root; "/map" would show
#: Streamlit's "Page not found" dialog and run the default page anyway.
PATHS = {"map": ""}
#: A trivial Streamlit app (a title, a line and ``FLOOR_CHARTS`` small Plotly charts): what any page
#: pays in this browser before cropviz draws anything.
FLOOR_APP = """
import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.title("Floor")
st.write("A page with nothing of cropviz on it.")
for i in range(int(st.query_params.get("charts", "0"))):
    st.plotly_chart(go.Figure(go.Scatter(x=np.arange(45), y=np.sin(np.arange(45) / 7 + i))), key=f"chart{i}")
"""
FLOOR_CHARTS = (0, 1, 3)
IMPORTS = "import streamlit, app_support.state, app_support.cache, app_support.widgets"
HEAVY = ("torch", "captum", "geopandas", "rasterio", "sklearn")


def import_seconds(repeats: int) -> tuple[float, list[str]]:
    """Median wall time of a fresh process importing the app's modules, and the heavy ones it loaded."""
    code = ("import sys, time; t = time.perf_counter(); " + IMPORTS + "; d = time.perf_counter() - t; "
            f"print(d); print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    times, heavy = [], ""
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)}).stdout.split("\n")
        times.append(float(out[0]))
        heavy = out[1]
    return statistics.median(times), [m for m in heavy.split(",") if m]


def start_server(demo: Path, port: int, launcher: list[str] | None = None,
                 env: dict[str, str] | None = None, app: str = "app.py") -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:port (the checkout's cache folder: caches on disk), once
    it answers its health check. ``launcher``: what runs the streamlit module (default
    ``python -m``); ``env``: more environment variables for the server; ``app``: another script."""
    process = subprocess.Popen(
        [*(launcher or [sys.executable, "-m"]), "streamlit", "run", app, "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env={**os.environ, "CROPVIZ_DEMO_ROOT": str(demo), **(env or {})}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("streamlit did not start")


def chromium() -> Any:
    """Headless Chromium through selenium (Debian's chromium and chromedriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--enable-unsafe-swiftshader", "--window-size=1500,1100"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


#: Installed in every document of a bench tab: counts the messages the tab's websockets receive
#: (Streamlit's server answers over one) and keeps, in the page's own clock (``performance.now()``),
#: when the DOM last changed (``__lastChange``) and when the frame showing that change was drawn
#: (``__lastFrame``: a task queued from the next animation frame runs after its paint).
PAGE_PROBE = """
(() => {
  window.__wsMessages = 0;
  window.__lastChange = 0;
  window.__lastFrame = 0;
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", () => { window.__wsMessages += 1; });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  let framePending = false;
  new MutationObserver(() => {
    window.__lastChange = performance.now();
    if (!framePending) {
      framePending = true;
      requestAnimationFrame(() => setTimeout(() => { framePending = false; window.__lastFrame = performance.now(); }));
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();
"""


def new_tab(driver: Any) -> None:
    """Open a tab whose documents carry :data:`PAGE_PROBE`."""
    driver.switch_to.new_window("tab")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PAGE_PROBE})


def messages(driver: Any) -> int:
    """Websocket messages the current document has received (0 where not counted)."""
    return int(driver.execute_script("return window.__wsMessages || 0;"))


#: One look at the page, in the page, kept cheap (it shares the page's main thread with the drawing
#: it waits for: a scan of the whole body's text every 50 ms cost the page 0.1-0.25 s of main-thread
#: time per new parcel): the websocket messages received, whether the page is quiet (no running
#: indicator, no element loading, a title drawn) and shows ``arguments[0]`` in its title or a text
#: block, and the page clock's last DOM change and last drawn frame (:data:`PAGE_PROBE`).
LOOK = """
const text = arguments[0];
const quiet = !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSkeleton"]') && !!document.querySelector("h1")
    && (text === null || [...document.querySelectorAll('h1, [data-testid="stMarkdownContainer"]')]
        .some(e => e.textContent.includes(text)));
return [window.__wsMessages || 0, quiet, window.__lastChange || 0, window.__lastFrame || 0];
"""
#: Seconds between looks.
POLL = 0.1


#: Whether the page's deck.gl map has drawn: a pixel of its canvas's centre read back (the DOM is
#: ready before WebGL has compiled its shaders and drawn, seconds later in a browser without a GPU).
DECK_DRAWN = """
const canvas = [...document.querySelectorAll("canvas")].find(c => c.width > 200 && c.height > 200);
const gl = canvas && (canvas.getContext("webgl2") || canvas.getContext("webgl"));
if (!gl) return false;
const pixels = new Uint8Array(4 * 64 * 64);
gl.readPixels(Math.floor(canvas.width / 2) - 32, Math.floor(canvas.height / 2) - 32, 64, 64, gl.RGBA,
              gl.UNSIGNED_BYTE, pixels);
return pixels.some((value, i) => i % 4 === 3 && value > 0);
"""
#: Pages whose first render ends when their map has drawn.
DECK_PAGES = ("map",)


def wait_drawn(driver: Any, started: float, timeout: float = 120) -> float:
    """Seconds from ``started`` until the page's map canvas shows something (:data:`DECK_DRAWN`)."""
    while time.perf_counter() < started + timeout:
        if driver.execute_script(DECK_DRAWN):
            return time.perf_counter() - started
        time.sleep(0.05)
    raise TimeoutError(f"the map did not draw in {timeout} s")


def page_clock(driver: Any) -> float:
    """The page's clock now (``performance.now()``, ms)."""
    return float(driver.execute_script("return performance.now();"))


def wait_done(driver: Any, started: float, timeout: float = 300, confirm: float = 1.0,
              text: str | None = None, after: int | None = None, page_started: float | None = None) -> float:
    """Seconds until the page is quiet (and shows ``text``, and its websocket has received more than
    ``after`` messages) and its DOM has not changed for ``confirm`` s.

    The time is taken in the page's own clock where the tab carries :data:`PAGE_PROBE`: from
    ``page_started`` (``performance.now()`` when the action began; the document's start for a page
    being loaded) to the drawn frame of the last DOM change. Otherwise (no probe) from ``started``
    (``time.perf_counter()``) to the first look that found the page done."""
    deadline = started + timeout
    quiet_at: float | None = None
    received, changed = after, None
    while time.perf_counter() < deadline:
        count, quiet, last_change, last_frame = driver.execute_script(LOOK, text)
        if after is not None and count != received:  # a message since the last look: the run may go on
            quiet_at, received = None, count
        if last_change != changed:  # the DOM changed since the last look
            quiet_at, changed = None, last_change
        done = quiet and (after is None or count > after)
        now = time.perf_counter()
        if done:
            quiet_at = quiet_at or now
            if now - quiet_at >= confirm:
                if last_frame and last_frame >= last_change:
                    return (last_frame - (page_started or 0.0)) / 1000
                return quiet_at - started
        else:
            quiet_at = None
        time.sleep(POLL)
    raise TimeoutError(f"not done in {timeout} s")


def first_render(driver: Any, url: str, deck: bool = False) -> float:
    """A fresh session (new tab) opening ``url`` (until its map has drawn, with ``deck``)."""
    new_tab(driver)
    started = time.perf_counter()
    driver.get(url)
    done = wait_done(driver, started)
    return max(done, wait_drawn(driver, started)) if deck else done


def from_sidebar(driver: Any, base: str, page: str, previous: str, title: str) -> float:
    """A session open on page ``previous`` (a new tab, not timed) moving to ``page`` (whose heading
    is ``title``) through the sidebar; the tab is left open on ``page``."""
    from selenium.webdriver.common.by import By

    new_tab(driver)
    driver.get(f"{base}/{PATHS.get(previous, previous)}")
    wait_done(driver, time.perf_counter())
    close_dialogs(driver)
    link = [a for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]')
            if a.get_attribute("href").split("?")[0].rstrip("/") == f"{base}/{PATHS.get(page, page)}".rstrip("/")]
    if not link:
        raise RuntimeError(f"no sidebar link to {page}")
    before = messages(driver)
    started = time.perf_counter()
    clicked = driver.execute_script("arguments[0].click(); return performance.now();", link[0])
    done = wait_done(driver, started, after=before, text=title, page_started=clicked)
    return max(done, wait_drawn(driver, started)) if page in DECK_PAGES else done


def close_dialogs(driver: Any) -> None:
    """Print and close (Escape) any modal dialog Streamlit shows, so the bench can go on."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for dialog in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDialog"]'):
        print(f"  dialog on {driver.current_url}: {dialog.text[:300]!r}", flush=True)
        ActionChains(driver).send_keys(Keys.ESCAPE).perform()
        time.sleep(0.5)


def cached_rerun(driver: Any) -> float:
    """Press "r" (rerun) and time until the page is quiet again."""
    from selenium.webdriver.common.action_chains import ActionChains

    close_dialogs(driver)
    driver.execute_script("document.activeElement && document.activeElement.blur();")
    before = messages(driver)
    started = time.perf_counter()
    pressed = page_clock(driver)
    ActionChains(driver).send_keys("r").perform()
    return wait_done(driver, started, confirm=0.5, after=before, page_started=pressed)


def next_parcel(driver: Any, key: str) -> float:
    """Click "next misclassified" and time until the page shows the new parcel."""
    from selenium.webdriver.common.by import By

    close_dialogs(driver)
    before = driver.current_url
    received = messages(driver)
    button = driver.find_element(By.CSS_SELECTOR, f".st-key-{key}_step1 button")
    started = time.perf_counter()
    clicked = driver.execute_script("arguments[0].click(); return performance.now();", button)
    while driver.current_url == before and time.perf_counter() - started < 60:
        time.sleep(0.02)
    parcel = driver.current_url.split("parcel=")[1].split("&")[0]
    return wait_done(driver, started, confirm=0.5, text=f"Parcel {parcel}", after=received, page_started=clicked)


def floor(repeats: int, port: int) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Fresh-tab first renders and cached reruns of :data:`FLOOR_APP` with 0, 1 and 3 charts (own
    server and browser)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        app = Path(folder) / "floor.py"
        app.write_text(FLOOR_APP)
        process = start_server(Path(folder), port, app=str(app))
        driver = None
        try:
            driver = chromium()
            first: dict[int, list[float]] = {n: [] for n in FLOOR_CHARTS}
            reruns: dict[int, list[float]] = {n: [] for n in FLOOR_CHARTS}
            for n in FLOOR_CHARTS:  # warm-up
                driver.get(f"http://127.0.0.1:{port}/?charts={n}")
                wait_done(driver, time.perf_counter())
            for _ in range(repeats):
                for n in FLOOR_CHARTS:
                    first[n].append(first_render(driver, f"http://127.0.0.1:{port}/?charts={n}"))
                    reruns[n].append(cached_rerun(driver))
                    driver.close()
                    driver.switch_to.window(driver.window_handles[0])
            return first, reruns
        finally:
            if driver is not None:
                driver.quit()
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    from selenium.webdriver.common.by import By

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--port", type=int, default=8633)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pages", default=",".join(PAGES))
    args = parser.parse_args()
    pages = [p for p in args.pages.split(",") if (REPO / "pages" / f"{p}.py").exists()]
    load_before = os.getloadavg()
    seconds, heavy = import_seconds(args.repeats)
    print(f"imports: {seconds:.2f} s (median of {args.repeats} fresh processes); heavy modules loaded: "
          f"{', '.join(heavy) or 'none'}")
    reference, reference_reruns = floor(args.repeats, args.port + 1)
    print("floor (a trivial Streamlit page), fresh tab: " + ", ".join(
        f"{n} Plotly chart{'s' * (n != 1)} {statistics.median(t):.2f} s" for n, t in reference.items())
        + "; cached rerun: " + ", ".join(f"{n} chart{'s' * (n != 1)} {statistics.median(t):.2f} s"
                                         for n, t in reference_reruns.items()), flush=True)
    server = start_server(args.demo.resolve(), args.port)
    driver = chromium()
    base = f"http://127.0.0.1:{args.port}"
    try:
        titles = {}
        for page in [*pages, "inspector", "phenology"]:  # warm the server: every page once
            driver.get(f"{base}/{PATHS.get(page, page)}")
            wait_done(driver, time.perf_counter(), timeout=900)
            titles[page] = driver.find_element(By.TAG_NAME, "h1").text
        rows = []
        for page in pages:
            first = []
            for _ in range(args.repeats):
                first.append(first_render(driver, f"{base}/{PATHS.get(page, page)}", deck=page in DECK_PAGES))
                driver.close()
                driver.switch_to.window(driver.window_handles[0])
            previous = "inspector" if page == "phenology" else "phenology"  # a page with a chart
            moved = []
            for _ in range(args.repeats):
                moved.append(from_sidebar(driver, base, page, previous, titles[page]))
                driver.close()
                driver.switch_to.window(driver.window_handles[0])
            new_tab(driver)
            driver.get(f"{base}/{PATHS.get(page, page)}")
            wait_done(driver, time.perf_counter())
            cached = [cached_rerun(driver) for _ in range(args.repeats)]
            picks = ([next_parcel(driver, PICKER_PAGES[page]) for _ in range(args.repeats)]
                     if page in PICKER_PAGES else [])
            rows.append((page, first, moved, cached, picks))
            driver.close()
            driver.switch_to.window(driver.window_handles[0])
            print(f"{page}: fresh tab {statistics.median(first):.2f} s, from the sidebar "
                  f"{statistics.median(moved):.2f} s, cached {statistics.median(cached):.2f} s"
                  + (f", new parcel {statistics.median(picks):.2f} s" if picks else ""), flush=True)
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
    print(f"\nload average (1 min) before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} CPUs; median (max) of {args.repeats}")
    print("| page | first render, fresh tab (s) | first render, from the sidebar (s) | new parcel (s) | "
          "cached rerun (s) |")
    print("|---|---|---|---|---|")
    for page, first, moved, cached, picks in rows:
        pick = f"{statistics.median(picks):.2f} ({max(picks):.2f})" if picks else "-"
        print(f"| {page} | {statistics.median(first):.2f} ({max(first):.2f}) | "
              f"{statistics.median(moved):.2f} ({max(moved):.2f}) | {pick} | "
              f"{statistics.median(cached):.2f} ({max(cached):.2f}) |")


if __name__ == "__main__":
    main()
