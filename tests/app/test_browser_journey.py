"""The researcher's journey in a real browser (issue 15): no request leaves the app, uploads are
limited, and a misclassified parcel found on the map keeps its identity through its attributions,
its dossier, a copied link and a fresh session.

Screenshots go to $CROPVIZ_JOURNEY_SHOTS (default /tmp) as journey_*.png for people to look at.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.app.browser import NEEDS_CHROMIUM, chromium, streamlit_server
from tests.app.test_browser import _problems, _wait_rendered

REPO = Path(__file__).resolve().parents[2]
PAGES = ["map", "inspector", "explorer", "phenology", "attention", "attributions", "early", "order",
         "space_time", "diagnosis", "dossier"]
#: Streamlit's own harmless internal schemes; every other request must go to the app's host.
LOCAL_SCHEMES = ("data", "blob", "about", "chrome", "chrome-extension", "devtools")

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def journey_server(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """The app served by `streamlit run` with a 1 MB limit on results uploads; yields its base URL."""
    folder = tmp_path_factory.mktemp("journey")
    config = folder / "cropviz.toml"
    config.write_text("[data]\nroots = []\n[uploads]\ncheckpoint_mb = 5\nresults_mb = 1\n")
    with streamlit_server({**app_env, "CROPVIZ_APP_CONFIG": str(config)}, folder / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def logging_browser():
    """Headless Chromium that records every network request (performance log)."""
    driver = chromium(performance_log=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def warm_journey(journey_server, logging_browser) -> str:
    logging_browser.get(f"{journey_server}/inspector")
    _wait_rendered(logging_browser, timeout=300)
    logging_browser.get_log("performance")  # start the request log afresh
    return journey_server


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("CROPVIZ_JOURNEY_SHOTS", "/tmp"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def foreign_requests(urls: list[str], base: str) -> list[str]:
    """The URLs that go anywhere but the app's own host and port."""
    own = urlparse(base).netloc
    return [u for u in urls if urlparse(u).scheme not in LOCAL_SCHEMES and urlparse(u).netloc != own]


def test_foreign_requests_are_recognised():
    urls = ["http://127.0.0.1:8631/_stcore/stream", "data:image/svg+xml,<svg/>",
            "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/map/default/24px.svg",
            "https://basemaps.cartocdn.com/gl/positron-gl-style/style.json", "http://127.0.0.1:9999/x"]
    assert foreign_requests(urls, "http://127.0.0.1:8631") == urls[2:]


@pytest.mark.parametrize("page", [p for p in PAGES if (REPO / "pages" / f"{p}.py").exists()])
def test_no_page_asks_any_host_but_the_app(warm_journey, logging_browser, page):
    logging_browser.get(f"{warm_journey}/{'' if page == 'map' else page}")  # the default page is at the root
    _wait_rendered(logging_browser, timeout=240)
    time.sleep(2.0)  # late requests: map styles, icons set after the run
    urls = _requested_urls(logging_browser)
    assert urls, "the performance log recorded nothing"
    assert foreign_requests(urls, warm_journey) == []
    assert _problems(logging_browser) == []


def test_an_upload_over_the_limit_is_refused_with_a_message(warm_journey, logging_browser, tmp_path, shots):
    from selenium.webdriver.common.by import By

    big = tmp_path / "results.json"
    big.write_text(json.dumps({"padding": "x" * 1_200_000}))  # 1.2 MB, the test server allows 1 MB
    logging_browser.get(f"{warm_journey}/space_time")
    _wait_rendered(logging_browser)
    logging_browser.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(big))
    deadline = time.time() + 30
    while time.time() < deadline and "or smaller" not in logging_browser.page_source:
        time.sleep(0.5)
    logging_browser.save_screenshot(str(shots / "journey_upload_limit.png"))
    assert "File must be 1.0MB or smaller." in logging_browser.find_element(By.TAG_NAME, "body").text


