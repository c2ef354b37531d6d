"""The app's in-memory caches are bounded (a long session, or many users, cannot grow them without
limit), and a page's rerun takes what it shows from them: no model pass, no figure built again."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.caching.cache_utils import CachedFunc

from app_support import cache
from cropviz.data.bands import wavelength_order

#: Caches that may stay unbounded, and why they hold one entry only.
UNBOUNDED = {"store": "no arguments", "ensure_demo": "keyed by the demo folder ($CROPVIZ_DEMO_ROOT)"}


def _cached_functions() -> dict[str, CachedFunc]:
    return {name: value for name, value in vars(cache).items() if isinstance(value, CachedFunc)}


def _max_entries(cached: CachedFunc) -> int | None:
    return cached._info.max_entries  # Streamlit keeps the decorator's settings there


def test_the_module_has_its_caches():
    names = set(_cached_functions())
    assert {"_attribution", "_predictions", "_workspace", "store"} <= names
    assert len(names) >= 30


def test_every_cache_but_the_single_entry_ones_has_max_entries():
    unbounded = sorted(name for name, cached in _cached_functions().items() if _max_entries(cached) is None)
    assert unbounded == sorted(UNBOUNDED)


def test_parcel_keyed_caches_keep_the_recent_parcels_and_no_more_than_256():
    keyed = {name: _max_entries(cached) for name, cached in _cached_functions().items()
             if "parcel_id" in inspect.signature(cached._info.func).parameters}
    assert {"_attribution", "_decisive", "_mc_dropout", "_order_view", "_parcel_animation"} <= set(keyed)
    assert all(entries is not None and 32 <= entries <= 256 for entries in keyed.values()), keyed


class _CountingWorkspace:
    """Stands in for a Workspace: counts the attributions it computes."""

    def __init__(self) -> None:
        self.computed: list[int] = []

    def attribution(self, parcel_id: int, method: str, **options: object) -> tuple[int, str]:
        self.computed.append(parcel_id)
        return parcel_id, method


@pytest.mark.filterwarnings("ignore")
def test_attribution_cache_drops_the_least_recent_parcel_beyond_its_bound():
    bound = _max_entries(cache._attribution)
    assert bound is not None
    ws = _CountingWorkspace()
    cache._attribution.clear()
    try:
        def get(parcel: int) -> tuple[int, str]:
            return cache._attribution("model", parcel, "saliency", 0, None, None, (), ws)

        for parcel in range(bound + 1):  # one more parcel than the cache keeps
            assert get(parcel) == (parcel, "saliency")
        assert len(ws.computed) == bound + 1
        assert get(bound) == (bound, "saliency")  # the newest is still there
        assert len(ws.computed) == bound + 1
        assert get(0) == (0, "saliency")  # the oldest was dropped: computed again
        assert ws.computed[-1] == 0 and len(ws.computed) == bound + 2
    finally:
        cache._attribution.clear()


class _Calls:
    """Replaces ``owner.name`` (a module's function, a class's method) by a wrapper counting its calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        self.count = 0
        original = getattr(owner, name)

        def counted(*args: object, **kwargs: object) -> object:
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def _clear_parcel_caches() -> None:
    for cached in (cache._workspace, cache._parcel, cache._parcel_trajectory, cache._probability_figure,
                   cache._chips, cache._attention_rollout, cache._attention_maps, cache._cloud_attention_view):
        cached.clear()


def _open(app, page: str, parcel: int):
    app.query_params["parcel"] = str(parcel)
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.session_state["parcel"] == parcel
    return app


