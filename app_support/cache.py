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
from cropviz.data.geometry import points_as_squares
from cropviz.models import Classifier
from cropviz.predictions import cache_key, find_precomputed, precomputed_folder, region_predictions

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
    return points_as_squares(to_wgs84(dataset(root, region, year, level).geodataframe()))


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
POINTS_ABOVE = 10_000
#: At most this many parcels are sent to the browser (a seeded sample, the selection kept).
MAX_DRAWN = 25_000


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


def _precomputed_version(model: Classifier, ds: Any) -> float:
    """Changes when precompute adds or replaces files in the model's results folder."""
    folder = precomputed_folder(model, ds)
    return folder.stat().st_mtime if folder.is_dir() else 0.0


@st.cache_resource(show_spinner=False, max_entries=16)
def _precomputed(model_key: str, dataset_key: tuple[str, str, int, str], version: float, _model: Classifier) -> Any:
    return find_precomputed(_model, dataset(*dataset_key))


def precomputed(model: Classifier, ds: Any) -> Any:
    """Complete ``cropviz precompute`` results of this model on this region, or None."""
    return _precomputed(cache_key(model, ds), _dataset_key(ds), _precomputed_version(model, ds), model)


@st.cache_data(show_spinner="Reading the precomputed results...", max_entries=32)
def _precomputed_summary(model_key: str, dataset_key: tuple[str, str, int, str], version: float,
                         _model: Classifier, column: str, period: str, relative: bool,
                         split_cloudy: bool) -> pd.DataFrame:
    results = _precomputed(model_key, dataset_key, version, _model)
    return results.observation_summary(column, period=period, relative=relative, split_cloudy=split_cloudy)


def precomputed_summary(model: Classifier, ds: Any, column: str, period: str = "month", relative: bool = False,
                        split_cloudy: bool = True) -> pd.DataFrame:
    """Per-observation ``column`` of every precomputed parcel per true class and period (cached);
    call only when :func:`precomputed` has that column."""
    return _precomputed_summary(cache_key(model, ds), _dataset_key(ds), _precomputed_version(model, ds), model,
                                column, period, relative, split_cloudy)


@st.cache_data(show_spinner="Computing attention for the region...", max_entries=16)
def _observation_attention(model_key: str, dataset_key: tuple[str, str, int, str], _model: Classifier,
                           max_parcels: int) -> pd.DataFrame:
    from cropviz.explain.region import observation_attention

    ds = dataset(*dataset_key)
    ids = ds.index["id"].to_numpy()[:max_parcels]
    return observation_attention(_model, ds, ids)


def observation_attention(model: Classifier, ds: Any, max_parcels: int = 2000) -> pd.DataFrame:
    """Attention received by every observation of up to ``max_parcels`` parcels (cached)."""
    return _observation_attention(cache_key(model, ds), _dataset_key(ds), model, max_parcels)


@st.cache_data(show_spinner="Attributing many parcels of the class...", max_entries=32)
def _class_attributions(model_key: str, dataset_key: tuple[str, str, int, str], _model: Classifier,
                        classname: str, method: str, max_parcels: int) -> pd.DataFrame:
    from cropviz.explain.region import class_attributions

    ds = dataset(*dataset_key)
    ids = ds.index.loc[ds.index["classname"] == classname, "id"].to_numpy()[:max_parcels]
    return class_attributions(_model, ds, ids, method=method,
                              cache_dir=str(cache_dir() / "attributions"))


def class_attributions(model: Classifier, ds: Any, classname: str, method: str,
                       max_parcels: int = 100) -> pd.DataFrame:
    """Attributions of up to ``max_parcels`` parcels of a class per period and band (cached)."""
    return _class_attributions(cache_key(model, ds), _dataset_key(ds), model, classname, method, max_parcels)


@st.cache_data(show_spinner=False, max_entries=16)
def _reference_inputs(model_key: str, dataset_key: tuple[str, str, int, str], _model: Classifier,
                      per_class: int) -> tuple:
    ds = dataset(*dataset_key)
    ids = ds.index.groupby("classid").head(per_class)["id"].to_numpy()
    prepared = _model.inputs(ds, ids)
    return prepared.x, prepared.labels


def reference_inputs(model: Classifier, ds: Any, per_class: int = 50) -> tuple:
    """(inputs, labels) of up to ``per_class`` parcels per class: class-mean baselines (cached)."""
    return _reference_inputs(cache_key(model, ds), _dataset_key(ds), model, per_class)


# --------------------------------------------------------------------------- seed 004 ablation pages

#: The shipped results of `cropviz reproduce time-space` on the demo.
SEED004_RESULTS = REPO / "results" / "seed004_demo.json"


