"""The app's one caching module: thin Streamlit caches over the library's workspaces.

A :class:`cropviz.workspace.Workspace` (one region, one model) computes every derived result and
keeps it in the on-disk store under :func:`cache_dir`; here, Streamlit keeps datasets, models and
workspaces as shared resources and the small tables pages draw from as bounded data caches.
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
from cropviz.scale.results import precomputed_folder
from cropviz.store import Store, cache_key
from cropviz.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]

DatasetKey = tuple[str, str, int, str]


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


@st.cache_resource(show_spinner="Opening the dataset...", max_entries=32)
def dataset(root: str, region: str, year: int, level: str) -> Any:
    """The dataset of a region (lazy reads; one per key)."""
    return open_breizhcrops(root, region, year=year, level=level)


@st.cache_resource(show_spinner="Loading the model...", max_entries=32)
def classifier(name_or_path: str, arch: str | None = None) -> Classifier:
    """A loaded model (shipped weights or a checkpoint file), on the GPU when there is one."""
    return Classifier.open(name_or_path, arch=arch, device="auto")


@st.cache_resource
def store() -> Store:
    """The on-disk store every workspace of this server shares."""
    return Store(cache_dir())


def _dataset_key(ds: Any) -> DatasetKey:
    return str(ds.root), ds.region, int(ds.year), ds.level


def _model_key(model: Classifier, ds: Any) -> str:
    return f"{cache_key(model, ds)}-{model.label}"


@st.cache_resource(max_entries=32)
def _workspace(model_key: str, dataset_key: DatasetKey, _model: Classifier) -> Workspace:
    return Workspace(dataset(*dataset_key), _model, store())


def workspace(model: Classifier, ds: Any) -> Workspace:
    """The workspace of ``model`` on ``ds`` (one per model weights and dataset files)."""
    return _workspace(_model_key(model, ds), _dataset_key(ds), model)


def _precomputed_version(model: Classifier, ds: Any) -> float:
    """Changes when precompute adds or replaces files in the model's results folder."""
    folder = precomputed_folder(model, ds)
    return folder.stat().st_mtime if folder.is_dir() else 0.0


@st.cache_data(show_spinner="Predicting every parcel of the region (first time only)...", max_entries=16)
def _predictions(model_key: str, dataset_key: DatasetKey, version: float, _ws: Workspace) -> pd.DataFrame:
    return _ws.predictions()


def predictions(model: Classifier, ds: Any) -> pd.DataFrame:
    """Predictions for a whole region: precomputed, from the store, or computed once."""
    return _predictions(_model_key(model, ds), _dataset_key(ds), _precomputed_version(model, ds),
                        workspace(model, ds))