def _no_dialog(driver, timeout: float = 30) -> None:
    """Wait for Streamlit's modal dialogs (e.g. a reconnection notice) to go; Escape closes the rest."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    deadline = time.time() + timeout
    while driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDialog"]'):
        if time.time() > deadline:
            ActionChains(driver).send_keys(Keys.ESCAPE).perform()
            time.sleep(1.0)
            break
        time.sleep(0.5)


def _click_text(driver, text: str, tag: str = "*") -> None:
    from selenium.webdriver.common.by import By

    _no_dialog(driver)
    element = driver.find_element(By.XPATH, f"//{tag}[normalize-space()='{text}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def _parcel_in(url: str) -> int:
    return int(parse_qs(urlparse(url).query)["parcel"][0])


def _select_first_table_row(driver, table_key: str) -> None:
    """Tick the first row of a Streamlit dataframe (row markers sit left of the first column)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _no_dialog(driver)
    frame = driver.find_element(By.CSS_SELECTOR, f".st-key-{table_key} [data-testid='stDataFrame']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", frame)
    time.sleep(1.0)
    width, height = frame.size["width"], frame.size["height"]
    # header row ~35 px, first data row below it; the marker column is ~30 px wide
    ActionChains(driver).move_to_element_with_offset(frame, -width // 2 + 15, -height // 2 + 35 + 17).click().perform()


def test_the_journey_from_the_map_to_a_shared_link(warm_journey, logging_browser, shots, demo_root):
    from selenium.webdriver.common.by import By

    from cropviz.data import open_breizhcrops
    from cropviz.models import Classifier

    driver = logging_browser
    ds = open_breizhcrops(demo_root, "frh04")
    predictions = Classifier.open("transformer", device="cpu").predict(ds)
    wrong = set(predictions.loc[predictions["pred"] != predictions["true"], "id"].astype(int))
    assert wrong, "the demo model gets every parcel right: no journey to walk"

    # 1. the map, only the misclassified parcels, pick the first one in the table
    driver.get(f"{warm_journey}/")  # the map, the default page, lives at the root URL
    _wait_rendered(driver)
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDialog"]')
    _click_text(driver, "Filters", "p")
    _click_text(driver, "Only misclassified", "p")
    _wait_rendered(driver)
    _select_first_table_row(driver, "map_table")
    deadline = time.time() + 60
    while time.time() < deadline and "parcel=" not in driver.current_url:
        time.sleep(0.5)
    _wait_rendered(driver)
    driver.save_screenshot(str(shots / "journey_1_map.png"))
    parcel = _parcel_in(driver.current_url)
    assert parcel in wrong
    assert f"Selected parcel {parcel}" in driver.find_element(By.TAG_NAME, "body").text

    # 2. one click on to its attributions
    _click_text(driver, "Open its attributions", "p")
    deadline = time.time() + 60
    while time.time() < deadline and "/attributions" not in driver.current_url:
        time.sleep(0.5)
    _wait_rendered(driver, timeout=240)
    driver.save_screenshot(str(shots / "journey_2_attributions.png"))
    assert _parcel_in(driver.current_url) == parcel
    assert f"Parcel {parcel}: true" in driver.find_element(By.TAG_NAME, "body").text
    assert _problems(driver) == []

    # 3. its dossier through the sidebar (a bare link: the parcel must come back into the URL)
    if (REPO / "pages" / "dossier.py").exists():
        driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a[href$="/dossier"]').click()
        deadline = time.time() + 60
        while time.time() < deadline and "/dossier" not in driver.current_url:
            time.sleep(0.5)
        _wait_rendered(driver, timeout=240)
        deadline = time.time() + 30
        while time.time() < deadline and "parcel=" not in driver.current_url:
            time.sleep(0.5)
        driver.save_screenshot(str(shots / "journey_3_dossier.png"))
        assert _parcel_in(driver.current_url) == parcel
        assert str(parcel) in driver.find_element(By.TAG_NAME, "body").text
        assert _problems(driver) == []

    # 4. the copied link in a fresh session (a new tab opens its own session)
    link = driver.current_url
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    try:
        driver.get(link)
        _wait_rendered(driver, timeout=240)
        driver.save_screenshot(str(shots / "journey_4_fresh_session.png"))
        assert _parcel_in(driver.current_url) == parcel
        assert str(parcel) in driver.find_element(By.TAG_NAME, "body").text
        driver.get(f"{warm_journey}/attributions?{urlparse(link).query}")
        _wait_rendered(driver, timeout=240)
        driver.save_screenshot(str(shots / "journey_5_fresh_attributions.png"))
        assert f"Parcel {parcel}: true" in driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.close()
        driver.switch_to.window(first)
    assert foreign_requests(_requested_urls(driver), warm_journey) == []
