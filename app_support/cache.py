"""The app's one caching module: datasets, models and region-wide results, loaded once.

Everything heavy goes through here. Datasets and models are cached as resources (one object per
key, shared across reruns and pages); region-wide tables are cached in memory and, through the
library, on disk under :func:`cache_dir` so a later visit never recomputes them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cropviz.data import open_breizhcrops, to_wgs84
from cropviz.models import Classifier
from cropviz.predictions import cache_key, region_predictions

REPO = Path(__file__).resolve().parents[1]


def demo_root() -> Path:
    """Where the app keeps the demo: $CROPVIZ_DEMO_ROOT, else data/demo of the checkout."""
    return Path(os.environ.get("CROPVIZ_DEMO_ROOT", REPO / "data" / "demo"))


def cache_dir() -> Path:
    """Where results are cached on disk: $CROPVIZ_CACHE_DIR, else .cropviz-cache of the checkout."""
    return Path(os.environ.get("CROPVIZ_CACHE_DIR", REPO / ".cropviz-cache"))


@st.cache_resource(show_spinner="Generating the simulated demo (first run only)...")
def ensure_demo(root: str) -> str:
    """Generate the demo at ``root`` unless it is there already; returns the root."""
    from cropviz.data.demo import generate_demo

    if not (Path(root) / "cropviz.json").exists():
        generate_demo(root, progress=False)
    return root


@st.cache_resource(show_spinner="Opening the dataset...")
def dataset(root: str, region: str, year: int, level: str) -> Any:
    """The dataset of a region (lazy reads; one per key)."""
    return open_breizhcrops(root, region, year=year, level=level)


@st.cache_resource(show_spinner="Loading the model...")
def classifier(name_or_path: str, arch: str | None = None) -> Classifier:
    """A loaded model (shipped weights or a checkpoint file), on the GPU when there is one."""
    return Classifier.open(name_or_path, arch=arch, device="auto")


@st.cache_data(show_spinner=False, max_entries=16)
def _geometries(root: str, region: str, year: int, level: str) -> pd.DataFrame:
    gdf = to_wgs84(dataset(root, region, year, level).geodataframe())
    return gdf


def geometries(ds: Any) -> Any:
    """Parcel polygons of a dataset in WGS84 (cached)."""
    return _geometries(str(ds.root), ds.region, int(ds.year), ds.level)


@st.cache_resource
def _prediction_store() -> dict:
    return {}


def predictions(model: Classifier, ds: Any) -> pd.DataFrame:
    """Predictions for a whole region: from memory, else from disk, else computed with a progress bar."""
    key = (cache_key(model, ds), model.name)
    store = _prediction_store()
    if key not in store:
        bar = st.progress(0.0, text=f"Predicting {len(ds)} parcels with {model.name} on {model.device}...")

        def advance(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"Predicting with {model.name}: {done}/{total} parcels")

        store[key] = region_predictions(model, ds, cache_dir=cache_dir(), progress=advance)
        bar.empty()
    return store[key]


def save_upload(data: bytes, filename: str) -> Path:
    """Keep an uploaded checkpoint under the cache folder, named by its content hash."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    suffix = Path(filename).suffix or ".pt"
    path = cache_dir() / "uploads" / f"{digest}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path


#: Above this many parcels the map draws centroids instead of polygons (browser stays fluid).
POINTS_ABOVE = 40_000


def _dataset_key(ds: Any) -> tuple[str, str, int, str]:
    return str(ds.root), ds.region, int(ds.year), ds.level


@st.cache_data(show_spinner="Preparing the map...", max_entries=32)
def _map_records(dataset_key: tuple[str, str, int, str], model_key: str, color_by: str,
                 _table: pd.DataFrame) -> pd.DataFrame:
    from cropviz.viz.maps import parcel_layer_data

    ds = dataset(*dataset_key)
    gdf = _geometries(*dataset_key)
    columns = [c for c in ("id", "pred", "predicted", "confidence", "correct") if c in _table.columns]
    gdf = gdf.merge(_table[columns], on="id", how="left")
    simplify = 5.0 if len(gdf) > POINTS_ABOVE else None
    return parcel_layer_data(gdf, color_by=color_by, classes=list(ds.classes), simplify_m=simplify)


def map_records(ctx: Any, color_by: str) -> pd.DataFrame:
    """Polygon records of the region coloured by ``color_by`` (cached per dataset, model, colour)."""
    model_key = cache_key(ctx.classifier, ctx.dataset) if ctx.predictions is not None else "none"
    return _map_records(_dataset_key(ctx.dataset), model_key, color_by, ctx.table)


@st.cache_data(show_spinner=False, max_entries=32)
def _region_view(dataset_key: tuple[str, str, int, str]) -> dict[str, float]:
    from cropviz.viz.maps import fit_view

    bounds = _geometries(*dataset_key).total_bounds
    view = fit_view(*bounds)
    return {"longitude": view.longitude, "latitude": view.latitude, "zoom": view.zoom}


def region_view(ctx: Any) -> dict[str, float]:
    """A view showing the whole region."""
    return _region_view(_dataset_key(ctx.dataset))


@st.cache_data(show_spinner="Computing class envelopes...", max_entries=64)
def _envelopes(dataset_key: tuple[str, str, int, str], name: str, classes: tuple[str, ...]) -> dict:
    from cropviz.data.series import class_envelopes

    return class_envelopes(dataset(*dataset_key), name, classes=list(classes), max_parcels=150)


def envelopes(ds: Any, name: str, classes: list[str]) -> dict:
    """Class-mean envelopes of band or index ``name`` (a sample of parcels per class), cached."""
    return _envelopes(_dataset_key(ds), name, tuple(sorted(set(classes))))


@st.cache_data(show_spinner="Interpolating the season for the region...", max_entries=16)
def _season(dataset_key: tuple[str, str, int, str], name: str) -> tuple:
    from cropviz.data.series import region_index_grid

    ids, grid, values = region_index_grid(dataset(*dataset_key), name)
    gdf = dataset(*dataset_key).geodataframe().set_index("id").loc[ids]
    centroids = gdf.geometry.centroid
    xy = pd.DataFrame({"x": centroids.x, "y": centroids.y}).to_numpy()
    return ids, grid, values, xy


def season(ds: Any, name: str) -> tuple:
    """(ids, dates, N x G values, N x 2 projected centroids) of ``name`` over the season, cached."""
    return _season(_dataset_key(ds), name)