def save_upload(data: bytes, filename: str) -> Path:
    """Keep an uploaded checkpoint under the cache folder, named by its content hash."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    suffix = Path(filename).suffix or ".pt"
    path = cache_dir() / "uploads" / f"{digest}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path


@st.cache_data(show_spinner=False, max_entries=16)
def _geometries(root: str, region: str, year: int, level: str) -> pd.DataFrame:
    return points_as_squares(to_wgs84(dataset(root, region, year, level).geodataframe()))


@st.cache_data(show_spinner="Computing class envelopes...", max_entries=64)
def _envelopes(dataset_key: DatasetKey, name: str, classes: tuple[str, ...]) -> dict:
    from cropviz.data.series import class_envelopes

    return class_envelopes(dataset(*dataset_key), name, classes=list(classes), max_parcels=150)


def envelopes(ds: Any, name: str, classes: list[str]) -> dict:
    """Class-mean envelopes of band or index ``name`` (a sample of parcels per class), cached."""
    return _envelopes(_dataset_key(ds), name, tuple(sorted(set(classes))))


@st.cache_data(show_spinner="Interpolating the season for the region...", max_entries=16)
def _season(dataset_key: DatasetKey, name: str) -> tuple:
    from cropviz.data.series import region_season

    return region_season(dataset(*dataset_key), name)


def season(ds: Any, name: str) -> tuple:
    """(ids, dates, N x G values, N x 2 projected centroids) of ``name`` over the season, cached."""
    return _season(_dataset_key(ds), name)


@st.cache_resource(show_spinner=False, max_entries=16)
def _precomputed(model_key: str, dataset_key: DatasetKey, version: float, _ws: Workspace) -> Any:
    return _ws.precomputed()


def precomputed(model: Classifier, ds: Any) -> Any:
    """Complete ``cropviz precompute`` results of this model on this region, or None."""
    return _precomputed(_model_key(model, ds), _dataset_key(ds), _precomputed_version(model, ds),
                        workspace(model, ds))


@st.cache_data(show_spinner="Reading the precomputed results...", max_entries=32)
def _precomputed_summary(model_key: str, dataset_key: DatasetKey, version: float, column: str, period: str,
                         relative: bool, split_cloudy: bool, _ws: Workspace) -> pd.DataFrame:
    return _ws.observation_summary(column, period=period, relative=relative, split_cloudy=split_cloudy)


def precomputed_summary(model: Classifier, ds: Any, column: str, period: str = "month", relative: bool = False,
                        split_cloudy: bool = True) -> pd.DataFrame:
    """Per-observation ``column`` of every precomputed parcel per true class and period (cached);
    call only when :func:`precomputed` has that column."""
    return _precomputed_summary(_model_key(model, ds), _dataset_key(ds), _precomputed_version(model, ds),
                                column, period, relative, split_cloudy, workspace(model, ds))


@st.cache_data(show_spinner="Computing attention for the region...", max_entries=16)
def _observation_attention(model_key: str, dataset_key: DatasetKey, max_parcels: int,
                           _ws: Workspace) -> pd.DataFrame:
    return _ws.observation_attention(max_parcels)


@st.cache_data(show_spinner="Attributing many parcels of the class...", max_entries=32)
def _class_attributions(model_key: str, dataset_key: DatasetKey, classname: str, method: str, max_parcels: int,
                        _ws: Workspace) -> pd.DataFrame:
    return _ws.class_attributions(classname, method, max_parcels)


def class_attributions(model: Classifier, ds: Any, classname: str, method: str,
                       max_parcels: int = 100) -> pd.DataFrame:
    """Attributions of up to ``max_parcels`` parcels of a class per period and band (cached)."""
    return _class_attributions(_model_key(model, ds), _dataset_key(ds), classname, method, max_parcels,
                               workspace(model, ds))


@st.cache_data(show_spinner=False, max_entries=16)
def _reference_inputs(model_key: str, dataset_key: DatasetKey, per_class: int, _ws: Workspace) -> tuple:
    return _ws.reference_inputs(per_class)


def reference_inputs(model: Classifier, ds: Any, per_class: int = 50) -> tuple:
    """(inputs, labels) of up to ``per_class`` parcels per class: class-mean baselines (cached)."""
    return _reference_inputs(_model_key(model, ds), _dataset_key(ds), per_class, workspace(model, ds))


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


def shipped_weights(arch: str | None = None) -> list[str]:
    """Names of the shipped weights (registry order), only those of architecture ``arch`` when given."""
    from cropviz.models.checkpoint import shipped_names

    names = shipped_names()
    if arch is None:
        return names
    cards = model_cards()
    return [n for n in names if cards.get(n, {}).get("model", n.split("_")[0]) == arch]


def order_disagreements(ds: Any, ordered: str, shuffled: str) -> pd.DataFrame:
    """Predictions of an ordered model and its shuffled twin on the region side by side
    (patch models: parcels with a patch), with a ``disagree`` column; cached per region and pair."""
    from cropviz.ablation import order_disagreements as side_by_side

    frames = [predictions(classifier(name), ds) for name in (ordered, shuffled)]
    return side_by_side(frames[0], frames[1], list(ds.classes))


@st.cache_data(show_spinner="Explaining the parcel with integrated gradients...", max_entries=64)
def _order_view(dataset_key: DatasetKey, name: str, parcel_id: int, attributions: bool) -> dict:
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


@st.cache_resource(max_entries=16)
def _early_steps(model_key: str, dataset_key: DatasetKey, _ws: Workspace) -> Any:
    with st.spinner(f"Running {_ws.model.name} step by step over {len(_ws.dataset)} parcels (first time only)..."):
        return _ws.early_steps()


def early_steps(model: Classifier, ds: Any) -> Any:
    """Per-step ELECTS outputs for a whole region: from memory, else the store, else computed."""
    return _early_steps(_model_key(model, ds), _dataset_key(ds), workspace(model, ds))


def early_region(model: Classifier, ds: Any, threshold: float) -> pd.DataFrame:
    """One row per parcel of deterministic early predictions at ``threshold`` (cheap after caching)."""
    from cropviz.early.analysis import early_frame

    return early_frame(early_steps(model, ds), threshold)


def early_by_month(model: Classifier, ds: Any, threshold: float) -> pd.DataFrame:
    """Share of the region's parcels decided, and right, by the end of each month of the season."""
    from cropviz.early.analysis import decided_over_time

    months = pd.date_range(f"{ds.year}-02-01", periods=12, freq="MS") - pd.Timedelta(days=1)
    return decided_over_time(early_region(model, ds, threshold), months)


def early_class_months(model: Classifier, ds: Any, threshold: float) -> pd.DataFrame:
    """Per crop and month: share of its parcels decided (and decided right) by the month's end."""
    from cropviz.early.analysis import class_stop_summary

    return class_stop_summary(early_region(model, ds, threshold), model.classes, year=int(ds.year))


@st.cache_data(show_spinner="Sampling stopping dates...", max_entries=32)
def _stop_draws(model_key: str, parcel_id: int, n_samples: int, seed: int, _ws: Workspace) -> pd.DataFrame:
    from cropviz.early.analysis import stop_date_distribution

    return stop_date_distribution(_ws.model, _ws.inputs([parcel_id]), n_samples=n_samples, seed=seed)


def stop_draws(model: Classifier, ds: Any, parcel_id: int, n_samples: int, seed: int) -> pd.DataFrame:
    """Sampled stopping of one parcel: per step the share of ``n_samples`` draws stopping there (cached)."""
    return _stop_draws(_model_key(model, ds), int(parcel_id), int(n_samples), int(seed), workspace(model, ds))


@st.cache_data(show_spinner=False, max_entries=16)
def _centroids(dataset_key: DatasetKey) -> pd.DataFrame:
    from cropviz.data.geometry import centroids as parcel_centroids

    return parcel_centroids(dataset(*dataset_key).geodataframe())


def centroids(ds: Any) -> pd.DataFrame:
    """Parcel centroids in the file's projected CRS: id, x, y (cached)."""
    return _centroids(_dataset_key(ds))


@st.cache_resource(show_spinner="Drawing the region animation...", max_entries=16)
def _region_animation(model_key: str, threshold: float, step_days: int, _frame: pd.DataFrame,
                      _centres: pd.DataFrame, _classes: tuple[str, ...]) -> Any:
    from cropviz.early.analysis import animation_sample
    from cropviz.viz.early import region_early_animation

    frame, grid = animation_sample(_frame, _centres, step_days, EARLY_MAP_PARCELS)
    return region_early_animation(frame[["x", "y"]].to_numpy(), frame["stop_date"], frame["pred_at_stop"],
                                  list(_classes), grid, truths=frame["true"], ids=frame["id"])


def region_animation(model: Classifier, ds: Any, threshold: float, step_days: int = 7) -> Any:
    """The region animation figure (cached per model, dataset, threshold and step)."""
    return _region_animation(_model_key(model, ds), round(float(threshold), 4), step_days,
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
                                 true_class=result.true, title=f"parcel {parcel_id}", cloudy=result.cloudy)
    return result, fig


