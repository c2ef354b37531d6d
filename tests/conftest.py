"""Shared fixtures: a tiny simulated demo (generated once per test session) and a Dask cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TINY_PARCELS = 40
TINY_PATCHES = 12


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo in the BreizhCrops layout: four regions of TINY_PARCELS parcels, seed 0."""
    from cropviz.data.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    generate_demo(root, parcels=TINY_PARCELS, seed=0, patches=TINY_PATCHES, progress=False)
    return root


@pytest.fixture(scope="session")
def cluster():
    """A Dask LocalCluster of two single-thread worker processes on 127.0.0.1, warmed up (torch and
    cropviz imported)."""
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, memory_limit="2GiB") as cl, \
            distributed.Client(cl) as client:
        client.run(lambda: __import__("cropviz.scale.precompute") and __import__("cropviz.explain"))
        yield cl


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest runs app.py as ``__main__``; put pytest's back after each test, or
    processes started later with the spawn method (Dask's local workers) would run app.py."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    yield
    sys.modules["__main__"] = main
    if main_file is not None:
        main.__file__ = main_file
