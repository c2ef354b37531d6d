"""Seed 004 ablations: time shuffling of patches, folds, the results file, the paper's tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cropviz import ablation
from cropviz.ablation import (
    SEED004_MODELS,
    SHUFFLED_MODELS,
    ZOO_SHUFFLE_MODELS,
    fold_splits,
    load_patches,
    load_results,
    order_table,
    paper_comparison,
    paper_table,
    per_class_order_differences,
    reproduce_time_space,
    shuffle_time,
    space_time_table,
)
from cropviz.errors import ConfigurationError, DatasetError
from cropviz.models.inputs import prepare, time_permutation


@pytest.fixture(scope="module")
def tiny_results(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A truly tiny reproduction on the tiny demo: every default model, both orders, 1 epoch."""
    out = tmp_path_factory.mktemp("ablation") / "results.json"
    return out, reproduce_time_space(demo_root, out, quick=True, epochs=1, seed=3, progress=False)


@pytest.fixture(scope="module")
def shuffled_gru(demo_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """A GRU patch model trained 1 epoch on shuffled time order by the ordinary training command."""
    from cropviz.models import Classifier
    from cropviz.training import TrainConfig, train

    out = tmp_path_factory.mktemp("gru") / "gru_shuffled.pt"
    path, _ = train(TrainConfig(model="gru", root=str(demo_root), train_regions=["frh01"], val_region="frh03",
                                epochs=1, batch_size=32, seed=5, shuffle_time=True), out, progress=False)
    return Classifier.open(path, device="cpu")


def test_shuffle_time_is_a_seeded_permutation_per_parcel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 9, 2, 3, 3)).astype(np.float32)
    ids = np.array([11, 12, 13, 14, 15, 16])
    out = shuffle_time(x, ids, seed=4)
    for row in range(len(x)):  # the same observations (multiset), in a permuted order
        flat_in = np.sort(x[row].reshape(9, -1), axis=0)
        flat_out = np.sort(out[row].reshape(9, -1), axis=0)
        np.testing.assert_array_equal(flat_in, flat_out)
        np.testing.assert_array_equal(out[row], x[row][time_permutation(9, 4, int(ids[row]))])
    assert any(not np.array_equal(out[r], x[r]) for r in range(len(x)))
    np.testing.assert_array_equal(out, shuffle_time(x, ids, seed=4))  # reproducible
    assert not np.array_equal(out, shuffle_time(x, ids, seed=5))  # another seed, another order
    # per parcel: independent of which other parcels are in the batch
    np.testing.assert_array_equal(shuffle_time(x[[4, 1]], ids[[4, 1]], seed=4), out[[4, 1]])
    assert len({tuple(time_permutation(9, 4, int(i))) for i in ids}) > 1  # parcels get their own order
    with pytest.raises(ConfigurationError):
        shuffle_time(x, ids[:3], seed=4)


def test_patch_shuffling_is_the_same_at_training_and_evaluation(demo_root, shuffled_gru):
    from cropviz.data import open_breizhcrops
    from cropviz.models.classifier import normalize_patches

    ds = open_breizhcrops(demo_root, "frh04")
    data = load_patches(demo_root, ["frh04"])
    info = shuffled_gru.info
    assert info.shuffle_time and info.shuffle_seed == 5
    # the ablation's shuffle == the shared input preparation used by train() and Classifier.inputs
    prepared = prepare(ds, data.ids, "patch", shuffle_time=True, shuffle_seed=5)
    np.testing.assert_array_equal(shuffle_time(data.payload, data.ids, 5), prepared.x)
    # what the saved shuffled model is fed at evaluation: the same permutation, then its normalisation
    evaluated = shuffled_gru.inputs(ds, data.ids).x
    np.testing.assert_allclose(evaluated, normalize_patches(shuffle_time(data.payload, data.ids, 5),
                                                            info.normalization), rtol=1e-6)
    perm = time_permutation(data.payload.shape[1], 5, int(data.ids[0]))
    np.testing.assert_array_equal(prepared.dates[0], np.asarray(ds.patches().dates, "datetime64[ns]")[perm])