def parcel_animation(model: Classifier, ds: Any, parcel_id: int, threshold: float,
                     n_samples: int | None = None, seed: int = 0) -> tuple[Any, Any]:
    """(ParcelEarly, animation figure) of one parcel, deterministic or sampled (cached)."""
    return _parcel_animation(_model_key(model, ds), int(parcel_id), round(float(threshold), 4),
                             n_samples, int(seed), model, ds)


def early_tradeoff(ds: Any, names: tuple[str, ...], threshold: float) -> pd.DataFrame:
    """Trade-off rows of shipped ELECTS weights ``names`` on ``ds`` (region work cached per model)."""
    from cropviz.early.analysis import tradeoff_table

    models = {name: classifier(name) for name in names}
    for model in models.values():
        model.check_fits(ds)
    return tradeoff_table(models, ds, threshold, steps_of=lambda model: early_steps(model, ds))


#: Integrated gradients' steps where the user has not chosen: the Attributions page's default, which
#: the dossier's decisive inputs use too, so both pages show the same values (and share the cache).
DEFAULT_IG_STEPS = 50


@st.cache_data(show_spinner=False, max_entries=256)
def _attribution(model_key: str, parcel_id: int, method: str, target: int, baseline: str | None,
                 step: int | None, options: tuple, _ws: Workspace) -> Any:
    return _ws.attribution(parcel_id, method, target=target, baseline=baseline, step=step, **dict(options))


def attribution(model: Classifier, ds: Any, parcel_id: int, method: str, target: int,
                baseline: str | None, step: int | None, options: dict) -> Any:
    """One parcel's attribution for a method, target and baseline, cached across reruns."""
    return _attribution(_model_key(model, ds), int(parcel_id), method, int(target), baseline, step,
                        tuple(sorted(options.items())), workspace(model, ds))


def cloud_attention_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per class, per month 1-12) attention received by cloudy and clear observations of ``frame``."""
    from cropviz.explain.region import cloud_attention_by_month, cloud_attention_summary

    return cloud_attention_summary(frame), cloud_attention_by_month(frame)


# --- Explorer (pages/explorer.py) ----------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def _metrics(model_key: str, dataset_key: DatasetKey, version: float, _ws: Workspace) -> tuple[dict, pd.DataFrame]:
    from cropviz.metrics import per_class_frame

    metrics = _ws.metrics()
    return metrics, per_class_frame(metrics)


def metrics(model: Classifier, ds: Any) -> tuple[dict, pd.DataFrame]:
    """(metrics, per-class table) of the model's predictions on the region (cached)."""
    return _metrics(_model_key(model, ds), _dataset_key(ds), _precomputed_version(model, ds), workspace(model, ds))


def confusion_cell(table: pd.DataFrame, true: str, predicted: str) -> pd.DataFrame:
    """Parcels of class ``true`` predicted as ``predicted``, most confident first."""
    from cropviz.explore import confusion_cell as cell

    return cell(table, true, predicted)


def model_comparison(table: pd.DataFrame, model: Classifier, other: Classifier,
                     ds: Any) -> tuple[pd.DataFrame, dict, dict[str, int]]:
    """(parcels where the two models disagree, the other's metrics, agreement counts)."""
    from cropviz.explore import agreement_summary, compare_models

    names = (model.label, other.label)
    comparison = compare_models(table, predictions(model, ds), predictions(other, ds), model.classes, names)
    return comparison, metrics(other, ds)[0], agreement_summary(comparison, len(table), names)


# --- Map (pages/map.py) ------------------------------------------------------------------------


def filter_parcels(table: pd.DataFrame, **filters: Any) -> pd.DataFrame:
    """Rows of the parcel table that pass the map's filters (``cropviz.explore.filter_parcels``)."""
    from cropviz.explore import filter_parcels as passing

    return passing(table, **filters)


#: The app's own static folder (served at app/static/ with `server.enableStaticServing`); the map
#: publishes basemap images and the parcel layers of large regions under MAP_STATIC in it.
STATIC_DIR = REPO / "static"
MAP_STATIC = "cropviz-map"
#: Regions with more parcels than this reach the browser as vector tiles it fetches, not inside the page.
INLINE_PARCELS = 5_000
#: The page offers to draw a basemap from the parcels' observations up to this many parcels.
BASEMAP_MAX_PARCELS = 20_000
#: Rows of the map's parcel table (filter to see others).
MAP_TABLE_ROWS = 20_000
#: Above this many parcels, polygons are simplified to 5 m before they are sent.
SIMPLIFY_ABOVE = 10_000


@st.cache_resource(show_spinner="Preparing the map...", max_entries=8)
def _map_layer_records(dataset_key: DatasetKey, model_key: str, color_by: str, _table: pd.DataFrame,
                       _uncertainty: pd.DataFrame | None) -> pd.DataFrame:
    from cropviz.viz.maps import parcel_layer_data

    gdf = _geometries(*dataset_key)
    columns = [c for c in ("id", "pred", "predicted", "confidence", "correct") if c in _table.columns]
    gdf = gdf.merge(_table[columns], on="id", how="left")
    if _uncertainty is not None:
        gdf = gdf.merge(_uncertainty, on="id", how="left")
    return parcel_layer_data(gdf, color_by=color_by, classes=list(dataset(*dataset_key).classes),
                             simplify_m=5.0 if len(gdf) > SIMPLIFY_ABOVE else None,
                             border_m=None if len(gdf) > INLINE_PARCELS else 4.0)  # tiles draw no borders


