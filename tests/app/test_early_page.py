"""AppTest of the early-classification page on the tiny demo with tiny ELECTS models trained here."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.app.test_pages import chart_keys

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def early_models(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny ELECTS models (alpha 0.5 and a full-season reference) and a Random Forest."""
    from cropviz.training import TrainConfig, train

    folder = tmp_path_factory.mktemp("early-models")
    common = {"root": str(demo_root), "train_regions": ["frh01"], "val_region": "frh03", "epochs": 1,
              "device": "cpu"}
    train(TrainConfig(model="elects", hparams={"hidden_dims": 16}, **common), folder / "elects.pt", progress=False)
    train(TrainConfig(model="elects", hparams={"hidden_dims": 16}, full_season=True, **common),
          folder / "elects_fullseason.pt", progress=False)
    train(TrainConfig(model="random_forest", hparams={"n_estimators": 5}, **common), folder / "random_forest.npz",
          progress=False)
    return folder


@pytest.fixture
def early_app(app_env: dict[str, str], early_models: Path, monkeypatch: pytest.MonkeyPatch):
    from streamlit.testing.v1 import AppTest

    for key, value in {**app_env, "CROPVIZ_MODELS": str(early_models)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=180)


def _no_failures(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _chart_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _open_early(at, model: str):
    at.query_params["model"] = model
    at.run()
    at.switch_page("pages/early.py")
    at.run()
    _no_failures(at)
    return at


def test_early_page_with_elects_in_the_sidebar(early_app):
    at = _open_early(early_app, "elects")
    assert any("SIMULATED demo" in w.value for w in at.warning)
    assert not [s for s in at.selectbox if s.key == "early_model"]  # the sidebar model is used
    assert [h.value for h in at.header] == ["One parcel, date by date"]
    # the first render sends the parcel's animation and the first view only
    assert chart_keys(at) == ["early_parcel_animation", "early_draws_figure"]
    assert at.query_params["early_view"] == "draws"
    assert [len(spec.get("frames", [])) for spec in _chart_specs(at)][:1] == [70]
    verdict = next(m.value for m in at.markdown if m.value.startswith("Stops on **"))
    assert "class at the stop **" in verdict and "full-season answer **" in verdict and "true class **" in verdict
    assert any(c.value.startswith("Over 200 sampled draws (seed 0)") for c in at.caption)
    assert not at.dataframe  # the region's tables wait for their views
    at.segmented_control(key="early_view").set_value("tradeoff").run()
    _no_failures(at)
    assert chart_keys(at) == ["early_parcel_animation", "early_tradeoff_figure"]
    tradeoff = next(d.value for d in at.dataframe if "harmonic mean" in d.value.columns)
    assert sorted(tradeoff["model"]) == ["elects", "elects_fullseason"]
    full = tradeoff.set_index("model").loc["elects_fullseason"]
    assert full["earliness"] == 1.0 and bool(full["full season"])
    at.segmented_control(key="early_view").set_value("crops").run()
    _no_failures(at)
    assert chart_keys(at) == ["early_parcel_animation", "early_stop_dates"]
    months = next(d.value for d in at.dataframe if "Jun" in d.value.columns)
    shares = months.drop(columns="median stop")
    assert ((shares >= 0) & (shares <= 1)).all().all()
    stops = pd.to_datetime(months["median stop"] + " 2017", format="%d %b %Y")
    for month in ("Mar", "Jun", "Dec"):  # nothing decided right before its class's median stop month
        ends = pd.Timestamp(f"1 {month} 2017") + pd.offsets.MonthEnd(0)
        assert (months.loc[stops > ends, month] <= 0.5).all()
    at.segmented_control(key="early_view").set_value("region").run()
    _no_failures(at)
    assert chart_keys(at) == ["early_parcel_animation"]  # a table, the animation on demand
    over_time = next(d.value for d in at.dataframe if "by end of" in d.value.columns)
    assert over_time["share decided"].is_monotonic_increasing
    parcel = at.selectbox(key="early_parcel")
    parcel.select(parcel.options[2]).run()
    _no_failures(at)
    assert at.session_state["parcel"] == int(parcel.options[2])
    assert at.segmented_control(key="early_view").value == "region"  # the view stays with a new parcel
    at.toggle(key="early_region_animate").set_value(True).run()
    _no_failures(at)
    animated = [spec for spec in _chart_specs(at) if spec.get("frames")]
    assert len(animated) == 2  # the parcel and the region
    assert len(animated[0]["frames"]) == 70  # one per observation the model reads
    for spec in animated:
        assert all(len(frame["data"]) == len(spec["data"]) for frame in spec["frames"])
    at.radio(key="early_mode").set_value("sampled").run()
    at.slider(key="early_threshold").set_value(0.3).run()
    _no_failures(at)
    assert at.query_params["threshold"] == "0.3"


def test_early_page_offers_elects_weights_when_the_sidebar_model_is_not_early(early_app):
    at = _open_early(early_app, "random_forest")
    picker = at.selectbox(key="early_model")
    assert picker.options == ["elects", "elects_fullseason"]
    assert any("not an early classifier" in i.value for i in at.info)
    picker.select("elects_fullseason").run()
    _no_failures(at)
    assert any("full-season reference" in m.value for m in at.markdown)
