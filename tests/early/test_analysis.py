"""Region-level early classification on small generated arrays and a tiny hand-made model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from cropviz.data.indices import index_array
from cropviz.early import ElectsModel, early_metrics
from cropviz.early.analysis import (
    RegionSteps,
    class_stop_summary,
    decided_over_time,
    deterministic_stop,
    early_frame,
    stop_date_distribution,
    tradeoff_row,
    tradeoff_table,
)
from cropviz.errors import ConfigurationError
from cropviz.models.inputs import ModelInput
from cropviz.store import Store
from cropviz.workspace import Workspace

CLASSES = ["barley", "wheat", "corn"]
T = 5


def _steps() -> RegionSteps:
    """Three parcels, five steps; each parcel has its own (real, irregular) dates."""
    base = np.datetime64("2017-01-10", "ns")
    dates = np.stack([base + np.array([0, 20, 45, 90, 200]) * np.timedelta64(1, "D") + np.timedelta64(k, "D")
                      for k in range(3)])
    delta = np.array([[0.1, 0.7, 0.9, 0.2, 0.0],   # first crossing of 0.5 at step 1
                      [0.1, 0.2, 0.3, 0.6, 0.9],   # at step 3
                      [0.0, 0.1, 0.2, 0.3, 0.4]],  # never: last step
                     dtype=np.float32)
    pred = np.array([[2, 0, 0, 1, 1], [1, 1, 2, 1, 1], [0, 0, 0, 0, 2]], dtype=np.int16)
    prob = np.linspace(0.3, 0.9, 15, dtype=np.float32).reshape(3, 5)
    return RegionSteps(ids=np.array([11, 12, 13]), labels=np.array([0, 1, 2]), dates=dates, delta=delta,
                       pred=pred, prob=prob)


def test_deterministic_stop_is_the_first_crossing_and_the_date_is_that_steps_date():
    steps = _steps()
    frame = early_frame(steps, threshold=0.5)
    assert frame["stop_step"].tolist() == [1, 3, 4]
    for row, step in enumerate([1, 3, 4]):
        assert frame["stop_date"].iloc[row] == pd.Timestamp(steps.dates[row, step])
    assert frame["pred_at_stop"].tolist() == [0, 1, 2]
    assert frame["pred_full"].tolist() == [1, 1, 2]
    assert frame["prob_at_stop"].tolist() == pytest.approx([steps.prob[0, 1], steps.prob[1, 3], steps.prob[2, 4]])
    assert frame["earliness"].tolist() == pytest.approx([2 / 5, 4 / 5, 1.0])
    assert frame["correct_at_stop"].tolist() == [True, True, True]
    assert frame["correct_full"].tolist() == [False, True, True]
    assert early_frame(steps, threshold=0.95)["stop_step"].tolist() == [4, 4, 4]


def test_deterministic_stop_matches_elects_predict_early():
    torch.manual_seed(0)
    model = ElectsModel(input_dim=4, num_classes=3, hidden_dims=8, num_layers=1)
    torch.nn.init.constant_(model.stopping.bias, 0.0)
    x = torch.randn(6, 9, 4)
    _, delta = model.forward_steps(x)
    for threshold in (0.3, 0.5, 0.7):
        expected = model.predict_early(x, threshold=threshold).stop_step
        assert deterministic_stop(delta.detach().numpy(), threshold).tolist() == expected.tolist()
    with pytest.raises(ConfigurationError):
        deterministic_stop(np.zeros(3))


def _four_parcels() -> pd.DataFrame:
    return pd.DataFrame({"stop_date": pd.to_datetime(["2017-03-01", "2017-05-01", "2017-05-01", "2017-09-01"]),
                         "true": [0, 1, 2, 1], "pred_at_stop": [0, 2, 2, 1]})


def test_decided_over_time_by_hand_on_four_parcels():
    grid = pd.to_datetime(["2017-01-01", "2017-03-01", "2017-04-30", "2017-05-01", "2017-12-31"])
    out = decided_over_time(_four_parcels(), grid)
    assert out["n_decided"].tolist() == [0, 1, 1, 3, 4]
    assert out["decided"].tolist() == pytest.approx([0, 0.25, 0.25, 0.75, 1.0])
    assert out["correct"].tolist() == pytest.approx([0, 0.25, 0.25, 0.5, 0.75])
    assert np.isnan(out["running_accuracy"].iloc[0])
    assert out["running_accuracy"].iloc[1:].tolist() == pytest.approx([1.0, 1.0, 2 / 3, 0.75])
    assert (np.diff(out["decided"]) >= 0).all() and (np.diff(out["correct"]) >= 0).all()


def test_class_stop_summary_months():
    summary = class_stop_summary(_four_parcels(), CLASSES, year=2017)
    assert len(summary) == 3 * 12
    wheat = summary[summary["class"] == "wheat"].set_index("month")
    assert wheat["support"].iloc[0] == 2
    assert wheat.loc["Apr", "decided"] == 0.0 and wheat.loc["May", "decided"] == 0.5
    assert wheat.loc["May", "decided_correct"] == 0.0 and wheat.loc["Sep", "decided_correct"] == 0.5
    corn = summary[summary["class"] == "corn"].set_index("month")
    assert corn.loc["May", "decided_correct"] == 1.0
    medians = summary.drop_duplicates("class").set_index("class")["median_stop_date"]
    assert medians["wheat"] == pd.Timestamp("2017-05-01") and medians["barley"] == pd.Timestamp("2017-03-01")


def test_tradeoff_row_uses_early_metrics_and_full_season_has_earliness_one():
    frame = early_frame(_steps(), 0.5)
    row = tradeoff_row("elects_alpha05", frame, CLASSES, alpha=0.5)
    expected = early_metrics(frame["stop_step"], frame["pred_at_stop"], frame["true"], T, classes=CLASSES)
    for key in ("accuracy", "macro_f1", "earliness", "harmonic_mean"):
        assert row[key] == pytest.approx(expected[key])
    assert row["alpha"] == 0.5 and not row["full_season"]
    assert row["mean_stop_date"] == pd.Timestamp(frame["stop_date"].astype("int64").mean()).normalize()
    full = tradeoff_row("elects_fullseason", frame, CLASSES, full_season=True)
    assert full["earliness"] == 1.0 and full["accuracy"] == pytest.approx(2 / 3)
    assert full["harmonic_mean"] == 0.0
    assert full["mean_stop_date"] == pd.Timestamp(frame["last_date"].astype("int64").mean()).normalize()


class _Dataset:
    """Just enough of a dataset for region_steps: ids, a region, and inputs through the classifier."""

    region, year, level = "toy", 2017, "L1C"
    classes = CLASSES

    def __init__(self, n: int, root) -> None:
        self.root = root
        self.index = pd.DataFrame({"id": np.arange(100, 100 + n)})


class _Classifier:
    """A hand-made ELECTS classifier on random inputs (the Classifier interface used here)."""

    is_early = True
    classes = CLASSES
    device = torch.device("cpu")

    def __init__(self, card: dict, bias: float) -> None:
        torch.manual_seed(0)
        self.model = ElectsModel(input_dim=13, num_classes=3, hidden_dims=8, num_layers=1)
        torch.nn.init.constant_(self.model.stopping.bias, bias)
        bands = ["B1", "B10", "B11", "B12", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9"]
        self.info = SimpleNamespace(card=card, path=None, sha256=f"{card}{bias}", arch="elects", bands=bands)
        self.name = self.label = "elects"

    def check_fits(self, dataset) -> None:
        return None

    def inputs(self, dataset, ids, seed: int = 0) -> ModelInput:
        ids = np.asarray(ids)
        rng = np.random.default_rng(ids)
        dates = np.datetime64("2017-01-01", "ns") + np.arange(T) * np.timedelta64(30, "D")
        return ModelInput(ids=ids, x=rng.random((len(ids), T, 13), dtype=np.float32),
                          dates=np.broadcast_to(dates, (len(ids), T)).copy(), cloudy=np.zeros((len(ids), T), bool),
                          labels=ids % 3)


def test_tradeoff_table_rows_per_alpha_and_full_season(tmp_path):
    models = {"elects_alpha03": _Classifier({"alpha": 0.3}, 5.0),  # stops at once
              "elects_alpha07": _Classifier({"alpha": 0.7}, -20.0),  # never: waits to the end
              "elects_fullseason": _Classifier({"full_season": True}, 5.0)}
    store = Store(tmp_path)
    table = tradeoff_table(models, _Dataset(7, tmp_path),
                           steps_of=lambda clf: Workspace(_Dataset(7, tmp_path), clf, store).early_steps())
    assert table["model"].tolist() == ["elects_alpha03", "elects_alpha07", "elects_fullseason"]
    assert table["earliness"].tolist() == pytest.approx([1 / T, 1.0, 1.0])
    assert table["alpha"].tolist()[:2] == [0.3, 0.7] and table["full_season"].tolist() == [False, False, True]
    assert table["mean_stop_date"].iloc[0] == pd.Timestamp("2017-01-01")
    assert table["mean_stop_date"].iloc[2] == pd.Timestamp("2017-01-01") + pd.Timedelta(days=30 * (T - 1))
    assert store.size() > 0  # cached on disk
    again = tradeoff_table(models, _Dataset(7, tmp_path),
                           steps_of=lambda clf: Workspace(_Dataset(7, tmp_path), clf, store).early_steps())
    pd.testing.assert_frame_equal(table, again)


def test_stop_date_distribution_follows_the_model():
    clf = _Classifier({}, 0.0)
    inputs = clf.inputs(None, [5, 6])
    out = stop_date_distribution(clf, inputs, n_samples=400, seed=1)
    assert len(out) == 2 * T and out["date"].iloc[T - 1] == pd.Timestamp(inputs.dates[0, -1])
    shares = out.pivot(index="id", columns="step", values="share").to_numpy()
    assert shares.sum(axis=1) == pytest.approx([1.0, 1.0])
    exact = out.pivot(index="id", columns="step", values="probability").to_numpy()
    assert np.abs(shares - exact).max() < 0.1
    same = stop_date_distribution(clf, inputs, n_samples=400, seed=1)
    pd.testing.assert_frame_equal(out, same)


def test_parcel_ndvi_uses_b8_and_b4():
    x = np.zeros((2, 13), np.float32)
    bands = _Classifier({}, 0.0).info.bands
    x[:, bands.index("B8")], x[:, bands.index("B4")] = 0.4, 0.1
    assert index_array(x, bands, "NDVI") == pytest.approx([0.6, 0.6])


def test_a_parcels_first_stop_is_the_deterministic_stop():
    from cropviz.early.analysis import ParcelEarly

    delta = np.array([0.1, 0.4, 0.7, 0.2, 0.9])
    early = ParcelEarly(id=1, true=0, dates=np.arange(5), ndvi=np.zeros(5), cloudy=None,
                        class_probs=np.full((5, 2), 0.5), delta=delta, stopping_probabilities=np.full(5, 0.2),
                        stop_step=4, prediction=0, final_pred=0)
    assert [early.first_stop(t) for t in (0.05, 0.3, 0.5, 0.8, 0.95)] == [0, 1, 2, 4, 4]
    assert early.first_stop(0.5) == deterministic_stop(delta[None], 0.5)[0]