def map_layer_records(ctx: Any, color_by: str) -> pd.DataFrame:
    """Polygon records of every parcel coloured by ``color_by``, shared by all reruns and sessions
    (a resource: never copied, where cached data would copy 200k parcels' polygons on every rerun,
    20 s on a busy 2-core machine). Callers must not modify it."""
    from cropviz.calibration import predictive_uncertainty

    uncertainty = None
    model_key = "none"
    if ctx.predictions is not None:
        model_key = _model_key(ctx.classifier, ctx.dataset)
        if color_by == "uncertainty":
            values = predictive_uncertainty(ctx.predictions, ctx.classifier.classes, ctx.classifier.temperature)
            uncertainty = pd.DataFrame({"id": ctx.predictions["id"].to_numpy(), "uncertainty": values})
    return _map_layer_records(_dataset_key(ctx.dataset), model_key, color_by, ctx.table, uncertainty)


def static_serving() -> bool:
    """Whether the server serves the app's static folder (else the map inlines what it needs)."""
    return bool(st.get_option("server.enableStaticServing"))


def _static_url(data: bytes, suffix: str) -> str:
    from cropviz.viz.maps import publish

    return f"app/static/{MAP_STATIC}/{publish(data, STATIC_DIR / MAP_STATIC, suffix)}"


def _basemap_folders(ds: Any) -> list[Path]:
    from cropviz.data.basemap import basemap_folder

    own = basemap_folder(ds.root, ds.region, ds.year)
    digest = hashlib.sha256(str(Path(ds.root).resolve()).encode()).hexdigest()[:12]
    return [own, cache_dir() / "basemaps" / digest / str(ds.year) / ds.region]


@st.cache_data(show_spinner=False, max_entries=32)
def _basemap(folder: str, stamp: float) -> Any:
    from cropviz.data.basemap import read_basemap

    return read_basemap(folder)


def basemap_of(ds: Any) -> Any:
    """The region's basemap (beside the data, else drawn into the cache folder), or None."""
    for folder in _basemap_folders(ds):
        manifest = folder / "basemap.json"
        if manifest.exists():
            return _basemap(str(folder), manifest.stat().st_mtime)
    return None


def draw_basemap(ds: Any) -> Any:
    """Draw the region's basemap from its parcels' observations beside the data (in the cache
    folder when the data folder is read-only)."""
    from cropviz.data.basemap import write_dataset_basemap

    own, spare = _basemap_folders(ds)
    try:
        return write_dataset_basemap(ds, own)
    except PermissionError:
        return write_dataset_basemap(ds, spare)


@st.cache_data(show_spinner=False, max_entries=64)
def _basemap_image(path: str, mtime: float, served: bool) -> str:
    from cropviz.viz.maps import image_data_url

    return _static_url(Path(path).read_bytes(), ".png") if served else image_data_url(path)


def basemap_image(basemap: Any, kind: str, date: str) -> str:
    """URL of a basemap image the browser can load from this app (a data URL without static serving)."""
    path = basemap.image_path(kind, date)
    return _basemap_image(str(path), path.stat().st_mtime, static_serving())


@st.cache_data(show_spinner="Outlining the region...", max_entries=16)
def _region_outline(dataset_key: DatasetKey) -> Any:
    from cropviz.data.basemap import region_outline as outline

    return outline(_geometries(*dataset_key).geometry)


def region_outline(ds: Any) -> Any:
    """A light outline of where the region's parcels are (WGS84 shapely geometry, cached)."""
    return _region_outline(_dataset_key(ds))


@st.cache_data(show_spinner="Cutting the parcels into map tiles (first time only)...", max_entries=32)
def _map_tiles(folder: str, dataset_key: DatasetKey, _records: pd.DataFrame) -> Any:
    from cropviz.viz.tiles import read_tiles, write_tiles

    tiles = read_tiles(folder)
    if tiles is None:
        geometry, ids, properties = _tile_parcels(dataset_key, _records)
        tiles = write_tiles(geometry, ids, properties, folder)
    return tiles


def _tile_parcels(dataset_key: DatasetKey, records: pd.DataFrame) -> tuple[Any, Any, dict[str, Any]]:
    """One row per parcel of map ``records``: WGS84 geometry, ids and tile properties."""
    from cropviz.viz.maps import tile_properties

    gdf = _geometries(*dataset_key)
    ids, properties = tile_properties(records)
    return gdf.geometry.to_numpy()[pd.Index(gdf["id"]).get_indexer(ids)], ids, properties


#: loaders.gl's MVT worker (MIT, from the npm package @loaders.gl/mvt of the version Streamlit's
#: deck.gl bundles), served from the static folder so the browser fetches it from no CDN.
MVT_WORKER = "vendor/loaders.gl-mvt-4.4.3-worker.js"


def map_tiles(ctx: Any, color_by: str, records: pd.DataFrame) -> tuple[Any, str, str] | None:
    """The vector tiles of a large region's parcel layer, their URL template and the MVT worker's
    URL; tiles cut once per dataset files, model, colour and filter into the static folder. None
    to carry the records in the page (small regions, or no static serving)."""
    if len(records) <= INLINE_PARCELS or not static_serving():
        return None
    model_key = _model_key(ctx.classifier, ctx.dataset) if ctx.predictions is not None else "none"
    source = ctx.dataset.geometry_path
    stamp = (str(source), source.stat().st_mtime_ns, source.stat().st_size) if source is not None else None
    digest = hashlib.sha256(records["id"].to_numpy().tobytes()).hexdigest()
    from cropviz.viz.tiles import FORMAT

    key = hashlib.sha256(repr((FORMAT, _dataset_key(ctx.dataset), stamp, model_key, color_by,
                               digest)).encode()).hexdigest()
    root = STATIC_DIR / MAP_STATIC
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".gitignore").exists():
        (root / ".gitignore").write_text("*\n")
    folder = root / f"tiles-{key[:24]}"
    tiles = _map_tiles(str(folder), _dataset_key(ctx.dataset), records)
    if not folder.exists():  # removed since: cut again
        _map_tiles.clear()
        tiles = _map_tiles(str(folder), _dataset_key(ctx.dataset), records)
    return tiles, f"app/static/{MAP_STATIC}/{folder.name}/{{z}}/{{x}}/{{y}}.pbf", f"app/static/{MVT_WORKER}"


