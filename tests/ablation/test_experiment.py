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
