"""Reading precomputed results: class and period summaries equal the on-the-fly computations, and
the app finds only results that match its model, data, seed and parcel set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.errors import DatasetError
from cropviz.explain.region import (
    class_attributions,
    cloud_attention_by_month,
    cloud_attention_summary,
    observation_attention,
)
from cropviz.models.classifier import Classifier
from cropviz.scale import open_precomputed, precompute
from cropviz.scale.results import find_precomputed, precomputed_folder, precomputed_predictions
from cropviz.workspace import Workspace

REGION = "frh01"


@pytest.fixture(scope="module")
def copy_root(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo fixture, so results written to the default folder stay in this module."""
    root = tmp_path_factory.mktemp("results") / "demo"
    shutil.copytree(demo_root, root)
    return root


@pytest.fixture(scope="module")
def explained(copy_root, models, cluster) -> Path:
    """Attention and saliency of every frh01 parcel, written to precompute's default folder."""
    return precompute(copy_root, REGION, models["tf"], explain=("attention", "saliency"),
                      scheduler=cluster.scheduler_address, partition_size=15, progress=False)


def test_attention_summary_equals_the_per_observation_computation(copy_root, models, explained):
    clf = Classifier.open(models["tf"], device="cpu")
    ds = open_breizhcrops(copy_root, REGION)
    summary = open_precomputed(explained).observation_summary("attention_rollout", relative=True)
    frame = observation_attention(clf, ds, ds.index["id"].to_numpy())
    expected = frame.groupby(["classname", "month", "cloudy"])["attention"].agg(["mean", "size"])
    got = summary.set_index(["classname", "month", "cloudy"]).sort_index()
    assert got["n"].sum() == len(frame) and len(got) == len(expected)
    np.testing.assert_array_equal(got["n"], expected["size"])
    np.testing.assert_allclose(got["value"], expected["mean"], atol=1e-5)
    # the aggregated rows give the same per-class summary as the observations they stand for
    aggregated = summary.rename(columns={"value": "attention"})
    pd.testing.assert_frame_equal(cloud_attention_summary(aggregated), cloud_attention_summary(frame), atol=1e-5)
    pd.testing.assert_frame_equal(cloud_attention_by_month(aggregated), cloud_attention_by_month(frame), atol=1e-5)


def test_attribution_summary_per_period_equals_class_attributions(copy_root, models, explained):
    clf = Classifier.open(models["tf"], device="cpu")
    ds = open_breizhcrops(copy_root, REGION)
    summary = open_precomputed(explained).observation_summary("saliency", period="14D", split_cloudy=False)
    assert list(summary.columns) == ["classname", "period", "month", "value", "magnitude", "n"]
    for classname in ds.index["classname"].value_counts().index[:2]:
        ids = ds.index.loc[ds.index["classname"] == classname, "id"].to_numpy()
        table = class_attributions(clf, ds, ids, method="saliency")
        expected = table.groupby("period")["value"].sum()  # per band means -> per observation
        got = summary[summary["classname"] == classname].set_index("period")["value"]
        pd.testing.assert_index_equal(got.index, expected.index, check_names=False)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-4, atol=1e-6)


def test_summary_of_a_column_that_was_not_precomputed_is_a_clear_error(explained):
    with pytest.raises(DatasetError, match="no per-observation column.*integrated_gradients.*attention, saliency"):
        open_precomputed(explained).observation_summary("integrated_gradients")


def test_only_matching_complete_results_are_found(copy_root, models, cluster, explained, monkeypatch):
    clf = Classifier.open(models["tf"], device="cpu")
    ds = open_breizhcrops(copy_root, REGION)
    assert precomputed_folder(clf, ds) == explained
    assert find_precomputed(clf, ds).path == explained and find_precomputed(clf, ds, seed=1) is None
    assert find_precomputed(Classifier.open(models["rf"], device="cpu"), ds) is None

    # the workspace reads them instead of running the model
    monkeypatch.setattr(Classifier, "predict", lambda *a, **k: pytest.fail("the model ran"))
    table = Workspace(ds, clf).predictions()
    assert len(table) == len(ds) and set(table["id"]) == set(ds.index["id"])
    monkeypatch.undo()

    # a part removed: incomplete, ignored until the run is finished
    part = sorted(explained.glob("part-*.parquet"))[-1]
    hidden = part.with_name("hidden")
    part.rename(hidden)
    try:
        assert find_precomputed(clf, ds) is None
    finally:
        hidden.rename(part)

    # last, as it replaces this module's results: those of a parcel subset serve explanations but
    # not the whole region's predictions
    subset = precompute(copy_root, REGION, models["tf"], out=explained, overwrite=True, progress=False,
                        scheduler=cluster.scheduler_address, ids=ds.index["id"].to_numpy()[:10])
    assert find_precomputed(clf, ds) is not None and precomputed_predictions(clf, ds) is None
    assert len(open_precomputed(subset)) == 10
