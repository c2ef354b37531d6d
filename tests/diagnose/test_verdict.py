"""Verdicts of planted cases, built from evidence whose answer is known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from cropviz.diagnose.evidence import Evidence
from cropviz.diagnose.region import diagnosis_frame
from cropviz.diagnose.verdict import Thresholds, assign, choose_label_quality_threshold

CLASSES = ["wheat", "corn", "meadow"]
PER_CLASS = 30


def _log(p: list[float]) -> np.ndarray:
    return np.log(np.asarray(p, dtype=np.float64))


def planted_region() -> tuple[SimpleNamespace, SimpleNamespace, Evidence, dict[str, int]]:
    """Three tight classes in a 4-D embedding, a confident correct model, and five planted cases."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 4) * 10.0
    labels = np.repeat(np.arange(3), PER_CLASS)
    embedding = centres[labels] + rng.normal(0, 0.5, (len(labels), 4))
    probs = np.full((len(labels), 3), 0.025)
    probs[np.arange(len(labels)), labels] = 0.95
    log_probs = np.log(probs)
    without = log_probs.copy()
    cloud_share = np.full(len(labels), np.nan)
    cases = {"label_error": 3, "cloud_driven": 33, "ambiguous": 36, "atypical": 63, "model_error": 66}
    # a wheat parcel labelled corn: sits among wheat, predicted wheat with confidence
    labels[cases["label_error"]] = 1
    # a corn parcel predicted meadow because of clouds: without them, corn again
    log_probs[cases["cloud_driven"]] = _log([0.05, 0.25, 0.7])
    without[cases["cloud_driven"]] = _log([0.05, 0.85, 0.1])
    cloud_share[cases["cloud_driven"]] = 0.6
    # a corn parcel the model hesitates on: wheat first, corn a close second
    log_probs[cases["ambiguous"]] = _log([0.5, 0.42, 0.08])
    without[cases["ambiguous"]] = log_probs[cases["ambiguous"]]
    # a meadow parcel far from every meadow, predicted corn, meadow third
    embedding[cases["atypical"]] = centres[2] + np.array([0, 0, 0, 9.0])
    log_probs[cases["atypical"]] = _log([0.3, 0.6, 0.1])
    without[cases["atypical"]] = log_probs[cases["atypical"]]
    # a typical meadow parcel the model gets wrong for no visible reason
    log_probs[cases["model_error"]] = _log([0.6, 0.3, 0.1])
    without[cases["model_error"]] = log_probs[cases["model_error"]]
    ids = np.arange(len(labels), dtype=np.int64) + 1000
    evidence = Evidence(ids=ids, labels=labels, log_probs=log_probs, log_probs_without_clouds=without,
                        embedding=embedding.astype(np.float32), cloud_attribution_share=cloud_share,
                        cloudy_inputs=np.full(len(labels), 5), clear_observations=np.full(len(labels), 30))
    model = SimpleNamespace(classes=CLASSES, label="planted", temperature=1.0, is_calibrated=False)
    index = pd.DataFrame({"id": ids, "sequencelength": np.full(len(ids), 60), "code": "X"})
    return model, SimpleNamespace(index=index, region="planted"), evidence, cases


def test_planted_cases_get_their_verdicts():
    model, ds, evidence, cases = planted_region()
    frame = diagnosis_frame(model, ds, evidence, in_training=False)
    for verdict, row in cases.items():
        assert frame.at[row, "verdict"] == verdict, (verdict, frame.loc[row].to_dict())
    correct = frame.drop(index=list(cases.values()))
    assert (correct["verdict"] == "correct").all()
    label_error = frame.loc[cases["label_error"]]
    assert label_error["knn_agreement"] == 0.0
    assert label_error["label_quality"] < 0.05
    assert "labelled corn, looks like wheat" in label_error["reason"]
    cloud = frame.loc[cases["cloud_driven"]]
    assert cloud["flips_without_clouds"] and cloud["pred_without_clouds"] == "corn"
    assert "becomes corn; 60% of |IG|" in cloud["reason"]
    ambiguous = frame.loc[cases["ambiguous"]]
    assert ambiguous["second_class"] == "corn"
    assert abs(ambiguous["margin"] - 0.08) < 1e-9
    assert frame.loc[cases["atypical"], "atypicality"] == 1.0


def test_thresholds_change_verdicts():
    model, ds, evidence, cases = planted_region()
    strict = diagnosis_frame(model, ds, evidence, in_training=False, thresholds=Thresholds(margin=0.05))
    assert strict.at[cases["ambiguous"], "verdict"] != "ambiguous"
    lax = diagnosis_frame(model, ds, evidence, in_training=False, thresholds=Thresholds(label_quality=0.9))
    assert (lax.loc[list(cases.values()), "verdict"] == "label_error").sum() >= 3


def test_temperature_scales_confidence_not_the_prediction():
    model, ds, evidence, _ = planted_region()
    plain = diagnosis_frame(model, ds, evidence, in_training=False)
    hot = diagnosis_frame(model, ds, evidence, in_training=False, temperature=3.0)
    assert (plain["pred"] == hot["pred"]).all()
    assert (hot["confidence"] < plain["confidence"]).all()
    assert hot.attrs["temperature"] == 3.0 and hot.attrs["calibrated"]


def test_training_regions_use_cross_validated_probabilities():
    model, ds, evidence, cases = planted_region()
    frame = diagnosis_frame(model, ds, evidence, in_training=True)
    assert frame.attrs["label_probabilities"].startswith("k-fold")
    assert frame.at[cases["label_error"], "verdict"] == "label_error"


def test_choose_threshold_maximises_f1_on_planted_errors():
    quality = np.array([0.01, 0.02, 0.04, 0.3, 0.5, 0.6])
    wrong = np.ones(6, bool)
    planted = np.array([True, True, True, False, False, False])
    assert choose_label_quality_threshold(quality, wrong, planted, [0.01, 0.05, 0.4, 0.7]) == 0.05


def test_assign_marks_correct_rows():
    frame = pd.DataFrame({"true": [0], "pred": [0], "confidence": [0.9]})
    verdicts, reasons = assign(frame, CLASSES)
    assert verdicts == ["correct"] and "p=0.90" in reasons[0]
