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
    theirs = frames[0]
    assert theirs.set_index("model").loc["GRU", "F-score"] == 53.8
