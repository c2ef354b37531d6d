"""Baselines: cloud-free median, class mean, random draws, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz.errors import ConfigurationError
from cropviz.explain import attribute, make_baseline
from tests.explain.toys import D, SmallNet, T, logp, seeded


def test_baselines(x):
    cloudy = np.zeros(T, bool)
    cloudy[[2, 5]] = True
    med, kind = make_baseline("cloud_free_median", x, cloudy=cloudy)
    assert kind == "cloud_free_median" and med.shape == (T, D)
    np.testing.assert_allclose(med[0], np.median(x[~cloudy], axis=0))
    ref = np.random.default_rng(2).uniform(size=(10, T, D)).astype(np.float32)
    labels = np.array([0, 1] * 5)
    mean, _ = make_baseline("class_mean", x, target=1, reference=ref, reference_labels=labels)
    np.testing.assert_allclose(mean, ref[labels == 1].mean(axis=0), rtol=1e-6)
    draws, kind = make_baseline("random", x, reference=ref, n=4, seed=3)
    assert draws.shape == (4, T, D) and kind == "random"
    np.testing.assert_array_equal(draws, make_baseline("random", x, reference=ref, n=4, seed=3)[0])
    model = seeded(SmallNet)
    gs = attribute(model, x, "gradient_shap", baseline="random", reference=ref, n_samples=8)
    assert gs.settings["baseline"] == "random" and gs.delta is not None
    np.testing.assert_array_equal(
        gs.values, attribute(model, x, "gradient_shap", baseline="random", reference=ref, n_samples=8).values)
    ig = attribute(model, x, "integrated_gradients", baseline="class_mean", reference=ref,
                   reference_labels=labels, target=0, n_steps=100)
    assert abs(ig.values.sum() - (logp(model, x)[0] - logp(model, ref[labels == 0].mean(axis=0))[0])) < 1e-3
    with pytest.raises(ConfigurationError, match="distribution"):
        attribute(model, x, "integrated_gradients", baseline="random", reference=ref)
    with pytest.raises(ConfigurationError, match="cloudy"):
        attribute(model, x, "deeplift", baseline="cloud_free_median")
    with pytest.raises(ConfigurationError, match="unknown baseline"):
        attribute(model, x, "deeplift", baseline="ones")
    with pytest.raises(ConfigurationError, match="unknown attribution method"):
        attribute(model, x, "lime")
    with pytest.raises(ConfigurationError, match="n_step"):
        attribute(model, x, "integrated_gradients", n_step=10)
    with pytest.raises(ConfigurationError, match="takes no baseline"):
        attribute(model, x, "saliency", baseline="zeros")
