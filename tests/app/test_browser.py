"""A real browser: `streamlit run app.py` on 127.0.0.1, every page opened in headless Chromium.

Needs Debian's chromium and chromium-driver (.ci/run installs them). Screenshots of every page
are saved to $CROPVIZ_SCREENSHOTS (default: screenshots/ in the checkout) for people to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
PAGES = ["map", "inspector", "explorer", "phenology", "attention", "attributions", "early", "order",
         "space_time"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
                                 reason="Debian chromium and chromium-driver are not installed")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """The app served by `streamlit run` on a free loopback port; yields its base URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env={**os.environ, **app_env}, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")
    yield base
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--enable-unsafe-swiftshader", "--window-size=1500,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def warm(server, browser) -> str:
    """The server after one full render (first-run predictions cached)."""
    browser.get(f"{server}/map")
    _wait_rendered(browser, timeout=300)
    return server


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("CROPVIZ_SCREENSHOTS", REPO / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait_rendered(driver, timeout: float = 180) -> None:
    """Wait until the script has finished running and the page has drawn its title."""
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    quiet_since = None
    while time.time() < deadline:
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        loading = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSkeleton"]')
        titles = driver.find_elements(By.CSS_SELECTOR, "h1")
        if titles and not running and not loading:
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 2.0:
                return
        else:
            quiet_since = None
        time.sleep(0.3)
    raise AssertionError(f"page did not finish rendering in {timeout} s")


def _problems(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    found += driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    return [element.text[:300] for element in found]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_error(warm, browser, shots, page):
    browser.get(f"{warm}/{page}")
    _wait_rendered(browser)
    assert _problems(browser) == []
    browser.save_screenshot(str(shots / f"{page}.png"))


def test_clicking_a_parcel_on_the_map_selects_it(warm, browser, shots, demo_root):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from cropviz.data import open_breizhcrops

    ids = open_breizhcrops(demo_root, "frh04").index["id"].tolist()
    start, target = ids[0], ids[len(ids) // 2]
    browser.get(f"{warm}/map?parcel={start}&focus={target}")
    _wait_rendered(browser)
    # deck.gl draws with software WebGL here: give it time, hover (it picks on move), then click;
    # a few attempts, since the first frames may not be pickable yet
    for _attempt in range(4):
        time.sleep(5.0)
        canvas = browser.find_element(By.ID, "deckgl-overlay")
        ActionChains(browser).move_to_element(canvas).pause(1.0).perform()
        time.sleep(2.0)
        ActionChains(browser).click().perform()
        deadline = time.time() + 20
        while time.time() < deadline and f"parcel={target}" not in browser.current_url:
            time.sleep(0.5)
        if f"parcel={target}" in browser.current_url:
            break
    _wait_rendered(browser)
    browser.save_screenshot(str(shots / "map-after-click.png"))
    assert f"parcel={target}" in browser.current_url
    assert _problems(browser) == []


def test_early_classification_animation_plays_to_its_end(warm, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(f"{warm}/early?model=elects")
    _wait_rendered(browser)
    plot = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[0]
    frames = browser.execute_script(
        "const gd = arguments[0]; window.__errors = []; window.__frames = []; window.__done = false;"
        "window.addEventListener('error', e => window.__errors.push(String(e.message)));"
        "gd.on('plotly_animatingframe', e => window.__frames.push(e.name));"
        "gd.on('plotly_animated', () => { window.__done = true; });"
        "return gd._transitionData._frames.length;", plot)
    assert frames > 10
    plot.find_elements(By.CSS_SELECTOR, ".updatemenu-button")[0].click()  # play
    deadline = time.time() + 120
    while time.time() < deadline and not browser.execute_script("return window.__done"):
        time.sleep(0.5)
    played = browser.execute_script("return window.__frames")
    browser.save_screenshot(str(shots / "early-after-play.png"))
    assert browser.execute_script("return window.__done"), f"animation stopped after {len(played)} frames"
    assert played[-1] == str(frames - 1)
    assert browser.execute_script("return window.__errors") == []
