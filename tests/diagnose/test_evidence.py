"""Evidence per parcel: the prediction without clouds and the cloud share of |IG|."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz.data import open_breizhcrops
from cropviz.diagnose.evidence import attribute_clouds, interpolate_clouds, parcel_evidence
from cropviz.errors import ConfigurationError
from cropviz.models import Classifier


def test_cloudy_steps_are_interpolated_in_time_from_clear_ones():
    dates = np.array(["2017-01-01", "2017-01-11", "2017-01-21", "2017-01-31"], dtype="datetime64[ns]")
    x = np.array([[[0.1, 1.0], [0.9, 9.0], [0.3, 3.0], [0.8, 8.0]]], dtype=np.float32)
    cloudy = np.array([[False, True, False, True]])
    out = interpolate_clouds(x, dates[None], cloudy)
    np.testing.assert_allclose(out[0, 1], [0.2, 2.0], rtol=1e-6)  # halfway between days 0 and 20
    np.testing.assert_allclose(out[0, 3], [0.3, 3.0], rtol=1e-6)  # held after the last clear date
    np.testing.assert_array_equal(out[0, [0, 2]], x[0, [0, 2]])
    all_cloudy = interpolate_clouds(x, dates[None], np.ones((1, 4), bool))
    np.testing.assert_array_equal(all_cloudy, x)


def test_evidence_of_the_tiny_test_region(demo_root):
    model = Classifier.open("transformer", device="cpu")
    ds = open_breizhcrops(demo_root, "frh04")
    ids = ds.index["id"].to_numpy()
    evidence = parcel_evidence(model, ds, ids, explain="wrong", batch_size=16)
    assert evidence.ids.tolist() == ids.tolist() and evidence.embedding.shape == (len(ids), 64)
    prepared = model.inputs(ds, ids)
    np.testing.assert_allclose(evidence.log_probs, model.log_probs(prepared.x), atol=1e-5)
    wrong = evidence.log_probs.argmax(axis=1) != evidence.labels
    attributed = ~np.isnan(evidence.cloud_attribution_share)
    assert (attributed <= wrong).all() and attributed.any()
    shares = evidence.cloud_attribution_share[attributed]
    assert ((shares >= 0) & (shares <= 1)).all()
    assert (evidence.cloudy_inputs == prepared.cloudy.sum(axis=1)).all()
    clean = ~prepared.cloudy.any(axis=1)
    np.testing.assert_array_equal(evidence.log_probs_without_clouds[clean], evidence.log_probs[clean])
    cleaned = interpolate_clouds(prepared.x, prepared.dates, prepared.cloudy)
    np.testing.assert_allclose(evidence.log_probs_without_clouds, model.log_probs(cleaned), atol=1e-5)
    none = parcel_evidence(model, ds, ids[:8], explain="none")
    assert np.isnan(none.cloud_attribution_share).all()


def test_clouds_attributed_afterwards_equal_those_attributed_in_one_pass(demo_root):
    model = Classifier.open("transformer", device="cpu")
    ds = open_breizhcrops(demo_root, "frh04")
    ids = ds.index["id"].to_numpy()
    passes = parcel_evidence(model, ds, ids, explain="none")
    for explain in ("wrong", "all", "none"):
        in_one_pass = parcel_evidence(model, ds, ids, explain=explain).cloud_attribution_share
        afterwards = attribute_clouds(model, ds, passes, explain=explain, batch_size=7)
        np.testing.assert_array_equal(np.isnan(afterwards), np.isnan(in_one_pass))
        assert (~np.isnan(afterwards)).sum() >= {"wrong": 3, "all": 20, "none": 0}[explain]
        np.testing.assert_allclose(afterwards, in_one_pass, atol=1e-5)
    wrong = parcel_evidence(model, ds, ids, explain="wrong").cloud_attribution_share
    two = np.flatnonzero(~np.isnan(wrong))[:2]  # attributed alone: the values of the whole region's pass
    np.testing.assert_allclose(attribute_clouds(model, ds, passes.take(two)), wrong[two], atol=1e-5)
    with pytest.raises(ConfigurationError, match="explain must be one of"):
        attribute_clouds(model, ds, passes, explain="cloudy")
