"""Seed 004 experiments: the results file, folds and argument errors."""

from __future__ import annotations

import json

import pytest

from cropviz.ablation import (
    SEED004_MODELS,
    SHUFFLED_MODELS,
    ZOO_SHUFFLE_MODELS,
    load_results,
    reproduce_time_space,
)
from cropviz.errors import ConfigurationError, DatasetError


def test_results_file_has_every_model_in_both_orders(tiny_results):
    out, results = tiny_results
    assert load_results(out) == json.loads(out.read_text()) == results
    got = {(r["model"], r["order"]) for r in results["results"]}
    expected = ({(m, "ordered") for m in (*SEED004_MODELS, *ZOO_SHUFFLE_MODELS)}
                | {(m, "shuffled") for m in (*SHUFFLED_MODELS, *ZOO_SHUFFLE_MODELS)})
    assert got == expected
    assert results["data"]["simulated"] is True
    assert results["protocol"]["batch_size"] == 32 and results["protocol"]["learning_rate"] == 1e-3
    assert results["protocol"]["seed"] == 3 and "frh04" in results["data"]["split"]
    assert results["protocol"]["device"] == "CPU"
    for row in results["results"]:
        for key in ("overall_accuracy", "macro_f1", "precision", "recall", "per_class_f1", "parameters",
                    "epochs", "seed", "best_epoch"):
            assert row[key] is not None, (row["model"], key)
        assert set(row["per_class_f1"]) == set(results["data"]["patches"]["classes"])
    rows = {(r["model"], r["order"]): r for r in results["results"]}
    assert rows[("cnn", "ordered")]["temporal_share"] == 0.0
    assert rows[("gru", "ordered")]["temporal_share"] == 1.0
    assert 0.6 < rows[("cnn_gru7", "ordered")]["temporal_share"] < rows[("cnn_gru9", "ordered")]["temporal_share"]
    assert rows[("transformer", "ordered")]["temporal_share"] is None


def test_cross_validation_records_the_spread(demo_root, tmp_path):
    results = reproduce_time_space(demo_root, tmp_path / "cv.json", quick=True, folds=3, epochs=1,
                                   models=("gru",), shuffled=("gru",), zoo=(), progress=False)
    row = results["results"][0]
    assert len(row["folds"]) == 3 and len(row["best_epoch"]) == 3
    assert row["spread"]["macro_f1_min"] <= row["macro_f1"] <= row["spread"]["macro_f1_max"]
    assert "3-fold" in results["data"]["split"]


def test_an_interrupted_study_resumes_from_its_saved_runs(demo_root, tmp_path, monkeypatch):
    import cropviz.ablation.experiment as experiment

    out = tmp_path / "cv.json"
    first = reproduce_time_space(demo_root, out, quick=True, folds=3, epochs=1, models=("gru",), shuffled=(),
                                 zoo=(), progress=False)
    saved = sorted(p.name for p in experiment.default_runs_dir(out).iterdir())
    assert saved == [f"gru-ordered-fold{k}of3.json" for k in (1, 2, 3)] and first["reused_runs"] == 0
    (experiment.default_runs_dir(out) / "gru-ordered-fold2of3.json").unlink()  # as if stopped during fold 2
    trained = []
    real = experiment.train_and_test
    monkeypatch.setattr(experiment, "train_and_test", lambda name, *a, **k: trained.append(name) or real(name, *a, **k))
    again = reproduce_time_space(demo_root, out, quick=True, folds=3, epochs=1, models=("gru", "cnn"), shuffled=(),
                                 zoo=(), progress=False)
    assert trained == ["gru", "cnn", "cnn", "cnn"] and again["reused_runs"] == 2
    gru = {r["model"]: r for r in again["results"]}["gru"]
    assert gru["folds"] == {r["model"]: r for r in first["results"]}["gru"]["folds"]  # deterministic seeds
    trained.clear()
    other = reproduce_time_space(demo_root, out, quick=True, folds=3, epochs=2, models=("gru",), shuffled=(),
                                 zoo=(), progress=False)
    assert trained == ["gru"] * 3 and other["reused_runs"] == 0  # another protocol is never reused


def test_a_subset_of_folds_is_run_and_labelled_as_such(demo_root, tmp_path):
    results = reproduce_time_space(demo_root, tmp_path / "two.json", quick=True, folds=3, epochs=3, patience=1,
                                   only_folds=(3, 1), models=("gru",), shuffled=(), zoo=(), progress=False)
    row = results["results"][0]
    assert [f["fold"] for f in row["folds"]] == [1, 3] and results["protocol"]["folds_run"] == [1, 3]
    assert "folds run: 1, 3 of 3" in results["data"]["split"]
    assert results["equivalent_command"].endswith("--patience 1 --only-folds 1,3 --models gru --shuffled '' --zoo ''")
    assert all(1 <= b <= e <= 3 for b, e in zip(row["best_epoch"], row["epochs_run"], strict=True))
    with pytest.raises(ConfigurationError, match="folds 1 to 3"):
        reproduce_time_space(demo_root, tmp_path / "x.json", quick=True, folds=3, only_folds=(4,), zoo=(),
                             progress=False)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_run_records_its_device_and_learns_like_the_cpu_run(demo_root, tmp_path):
    runs = {device: reproduce_time_space(demo_root, tmp_path / f"{device}.json", quick=True, epochs=2,
                                         models=("gru",), shuffled=(), zoo=(), progress=False, device=device)
            for device in ("cpu", "cuda")}
    assert runs["cuda"]["protocol"]["device"] != "CPU"
    cpu, gpu = (runs[d]["results"][0] for d in ("cpu", "cuda"))
    assert gpu["n"] == cpu["n"] and abs(gpu["overall_accuracy"] - cpu["overall_accuracy"]) < 0.15


def test_bad_arguments_and_files_are_named_errors(demo_root, tmp_path):
    with pytest.raises(ConfigurationError, match="folds"):
        reproduce_time_space(demo_root, tmp_path / "x.json", folds=2, zoo=(), progress=False)
    with pytest.raises(ConfigurationError, match="unknown model"):
        reproduce_time_space(demo_root, tmp_path / "x.json", models=("resnet",), progress=False)
    with pytest.raises(ConfigurationError, match="input form"):
        reproduce_time_space(demo_root, tmp_path / "x.json", models=(), shuffled=(), zoo=("gru",), progress=False)
    with pytest.raises(DatasetError, match="reproduce time-space"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(DatasetError, match="not a cropviz seed 004 results file"):
        load_results(tmp_path / "other.json")
