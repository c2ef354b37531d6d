"""The researcher's journey in AppTest (issue 15): one selected parcel shared through the URL, the
numbers and labels each page shows, and the folders a shared server may open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cropviz.viz.colors import CLASS_COLORS, NEGATIVE_WORD, POSITIVE_WORD


def _no_failures(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _open(app, page: str, check: bool = True, **query: str):
    app.query_params.update(query)
    app.switch_page(page)
    app.run()
    if check:
        _no_failures(app)
    return app


def _figures(at) -> list:
    import plotly.io as pio

    return [pio.from_json(element.proto.spec, skip_invalid=True) for element in at.get("plotly_chart")]


def _numbers(values) -> list[float]:
    """Plotly's JSON writes arrays as {'dtype', 'bdata'} (base64); lists stay lists."""
    import base64

    import numpy as np

    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return [float(v) for v in values]


def _title(figure) -> str:
    return figure.layout.title.text or ""


def _table(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _navigate(app, page: str):
    """What a sidebar link does: the next page starts from a URL without the page's own parameters."""
    app.query_params.clear()
    app.switch_page(page)
    app.run()
    _no_failures(app)
    return app


def test_the_selected_parcel_stays_in_the_url_across_pages_and_opens_from_a_copied_link(app):
    from streamlit.testing.v1 import AppTest

    _open(app, "pages/inspector.py")
    target = int(app.selectbox(key="inspector_parcel").options[7])
    app.selectbox(key="inspector_parcel").select(target).run()
    for page in ("pages/attention.py", "pages/attributions.py", "pages/explorer.py", "pages/phenology.py"):
        _navigate(app, page)
        assert app.session_state["parcel"] == target, page
        assert app.query_params["parcel"] == str(target), page
    link = dict(app.query_params)

    fresh = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=180)
    _open(fresh, "pages/attributions.py", **link)
    assert fresh.session_state["parcel"] == target
    assert any(m.value.startswith(f"**Parcel {target}**") for m in fresh.markdown)


def test_visiting_ordered_vs_shuffled_does_not_change_the_selected_parcel(app):
    _open(app, "pages/order.py", order_view="parcels")
    shown = {int(i) for i in next(d.value for d in app.dataframe if {"ordered", "shuffled"} <= set(d.value.columns)
                                  and "id" in d.value.columns)["id"]}
    _navigate(app, "pages/inspector.py")
    outside = next(int(i) for i in app.selectbox(key="inspector_parcel").options if int(i) not in shown)
    app.selectbox(key="inspector_parcel").select(outside).run()
    _navigate(app, "pages/order.py")
    app.segmented_control(key="order_view").set_value("parcels").run()  # a bare link opens the first view
    assert app.session_state["parcel"] == outside
    assert app.query_params["parcel"] == str(outside)
    # the page shows one of its own parcels until the user selects it
    box = next(s for s in app.selectbox if s.key.startswith("order_parcel_"))
    assert int(box.value) in shown
    app.button(key="order_select").click().run()
    _no_failures(app)
    assert app.session_state["parcel"] == int(box.value)
    assert not [b for b in app.button if b.key == "order_select"]


def test_order_caption_names_the_colours_its_bars_use(app):
    _open(app, "pages/order.py", order_view="parcels")
    caption = next(c.value for c in app.caption if "pushes towards" in c.value)
    assert f"{POSITIVE_WORD} pushes towards the class, {NEGATIVE_WORD} away" in caption
    assert any("differ from the table above" in c.value for c in app.caption)  # two F1 values explained


def test_what_if_reports_probabilities(app):
    _open(app, "pages/attributions.py", attr_view="what_if")
    line = next(m.value for m in app.markdown if m.value.startswith("Predicted **"))
    values = [float(v) for v in re.findall(r"\((\d+\.\d+)\)", line)]
    assert len(values) == 2 and all(0 < v <= 1 for v in values), line
    bars = [f for f in _figures(app) if _title(f) in ("before", "after")]
    assert len(bars) == 2
    for figure in bars:
        probs = _numbers(figure.data[0].x)
        assert sum(probs) == pytest.approx(1.0, abs=1e-4) and max(probs) <= 1.0


def test_attributions_name_cloudy_decisive_observations_and_guide_the_delta(app):
    _open(app, "pages/attributions.py")
    top = _table(app, "cloud-flagged")
    assert {"date", "cloud-flagged"} <= set(top.columns)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in top["date"])
    assert set(top["cloud-flagged"]) <= {"yes", "no"}
    assert any("|delta| below" in c.value for c in app.caption) or any("IG steps" in w.value for w in app.warning)
    heatmap = next(f for f in _figures(app) if _title(f) == "Time x band attributions")  # the first view
    bands = list(heatmap.data[0].y)
    assert bands[0].startswith("B1 ") or bands[0].startswith("B2 ")  # named, first band on top
    assert heatmap.layout.yaxis.autorange == "reversed"
    app.segmented_control(key="attr_view").set_value("classes").run()
    _no_failures(app)
    region = next(f for f in _figures(app) if "mean |attribution|" in _title(f))
    assert region.data[0].zmin == 0 and region.data[0].zmid is None  # sequential, whole scale used


def test_inspector_draws_envelopes_in_class_colours_and_probabilities_on_a_0_1_axis(app):
    _open(app, "pages/inspector.py")
    app.button(key="inspector_parcel_step1").click().run()  # a misclassified parcel: true and predicted envelopes
    _no_failures(app)
    trajectory = next(f for f in _figures(app) if _title(f).startswith("Parcel"))
    envelopes = {t.name: t.line.color for t in trajectory.data if t.name.endswith("mean ± std")}
    assert len(envelopes) == 2
    for name, color in envelopes.items():
        assert color == CLASS_COLORS[name.split(" (")[0]]
    probabilities = next(f for f in _figures(app) if "class probabilities" in _title(f))
    assert list(probabilities.layout.xaxis.range) == [0, 1]
    assert not any("(true) (predicted)" in label for label in probabilities.data[0].y)


