"""Classifier: one interface over registry models (predict, log-probabilities, threads)."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from cropviz.data import open_breizhcrops
from cropviz.errors import ConfigurationError
from cropviz.models import Classifier
from cropviz.models.fast import EVAL_ROWS


@pytest.fixture(scope="module")
def dataset(demo_root):
    return open_breizhcrops(demo_root, "frh04")


def test_predict_is_a_probability_table_that_agrees_with_log_probs(dataset):
    model = Classifier.open("transformer", device="cpu")
    assert model.differentiable and model.has_attention and not model.is_early
    ids = model.parcel_ids(dataset)[:12]
    table = model.predict(dataset, ids, batch_size=5)
    probs = table[[f"prob_{c}" for c in model.classes]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    log_probs = model.log_probs(model.inputs(dataset, ids).x)
    np.testing.assert_array_equal(table["pred"].to_numpy(), log_probs.argmax(axis=1))
    np.testing.assert_allclose(table["confidence"].to_numpy(), np.exp(log_probs.max(axis=1)), rtol=1e-5)


def test_random_forest_log_probs_without_torch_module(dataset):
    forest = Classifier.open("random_forest", device="cpu")
    assert not forest.differentiable and str(forest.device) == "cpu"
    x = forest.inputs(dataset, forest.parcel_ids(dataset)[:6]).x
    np.testing.assert_allclose(np.exp(forest.log_probs(x)).sum(axis=1), 1.0, atol=1e-4)


def test_threads_sharing_a_classifier_get_the_sequential_predictions(dataset):
    model = Classifier.open("transformer", device="cpu")
    x = model.inputs(dataset, model.parcel_ids(dataset)[:16]).x
    expected = [model.log_probs(x[i:i + 4]) for i in range(0, 16, 4)]
    results: dict[int, list[np.ndarray]] = {}

    def run(worker: int) -> None:
        results[worker] = [model.log_probs(x[i:i + 4]) for i in range(0, 16, 4)]

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got in results.values():
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(shutil.which("g++") is None, reason="TorchInductor writes C++ for the CPU: needs g++")
@pytest.mark.timeout(300)
def test_compiled_log_probs_equal_the_eager_model_on_any_batch_size(dataset):
    eager = Classifier.open("transformer", device="cpu")
    compiled = Classifier.open("transformer", device="cpu").compile()
    x = eager.inputs(dataset, eager.parcel_ids(dataset)).x
    x = np.concatenate([x] * (2 * EVAL_ROWS // len(x) + 1))[:2 * EVAL_ROWS + 3]  # two blocks and a padded one
    expected = eager.log_probs(x, batch_size=200)
    got = compiled.log_probs(x, batch_size=200)
    assert got.shape == expected.shape == (2 * EVAL_ROWS + 3, len(eager.classes))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(compiled.log_probs(x[:5]), expected[:5], rtol=0, atol=1e-5)


def test_bfloat16_log_probs_keep_the_classes_of_float32(dataset, monkeypatch):
    from cropviz import devices

    monkeypatch.setattr(devices, "native_bfloat16", lambda device: True)  # emulated where not native: same values
    exact = Classifier.open("transformer", device="cpu")
    lowered = Classifier.open("transformer", device="cpu").compile(compiled=False, bfloat16=True)
    assert (exact.precision, lowered.precision) == ("float32", "bfloat16")
    x = exact.inputs(dataset, exact.parcel_ids(dataset)).x
    expected, got = exact.log_probs(x), lowered.log_probs(x)
    assert 0 < np.abs(np.exp(got) - np.exp(expected)).max() < 0.05
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.95
    monkeypatch.setattr(devices, "native_bfloat16", lambda device: False)
    with pytest.raises(ConfigurationError, match="transformer.*no native bfloat16"):
        Classifier.open("transformer", device="cpu").compile(compiled=False, bfloat16=True)


def test_compiling_the_random_forest_is_refused():
    with pytest.raises(ConfigurationError, match="nothing to compile"):
        Classifier.open("random_forest", device="cpu").compile()