@st.cache_data(show_spinner=False, max_entries=8)
def _seed004_results(path: str, mtime: float) -> dict:
    from cropviz.ablation import load_results

    return load_results(path)


def seed004_results(path: str | Path | None = None) -> dict:
    """A results file of `cropviz reproduce time-space` (re-read when the file changes): ``path``,
    else $CROPVIZ_SEED004_RESULTS, else the shipped demo run."""
    from cropviz.ablation import load_results

    path = Path(path or os.environ.get("CROPVIZ_SEED004_RESULTS", SEED004_RESULTS))
    return _seed004_results(str(path), path.stat().st_mtime) if path.exists() else load_results(path)


@st.cache_data(show_spinner=False, max_entries=8)
def _model_cards(folder: str, stamp: tuple) -> dict[str, dict]:
    import json

    return {name: json.loads((Path(folder) / f"{name}.json").read_text()) for name, _ in stamp}


def model_cards() -> dict[str, dict]:
    """The model cards (``<name>.json``) beside the shipped weights, by name (re-read when they change)."""
    from cropviz.models.checkpoint import models_dir, shipped_names

    folder = models_dir()
    stamp = tuple((name, (folder / f"{name}.json").stat().st_mtime) for name in shipped_names()
                  if (folder / f"{name}.json").exists())
    return _model_cards(str(folder), stamp)


@st.cache_data(show_spinner="Predicting with both models...", max_entries=16)
def _order_predictions(dataset_key: tuple[str, str, int, str], name: str) -> pd.DataFrame:
    from cropviz.models import registry

    model, ds = classifier(name), dataset(*dataset_key)
    ids = None
    if model.spec.input_form == registry.PATCH:
        patches = ds.patches()
        have = set() if patches is None else {int(i) for i in patches.ids}
        ids = [int(i) for i in ds.index["id"] if int(i) in have]
    return model.predict(ds, ids=ids)


def order_disagreements(ds: Any, ordered: str, shuffled: str) -> pd.DataFrame:
    """Predictions of an ordered model and its shuffled twin on the region side by side
    (patch models: parcels with a patch), with a ``disagree`` column; cached per region and pair."""
    classes = list(ds.classes)
    parts = [_order_predictions(_dataset_key(ds), name)[["id", "true", "pred", "confidence"]]
             .rename(columns={"pred": f"pred_{tag}", "confidence": f"confidence_{tag}"})
             for name, tag in ((ordered, "ordered"), (shuffled, "shuffled"))]
    frame = parts[0].merge(parts[1].drop(columns="true"), on="id")
    frame.insert(1, "class", [classes[k] for k in frame["true"]])
    for tag in ("ordered", "shuffled"):
        frame[tag] = [classes[k] for k in frame[f"pred_{tag}"]]
    frame["disagree"] = frame["pred_ordered"] != frame["pred_shuffled"]
    return frame[["id", "class", "ordered", "confidence_ordered", "shuffled", "confidence_shuffled", "disagree"]]


@st.cache_data(show_spinner="Explaining the parcel with integrated gradients...", max_entries=64)
def _order_view(dataset_key: tuple[str, str, int, str], name: str, parcel_id: int, attributions: bool) -> dict:
    from cropviz.ablation import explain_input, input_ndvi

    model, ds = classifier(name), dataset(*dataset_key)
    dates, ndvi = input_ndvi(model, ds, parcel_id)
    view = {"dates": dates, "value": ndvi, "attribution": None, "target": None}
    if attributions and model.differentiable:
        attribution = explain_input(model, ds, parcel_id, "integrated_gradients", n_steps=16)
        view.update(attribution=attribution.per_observation, target=model.classes[attribution.target])
    return view


def order_view(ds: Any, name: str, parcel_id: int, attributions: bool = True) -> dict:
    """One parcel as model ``name`` sees it: dates and NDVI in input order, integrated-gradients
    attribution per input step and the class explained (cached)."""
    return _order_view(_dataset_key(ds), name, int(parcel_id), attributions)


# --- Early classification (ELECTS, pages/early.py) ---------------------------------------------

#: The region animation draws at most this many parcels (a fixed random sample beyond it).
EARLY_MAP_PARCELS = 3000


@st.cache_resource
def _early_store() -> dict:
    return {}


def early_steps(model: Classifier, ds: Any) -> Any:
    """Per-step ELECTS outputs for a whole region: from memory, else disk, else computed."""
    from cropviz.early.analysis import region_steps

    key = cache_key(model, ds)
    store = _early_store()
    if key not in store:
        with st.spinner(f"Running {model.name} step by step over {len(ds)} parcels (first time only)..."):
            store[key] = region_steps(model, ds, cache_dir=cache_dir())
    return store[key]