@st.cache_data(show_spinner=False, max_entries=8)
def _edges(parts_digest: str, _records: pd.DataFrame) -> list:
    from cropviz.viz.maps import with_borders

    return with_borders(_records)["border"].tolist()


def with_edges(records: pd.DataFrame) -> pd.DataFrame:
    """Map records drawn in the page, with their parcels' edges: a large region's records carry
    none (its tiles draw no edges), so a filter that leaves few enough to draw in the page adds them."""
    if "border" in records.columns:
        return records
    parts = pd.util.hash_pandas_object(records[["id", "lon", "lat"]], index=False).to_numpy()
    return records.assign(border=_edges(hashlib.sha256(parts.tobytes()).hexdigest(), records))


#: The whole-region picture of a tile folder, and its WGS84 bounds (written last: both are there).
OVERVIEW_PNG, OVERVIEW_BOUNDS = "overview.png", "overview.json"


@st.cache_data(show_spinner="Drawing every parcel into one picture (first time only)...", max_entries=8)
def _map_overview(tiles_folder: str, dataset_key: DatasetKey, _records: pd.DataFrame) -> list[float]:
    import json

    from cropviz.viz.tiles import overview_png

    folder = Path(tiles_folder)
    if (folder / OVERVIEW_BOUNDS).exists() and (folder / OVERVIEW_PNG).exists():
        return [float(b) for b in json.loads((folder / OVERVIEW_BOUNDS).read_text())]
    geometry, _, properties = _tile_parcels(dataset_key, _records)
    png, bounds = overview_png(geometry, pd.DataFrame({c: properties[c] for c in "rgb"}).to_numpy())
    partial = folder / (OVERVIEW_PNG + ".part")
    partial.write_bytes(png)
    partial.replace(folder / OVERVIEW_PNG)
    (folder / OVERVIEW_BOUNDS).write_text(json.dumps(list(bounds)))
    return list(bounds)


def map_overview(ctx: Any, tiles: tuple[Any, str, str], records: pd.DataFrame) -> tuple[str, list[float]]:
    """For the whole-region view of a large region: one picture of every parcel of its tiled
    layer (``tiles`` from :func:`map_tiles` for ``records``): its URL in the tile folder and WGS84
    bounds, drawn once per tile set."""
    folder = Path(tiles[0].folder)
    bounds = _map_overview(str(folder), _dataset_key(ctx.dataset), records)
    if not (folder / OVERVIEW_PNG).exists():  # removed since: draw again
        _map_overview.clear()
        bounds = _map_overview(str(folder), _dataset_key(ctx.dataset), records)
    return f"app/static/{MAP_STATIC}/{folder.name}/{OVERVIEW_PNG}", bounds


# --- Diagnosis (pages/diagnosis.py, pages/dossier.py) ------------------------------------------


@st.cache_data(show_spinner="Diagnosing every misclassified parcel (first time only)...", max_entries=16)
def _diagnosis(model_key: str, dataset_key: DatasetKey, _ws: Workspace) -> pd.DataFrame:
    return _ws.diagnosis()


def diagnosis(model: Classifier, ds: Any) -> pd.DataFrame:
    """One row per parcel with its evidence and verdict (``cropviz.diagnose.diagnose``), cached."""
    return _diagnosis(_model_key(model, ds), _dataset_key(ds), workspace(model, ds))


@st.cache_data(show_spinner="Predicting and embedding every parcel of the region (first time only)...",
               max_entries=16)
def _diagnosis_overview(model_key: str, dataset_key: DatasetKey, _ws: Workspace) -> pd.DataFrame:
    return _ws.diagnosis(explain="none")


def diagnosis_overview(model: Classifier, ds: Any) -> pd.DataFrame:
    """The region's diagnosis without integrated gradients (predictions, label quality, neighbours,
    atypicality; verdicts that need the IG cloud share are not final: use :func:`parcel_diagnosis`)."""
    return _diagnosis_overview(_model_key(model, ds), _dataset_key(ds), workspace(model, ds))


@st.cache_data(show_spinner="Explaining the parcel's clouds with integrated gradients...", max_entries=256)
def _parcel_diagnosis(model_key: str, dataset_key: DatasetKey, ids: tuple[int, ...], _ws: Workspace) -> pd.DataFrame:
    _diagnosis_overview(model_key, dataset_key, _ws)  # the region's part, under its own spinner
    return _ws.parcel_diagnosis(list(ids))


def parcel_diagnosis(model: Classifier, ds: Any, ids: list[int]) -> pd.DataFrame:
    """The diagnosis rows of parcels ``ids``, equal to :func:`diagnosis`'s, without diagnosing the
    whole region first (``Workspace.parcel_diagnosis``), cached."""
    return _parcel_diagnosis(_model_key(model, ds), _dataset_key(ds), tuple(int(i) for i in ids),
                             workspace(model, ds))


def label_error_suspects(model: Classifier, ds: Any) -> pd.DataFrame:
    """Parcels whose label the diagnosis doubts, as a table for the LPIS provider."""
    from cropviz.diagnose import suspected_label_errors

    return suspected_label_errors(diagnosis(model, ds), ds)


@st.cache_data(show_spinner="Projecting the model's embedding to 2-D (UMAP, first time only)...", max_entries=16)
def _embedding_2d(model_key: str, dataset_key: DatasetKey, _ws: Workspace) -> pd.DataFrame:
    return _ws.embedding_2d()


def embedding_2d(model: Classifier, ds: Any) -> pd.DataFrame:
    """Every parcel's penultimate embedding in 2-D: id, x, y (cached)."""
    return _embedding_2d(_model_key(model, ds), _dataset_key(ds), workspace(model, ds))


@st.cache_data(show_spinner=False, max_entries=16)
def _calibration(model_key: str, dataset_key: DatasetKey, _ws: Workspace) -> dict:
    from cropviz.calibration import region_calibration

    return region_calibration(_ws.predictions(), _ws.model.classes, _ws.model.temperature)