def test_fold_splits_are_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(3), 20)
    splits = fold_splits(labels, 5, seed=1)
    assert len(splits) == 5
    tests = np.concatenate([s["test"] for s in splits])
    assert sorted(tests) == list(range(60))  # every parcel tested exactly once
    for split in splits:
        parts = [set(split[p]) for p in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert [len(p) for p in parts] == [36, 12, 12]  # 3:1:1
        assert np.bincount(labels[split["test"]]).tolist() == [4, 4, 4]  # stratified
    again = fold_splits(labels, 5, seed=1)
    assert all(np.array_equal(a["test"], b["test"]) for a, b in zip(splits, again, strict=False))
    assert not np.array_equal(fold_splits(labels, 5, seed=2)[0]["test"], splits[0]["test"])
    with pytest.raises(ConfigurationError, match="at least 3"):
        fold_splits(labels, 2)


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


def test_tables_in_the_papers_form(tiny_results):
    _, results = tiny_results
    table4 = order_table(results)
    assert set(table4["model"]) == {*SHUFFLED_MODELS, *ZOO_SHUFFLE_MODELS}
    np.testing.assert_allclose(table4["delta"], table4["shuffled"] - table4["ordered"], atol=0.11)
    table2 = space_time_table(results)
    assert list(table2["model"]) == list(SEED004_MODELS)
    assert table2["macro_f1"].between(0, 100).all()
    diff = per_class_order_differences(results, "gru")
    assert {"ordered", "shuffled", "delta", "support"} <= set(diff.columns)
    with pytest.raises(ConfigurationError):
        per_class_order_differences(results, "cnn")
    comparison = paper_comparison(results)
    assert set(comparison["source"]) == {ablation.THEIRS, "ours (simulated demo)"}


def test_cross_validation_records_the_spread(demo_root, tmp_path):
    results = reproduce_time_space(demo_root, tmp_path / "cv.json", quick=True, folds=3, epochs=1,
                                   models=("gru",), shuffled=("gru",), zoo=(), progress=False)
    row = results["results"][0]
    assert len(row["folds"]) == 3 and len(row["best_epoch"]) == 3
    assert row["spread"]["macro_f1_min"] <= row["macro_f1"] <= row["spread"]["macro_f1_max"]
    assert "3-fold" in results["data"]["split"]


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


def test_paper_tables_hold_the_published_numbers():
    assert paper_table(1).loc["CNN", "parameters"] == 92899
    assert paper_table(1).loc["CNN+GRU9", "kernels"] == "16:16:16"
    assert paper_table(2).loc["GRU", "F-score"] == 53.8
    assert paper_table(2).loc["RF", "F-score"] == 36.9
    assert paper_table(3).loc["Grapevine", "CNN"] == 81.8
    assert paper_table(4).loc["GRU", "Delta"] == -8.5
    assert ablation.paper_tables()["source"].str.contains("T31TFM").all()
    with pytest.raises(ConfigurationError):
        paper_table(5)


def test_input_order_and_explanation_of_a_shuffled_model(demo_root, shuffled_gru):
    from cropviz.data import open_breizhcrops

    ds = open_breizhcrops(demo_root, "frh04")
    parcel = int(ds.patches().ids[0])
    dates, ndvi = ablation.input_ndvi(shuffled_gru, ds, parcel)
    all_dates = np.asarray(ds.patches().dates, "datetime64[ns]")
    np.testing.assert_array_equal(dates, all_dates[time_permutation(len(all_dates), 5, parcel)])
    assert ndvi.shape == dates.shape and np.isfinite(ndvi).all()
    attribution = ablation.explain_input(shuffled_gru, ds, parcel, "integrated_gradients", n_steps=4)
    assert attribution.per_observation.shape == (len(all_dates),)
    assert attribution.values.shape == (len(all_dates), 10 * 32 * 32)
