"""Batched attributions of the zoo transformer (fused attention, passes split mid-parcel) equal
plain Captum called parcel by parcel."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from cropviz.explain import TABLE, attribute_batch
from cropviz.explain.attribution import ROWS_PER_PASS, _quadrature
from cropviz.models.zoo.transformer import TransformerModel

T, D, C, N = 12, 5, 4, 7


@pytest.fixture(scope="module")
def transformer() -> TransformerModel:
    torch.manual_seed(3)
    return TransformerModel(input_dim=D, num_classes=C, d_model=16, n_head=2, n_layers=2, d_inner=32).eval()


@pytest.fixture(scope="module")
def parcels() -> np.ndarray:
    return np.random.default_rng(4).uniform(0.0, 0.6, size=(N, T, D)).astype(np.float32)


def captum_one_by_one(model: torch.nn.Module, name: str, X: np.ndarray, targets: np.ndarray,
                      **options: object) -> tuple[np.ndarray, np.ndarray | None]:
    """Captum's values (N x T x D) and convergence deltas (N, or None), one call per parcel."""
    row = TABLE[name]
    explainer = row.captum()(model)
    values, deltas = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(X)):
            xi = torch.as_tensor(X[i:i + 1]).requires_grad_(True)
            kwargs = {"baselines": torch.zeros_like(xi), "return_convergence_delta": True} if row.has_delta else {}
            out = explainer.attribute(xi, target=int(targets[i]), **kwargs, **options)
            if row.has_delta:
                out, delta = out
                deltas.append(delta.detach().numpy().reshape(1))
            values.append(out.detach().numpy())
    return np.concatenate(values), (np.concatenate(deltas) if deltas else None)


@pytest.mark.parametrize(("name", "options"), [
    ("integrated_gradients", {"n_steps": 20}), ("saliency", {}), ("input_x_gradient", {}), ("deeplift", {})])
def test_batched_equals_captum_parcel_by_parcel(transformer, parcels, name, options):
    targets = np.array([0, 1, 2, 3, 0, 1, 2])
    if name == "integrated_gradients":  # 7 parcels x 22 rows run in passes that end mid-parcel
        assert N * (options["n_steps"] + 2) > ROWS_PER_PASS
    expected, deltas = captum_one_by_one(transformer, name, parcels, targets, **options)
    for batch_size in (N, 3):
        got = attribute_batch(transformer, parcels, name, targets=targets, batch_size=batch_size, device="cpu",
                              **options)
        np.testing.assert_allclose(got.values, expected, atol=1e-5)
        assert np.abs(got.values).max() > 1e-3  # real gradients, not zeros
        if deltas is not None:
            np.testing.assert_allclose(got.delta, deltas, atol=1e-5)
            assert np.abs(got.delta).max() > 0  # a real delta, not a placeholder


def test_quadrature_is_captums_and_cached():
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("gausslegendre")
    weights, points = _quadrature("gausslegendre", 20)
    np.testing.assert_allclose(weights, step_sizes(20))
    np.testing.assert_allclose(points, alphas(20))
    assert abs(sum(weights) - 1.0) < 1e-9 and len(_quadrature("gausslegendre", 21)[1]) == 21
    assert _quadrature("gausslegendre", 20) is _quadrature("gausslegendre", 20)
