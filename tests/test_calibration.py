"""Temperature scaling, ECE, reliability tables, the card that stores the temperature, MC dropout."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax

from cropviz.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    mc_dropout,
    region_calibration,
    reliability_table,
    store_calibration,
)
from cropviz.errors import CheckpointError, ConfigurationError
from cropviz.models import Classifier
from cropviz.models.checkpoint import models_dir


def sampled(n: int = 20000, overconfidence: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the 'model' reports z x overconfidence."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, 5))
    p = np.exp(log_softmax(z, axis=1))
    labels = np.array([rng.choice(5, p=row) for row in p])
    return log_softmax(z * overconfidence, axis=1), labels


def test_fitted_temperature_undoes_overconfidence():
    log_probs, labels = sampled()
    temperature = fit_temperature(log_probs, labels)
    assert abs(temperature - 2.0) < 0.1
    before = expected_calibration_error(np.exp(log_probs), labels)
    after = expected_calibration_error(apply_temperature(log_probs, temperature), labels)
    assert after < 0.02 < before
    np.testing.assert_array_equal(apply_temperature(log_probs, temperature).argmax(1), log_probs.argmax(1))


def test_ece_and_reliability_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    table = reliability_table(probs, labels, n_bins=10)
    filled = table[table["count"] > 0]
    assert filled["count"].tolist() == [2, 2]
    np.testing.assert_allclose(filled["accuracy"], [1.0, 0.5])
    np.testing.assert_allclose(filled["confidence"], [0.6, 0.9])
    # |1.0 - 0.6| x 2/4 + |0.5 - 0.9| x 2/4
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.4)
    per_class = reliability_table(probs, labels, n_bins=10, class_index=1)
    assert per_class.loc[per_class["count"] > 0, "accuracy"].tolist() == [0.5, 0.0]


def test_bad_inputs_are_named():
    with pytest.raises(ConfigurationError, match="temperature must be > 0"):
        apply_temperature(np.zeros((1, 2)), 0.0)
    with pytest.raises(ConfigurationError, match="do not fit 3 labels"):
        expected_calibration_error(np.zeros((2, 2)), [0, 1, 1])


def test_temperature_is_stored_in_the_card(tmp_path, monkeypatch):
    for suffix in (".pt", ".json"):
        shutil.copyfile(models_dir() / f"starrnn{suffix}", tmp_path / f"starrnn{suffix}")
    card = json.loads((tmp_path / "starrnn.json").read_text())
    card.pop("calibration", None)
    (tmp_path / "starrnn.json").write_text(json.dumps(card))
    monkeypatch.setenv("CROPVIZ_MODELS", str(tmp_path))
    model = Classifier.open("starrnn", device="cpu")
    assert model.temperature == 1.0 and not model.is_calibrated and model.calibration_source is None
    store_calibration(model.info.path, {"temperature": 1.7, "fitted_on": "frh03 2017 L1C"})
    reloaded = Classifier.open("starrnn", device="cpu")
    assert reloaded.temperature == 1.7 and reloaded.is_calibrated
    assert reloaded.calibration_source == "frh03 2017 L1C"
    assert reloaded.info.sha256 == model.info.sha256
    assert json.loads((tmp_path / "starrnn.json").read_text())["arch"] == "starrnn"
    with pytest.raises(CheckpointError, match="no model card"):
        store_calibration(tmp_path / "other.pt", {"temperature": 1.0})


def test_region_calibration_reports_both_diagrams():
    log_probs, labels = sampled(n=2000)
    frame = pd.DataFrame({"true": labels, **{f"prob_{c}": np.exp(log_probs[:, k]) for k, c in enumerate("abcde")}})
    report = region_calibration(frame, list("abcde"), temperature=2.0)
    assert report["parcels"] == 2000 and report["ece_after"] < report["ece_before"]
    assert set(report["per_class"]) == set("abcde")
    assert report["calibrated"]["count"].sum() == 2000


def test_mc_dropout_is_seeded_and_leaves_eval_mode(demo_root):
    from cropviz.data import open_breizhcrops

    model = Classifier.open("transformer", device="cpu")
    assert model.has_dropout and not Classifier.open("random_forest", device="cpu").has_dropout
    x = model.inputs(open_breizhcrops(demo_root, "frh04"), [int(i) for i in range(40000000, 40000004)]).x
    mean, entropy = mc_dropout(model, x, samples=5, seed=0)
    again, _ = mc_dropout(model, x, samples=5, seed=0)
    np.testing.assert_array_equal(mean, again)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, atol=1e-5)
    assert (entropy >= 0).all() and not model.model.training  # the shared model never left eval mode
    plain = np.exp(model.log_probs(x))
    assert not np.allclose(mean, plain)
    forest = Classifier.open("random_forest", device="cpu")
    with pytest.raises(ConfigurationError, match="MC dropout does not apply"):
        mc_dropout(forest, x)


def test_predictive_uncertainty_is_normalised_calibrated_entropy():
    from cropviz.calibration import predictive_uncertainty

    classes = ["a", "b", "c", "d"]
    table = pd.DataFrame({"prob_a": [0.25, 1.0, 0.7], "prob_b": [0.25, 0.0, 0.1], "prob_c": [0.25, 0.0, 0.1],
                          "prob_d": [0.25, 0.0, 0.1]})
    values = predictive_uncertainty(table, classes, temperature=1.0)
    assert values[0] == pytest.approx(1.0) and values[1] == pytest.approx(0.0, abs=1e-6)
    p = np.array([0.7, 0.1, 0.1, 0.1])
    assert values[2] == pytest.approx(-(p * np.log(p)).sum() / np.log(4))
    hotter = predictive_uncertainty(table, classes, temperature=2.0)  # a temperature above 1 flattens
    assert hotter[2] > values[2] and hotter[0] == pytest.approx(1.0)
