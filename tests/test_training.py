"""Training, evaluation and prediction end to end on the tiny demo."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cropviz.cli import app
from cropviz.data import open_breizhcrops
from cropviz.metrics import metrics_from_predictions
from cropviz.models import Classifier, load
from cropviz.models.inputs import from_series, read_series, time_permutation
from cropviz.training import TrainConfig, train

SMALL_ELECTS = {"hidden_dims": 16, "num_layers": 1}


def _config(root, **changes) -> TrainConfig:
    values = dict(model="elects", root=str(root), train_regions=["frh01"], val_region="frh03", epochs=2,
                  batch_size=32, seed=3, device="cpu", hparams=SMALL_ELECTS)
    values.update(changes)
    return TrainConfig(**values)


def test_training_is_deterministic_for_a_seed(demo_root, tmp_path):
    first, _ = train(_config(demo_root), tmp_path / "a.pt", progress=False)
    second, _ = train(_config(demo_root), tmp_path / "b.pt", progress=False)
    other, _ = train(_config(demo_root, seed=4), tmp_path / "c.pt", progress=False)
    a, b, c = (load(p, device="cpu").state_dict() for p in (first, second, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_model_card_records_data_classes_bands_seed_and_metrics(demo_root, tmp_path):
    path, best = train(_config(demo_root, model="random_forest", hparams={"n_estimators": 10}),
                       tmp_path / "rf.npz", progress=False)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["simulated_data"] is True and "not BreizhCrops" in card["data"]
    assert card["classes"][:3] == ["barley", "wheat", "rapeseed"]
    assert card["bands"][0] == "B1" and card["band_order"] == "spectral"
    assert card["seed"] == 3 and card["train_regions"] == ["frh01"]
    assert card["validation"]["macro_f1"] == pytest.approx(best["macro_f1"])
    assert card["sha256"] == load(path).cropviz_info.sha256


def test_time_shuffling_is_a_seeded_permutation_applied_alike_at_training_and_inference(demo_root, tmp_path):
    ds = open_breizhcrops(demo_root, "frh04")
    ids = ds.index["id"].to_numpy()[:5]
    raw = read_series(ds, ids)
    ordered = from_series(raw, "sequence", year=2017, sequence_length=45, seed=0)
    shuffled = from_series(raw, "sequence", year=2017, sequence_length=45, seed=0, shuffle_time=True,
                           shuffle_seed=3)
    for row, parcel_id in enumerate(ids):
        perm = time_permutation(45, 3, int(parcel_id))
        assert sorted(perm.tolist()) == list(range(45))
        np.testing.assert_array_equal(shuffled.x[row], ordered.x[row][perm])
        np.testing.assert_array_equal(np.sort(shuffled.dates[row]), np.sort(ordered.dates[row]))
    assert not np.array_equal(shuffled.x, ordered.x)
    path, _ = train(_config(demo_root, shuffle_time=True, epochs=1), tmp_path / "s.pt", progress=False)
    classifier = Classifier.open(path, device="cpu")
    assert classifier.info.shuffle_time and classifier.info.shuffle_seed == 3
    at_inference = classifier.inputs(ds, ids)
    expected = from_series(raw, "sequence", year=2017, sequence_length=70, seed=0, shuffle_time=True,
                           shuffle_seed=3)
    np.testing.assert_array_equal(at_inference.x, expected.x)


def test_evaluate_json_equals_metrics_recomputed_from_predict(demo_root, tmp_path):
    path, _ = train(_config(demo_root, model="random_forest", hparams={"n_estimators": 10}),
                    tmp_path / "rf.npz", progress=False)
    runner = CliRunner()
    out = tmp_path / "predictions.parquet"
    result = runner.invoke(app, ["predict", "--model", str(path), "--root", str(demo_root), "--region", "frh04",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    predictions = pd.read_parquet(out)
    ds = open_breizhcrops(demo_root, "frh04")
    assert len(predictions) == len(ds) and predictions["id"].is_unique
    probabilities = predictions[[f"prob_{c}" for c in ds.classes]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(predictions["pred"], probabilities.argmax(axis=1))
    result = runner.invoke(app, ["evaluate", "--model", str(path), "--root", str(demo_root), "--region", "frh04",
                                 "--json"])
    assert result.exit_code == 0, result.output
    reported = json.loads(result.output)
    recomputed = metrics_from_predictions(predictions, ds.classes)
    assert set(reported) >= {"overall_accuracy", "kappa", "macro_f1", "per_class", "confusion_matrix", "classes"}
    for key in ("overall_accuracy", "kappa", "macro_f1"):
        assert reported[key] == pytest.approx(recomputed[key])
    assert reported["confusion_matrix"] == recomputed["confusion_matrix"]
    assert sum(map(sum, reported["confusion_matrix"])) == len(ds)


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path / "missing.pt"), "--root", str(tmp_path),
                                      "--region", "frh04"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "missing.pt" in result.output and "Traceback" not in result.output


def test_fit_stops_after_patience_epochs_without_improvement_and_keeps_the_best():
    from cropviz.errors import ConfigurationError
    from cropviz.training import fit

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LogSoftmax(-1))
    x, y = np.zeros((8, 2), np.float32), np.zeros(8, np.int64)
    scores = iter([0.5, 0.7, 0.6, 0.7, 0.65, 0.9])  # best at epoch 2, then 3 epochs without a better one

    def validate(_):
        return {"f1": (value := next(scores)), "score": (value,)}

    result = fit(model, lambda epoch: (x, y), validate, epochs=6, batch_size=4, learning_rate=0.1,
                 rng=np.random.default_rng(0), patience=3)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]
    assert result.best["epoch"] == 2 and result.best["f1"] == 0.7
    with pytest.raises(ConfigurationError, match="patience"):
        fit(model, lambda epoch: (x, y), validate, epochs=2, batch_size=4, learning_rate=0.1,
            rng=np.random.default_rng(0), patience=0)
