"""Seed 004 patch models: parameter budgets, shapes, log-probabilities, masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cropviz.errors import ConfigurationError
from cropviz.models import registry
from cropviz.models.spatiotemporal import (
    PatchGRU,
    parameter_counts,
    parcel_mean_std,
)

# Table 1 of seed 004: total parameters and temporal parameter ratio (None: not given).
PAPER = {
    "cnn": (92_899, 0.0),
    "cnn_gru7": (92_035, 0.7),
    "cnn_gru8": (93_807, 0.8),
    "cnn_gru9": (90_179, 0.9),
    "gru": (94_587, 1.0),
    "convlstm": (95_353, None),
}


def _build(name: str, num_classes: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return registry.build(name, num_classes=num_classes, input_dim=10)


def _patches(n: int = 3, t: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, t, 10, 32, 32, generator=g)
    x[:, :, :, :5, :] = 0.0  # outside the parcel
    return x


def test_registry_names() -> None:
    assert set(registry.names(registry.SEED004)) == set(PAPER)


@pytest.mark.parametrize("name", list(PAPER))
def test_parameter_budget_and_temporal_share(name: str) -> None:
    total, share = PAPER[name]
    counts = parameter_counts(_build(name, num_classes=18))
    assert abs(counts["total"] - total) / total < 0.05
    assert counts["total"] == counts["spatial"] + counts["temporal"] + counts["head"]
    if share is not None:
        assert abs(counts["temporal_share"] - share) <= 0.05


@pytest.mark.parametrize("name", [n for n in PAPER if n != "convlstm"])
def test_totals_exact_with_19_outputs(name: str) -> None:
    assert parameter_counts(_build(name, num_classes=19))["total"] == PAPER[name][0]


@pytest.mark.parametrize("name", list(PAPER))
def test_forward_log_probabilities_and_gradients(name: str) -> None:
    model = _build(name)
    x = _patches().requires_grad_(True)
    out = model(x)
    assert out.shape == (3, 5)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(3), atol=1e-5)
    assert (out <= 0).all()
    out[:, 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", list(PAPER))
def test_eval_mode_deterministic_and_batch_independent(name: str) -> None:
    model = _build(name)
    model.train()
    model(_patches(n=4, seed=1))  # move BatchNorm running statistics
    model.eval()
    x = _patches(seed=2)
    with torch.no_grad():
        a, b = model(x), model(x)
        single = model(x[:1])
    assert torch.equal(a, b)
    assert torch.allclose(a[:1], single, atol=1e-5)


def test_wrong_shape_raises() -> None:
    model = _build("cnn")
    with pytest.raises(ConfigurationError):
        model(torch.rand(2, 4, 13, 32, 32))
    with pytest.raises(ConfigurationError):
        model(torch.rand(2, 4, 10))


def test_parameter_counts_rejects_other_models() -> None:
    with pytest.raises(ConfigurationError):
        parameter_counts(torch.nn.Linear(3, 2))


def test_mean_std_excludes_outside_pixels() -> None:
    x = torch.zeros(1, 2, 10, 32, 32)
    # parcel: 3 pixels; band 0 values at date 0 are 1, 2, 6; band 3 at date 1 are 4, 4, 4
    pixels = [(10, 10), (10, 11), (20, 5)]
    x[0, :, :, 10, 10] = 0.5  # every band non-zero so all three pixels are inside
    x[0, :, :, 10, 11] = 0.5
    x[0, :, :, 20, 5] = 0.5
    for (r, c), v in zip(pixels, [1.0, 2.0, 6.0], strict=False):
        x[0, 0, 0, r, c] = v
    for r, c in pixels:
        x[0, 1, 3, r, c] = 4.0
    feats = parcel_mean_std(x)
    assert feats.shape == (1, 2, 20)
    vals = np.array([1.0, 2.0, 6.0])
    assert feats[0, 0, 0].item() == pytest.approx(vals.mean(), abs=1e-6)  # 3, not 9/1024
    assert feats[0, 0, 10].item() == pytest.approx(vals.std(), abs=1e-4)  # population std
    assert feats[0, 1, 3].item() == pytest.approx(4.0, abs=1e-6)
    assert feats[0, 1, 13].item() == pytest.approx(0.0, abs=1e-4)
    assert feats[0, 0, 5].item() == pytest.approx(0.5, abs=1e-6)


def test_mean_std_empty_patch_is_finite() -> None:
    feats = parcel_mean_std(torch.zeros(2, 3, 10, 32, 32))
    assert torch.isfinite(feats).all() and feats[..., :10].abs().max() == 0


def test_gru_ignores_outside_pixel_count() -> None:
    """The same parcel pixels inside a patch padded with more zeros give the same output."""
    model = PatchGRU(input_dim=10, num_classes=4).eval()
    g = torch.Generator().manual_seed(3)
    small = torch.zeros(1, 5, 10, 32, 32)
    small[..., 8:16, 8:16] = torch.rand(1, 5, 10, 8, 8, generator=g) + 0.1
    moved = torch.zeros_like(small)
    moved[..., 20:28, 2:10] = small[..., 8:16, 8:16]
    with torch.no_grad():
        assert torch.allclose(model(small), model(moved), atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(PAPER))
def test_captum_deeplift_runs(name: str) -> None:
    from captum.attr import DeepLift

    model = _build(name).eval()
    x = _patches(n=2, t=2)
    attr = DeepLift(model).attribute(x, target=1)
    assert attr.shape == x.shape and torch.isfinite(attr).all()
