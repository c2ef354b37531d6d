"""App tests run the real app (app.py, pages/) on the tiny demo with the shipped weights."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def app_env(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment pointing the app at the tiny demo and a fresh result cache."""
    return {"CROPVIZ_DEMO_ROOT": str(demo_root),
            "CROPVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("app-cache")),
            "CROPVIZ_MODELS": str(REPO / "models")}


@pytest.fixture(scope="session", autouse=True)
def components_scanned_once():
    """Each new AppTest scans every installed distribution for Streamlit components (0.3-0.4 s,
    150 times in these tests); what is installed cannot change during a test session."""
    from streamlit.components.v2 import manifest_scanner

    scanned = manifest_scanner.scan_component_manifests()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_scanner, "scan_component_manifests", lambda max_workers=None: scanned)
        yield


@pytest.fixture
def app(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """A fresh AppTest of app.py (not yet run)."""
    from streamlit.testing.v1 import AppTest

    for key, value in app_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