def calibration(model: Classifier, ds: Any) -> dict:
    """Reliability tables and ECE of the region's predictions before and after temperature scaling."""
    return _calibration(_model_key(model, ds), _dataset_key(ds), workspace(model, ds))


@st.cache_data(show_spinner="Reading the neighbours' curves...", max_entries=64)
def _curves(dataset_key: DatasetKey, ids: tuple[int, ...], name: str) -> list:
    from cropviz.diagnose.dossier import parcel_curves

    return parcel_curves(dataset(*dataset_key), ids, name)


@st.cache_data(show_spinner="Explaining the parcel with integrated gradients...", max_entries=64)
def _decisive(model_key: str, dataset_key: DatasetKey, parcel_id: int, target: int, top: int, _ws: Workspace) -> Any:
    from cropviz.diagnose.dossier import decisive_observations

    prepared = _ws.inputs([parcel_id])
    # the Attributions page's defaults (zero baseline, DEFAULT_IG_STEPS): the same values, one computation
    attribution = _attribution(model_key, parcel_id, "integrated_gradients", target, "zeros", None,
                               (("n_steps", DEFAULT_IG_STEPS),), _ws)
    cloudy = None if prepared.cloudy is None else prepared.cloudy[0]
    return decisive_observations(attribution.per_observation, prepared.dates[0], cloudy, top)


@st.cache_data(show_spinner="MC dropout: 30 passes with dropout on...", max_entries=64)
def _mc_dropout(model_key: str, dataset_key: DatasetKey, parcel_id: int, _ws: Workspace) -> tuple:
    from cropviz.calibration import mc_dropout

    mean, entropy = mc_dropout(_ws.model, _ws.inputs([parcel_id]).x, samples=30)
    return mean[0], float(entropy[0])


def mc_dropout(model: Classifier, ds: Any, parcel_id: int) -> tuple:
    """(MC-dropout mean probabilities, predictive entropy) of one parcel (cached)."""
    return _mc_dropout(_model_key(model, ds), _dataset_key(ds), int(parcel_id), workspace(model, ds))


@st.cache_data(show_spinner=False, max_entries=16)
def _parcel_points(dataset_key: DatasetKey) -> pd.DataFrame:
    gdf = to_wgs84(dataset(*dataset_key).geodataframe())
    centres = gdf.geometry.representative_point()
    return pd.DataFrame({"id": gdf["id"].to_numpy(), "lat": centres.y.to_numpy(), "lon": centres.x.to_numpy()})


def parcel_points(ds: Any) -> pd.DataFrame:
    """A point inside each parcel in WGS84: id, lat, lon (cached)."""
    return _parcel_points(_dataset_key(ds))


# --- Parcel pages (pages/inspector.py, pages/attention.py, pages/dossier.py) --------------------
# A figure is built once per parcel and view and shared by every rerun and session (a resource:
# plotly validates every value it is given, and cached data would be copied on each rerun), so a
# rerun only sends it. Callers must not modify what these return.

#: Parcels (and views of them) whose figures the parcel pages keep built.
PARCEL_FIGURES = 64


@st.cache_resource(show_spinner=False, max_entries=PARCEL_FIGURES)
def _parcel(dataset_key: DatasetKey, parcel_id: int) -> Any:
    return dataset(*dataset_key).parcel(parcel_id)


def parcel(ds: Any, parcel_id: int) -> Any:
    """One parcel's observations (``BreizhCropsDataset.parcel``), read once."""
    return _parcel(_dataset_key(ds), int(parcel_id))


@st.cache_resource(show_spinner=False, max_entries=PARCEL_FIGURES)
def _parcel_trajectory(dataset_key: DatasetKey, parcel_id: int, names: tuple[str, ...], hide_cloudy: bool,
                       predicted: str | None) -> Any:
    from cropviz.viz.colors import class_hex
    from cropviz.viz.trajectories import trajectory_figure

    parcel = _parcel(dataset_key, parcel_id)
    envelopes = {}
    if len(names) == 1:
        classes = [parcel.classname] + ([predicted] if predicted and predicted != parcel.classname else [])
        for c in classes:  # one cached entry per class: stepping through parcels reuses every class seen
            env = _envelopes(dataset_key, names[0], (c,)).get(c)
            if env is not None:
                label = f"{c} ({'true' if c == parcel.classname else 'predicted'}) mean ± std"
                envelopes[label] = (env.index, env["mean"].to_numpy(), env["std"].to_numpy())
    return trajectory_figure(parcel.dates, parcel.series(list(names)), cloudy=parcel.cloudy, envelopes=envelopes,
                             envelope_colors={label: class_hex(label.split(" (")[0]) for label in envelopes},
                             hide_cloudy=hide_cloudy, title=f"Parcel {parcel.id}",
                             yaxis_title=names[0] if len(names) == 1 else "value")


def parcel_trajectory(ds: Any, parcel_id: int, names: list[str], hide_cloudy: bool = False,
                      predicted: str | None = None) -> Any:
    """Bands or indices ``names`` of a parcel over its dates, cloud-flagged observations marked (or
    hidden); for one name, the envelopes of its true and ``predicted`` classes behind (built once)."""
    return _parcel_trajectory(_dataset_key(ds), int(parcel_id), tuple(names), bool(hide_cloudy), predicted)


@st.cache_resource(show_spinner=False, max_entries=PARCEL_FIGURES)
def _probability_figure(model_key: str, version: float, parcel_id: int, true_class: str | None, _model: Classifier,
                        _predictions: pd.DataFrame) -> Any:
    from cropviz.viz.trajectories import probability_bar

    row = _predictions.loc[_predictions["id"].to_numpy() == parcel_id].iloc[0]
    return probability_bar(_model.classes, [float(row[f"prob_{c}"]) for c in _model.classes], true=true_class,
                           title=f"{_model.name}: class probabilities")


