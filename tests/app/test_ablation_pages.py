"""AppTest of the ablation pages (pages/order.py, pages/space_time.py) on the tiny demo, with tiny
models trained here (a model and its shuffled twin, with test metrics in their cards) and a tiny
results file, so the tests do not depend on the shipped weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.app.test_pages import chart_keys

REPO = Path(__file__).resolve().parents[2]


def _no_failures(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(scope="module")
def ablation_env(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from cropviz.ablation import reproduce_time_space
    from cropviz.data import open_breizhcrops
    from cropviz.metrics import classification_metrics
    from cropviz.models import Classifier
    from cropviz.training import TrainConfig, train

    models = tmp_path_factory.mktemp("ablation-models")
    test = open_breizhcrops(demo_root, "frh04")
    for name, arch, shuffled in (("tempcnn", "tempcnn", False), ("tempcnn_shuffled", "tempcnn", True),
                                 ("gru", "gru", False), ("gru_shuffled", "gru", True)):
        path, _ = train(TrainConfig(model=arch, root=str(demo_root), train_regions=["frh01"], val_region="frh03",
                                    epochs=1, batch_size=32, shuffle_time=shuffled), models / f"{name}.pt",
                        progress=False)
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text())
        ids = list(test.patches().ids) if arch == "gru" else None
        pred = Classifier.open(path, device="cpu").predict(test, ids=ids)
        card["test"] = {"region": "frh04", **{k: v for k, v in classification_metrics(
            pred["true"], pred["pred"], test.classes).items() if k in ("overall_accuracy", "macro_f1")}}
        card_path.write_text(json.dumps(card))
    results = tmp_path_factory.mktemp("ablation-results") / "results.json"
    reproduce_time_space(demo_root, results, quick=True, epochs=1, models=("cnn", "gru", "cnn_gru9"),
                         shuffled=("gru",), zoo=("tempcnn",), progress=False)
    return {"CROPVIZ_MODELS": str(models), "CROPVIZ_SEED004_RESULTS": str(results)}


@pytest.fixture
def ablation_app(app, ablation_env, monkeypatch):
    for key, value in ablation_env.items():
        monkeypatch.setenv(key, value)
    return app


@pytest.mark.parametrize("page", ["order", "space_time"])
def test_ablation_pages_load_without_error(ablation_app, page):
    at = ablation_app
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    _no_failures(at)
    text = " ".join(m.value for m in at.markdown)
    assert "theirs (real T31TFM data, Garnot et al.)" in text
    assert "ours (simulated demo)" in text
    assert any("cropviz reproduce time-space --root DIR --folds 5" in i.value for i in at.info)


def test_order_page_tables_chart_and_disagreements(ablation_app):
    at = ablation_app
    at.run()
    at.switch_page("pages/order.py")
    at.run()
    _no_failures(at)
    frames = [d.value for d in at.dataframe]
    ours = next(f for f in frames if "delta" in f.columns and "family" in f.columns and "epochs" not in f.columns)
    assert set(ours["model"]) == {"gru", "tempcnn"}
    cards = next(f for f in frames if "test region" in f.columns)
    assert set(cards["model"]) == {"gru", "tempcnn"}
    # F1 points in one decimal in every table (Streamlit dropped trailing zeros: 76 beside 55.3)
    for table in [d for d in at.dataframe if "delta" in d.value.columns]:
        columns = json.loads(table.proto.columns)
        assert columns["delta"]["type_config"]["format"] == "%.1f", table.value.columns
    # the first render: Table 4's chart and the first view (which crops need the order)
    assert chart_keys(at) == ["order_delta", "order_per_class"]
    assert at.selectbox(key="order_class_model").options == ["gru", "tempcnn"]
    assert not [s for s in at.selectbox if s.key == "order_pair"]  # the disagreements wait for their view
    at.segmented_control(key="order_view").set_value("parcels").run()
    _no_failures(at)
    assert chart_keys(at) == ["order_delta", "order_parcel_figure"]
    assert at.query_params["order_view"] == "parcels"
    assert at.selectbox(key="order_pair").value == "gru"
    parcel_box = at.selectbox(key="order_parcel_gru")
    target = parcel_box.options[-1]
    parcel_box.select(target).run()
    _no_failures(at)
    if at.session_state["parcel"] != int(target):  # a parcel already shown is selected with the button
        at.button(key="order_select").click().run()
    assert at.session_state["parcel"] == int(target)
    assert any(f"**Parcel {target}**" in m.value for m in at.markdown)


def test_order_page_switches_to_the_sequence_pair(ablation_app):
    at = ablation_app
    at.run()
    at.query_params["order_view"] = "parcels"  # a link to the view
    at.switch_page("pages/order.py")
    at.run()
    at.selectbox(key="order_pair").select("tempcnn").run()
    _no_failures(at)
    assert at.query_params["pair"] == "tempcnn"
    assert at.selectbox(key="order_parcel_tempcnn").options


def test_space_time_page_tables(ablation_app):
    at = ablation_app
    at.run()
    at.switch_page("pages/space_time.py")
    at.run()
    _no_failures(at)
    frames = [d.value for d in at.dataframe]
    ours = next(f for f in frames if "temporal share" in f.columns and "F-score std (folds)" in f.columns)
    assert list(ours["model"]) == ["CNN", "CNN+GRU9", "GRU"]  # the paper's order
    theirs = next(f for f in frames if "temporal share" in f.columns and "F-score std (folds)" not in f.columns)
    assert theirs.set_index("model").loc["GRU", "F-score"] == 53.8
    # what the paper does not give reads as a dash, not "None"; our shares in two decimals
    assert theirs.set_index("model").loc["RF", "OA"] == "–"
    assert theirs.set_index("model").loc["ConvLSTM", "temporal share"] == "–"
    # text columns (the dashes) in the decimals of the number columns beside them
    assert tuple(theirs.set_index("model").loc["GRU", ["OA", "parameters", "temporal share"]]) == ("93.5", "94587",
                                                                                                "1.0")
    formats = {name: json.loads(d.proto.columns) for name, d in zip(("theirs", "ours"), [
        d for d in at.dataframe if "temporal share" in d.value.columns], strict=True)}
    assert formats["theirs"]["F-score"]["type_config"]["format"] == "%.1f"
    assert formats["ours"]["temporal share"]["type_config"]["format"] == "%.2f"
    assert formats["ours"]["OA"]["type_config"]["format"] == "%.1f"
    assert not theirs.isna().any().any()
    assert all(round(v, 2) == v for v in ours["temporal share"])
    assert "holds in the paper" in frames[0].columns  # the paper's directions come first


def _folded_row(model: str, order: str, folds: list[float], family: str = "seed 004") -> dict:
    """A results row with three folds, in the form reproduce_time_space writes (macro F1 in percent)."""
    import numpy as np

    from cropviz.ablation.tables import PAPER_NAMES

    f1 = [v / 100 for v in folds]
    metrics = {k: float(np.mean(f1)) for k in ("overall_accuracy", "kappa", "macro_f1", "precision", "recall")}
    return {"model": model, "paper_name": PAPER_NAMES.get(model, model), "order": order, "family": family, "seed": 0,
            "epochs": 2, **metrics, "per_class_f1": {"barley": metrics["macro_f1"], "wheat": metrics["macro_f1"]},
            "per_class_support": {"barley": 30, "wheat": 30}, "parameters": 1000, "temporal_share": 0.5,
            "best_epoch": [2, 2, 2], "train_seconds": 1.0, "test_parcels": 60,
            "folds": [{**{k: v for k in metrics}, "best_epoch": 2, "n": 20} for v in f1],
            "spread": {"macro_f1_std": float(np.std(f1, ddof=1))}}


@pytest.fixture
def folded_app(app, tmp_path, monkeypatch):
    """The app on a hand-written 3-fold results file where the GRU beats the CNN by only 4 points
    (claim a fails) and shuffling costs the ConvLSTM more than the GRU (claim c fails)."""
    from cropviz.ablation import RESULTS_FORMAT

    rows = [_folded_row("cnn", "ordered", [50, 52, 54]), _folded_row("cnn_gru7", "ordered", [53, 54, 55]),
            _folded_row("gru", "ordered", [55, 56, 57]), _folded_row("convlstm", "ordered", [50, 50, 50]),
            _folded_row("gru", "shuffled", [50, 50, 51]), _folded_row("convlstm", "shuffled", [40, 41, 42])]
    results = {"format": RESULTS_FORMAT, "results": rows, "command": None,
               "equivalent_command": "cropviz reproduce time-space --root DIR --folds 3 --out FILE",
               "data": {"simulated": True, "split": "3-fold stratified cross-validation",
                        "patches": {"parcels": 60, "classes": ["barley", "wheat"]}},
               "protocol": {"folds": 3, "epochs": 2, "zoo_epochs": 2, "paper_epochs": 50}}
    path = tmp_path / "folded.json"
    path.write_text(json.dumps(results))
    monkeypatch.setenv("CROPVIZ_SEED004_RESULTS", str(path))
    return app


def _error_bars(at, key: str) -> dict[str, list | None]:
    """Per trace name, the error-bar array of the Plotly chart ``key``."""
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key))
    return {t["name"]: t.get("error_y", {}).get("array") for t in json.loads(chart.proto.spec)["data"]}


def test_space_time_page_checks_the_papers_directions_with_error_bars(folded_app):
    at = folded_app
    at.run()
    at.switch_page("pages/space_time.py")
    at.run()
    _no_failures(at)
    assert "60 simulated patch parcels, 3-fold cross-validation, 2 epochs" in at.info[0].value
    directions = next(d.value for d in at.dataframe if "holds in the paper" in d.value.columns)
    assert list(directions["claim"]) == ["GRU beats CNN by >= 10 macro F1 points", "CNN+GRU7 lies between CNN and GRU",
                                         "CNN+GRU8 lies between CNN and GRU", "CNN+GRU9 lies between CNN and GRU"]
    assert list(directions["ours"]) == ["4.0", "54.0", "–", "–"]  # no CNN+GRU8/9 run: not checked
    assert list(directions["holds"]) == ["no", "yes", "–", "–"]
    assert list(directions["holds in the paper"]) == ["yes", "yes", "no", "no"]
    assert [w.value for w in at.warning if w.value.startswith("Not reproduced")] == [
        "Not reproduced here: GRU beats CNN by >= 10 macro F1 points. Paper +18.9, ours +4.0 ± 1.0 (GRU ordered "
        "56.0 ± 1.0 vs CNN ordered 52.0 ± 2.0 over 3 folds: +4.0; per fold 3.0 to 5.0, holding in 0 of 3)."]
    assert any("not BreizhCrops results" in c.value for c in at.caption)
    assert not any("Shuffling the dates costs" in c.value for c in at.caption)  # no order claim on this page
    assert any("error bars: ±1 standard deviation over 3 folds" in c.value for c in at.caption)
    bars = _error_bars(at, "space_bars")
    assert bars["theirs (real T31TFM data, Garnot et al.)"] is None
    assert bars["ours (simulated demo)"] == [2.0, 1.0, 1.0, 0.0]  # CNN, CNN+GRU7, GRU, ConvLSTM
    assert _error_bars(at, "space_share")["ours (simulated demo)"] == [2.0, 1.0, 1.0, 0.0]


def test_order_page_checks_the_papers_directions_with_error_bars(folded_app):
    at = folded_app
    at.run()
    at.switch_page("pages/order.py")
    at.run()
    _no_failures(at)
    directions = next(d.value for d in at.dataframe if "holds in the paper" in d.value.columns)
    assert list(directions["claim"]) == ["shuffling costs the GRU >= 3 points",
                                         "shuffling costs the GRU more than the ConvLSTM"]
    assert list(directions["paper"]) == [-8.5, -7.2]
    assert list(directions["ours"]) == ["-5.7", "3.3"]  # GRU 50.3 - 56.0; ConvLSTM 41.0 - 50.0
    assert list(directions["holds"]) == ["yes", "no"]
    warnings = [w.value for w in at.warning if w.value.startswith("Not reproduced")]
    assert len(warnings) == 1
    assert warnings[0].startswith("Not reproduced here: shuffling costs the GRU more than the ConvLSTM. Paper -7.2, "
                                  "ours +3.3 ± 1.5 (shuffled - ordered: GRU -5.7, ConvLSTM -9.0 over 3 folds")
    assert any("Shuffling the dates costs the seed 004 models 5.7-9.0 macro F1 points here (the paper: 1.2-8.5)"
               in c.value for c in at.caption)  # why, with this run's numbers
    ours = next(d.value for d in at.dataframe if "delta std (folds)" in d.value.columns).set_index("model")
    assert (ours.loc["gru", "delta std (folds)"], ours.loc["convlstm", "delta std (folds)"]) == (0.6, 1.0)
    assert not any(c.endswith("_std") for c in ours.columns)  # headings, not the results' names
    assert any("error bars: ±1 standard deviation over 3 folds" in c.value for c in at.caption)
    assert _error_bars(at, "order_delta")["ours (simulated demo)"] == [0.6, 1.0]  # GRU, ConvLSTM
