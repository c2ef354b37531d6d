"""Batched attributions of the zoo transformer (fused attention, passes split mid-parcel) equal
plain Captum called parcel by parcel; DeepLift of every zoo model against a shared baseline."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from captum.attr import DeepLift

from cropviz.explain import TABLE, attribute_batch
from cropviz.explain.attribution import ROWS_PER_PASS, _quadrature
from cropviz.models import registry
from cropviz.models.zoo.transformer import TransformerModel
from tests.models.test_zoo import TINY

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


#: Zoo models whose only modules of Captum's DeepLift nonlinear kinds are ReLUs (or none): their
#: baseline, when shared, is evaluated once. MSResNet and InceptionTime have max-pooling modules,
#: whose DeepLift rule Captum applies itself.
SHARED_BASELINE_DEEPLIFT = {"transformer", "lstm", "tempcnn", "starrnn", "omniscalecnn"}


@pytest.mark.parametrize("name", sorted(registry.names(registry.ZOO)))
def test_deeplift_of_the_zoo_equals_captum_and_evaluates_a_shared_baseline_once(name):
    torch.manual_seed(0)
    model = registry.spec(name).cls(input_dim=13, num_classes=C, **TINY[name]).eval()
    X = np.random.default_rng(5).uniform(0.0, 0.6, size=(5, 45, 13)).astype(np.float32)
    targets = np.array([0, 1, 2, 3, 1])
    for base in (None, np.full((45, 13), 0.2, dtype=np.float32)):
        baseline = torch.zeros(1, 45, 13) if base is None else torch.as_tensor(base)[None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected, deltas = DeepLift(model).attribute(
                torch.as_tensor(X).requires_grad_(True), baselines=baseline.expand(5, -1, -1),
                target=torch.as_tensor(targets), return_convergence_delta=True)
        rows: list[int] = []

        def count(module: torch.nn.Module, args: tuple, rows: list[int] = rows) -> None:
            rows.append(len(args[0]))  # a function, so shared with the copy of the model DeepLift runs

        counter = model.register_forward_pre_hook(count)
        try:
            got = attribute_batch(model, X, "deeplift", targets=targets, device="cpu", baseline=base)
        finally:
            counter.remove()
        np.testing.assert_allclose(got.values, expected.detach().numpy(), atol=1e-5)
        np.testing.assert_allclose(got.delta, deltas.detach().numpy(), atol=1e-5)
        assert np.abs(got.values).max() > 1e-4  # real attributions, not zeros
        if name in SHARED_BASELINE_DEEPLIFT:
            assert sorted(rows) == [1, 5]  # the baseline once, then the parcels
        else:
            assert rows == [10]  # Captum: parcels and a baseline per parcel, in one pass