@pytest.mark.filterwarnings("ignore")
def test_an_inspector_rerun_reads_and_draws_nothing_again(app, demo_root, monkeypatch):
    import cropviz.viz.chips
    import cropviz.viz.trajectories
    from cropviz.data import open_breizhcrops
    from cropviz.data.breizhcrops import BreizhCropsDataset

    parcel = int(open_breizhcrops(demo_root, "frh04").patches().ids[0])  # a parcel with image chips
    _clear_parcel_caches()
    reads = _Calls(monkeypatch, BreizhCropsDataset, "parcel")
    lines = _Calls(monkeypatch, cropviz.viz.trajectories, "trajectory_figure")
    bars = _Calls(monkeypatch, cropviz.viz.trajectories, "probability_bar")
    chips = _Calls(monkeypatch, cropviz.viz.chips, "chip_strip")

    def counts() -> tuple[int, ...]:
        return lines.count, bars.count, chips.count

    _open(app, "pages/inspector.py", parcel)
    assert len(app.get("plotly_chart")) == 3  # trajectory, probabilities, chips
    read = reads.count  # the parcel, and those the class envelopes average
    assert read >= 1 and counts() == (1, 1, 1)
    app.run()  # the "r" key
    assert not app.exception
    assert reads.count == read and counts() == (1, 1, 1)
    app.radio(key="inspector_view").set_value("clear only").run()  # another view of the parcel: one new figure
    assert not app.exception
    assert reads.count == read and counts() == (2, 1, 1)


@pytest.mark.filterwarnings("ignore")
def test_an_attention_rerun_runs_the_model_and_draws_nothing_again(app, demo_root, monkeypatch):
    import cropviz.explain
    import cropviz.viz.explain
    from cropviz.data import open_breizhcrops

    ids = open_breizhcrops(demo_root, "frh04").index["id"]
    _clear_parcel_caches()
    passes = _Calls(monkeypatch, cropviz.explain, "attention")
    grids = _Calls(monkeypatch, cropviz.viz.explain, "attention_grid")
    clouds = _Calls(monkeypatch, cropviz.viz.explain, "cloud_attention_figure")
    app.query_params["attention_view"] = "clouds"  # the region's view, drawn below the parcel's rollout
    _open(app, "pages/attention.py", int(ids.iloc[2]))
    assert (passes.count, grids.count, clouds.count) == (1, 0, 1)  # the maps are not shown: not drawn
    app.run()
    assert not app.exception
    assert (passes.count, grids.count, clouds.count) == (1, 0, 1)
    app.selectbox(key="attention_parcel").select(int(ids.iloc[3])).run()  # a new parcel: its own views only
    assert not app.exception
    assert (passes.count, grids.count, clouds.count) == (2, 0, 1)
    app.segmented_control(key="attention_view").set_value("maps").run()
    app.run()
    assert not app.exception
    assert (passes.count, grids.count, clouds.count) == (2, 1, 1)


@pytest.mark.filterwarnings("ignore")
def test_an_attributions_rerun_repeats_no_what_if_edit(app, demo_root, monkeypatch):
    import cropviz.explain
    from cropviz.data import open_breizhcrops

    _clear_parcel_caches()
    edits = _Calls(monkeypatch, cropviz.explain, "what_if")
    app.query_params["attr_view"] = "what_if"  # where the page draws its views one at a time
    _open(app, "pages/attributions.py", int(open_breizhcrops(demo_root, "frh04").index["id"].iloc[4]))
    assert edits.count == 1
    app.run()
    assert not app.exception
    assert edits.count == 1
    app.radio(key="attr_whatif_mode").set_value("cloud").run()
    assert edits.count == 2


@pytest.fixture
def demo_model(app_env: dict[str, str], demo_root, monkeypatch: pytest.MonkeyPatch):
    """(transformer, test region of the tiny demo) through the app's caches, outside a script run."""
    for key, value in app_env.items():
        monkeypatch.setenv(key, value)
    return cache.classifier("transformer"), cache.dataset(str(demo_root), "frh04", 2017, "L1C")


