"""AppTests of the Diagnosis, Parcel dossier and Embedding pages on the tiny demo."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from cropviz.viz.diagnosis import VERDICT_LABELS, verdict_label
from tests.app.test_pages import chart_keys


def _values(data) -> list:
    """A plotly JSON array: a list, or a typed array {'dtype': ..., 'bdata': base64}."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"])).tolist()
    return list(data)


def _no_failures(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _open(app, page: str):
    app.run()
    app.switch_page(page)
    app.run()
    _no_failures(app)
    return app


def test_diagnosis_page_counts_verdicts_and_offers_label_errors(app):
    _open(app, "pages/diagnosis.py")
    frame = app.session_state["context"]
    wrong = frame.table[~frame.table["correct"]]
    assert any(f"{len(wrong)} of {len(frame.table)} parcels misclassified" in c.value for c in app.caption)
    table = app.dataframe(key="diagnosis_table").value
    assert len(table) == len(wrong)
    assert list(table["label_quality"]) == sorted(table["label_quality"])
    # verdicts read as words in the table and the filter; the charts name them the same way
    assert set(table["verdict"]) <= {"label error", "cloud-driven", "ambiguous", "atypical", "model error"}
    assert app.multiselect(key="diagnosis_verdict_filter").options == [
        "label error", "cloud-driven", "ambiguous", "atypical", "model error"]
    columns = json.loads(app.dataframe(key="diagnosis_table").proto.columns)
    headings = [columns[c]["label"] for c in ("true_class", "pred_class", "label_quality", "knn_agreement")]
    assert headings == ["labelled", "predicted", "label quality", "neighbours agreeing"]  # not raw names
    assert columns["confidence"]["type_config"]["format"] == "%.2f"


def test_diagnosis_first_render_sends_the_overview_and_calibration_on_demand(app):
    _open(app, "pages/diagnosis.py")
    assert chart_keys(app) == ["diagnosis_verdicts", "diagnosis_pairs"]
    assert app.query_params["diagnosis_view"] == "triage"
    app.segmented_control(key="diagnosis_view").set_value("calibration").run()
    _no_failures(app)
    assert chart_keys(app) == ["diagnosis_verdicts", "diagnosis_pairs", "diagnosis_reliability",
                                "diagnosis_reliability_class"]
    assert any(c.value.startswith("Expected calibration error (10 bins) on 40 parcels") for c in app.caption)
    assert not [d for d in app.dataframe if "label_quality" in d.value.columns]  # the triage table waits


def test_a_verdict_filter_narrows_the_triage_table(app):
    _open(app, "pages/diagnosis.py")
    table = app.dataframe(key="diagnosis_table").value
    verdict = table["verdict"].value_counts().index[0]
    identifier = {label: v for v, label in VERDICT_LABELS.items()}[verdict]
    app.multiselect(key="diagnosis_verdict_filter").set_value([identifier]).run()
    _no_failures(app)
    narrowed = app.dataframe(key="diagnosis_table").value
    assert len(narrowed) == int((table["verdict"] == verdict).sum())
    assert set(narrowed["verdict"]) == {verdict}


def test_dossier_shows_the_selected_parcels_verdict(app):
    app.query_params["parcel"] = "0"
    _open(app, "pages/diagnosis.py")
    wrong = app.dataframe(key="diagnosis_table").value
    target = int(wrong["id"].iloc[0])
    app.switch_page("pages/dossier.py")
    app.session_state["parcel"] = target
    app.run()
    _no_failures(app)
    text = " ".join(m.value for m in app.markdown)
    assert f"**Parcel {target}**" in text
    assert f"### Verdict: :red[{wrong['verdict'].iloc[0]}]" in text
    assert text.count("Verdict:") == 1  # said once, at the top
    # the dossier's probability is calibrated; the map and inspector show the model's own: both said
    context = app.session_state["context"]
    assert context.classifier.is_calibrated
    raw = float(context.table.set_index("id").loc[target, "confidence"])
    calibrated = float(wrong.loc[wrong["id"] == target, "confidence"].iloc[0])
    assert f"(p={calibrated:.2f} calibrated; the model's own {raw:.2f}, as on the map)" in text
    assert app.query_params["parcel"] == str(target)
    # the trajectory and the neighbours' curves are the page's Plotly charts; probabilities are a table
    assert chart_keys(app) == ["dossier_trajectory", "dossier_neighbour_curves"]
    probabilities = next(d.value for d in app.dataframe if "probability" in d.value.columns)
    assert probabilities["probability"].sum() == pytest.approx(1.0, abs=1e-3)
    roles = probabilities.set_index("class")["role"]
    row = wrong.iloc[0]
    assert roles[row["true_class"]] == "labelled" and roles[row["pred_class"]] == "predicted"
    # its decisive inputs read as on the Attributions page: days without a time, shares in percent
    decisive = next(d.value for d in app.dataframe if "cloud-flagged" in d.value.columns)
    assert list(decisive.columns) == ["observation", "date", "cloud-flagged", "attribution", "share of |attribution|"]
    assert decisive["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert decisive["share of |attribution|"].str.endswith("%").all()


def test_embedding_page_draws_every_parcel_and_rings_the_selected_one(app):
    _open(app, "pages/embedding.py")
    ctx = app.session_state["context"]
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    traces = {trace["name"]: _values(trace["customdata"]) for trace in figure["data"]}
    drawn = [i for name, ids in traces.items() if name != "selected parcel" for i in ids]
    assert sorted(drawn) == sorted(ctx.table["id"].tolist())
    assert traces["selected parcel"] == [app.session_state["parcel"]]
    assert app.radio(key="embedding_color").options == ["True class", "Predicted class", "Verdict"]


@pytest.fixture
def fresh_caches(tmp_path, monkeypatch):
    """An empty result store and empty Streamlit caches (both emptied again afterwards)."""
    import streamlit as st

    monkeypatch.setenv("CROPVIZ_CACHE_DIR", str(tmp_path))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def test_dossier_of_a_cloudy_misclassified_parcel_attributes_that_parcel_only(app, fresh_caches, monkeypatch):
    from cropviz.diagnose import evidence
    from cropviz.workspace import Workspace

    app.run()
    ctx = app.session_state["context"]
    full = Workspace(ctx.dataset, ctx.classifier).diagnosis().set_index("id")
    attributed = full.index[full["cloud_attribution_share"].notna()]
    assert len(attributed) >= 3
    target = int(attributed[0])
    rows_attributed: list[int] = []
    real = evidence.attribute_clouds
    monkeypatch.setattr(evidence, "attribute_clouds",
                        lambda m, d, ev, **k: rows_attributed.append(len(ev)) or real(m, d, ev, **k))
    app.session_state["parcel"] = target
    app.switch_page("pages/dossier.py")
    app.run()
    _no_failures(app)
    text = " ".join(m.value for m in app.markdown)
    assert f"**Parcel {target}**" in text and f"Verdict: :red[{verdict_label(full.at[target, 'verdict'])}]" in text
    assert full.at[target, "reason"] in text
    # the parcel, then its misclassified cloudy neighbours: never the region's other parcels
    neighbours = set(full.at[target, "neighbours"])
    assert rows_attributed[0] == 1 and sum(rows_attributed) <= 1 + len(neighbours & set(attributed))
    shown = next(d for d in app.dataframe if "rank" in d.value.columns)
    table = shown.value
    assert table["verdict"].tolist() == [verdict_label(v) for v in full.loc[table["id"], "verdict"]]
    labels = {name: config.get("label") for name, config in json.loads(shown.proto.columns).items()}
    assert (labels["true_class"], labels["pred_class"]) == ("labelled", "predicted")  # not raw names
    assert (labels["id"], labels["confidence"]) == ("parcel", "confidence")