def test_attention_offers_parcel_counts_the_region_has_and_month_names(app, demo_root):
    _open(app, "pages/attention.py", attention_view="clouds")
    slider = next(s for s in app.select_slider if s.key == "attention_parcels")
    total = len(app.session_state["context"].table)
    assert max(slider.options) == f"all {total:,}" and len(slider.options) <= 6
    months = next(d.value for d in app.dataframe if d.value.index.name == "month")
    assert set(months.index) <= {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}


def test_misclassifications_open_on_the_biggest_confusion_with_readable_tables(app):
    _open(app, "pages/explorer.py")
    table = app.session_state["context"].table
    wrong = table[table["classname"] != table["predicted"]]
    true, predicted = wrong.groupby(["classname", "predicted"]).size().idxmax()
    assert (app.selectbox(key="explorer_true").value, app.selectbox(key="explorer_pred").value) == (true, predicted)
    cell = app.dataframe(key="explorer_cell_table").value
    assert len(cell) > 0 and not any("_" in c for c in cell.columns), list(cell.columns)
    app.segmented_control(key="explorer_view").set_value("compare").run()
    _no_failures(app)
    assert not app.json  # the comparison summary is a sentence, not raw JSON
    assert any(m.value.startswith("The two models disagree on") for m in app.markdown)
    comparison = _table(app, "right model")
    raw = ("id", "classid", "classname", "right")
    assert not any(c in raw or c.startswith(("confidence_", "predicted_", "pred_")) for c in comparison.columns)


def test_early_classification_tables_and_verdicts_read_as_words(app):
    _open(app, "pages/early.py", model="elects", early_view="region")
    over_time = _table(app, "by end of")
    assert not any("_" in c for c in over_time.columns)
    assert not [m for m in app.metric if m.label in ("Class at the stop", "Full-season answer")]
    assert any(m.value.startswith("Stops on **") for m in app.markdown)


# --------------------------------------------------------------------------- served to a group

def test_a_folder_outside_the_allow_list_is_refused_with_a_message(app, demo_root, monkeypatch, tmp_path):
    allowed = tmp_path / "shared-data"
    (allowed / "team").mkdir(parents=True)
    monkeypatch.setenv("CROPVIZ_DATA_ROOTS", str(allowed))
    _open(app, "pages/inspector.py", check=False, source="Dataset folder", root=str(demo_root))
    assert not app.exception
    errors = [e.value for e in app.sidebar.error]
    assert any("not an allowed dataset folder" in e and str(allowed) in e for e in errors), errors
    assert app.session_state["context"].dataset is None
    # a '..' path that leaves the allowed folder is refused too; a folder inside it is not
    app.sidebar.text_input(key="root_widget").input(str(allowed / "team" / ".." / "..")).run()
    assert any("not an allowed dataset folder" in e.value for e in app.sidebar.error)
    app.sidebar.text_input(key="root_widget").input(str(allowed / "team")).run()
    assert not any("not an allowed" in e.value for e in app.sidebar.error)
    assert any("no BreizhCrops regions" in e.value for e in app.sidebar.error)


def test_a_shared_server_without_an_allow_list_opens_no_folder(app, demo_root, monkeypatch, tmp_path):
    from streamlit import config

    monkeypatch.setenv("CROPVIZ_APP_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("CROPVIZ_DATA_ROOTS", raising=False)
    previous = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        _open(app, "pages/inspector.py", check=False, source="Dataset folder", root=str(demo_root))
    finally:
        config.set_option("server.address", previous)
    assert any("allows no dataset folder" in e.value for e in app.sidebar.error)


def test_the_app_configuration_limits_uploads(tmp_path, monkeypatch):
    from app_support.state import app_settings

    config = tmp_path / "cropviz.toml"
    config.write_text('[data]\nroots = ["/srv/crops"]\n[uploads]\ncheckpoint_mb = 7\nresults_mb = 2\n')
    monkeypatch.setenv("CROPVIZ_APP_CONFIG", str(config))
    monkeypatch.delenv("CROPVIZ_DATA_ROOTS", raising=False)
    settings = app_settings()
    assert settings.data_roots == (Path("/srv/crops"),)
    assert (settings.checkpoint_upload_mb, settings.results_upload_mb) == (7, 2)
    shipped = Path(__file__).resolve().parents[2] / ".streamlit"
    monkeypatch.setenv("CROPVIZ_APP_CONFIG", str(shipped / "cropviz.toml"))
    limits = app_settings()
    server_limit = int(re.search(r"maxUploadSize = (\d+)", (shipped / "config.toml").read_text()).group(1))
    assert limits.checkpoint_upload_mb <= server_limit and limits.results_upload_mb <= server_limit


def test_the_shipped_server_configuration_serves_locally_and_reruns_without_a_full_collection():
    """.streamlit/config.toml: localhost, no file watcher, no gc.collect(2) after each script run."""
    import tomllib
    from streamlit import config

    shipped = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert shipped["server"]["address"] == "127.0.0.1"
    assert shipped["server"]["fileWatcherType"] == "none"
    assert shipped["runner"]["postScriptGC"] is False
    assert config.get_option("runner.postScriptGC") in (True, False)  # an option Streamlit still reads
