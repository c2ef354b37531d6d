"""The penultimate embedding: the classification head's input, thread-safe, no hook left behind."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from cropviz.data import open_breizhcrops
from cropviz.diagnose import embed, project_2d
from cropviz.diagnose.embedding import classifier_head, forward_with_embedding
from cropviz.errors import ConfigurationError
from cropviz.models import Classifier
from cropviz.models.fast import EVAL_ROWS


@pytest.fixture(scope="module")
def transformer() -> Classifier:
    return Classifier.open("transformer", device="cpu")


def test_embedding_is_what_the_head_turns_into_the_prediction(demo_root, transformer):
    ds = open_breizhcrops(demo_root, "frh04")
    ids, features = embed(transformer, ds)
    assert features.dtype == np.float32 and features.shape == (len(ds), 64)
    assert ids.tolist() == ds.index["id"].tolist()
    head = classifier_head(transformer.model, 9)
    with torch.no_grad():
        from_embedding = torch.log_softmax(head(torch.from_numpy(features)), dim=-1).numpy()
    direct = transformer.log_probs(transformer.inputs(ds, ids).x)
    np.testing.assert_allclose(from_embedding, direct, atol=1e-4)
    assert not head._forward_pre_hooks


def test_concurrent_calls_on_one_model_do_not_mix(demo_root, transformer):
    ds = open_breizhcrops(demo_root, "frh04")
    ids = ds.index["id"].to_numpy()
    expected = {k: embed(transformer, ds, ids[k::2], batch_size=3)[1] for k in range(2)}
    results: dict[int, np.ndarray] = {}

    def run(k: int) -> None:
        results[k] = embed(transformer, ds, ids[k::2], batch_size=3)[1]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k in range(2):
        np.testing.assert_array_equal(results[k], expected[k])


def test_elects_embedding_is_taken_at_the_last_step(demo_root):
    elects = Classifier.open("elects", device="cpu")
    ds = open_breizhcrops(demo_root, "frh04")
    ids, features = embed(elects, ds, ds.index["id"].to_numpy()[:5])
    assert features.shape[0] == 5 and features.ndim == 2


def test_random_forest_has_no_embedding(demo_root):
    forest = Classifier.open("random_forest", device="cpu")
    with pytest.raises(ConfigurationError, match="no neural embedding"):
        embed(forest, open_breizhcrops(demo_root, "frh04"))


def test_projection_is_seeded_and_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (30, 8)), rng.normal(5, 0.1, (30, 8))]).astype(np.float32)
    first, again = project_2d(points, seed=0), project_2d(points, seed=0)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (60, 2)
    gap = np.linalg.norm(first[:30].mean(axis=0) - first[30:].mean(axis=0))
    spread = max(first[:30].std(axis=0).max(), first[30:].std(axis=0).max())
    assert gap > 3 * spread
    assert project_2d(points[:3]).shape == (3, 2)


def test_models_that_run_large_batches_in_blocks_give_every_row_its_embedding(demo_root, transformer):
    ds = open_breizhcrops(demo_root, "frh04")
    x = transformer.inputs(ds, ds.index["id"].to_numpy()).x
    many = np.concatenate([x] * (2 * EVAL_ROWS // len(x) + 2))[: 2 * EVAL_ROWS + 7]
    log_probs, features = forward_with_embedding(transformer.model, many, 9, torch.device("cpu"),
                                                 batch_size=len(many))
    assert features.shape == (len(many), 64)
    head = classifier_head(transformer.model, 9)
    with torch.no_grad():
        from_embedding = torch.log_softmax(head(torch.from_numpy(features)), dim=-1).numpy()
    np.testing.assert_allclose(from_embedding, log_probs, atol=1e-4)
    _, one_by_one = forward_with_embedding(transformer.model, many[-3:], 9, torch.device("cpu"), batch_size=1)
    np.testing.assert_allclose(features[-3:], one_by_one, atol=1e-5)
