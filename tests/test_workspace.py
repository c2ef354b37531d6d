from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.errors import ConfigurationError
from cropviz.explain import attribute
from cropviz.explain.region import class_attributions, observation_attention
from cropviz.models import Classifier
from cropviz.store import Store, settings_key
from cropviz.workspace import Workspace


@pytest.fixture(scope="module")
def transformer() -> Classifier:
    return Classifier.open("transformer", device="cpu")


def test_predictions_are_computed_once_and_then_read_from_the_store(demo_root, tmp_path, transformer,
                                                                    monkeypatch):
    ds = open_breizhcrops(demo_root, "frh04")
    expected = transformer.predict(ds)
    first = Workspace(ds, transformer, Store(tmp_path)).predictions()
    pd.testing.assert_frame_equal(first, expected)
    monkeypatch.setattr(Classifier, "predict", lambda *a, **k: pytest.fail("the model ran again"))
    # a new workspace over the same folder (a restarted app, a CLI call) reads the stored table
    pd.testing.assert_frame_equal(Workspace(ds, transformer, Store(tmp_path)).predictions(), expected)


def test_a_workspace_opens_by_names(demo_root, tmp_path):
    ws = Workspace.open(demo_root, "frh04", "tempcnn", cache_dir=tmp_path, device="cpu")
    assert ws.model.name == "tempcnn" and ws.dataset.region == "frh04" and len(ws.predictions()) == len(ws.dataset)
    assert ws.key != Workspace.open(demo_root, "frh03", "tempcnn", device="cpu").key


def test_parcel_attribution_equals_captum_with_the_same_references(demo_root, transformer):
    ds = open_breizhcrops(demo_root, "frh04")
    ws = Workspace(ds, transformer)
    parcel = int(ds.index["id"].iloc[3])
    result = ws.attribution(parcel, "integrated_gradients", target=2, baseline="class_mean", n_steps=20)
    reference, labels = ws.reference_inputs()
    assert ws.reference_inputs() is ws.reference_inputs()  # read once per workspace
    prepared = transformer.inputs(ds, [parcel])
    expected = attribute(transformer.model, prepared.x[0], "integrated_gradients", target=2, baseline="class_mean",
                         reference=reference, reference_labels=labels, cloudy=prepared.cloudy[0], n_steps=20)
    np.testing.assert_allclose(result.values, expected.values, rtol=1e-5, atol=1e-7)
    assert result.target == 2 and result.delta == pytest.approx(expected.delta, abs=1e-6)


def test_region_summaries_equal_the_library_and_are_stored(demo_root, tmp_path, transformer):
    ds = open_breizhcrops(demo_root, "frh04")
    store = Store(tmp_path)
    ws = Workspace(ds, transformer, store)
    classname = ds.index["classname"].value_counts().index[0]
    table = ws.class_attributions(classname, "saliency", max_parcels=5)
    ids = ds.index.loc[ds.index["classname"] == classname, "id"].to_numpy()[:5]
    pd.testing.assert_frame_equal(table, class_attributions(transformer, ds, ids, method="saliency"))
    attention = ws.observation_attention(max_parcels=7)
    pd.testing.assert_frame_equal(attention, observation_attention(transformer, ds, ds.index["id"].to_numpy()[:7]))
    assert store.size() > 0
    assert store.contains("observation_attention", f"{ws.key}-{transformer.label}-{settings_key(max_parcels=7)}")


def test_early_steps_come_from_the_store_after_the_first_run(demo_root, tmp_path, monkeypatch):
    import cropviz.early.analysis as analysis

    ds = open_breizhcrops(demo_root, "frh04")
    elects = Classifier.open("elects", device="cpu")
    steps = Workspace(ds, elects, Store(tmp_path)).early_steps()
    assert steps.delta.shape[0] == len(ds)
    monkeypatch.setattr(analysis, "region_steps", lambda *a, **k: pytest.fail("ran again"))
    again = Workspace(ds, elects, Store(tmp_path)).early_frame(0.5)
    pd.testing.assert_frame_equal(again, analysis.early_frame(steps, 0.5))


def test_precomputed_summaries_need_precomputed_results(demo_root, transformer):
    ws = Workspace(open_breizhcrops(demo_root, "frh04"), transformer)
    assert ws.precomputed() is None
    with pytest.raises(ConfigurationError, match="no complete precomputed results of transformer on frh04"):
        ws.observation_summary("attention")


def test_parcel_views_equal_the_library_calls(demo_root, transformer):
    from cropviz.data.indices import index_array
    from cropviz.explain import attention, sanity_check, what_if
    from cropviz.metrics import metrics_from_predictions

    ds = open_breizhcrops(demo_root, "frh04")
    ws = Workspace(ds, transformer)
    parcel_id = int(ds.index["id"].iloc[5])
    prepared = transformer.inputs(ds, [parcel_id])
    parcel = ws.parcel_input(parcel_id)
    np.testing.assert_array_equal(parcel.x, prepared.x[0])
    np.testing.assert_array_equal(parcel.cloudy, prepared.cloudy[0])
    assert parcel.curve_name == "NDVI"
    np.testing.assert_allclose(parcel.curve, index_array(prepared.x[0], transformer.info.bands, "NDVI"))
    assert -1 < parcel.curve.min() < parcel.curve.max() <= 1

    np.testing.assert_allclose(ws.attention(parcel_id).rollout, attention(transformer.model, prepared.x[0]).rollout)
    edited = ws.what_if(parcel_id, 3, mode="remove")
    expected = what_if(transformer.model, prepared.x[0], 3, mode="remove", dates=prepared.dates[0],
                       bands=transformer.info.bands)
    np.testing.assert_allclose(edited.after, expected.after)
    assert edited.before.sum() == pytest.approx(1.0, abs=1e-5)  # probabilities, not log-probabilities
    check = ws.sanity_check(parcel_id, "saliency", target=1)
    assert check["spearman"] == pytest.approx(
        sanity_check(transformer.model, prepared.x[0], "saliency", target=1)["spearman"])

    metrics = ws.metrics()
    assert metrics == metrics_from_predictions(ws.predictions(), transformer.classes)
    assert 0 < metrics["macro_f1"] < metrics["overall_accuracy"] < 1
    assert set(ws.attribution_methods) >= {"integrated_gradients", "saliency", "deeplift"}
    assert ws.attribution_methods["integrated_gradients"].needs_baseline
    assert not ws.attribution_methods["saliency"].needs_baseline
    forest = Workspace(ds, Classifier.open("random_forest", device="cpu"))
    assert dict(forest.attribution_methods) == {}


def test_a_model_without_the_ndvi_bands_draws_its_first_band(demo_root, transformer, monkeypatch):
    ds = open_breizhcrops(demo_root, "frh04")
    ws = Workspace(ds, transformer)
    parcel_id = int(ds.index["id"].iloc[0])
    from cropviz.data.indices import INDICES

    # as if NDVI needed a band the model does not read
    monkeypatch.setitem(INDICES, "NDVI", (INDICES["NDVI"][0], ("B4", "B99")))
    parcel = ws.parcel_input(parcel_id)
    assert parcel.curve_name == transformer.info.bands[0]
    np.testing.assert_allclose(parcel.curve, parcel.x[:, 0])
