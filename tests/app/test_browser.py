"""A real browser: `streamlit run app.py` on 127.0.0.1, every page opened in headless Chromium
(the map's click-to-select is tested in tests/app/test_map_page.py).

Needs Debian's chromium and chromium-driver (.ci/run installs them). Screenshots of every page
are saved to $CROPVIZ_SCREENSHOTS (default: screenshots/ in the checkout) for people to look at.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.app.browser import NEEDS_CHROMIUM, chromium, streamlit_server

REPO = Path(__file__).resolve().parents[2]
PAGES = ["map", "inspector", "explorer", "phenology", "attention", "attributions", "early", "order",
         "space_time"]

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def server(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """The app served by `streamlit run` on a free loopback port; yields its base URL."""
    with streamlit_server(app_env, tmp_path_factory.mktemp("streamlit") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
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