def probability_figure(ctx: Any, parcel_id: int, true_class: str | None = None) -> Any:
    """The class probabilities of the context's model for a parcel, as bars (built once)."""
    model, ds = ctx.classifier, ctx.dataset
    return _probability_figure(_model_key(model, ds), _precomputed_version(model, ds), int(parcel_id), true_class,
                               model, ctx.predictions)


@st.cache_resource(show_spinner="Reading the image patch...", max_entries=PARCEL_FIGURES)
def _chips(dataset_key: DatasetKey, parcel_id: int) -> Any:
    from cropviz.viz.chips import chip_strip

    patches = dataset(*dataset_key).patches()
    if patches is None or parcel_id not in set(patches.ids):
        return None
    return chip_strip(patches.read(parcel_id), patches.dates)


def chips(ds: Any, parcel_id: int) -> Any:
    """True-colour chips of the parcel's image patch (read and built once), None without a patch."""
    return _chips(_dataset_key(ds), int(parcel_id))


@st.cache_resource(show_spinner=False, max_entries=PARCEL_FIGURES)
def _attention_rollout(model_key: str, dataset_key: DatasetKey, parcel_id: int, _ws: Workspace) -> Any:
    from cropviz.viz.trajectories import weights_figure

    parcel, result = _ws.parcel_input(parcel_id), _ws.attention(parcel_id)
    return weights_figure(parcel.dates, parcel.curve, parcel.curve_name, result.rollout, "rollout",
                          cloudy=parcel.cloudy, title="Attention rollout (mean attention received) under the "
                                                      f"{parcel.curve_name} of the model input")


def attention_rollout(model: Classifier, ds: Any, parcel_id: int) -> Any:
    """The attention rollout of one parcel under its curve (built once)."""
    return _attention_rollout(_model_key(model, ds), _dataset_key(ds), int(parcel_id), workspace(model, ds))


@st.cache_resource(show_spinner=False, max_entries=PARCEL_FIGURES)
def _attention_maps(model_key: str, dataset_key: DatasetKey, parcel_id: int, layer: int | None,
                    _ws: Workspace) -> Any:
    from cropviz.viz.explain import attention_grid

    parcel, matrices = _ws.parcel_input(parcel_id), _ws.attention(parcel_id).matrices
    if layer is None:
        return attention_grid(matrices, parcel.dates)
    return attention_grid(matrices[layer - 1:layer], parcel.dates, layer_numbers=[layer])


def attention_maps(model: Classifier, ds: Any, parcel_id: int, layer: int | None = None) -> Any:
    """The attention maps of one parcel per head, of layer ``layer`` (1-based) or of every layer
    (None), built once."""
    return _attention_maps(_model_key(model, ds), _dataset_key(ds), int(parcel_id),
                           None if layer is None else int(layer), workspace(model, ds))


@st.cache_resource(show_spinner="Summarising attention on cloudy observations...", max_entries=16)
def _cloud_attention_view(model_key: str, dataset_key: DatasetKey, version: float, max_parcels: int | None,
                          _ws: Workspace) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    from cropviz.viz.explain import cloud_attention_figure

    if max_parcels is None:
        frame = _precomputed_summary(model_key, dataset_key, version, "attention_rollout", "month", True, True, _ws)
        frame = frame.rename(columns={"value": "attention"})
    else:
        frame = _observation_attention(model_key, dataset_key, max_parcels, _ws)
    per_class, by_month = cloud_attention_tables(frame)
    return cloud_attention_figure(frame), per_class, by_month


def cloud_attention_view(model: Classifier, ds: Any, max_parcels: int | None = None) -> tuple[Any, pd.DataFrame,
                                                                                              pd.DataFrame]:
    """(figure, per class, per month 1-12) of the attention cloudy and clear observations receive:
    over every precomputed parcel (``max_parcels`` None; :func:`precomputed` must have an
    ``attention_rollout`` column), else over the region's first ``max_parcels`` (built once)."""
    return _cloud_attention_view(_model_key(model, ds), _dataset_key(ds), _precomputed_version(model, ds),
                                 max_parcels, workspace(model, ds))


@st.cache_data(show_spinner=False, max_entries=PARCEL_FIGURES)
def _parcel_locator(dataset_key: DatasetKey, model_key: str, parcel_id: int, center: tuple[float, float],
                    imagery: str | None, imagery_stamp: float, bounds: tuple[float, ...] | None,
                    _records: pd.DataFrame) -> bytes:
    from cropviz.viz.maps import locator_png

    return locator_png(_records, parcel_id, center, imagery=imagery, imagery_bounds=bounds)