@pytest.mark.filterwarnings("ignore")
def test_attribution_figures_are_drawn_once_from_the_cached_attribution(demo_model):
    model, ds = demo_model
    parcel = int(ds.index["id"].iloc[6])
    args = (model, ds, parcel, "saliency", 1, None, None, {})
    fig, top = cache.attribution_trajectory(*args, top_k=3)
    result, curve = cache.attribution(*args), cache.workspace(model, ds).parcel_input(parcel).curve
    np.testing.assert_allclose(next(t for t in fig.data if t.name == "Saliency (|gradient|)").y, result.per_observation)
    order = np.argsort(-np.abs(result.per_observation))[:3]
    assert sorted(top["index"]) == sorted(order.tolist())
    np.testing.assert_allclose(fig.data[-1].y, curve[top["index"].to_numpy()])  # the starred observations
    assert cache.attribution_trajectory(*args, top_k=3)[0] is fig
    heatmap = cache.attribution_map(*args)
    by_wavelength = wavelength_order(list(model.info.bands))  # the heatmap's rows, from the top
    np.testing.assert_allclose(heatmap.data[0].z, result.values[:, by_wavelength].T)
    assert cache.attribution_map(*args) is heatmap


@pytest.mark.filterwarnings("ignore")
def test_the_dossier_locator_is_drawn_once_per_parcel_over_the_regions_imagery(demo_model, monkeypatch):
    import io

    from PIL import Image

    from app_support.state import AppContext, _parcel_table
    from cropviz.viz import maps

    model, ds = demo_model
    ctx = AppContext(dataset=ds, classifier=model, predictions=cache.predictions(model, ds))
    ctx.table = _parcel_table(ctx)
    parcel = int(ds.index["id"].iloc[1])
    records = cache.map_layer_records(ctx, "true")
    here = records[records["id"] == parcel].iloc[0]
    drawn: list[int] = []
    real = maps.locator_png
    monkeypatch.setattr(maps, "locator_png", lambda r, pid, *a, **k: drawn.append(pid) or real(r, pid, *a, **k))
    png, imagery = cache.parcel_locator(ctx, parcel, (float(here["lon"]), float(here["lat"])))
    assert Image.open(io.BytesIO(png)).size == (560, 560)
    basemap = cache.basemap_of(ds)
    assert basemap is not None and imagery == f"{basemap.source}, {basemap.dates[len(basemap.dates) // 2]}"
    again, _ = cache.parcel_locator(ctx, parcel, (float(here["lon"]), float(here["lat"])))
    assert again == png and drawn == [parcel]  # drawn once


@pytest.mark.filterwarnings("ignore")
def test_the_dossier_figures_are_drawn_once_from_the_cached_results(demo_model):
    from cropviz.diagnose.dossier import decisive_observations, neighbour_table

    model, ds = demo_model
    parcel = int(ds.index["id"].iloc[3])
    row = cache.diagnosis(model, ds).set_index("id").loc[parcel]
    fig, decisive = cache.dossier_trajectory(model, ds, parcel, row["true_class"], row["pred_class"])
    ws = cache.workspace(model, ds)  # the library's answer: the 5 inputs of largest |IG| of the predicted class
    inputs = ws.inputs([parcel])
    predicted = model.classes.index(row["pred_class"])
    library = ws.attribution(parcel, "integrated_gradients", target=predicted, baseline="zeros", n_steps=50)
    expected = decisive_observations(library.per_observation, inputs.dates[0],
                                     None if inputs.cloudy is None else inputs.cloudy[0], 5)
    pd.testing.assert_frame_equal(decisive, expected)
    # with the Attributions page's defaults, so that page shows the same values for this parcel
    page = cache.attribution(model, ds, parcel, "integrated_gradients", predicted, "zeros", None,
                             {"n_steps": cache.DEFAULT_IG_STEPS})
    np.testing.assert_array_equal(page.per_observation, library.per_observation)
    stars = fig.data[-1]
    assert stars.name == "decisive inputs (IG)" and list(stars.text)[0].startswith("#1")
    assert len(stars.x) == len(decisive) == 5
    assert cache.dossier_trajectory(model, ds, parcel, row["true_class"], row["pred_class"])[0] is fig
    table, curves = cache.neighbour_view(model, ds, parcel)
    pd.testing.assert_frame_equal(table, neighbour_table(cache.diagnosis(model, ds), parcel))
    assert len(curves.data) >= len(table) + 1  # every neighbour and the parcel itself
    assert cache.neighbour_view(model, ds, parcel)[1] is curves