def early_region(model: Classifier, ds: Any, threshold: float) -> pd.DataFrame:
    """One row per parcel of deterministic early predictions at ``threshold`` (cheap after caching)."""
    from cropviz.early.analysis import early_frame

    return early_frame(early_steps(model, ds), threshold)


@st.cache_data(show_spinner=False, max_entries=16)
def _centroids(dataset_key: tuple[str, str, int, str]) -> pd.DataFrame:
    gdf = dataset(*dataset_key).geodataframe()
    points = gdf.geometry.centroid
    return pd.DataFrame({"id": gdf["id"].to_numpy(), "x": points.x.to_numpy(), "y": points.y.to_numpy()})


def centroids(ds: Any) -> pd.DataFrame:
    """Parcel centroids in the file's projected CRS: id, x, y (cached)."""
    return _centroids(_dataset_key(ds))


@st.cache_resource(show_spinner="Drawing the region animation...", max_entries=16)
def _region_animation(model_key: str, threshold: float, step_days: int, _frame: pd.DataFrame,
                      _centres: pd.DataFrame, _classes: tuple[str, ...]) -> Any:
    import numpy as np

    from cropviz.viz.early import region_early_animation

    frame = _frame.merge(_centres, on="id")
    if len(frame) > EARLY_MAP_PARCELS:
        frame = frame.sample(EARLY_MAP_PARCELS, random_state=0)
    first, last = frame["stop_date"].min().normalize(), frame["last_date"].max().normalize()
    grid = pd.date_range(first, last + pd.Timedelta(days=step_days), freq=f"{step_days}D")
    return region_early_animation(np.c_[frame["x"], frame["y"]], frame["stop_date"], frame["pred_at_stop"],
                                  list(_classes), grid, truths=frame["true"], ids=frame["id"])


def region_animation(model: Classifier, ds: Any, threshold: float, step_days: int = 7) -> Any:
    """The region animation figure (cached per model, dataset, threshold and step)."""
    return _region_animation(f"{cache_key(model, ds)}-{model.name}", round(float(threshold), 4), step_days,
                             early_region(model, ds, threshold), centroids(ds), tuple(model.classes))


@st.cache_resource(show_spinner="Animating the parcel...", max_entries=32)
def _parcel_animation(model_key: str, parcel_id: int, threshold: float, n_samples: int | None, seed: int,
                      _model: Classifier, _ds: Any) -> tuple[Any, Any]:
    from cropviz.early.analysis import parcel_early
    from cropviz.viz.early import parcel_early_animation

    result = parcel_early(_model, _ds, parcel_id, threshold=threshold, n_samples=n_samples, seed=seed)
    fig = parcel_early_animation(result.dates, result.ndvi, result.class_probs, result.delta, _model.classes,
                                 result.stop_step, result.final_pred,
                                 threshold=threshold if n_samples is None else None,
                                 true_class=result.true, title=f"parcel {parcel_id}")
    return result, fig


def parcel_animation(model: Classifier, ds: Any, parcel_id: int, threshold: float,
                     n_samples: int | None = None, seed: int = 0) -> tuple[Any, Any]:
    """(ParcelEarly, animation figure) of one parcel, deterministic or sampled (cached)."""
    return _parcel_animation(f"{cache_key(model, ds)}-{model.name}", int(parcel_id), round(float(threshold), 4),
                             n_samples, int(seed), model, ds)


def early_tradeoff(ds: Any, names: tuple[str, ...], threshold: float) -> pd.DataFrame:
    """Trade-off rows of shipped ELECTS weights ``names`` on ``ds`` (region work cached per model)."""
    from cropviz.early.analysis import early_frame, tradeoff_row

    rows = []
    for name in names:
        model = classifier(name)
        model.check_fits(ds)
        card = model.info.card or {}
        full = bool(card.get("full_season", False))
        rows.append(tradeoff_row(name, early_frame(early_steps(model, ds), threshold), model.classes,
                                 full_season=full, alpha=None if full else card.get("alpha")))
    return pd.DataFrame(rows).sort_values(["earliness", "model"]).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=256)
def _attribution(model_key: str, parcel_id: int, method: str, target: int, baseline: str | None,
                 step: int | None, options: tuple, _model: Classifier, _x: Any, _extra: dict) -> Any:
    from cropviz.explain import attribute

    return attribute(_model.model, _x, method, target=target, baseline=baseline, step=step, **_extra,
                     **dict(options))


def attribution(model: Classifier, ds: Any, parcel_id: int, x: Any, method: str, target: int,
                baseline: str | None, step: int | None, options: dict, extra: dict) -> Any:
    """One parcel's attribution for a method, target and baseline, cached across reruns."""
    return _attribution(cache_key(model, ds), int(parcel_id), method, int(target), baseline, step,
                        tuple(sorted(options.items())), model, x, extra)