def parcel_locator(ctx: Any, parcel_id: int, center: tuple[float, float]) -> tuple[bytes, str | None]:
    """(a PNG of the parcels around ``center`` coloured by their label, ``parcel_id`` outlined, over
    the region's true-colour imagery at its middle date when it has a basemap; "source, date" of
    that imagery or None),
    drawn once per parcel (``cropviz.viz.maps.locator_png``: no WebGL in the browser)."""
    basemap = basemap_of(ctx.dataset)
    imagery, stamp, bounds, described = None, 0.0, None, None
    if basemap is not None:
        date = basemap.dates[len(basemap.dates) // 2]  # the map page's default date
        path = basemap.image_path("rgb", date)
        imagery, stamp, bounds = str(path), path.stat().st_mtime, tuple(basemap.bounds)
        described = f"{basemap.source}, {date}"
    model_key = _model_key(ctx.classifier, ctx.dataset) if ctx.predictions is not None else "none"
    png = _parcel_locator(_dataset_key(ctx.dataset), model_key, int(parcel_id), center, imagery, stamp, bounds,
                          map_layer_records(ctx, "true"))
    return png, described


@st.cache_resource(show_spinner="Explaining the parcel...", max_entries=PARCEL_FIGURES)
def _attribution_trajectory(model_key: str, parcel_id: int, method: str, target: int, baseline: str | None,
                            step: int | None, options: tuple, top_k: int, _ws: Workspace) -> tuple[Any, pd.DataFrame]:
    from cropviz.viz.trajectories import mark_top_observations, weights_figure

    result = _attribution(model_key, parcel_id, method, target, baseline, step, options, _ws)
    parcel = _ws.parcel_input(parcel_id)
    dates, curve = parcel.dates, parcel.curve
    label = _ws.attribution_methods[method].label  # "Integrated gradients", not the identifier
    fig = weights_figure(dates, curve, parcel.curve_name, result.per_observation, label, cloudy=parcel.cloudy,
                         title=f"Per-observation attribution under the {parcel.curve_name} of the model input")
    top = result.top_observations(k=top_k, dates=dates)
    picked = top["index"].to_numpy()
    mark_top_observations(fig, dates[picked], curve[picked], [pd.Timestamp(d).strftime("%d %b") for d in dates[picked]])
    return fig, top


def attribution_trajectory(model: Classifier, ds: Any, parcel_id: int, method: str, target: int,
                           baseline: str | None, step: int | None, options: dict,
                           top_k: int = 5) -> tuple[Any, pd.DataFrame]:
    """(the parcel's curve with the :func:`attribution` per observation under it and its ``top_k``
    observations starred, those observations: ``Attribution.top_observations``), built once."""
    return _attribution_trajectory(_model_key(model, ds), int(parcel_id), method, int(target), baseline, step,
                                   tuple(sorted(options.items())), int(top_k), workspace(model, ds))


@st.cache_resource(show_spinner="Explaining the parcel...", max_entries=PARCEL_FIGURES)
def _attribution_map(model_key: str, parcel_id: int, method: str, target: int, baseline: str | None,
                     step: int | None, options: tuple, _ws: Workspace) -> Any:
    from cropviz.viz.explain import attribution_heatmap

    result = _attribution(model_key, parcel_id, method, target, baseline, step, options, _ws)
    return attribution_heatmap(result.values, _ws.parcel_input(parcel_id).dates, list(_ws.model.info.bands),
                               title="Time x band attributions")


def attribution_map(model: Classifier, ds: Any, parcel_id: int, method: str, target: int, baseline: str | None,
                    step: int | None, options: dict) -> Any:
    """Time x band heatmap of the parcel's :func:`attribution`, built once."""
    return _attribution_map(_model_key(model, ds), int(parcel_id), method, int(target), baseline, step,
                            tuple(sorted(options.items())), workspace(model, ds))


@st.cache_resource(show_spinner=False, max_entries=PARCEL_FIGURES)
def _dossier_trajectory(model_key: str, dataset_key: DatasetKey, parcel_id: int, true_class: str, pred_class: str,
                        _ws: Workspace) -> tuple[Any, pd.DataFrame | None]:
    from cropviz.viz.trajectories import mark_top_observations, trajectory_figure

    parcel = _parcel(dataset_key, parcel_id)
    series = parcel.series(["NDVI"])
    classes = tuple(dict.fromkeys([true_class, pred_class]))  # labelled first
    envelopes = {f"{c} ({'labelled' if c == true_class else 'predicted'}) mean ± std":
                 (env.index, env["mean"].to_numpy(), env["std"].to_numpy())
                 for c, env in _envelopes(dataset_key, "NDVI", classes).items()}
    fig = trajectory_figure(parcel.dates, series, cloudy=parcel.cloudy, envelopes=envelopes,
                            title=f"Parcel {parcel_id}: NDVI", yaxis_title="NDVI")
    if not _ws.model.differentiable or _ws.model.reads_patches:
        return fig, None
    decisive = _decisive(model_key, dataset_key, parcel_id, _ws.model.classes.index(pred_class), 5, _ws)
    at = series["NDVI"].reindex(pd.DatetimeIndex(decisive["date"]), method="nearest")
    mark_top_observations(fig, decisive["date"], at.to_numpy(),
                          [f"#{k + 1}{' ☁' if c else ''}" for k, c in enumerate(decisive["cloud_flagged"])],
                          name="decisive inputs (IG)")
    return fig, decisive


def dossier_trajectory(model: Classifier, ds: Any, parcel_id: int, true_class: str,
                       pred_class: str) -> tuple[Any, pd.DataFrame | None]:
    """(the parcel's NDVI before the envelopes of its labelled and predicted classes, its
    :func:`decisive` inputs starred; those inputs, None for a model without gradients), built once."""
    return _dossier_trajectory(_model_key(model, ds), _dataset_key(ds), int(parcel_id), true_class, pred_class,
                               workspace(model, ds))


@st.cache_resource(show_spinner="Reading the neighbours' curves...", max_entries=PARCEL_FIGURES)
def _neighbour_view(model_key: str, dataset_key: DatasetKey, parcel_id: int, _ws: Workspace) -> tuple[pd.DataFrame,
                                                                                                      Any]:
    from cropviz.diagnose.dossier import neighbour_table
    from cropviz.viz.diagnosis import neighbour_curves_figure

    neighbours = _diagnosis_overview(model_key, dataset_key, _ws).set_index("id").at[parcel_id, "neighbours"]
    table = neighbour_table(_parcel_diagnosis(model_key, dataset_key, (parcel_id, *map(int, neighbours)), _ws),
                            parcel_id)
    curves = _curves(dataset_key, tuple(int(i) for i in table["id"]), "NDVI")
    own = _curves(dataset_key, (parcel_id,), "NDVI")[0]
    return table, neighbour_curves_figure(curves, own, title="NDVI of the parcel and its neighbours")


def neighbour_view(model: Classifier, ds: Any, parcel_id: int) -> tuple[pd.DataFrame, Any]:
    """(:func:`neighbours` of the parcel, the NDVI of the parcel and of those neighbours), built once."""
    return _neighbour_view(_model_key(model, ds), _dataset_key(ds), int(parcel_id), workspace(model, ds))
