"""Streamlit AppTest of app.py and every page on the tiny demo."""

from __future__ import annotations

import json

import pandas as pd
import pytest

PAGES = ["pages/map.py", "pages/inspector.py", "pages/explorer.py", "pages/phenology.py", "pages/attention.py",
         "pages/attributions.py"]


def _no_failures(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_app_opens_on_the_map_of_the_demo_test_region(app):
    app.run()
    _no_failures(app)
    assert app.sidebar.selectbox(key="region_widget").value == "frh04 (test)"
    assert app.sidebar.selectbox(key="model_widget").value == "transformer"
    assert any("SIMULATED demo data" in w.value for w in app.warning)
    assert any("Simulated demo region" in w.value for w in app.sidebar.warning)
    assert any(c.value.startswith("Model trained on: cropviz simulated demo") for c in app.sidebar.caption)
    assert app.radio(key="map_color").options == ["True class", "Predicted class", "Correct or wrong", "Confidence",
                                                  "Uncertainty (calibrated entropy)"]
    app.radio(key="map_color").set_value("uncertainty").run()
    _no_failures(app)
    assert [label for label in app.markdown if "1.00" in label.value]  # the uncertainty legend
    assert app.query_params["region"] == "frh04"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_without_error(app, page):
    app.run()
    app.switch_page(page)
    app.run()
    _no_failures(app)


def test_selecting_a_parcel_updates_the_inspector(app):
    app.run()
    app.switch_page("pages/inspector.py")
    app.run()
    box = app.selectbox(key="inspector_parcel")
    target = box.options[3]
    box.select(target).run()
    _no_failures(app)
    assert app.session_state["parcel"] == int(target)
    assert app.query_params["parcel"] == str(target)
    assert any(f"**Parcel {target}**" in m.value for m in app.markdown)


def test_next_misclassified_button_moves_to_a_wrong_parcel(app):
    app.run()
    app.switch_page("pages/inspector.py")
    app.run()
    app.button(key="inspector_parcel_step1").click().run()
    _no_failures(app)
    text = " ".join(m.value for m in app.markdown)
    assert "WRONG" in text


def test_a_confusion_cell_filters_the_parcel_list(app):
    app.run()
    app.switch_page("pages/explorer.py")
    app.run()
    parcels = app.session_state["context"].table
    (true, predicted), expected = parcels.groupby(["classname", "predicted"]).size().sort_values().index[-1], \
        int(parcels.groupby(["classname", "predicted"]).size().max())
    app.selectbox(key="explorer_true").select(true).run()
    app.selectbox(key="explorer_pred").select(predicted).run()
    _no_failures(app)
    table = app.dataframe(key="explorer_cell_table").value
    assert len(table) == expected
    assert set(table["true class"]) == {true} and set(table["predicted class"]) == {predicted}
    assert list(table["confidence"]) == sorted(table["confidence"], reverse=True)


def test_query_parameters_restore_a_view(app):
    app.query_params["region"] = "frh03"
    app.query_params["model"] = "random_forest"
    app.query_params["parcel"] = "0"
    app.switch_page("pages/inspector.py")
    app.run()
    _no_failures(app)
    assert app.sidebar.selectbox(key="region_widget").value == "frh03 (validation)"
    assert app.sidebar.selectbox(key="model_widget").value == "random_forest"


# AppTest (Streamlit 1.67) drops the sidebar of st.navigation apps from its element tree after the
# first run, so sidebar states are reached through query parameters on a first run.
def test_a_folder_that_is_not_a_dataset_gives_a_message_and_the_app_stays_usable(app, tmp_path):
    app.query_params["source"] = "Dataset folder"
    app.query_params["root"] = str(tmp_path)
    app.run()
    assert not app.exception
    assert app.sidebar.text_input(key="root_widget").value == str(tmp_path)
    assert any(str(tmp_path) in e.value and "no BreizhCrops regions" in e.value for e in app.sidebar.error)
    app.switch_page("pages/inspector.py")
    app.run()
    assert not app.exception
    assert any("no BreizhCrops regions" in i.value for i in app.info)



def test_attention_page_shows_rollout_and_cloud_numbers(app):
    app.run()
    app.switch_page("pages/attention.py")
    app.run()
    _no_failures(app)
    # the first render draws the parcel's rollout and its per-layer maps, not the region
    assert chart_keys(app) == ["attention_rollout", "attention_grid"] and not app.dataframe
    assert app.query_params["attention_view"] == "maps"
    # the last layer's heads by default (all of them take seconds to draw), every layer on request
    picker = app.segmented_control(key="attention_layer")
    layers = len(picker.options) - 1
    grid = json.loads(app.get("plotly_chart")[1].proto.spec)
    assert picker.value == layers and len(grid["data"]) == 2
    assert grid["layout"]["annotations"][0]["text"] == f"layer {layers} · head 1"
    picker.set_value("all").run()
    _no_failures(app)
    assert len(json.loads(app.get("plotly_chart")[1].proto.spec)["data"]) == 2 * layers
    app.segmented_control(key="attention_view").set_value("clouds").run()
    _no_failures(app)
    assert chart_keys(app) == ["attention_rollout", "attention_clouds"]
    shown = next(d for d in app.dataframe if "all classes" in d.value.index)
    table = shown.value
    assert "all classes" in table.index
    formats = {c: v.get("type_config", {}).get("format") for c, v in json.loads(shown.proto.columns).items()}
    assert formats["cloudy share"] == formats["clear"] == "%.3f"  # every number with 3 decimals, evenly
    assert {"clear", "cloudy", "cloudy / clear"} <= set(table.columns)
    # attention is expressed as a multiple of the uniform share: its mean over observations is 1
    assert table.loc["all classes", "clear"] * (1 - table.loc["all classes", "cloudy share"]) + \
        table.loc["all classes", "cloudy"] * table.loc["all classes", "cloudy share"] == pytest.approx(1.0, abs=0.01)


def test_attributions_page_reports_the_convergence_delta_with_advice_per_method(app):
    app.run()
    app.switch_page("pages/attributions.py")
    app.run()
    _no_failures(app)
    assert app.selectbox(key="attr_method").value == "integrated_gradients"
    # the method by its name, not its identifier, in the sentence and under the bars
    assert any("with Integrated gradients." in m.value for m in app.markdown)
    bars = next(t for t in json.loads(app.get("plotly_chart")[0].proto.spec)["data"] if t["type"] == "bar")
    assert bars["name"] == "Integrated gradients"

    def delta() -> float:
        return float(next(m for m in app.metric if m.label.startswith("Convergence delta")).value)

    coarse = delta()
    app.select_slider(key="attr_steps").set_value(200).run()
    _no_failures(app)
    assert abs(delta()) < min(abs(coarse), 0.05)  # more steps: the attributions add up
    app.selectbox(key="attr_method").select("deeplift").run()
    _no_failures(app)
    # the transformer's softmax, layer norms and max over time are not ReLU modules: DeepLift's
    # attributions do not add up, and the advice is not "more IG steps"
    assert abs(delta()) >= 0.05
    advice = [w.value for w in app.warning if "of the log-probability change" in w.value]
    assert len(advice) == 1 and "rescale rule" in advice[0] and "IG steps" not in advice[0]
    app.selectbox(key="attr_method").select("occlusion").run()
    _no_failures(app)
    assert not any(m.label.startswith("Convergence delta") for m in app.metric)


def test_attention_page_reads_precomputed_results_of_the_whole_region(app, demo_root, cluster, tmp_path):
    import shutil

    from cropviz.data import open_breizhcrops
    from cropviz.explain.region import cloud_attention_summary, observation_attention
    from cropviz.models import Classifier
    from cropviz.scale import precompute

    root = tmp_path / "demo"
    shutil.copytree(demo_root, root)
    precompute(root, "frh04", "transformer", explain=("attention",), scheduler=cluster.scheduler_address,
               partition_size=20, progress=False)
    app.query_params.update({"source": "Dataset folder", "root": str(root), "region": "frh04",
                             "model": "transformer", "attention_view": "clouds"})
    app.switch_page("pages/attention.py")
    app.run()
    _no_failures(app)
    assert any(c.value.startswith("All 40 parcels, read from the results precomputed on Dask") for c in app.caption)
    assert not [s for s in app.select_slider if s.key == "attention_parcels"]
    from_results = next(d.value for d in app.dataframe if "all classes" in d.value.index)
    ds = open_breizhcrops(root, "frh04")
    computed_now = cloud_attention_summary(observation_attention(Classifier.open("transformer", device="cpu"), ds,
                                                                 ds.index["id"].to_numpy())).round(3)
    computed_now = computed_now.rename_axis("class")  # the page names its index for people
    pd.testing.assert_frame_equal(from_results, computed_now, atol=2e-3)


# --------------------------------------------------------------------------- views (issue 15, speed)

def chart_keys(at) -> list[str]:
    """The keys of the Plotly charts the last run sent, in page order."""
    return [chart.proto.id.rsplit("-", 1)[-1] for chart in at.get("plotly_chart")]


def _top_observations(at) -> int:
    """Rows of the attributions page's top-observations table."""
    return len(next(d.value for d in at.dataframe if "cloud-flagged" in d.value.columns))


#: Each view of the attributions page and the charts it adds below the trajectory.
ATTRIBUTION_VIEWS = {"time_band": ["attr_heatmap"], "compare": ["attr_compare_fig"],
                     "what_if": ["attr_whatif_before", "attr_whatif_after"], "sanity": [],
                     "classes": ["attr_agg_heatmap", "attr_agg_curve"]}


def test_attributions_first_render_sends_two_charts_and_each_view_only_its_own(app):
    app.run()
    app.switch_page("pages/attributions.py")
    app.run()
    _no_failures(app)
    assert chart_keys(app) == ["attr_trajectory", "attr_heatmap"]
    assert _top_observations(app) == 5
    picker = app.segmented_control(key="attr_view")
    assert picker.options == ["Time x band", "Compare", "What-if", "Sanity check", "Class patterns"]
    assert app.query_params["attr_view"] == "time_band"
    for view, keys in ATTRIBUTION_VIEWS.items():
        app.segmented_control(key="attr_view").set_value(view).run()
        _no_failures(app)
        assert chart_keys(app) == ["attr_trajectory", *keys], view
        assert app.query_params["attr_view"] == view
        assert _top_observations(app) == 5  # the primary content stays
    app.segmented_control(key="attr_view").set_value("sanity").run()
    assert [b.label for b in app.button if b.key == "attr_sanity"] == ["Randomise the model's weights and compare"]


def test_a_shared_link_opens_the_attributions_view_it_names(app):
    app.query_params["attr_view"] = "what_if"
    app.switch_page("pages/attributions.py")
    app.run()
    _no_failures(app)
    assert app.segmented_control(key="attr_view").value == "what_if"
    assert chart_keys(app) == ["attr_trajectory", "attr_whatif_before", "attr_whatif_after"]
    app.query_params["attr_view"] = "no such view"  # an unknown name opens the first view
    app.switch_page("pages/explorer.py")
    app.run()
    app.switch_page("pages/attributions.py")
    app.run()
    _no_failures(app)
    assert chart_keys(app) == ["attr_trajectory", "attr_heatmap"]


def test_explorer_first_render_sends_two_charts_and_the_comparison_on_demand(app):
    app.run()
    app.switch_page("pages/explorer.py")
    app.run()
    _no_failures(app)
    assert chart_keys(app) == ["explorer_confusion", "explorer_per_class"]
    assert not any("right model" in d.value.columns for d in app.dataframe)  # the second model is not run
    app.segmented_control(key="explorer_view").set_value("compare").run()
    _no_failures(app)
    assert chart_keys(app) == ["explorer_confusion", "explorer_compare_fig"]
    assert app.query_params["explorer_view"] == "compare"
    assert len(next(d.value for d in app.dataframe if "right model" in d.value.columns)) > 0
    assert len(app.dataframe(key="explorer_cell_table").value) > 0
