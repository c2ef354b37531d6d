"""The map page of a large region in a real browser: server start to drawn map, and a cached reload.

    python bench/bench_map_browser.py --root /tmp/cropviz-bench --region frh01 [--model transformer]

Serves the app with `streamlit run` on a free loopback port and opens the map of ``--region`` (a
"Dataset folder" source) in headless Debian Chromium. Reports the seconds until the script has
finished and the deck.gl canvas is on the page, for a first visit on a fresh server (fresh cache
folder: predictions come from `cropviz precompute` results when they exist, else the model runs)
and for a reload of the same URL, and the browser's JS heap after the first draw. Run `cropviz
precompute` on the region first to time what a user of precomputed results waits for; the size
of the deck sent to the browser is measured by bench_map.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--enable-unsafe-swiftshader", "--window-size=1500,1100")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:``port``, returned once its health check answers."""
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
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


def time_until_drawn(driver, url: str, timeout: float = 900) -> float:
    """Open ``url``; seconds until the script stopped running and the deck.gl canvas exists."""
    from selenium.webdriver.common.by import By

    start = time.perf_counter()
    driver.get(url)
    while time.perf_counter() - start < timeout:
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        canvas = driver.find_elements(By.CSS_SELECTOR, "#deckgl-overlay")
        errors = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"], '
                                                       '[data-testid="stAlertContentError"]')
        if errors:
            raise SystemExit(f"the page shows an error: {errors[0].text[:300]}")
        if canvas and not running:
            return time.perf_counter() - start
        time.sleep(0.1)
    raise SystemExit(f"the map was not drawn within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--region", default="frh01")
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--screenshot", type=Path, default=None, help="save the drawn map here (PNG)")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    port = free_port()
    cache = tempfile.mkdtemp(prefix="cropviz-bench-cache-")
    env = {**os.environ, "CROPVIZ_CACHE_DIR": cache}
    query = urllib.parse.urlencode({"source": "Dataset folder", "root": str(args.root.resolve()),
                                    "region": args.region, "model": args.model})
    url = f"http://127.0.0.1:{port}/map?{query}"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    server = start_server(port, env, Path(cache) / "server.log")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    try:
        first = time_until_drawn(driver, url)
        heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
        reload = time_until_drawn(driver, url)
        if args.screenshot:
            time.sleep(2)
            driver.save_screenshot(str(args.screenshot))
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
    heap_text = f"{heap / 2**20:.0f} MiB" if heap else "n/a"
    print(f"{args.region} ({args.root}), model {args.model}: first visit on a fresh server {first:.1f} s, "
          f"reload {reload:.1f} s, JS heap after the first draw {heap_text}")


if __name__ == "__main__":
    main()
