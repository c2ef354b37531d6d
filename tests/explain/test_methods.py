"""The table of attribution methods, and the library checked row by row against it (config-driven,
as Captum's own tests): options and defaults, baseline, delta, cost, equality with Captum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cropviz.errors import ConfigurationError
from cropviz.explain import BASELINE_METHODS, DELTA_METHODS, METHODS, TABLE, attribute, attribute_batch
from cropviz.explain.attribution import RUNNERS
from cropviz.explain.methods import method, settings

T, D, C = 10, 4, 3

#: How Captum is called for each method (the rest of the call is inputs, target, baselines).
CAPTUM_CALL: dict[str, dict] = {
    "integrated_gradients": {"n_steps": 50, "method": "gausslegendre", "return_convergence_delta": True},
    "saliency": {"abs": True},
    "input_x_gradient": {},
    "deeplift": {"return_convergence_delta": True},
    "gradient_shap": None,  # stochastic: checked for shape and seed only
    "occlusion": {"sliding_window_shapes": (3, D), "strides": (1, D)},
    "feature_ablation": {"feature_mask": torch.arange(T).view(1, T, 1).expand(1, T, D)},
}

ROWS_SEEN: list[int] = []  # module level: DeepLift runs on a copy of the model


class Counting(nn.Module):
    """Per-step MLP, max over time, linear; counts the rows of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.inlinear = nn.Linear(D, 8)
        self.relu = nn.ReLU()
        self.outlinear = nn.Linear(8, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ROWS_SEEN.append(len(x))
        return torch.log_softmax(self.outlinear(self.relu(self.inlinear(x)).max(dim=1).values), dim=-1)


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Counting().eval()


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.0, 0.6, size=(T, D)).astype(np.float32)


def test_table_names_and_derived_tuples():
    assert METHODS == ("integrated_gradients", "saliency", "input_x_gradient", "deeplift", "gradient_shap",
                       "occlusion", "feature_ablation")
    assert BASELINE_METHODS == ("integrated_gradients", "deeplift", "gradient_shap", "occlusion",
                                "feature_ablation")
    assert DELTA_METHODS == ("integrated_gradients", "deeplift", "gradient_shap")
    assert set(RUNNERS) | {"integrated_gradients"} == set(TABLE)  # every row has a runner
    assert set(CAPTUM_CALL) == set(TABLE)
    for name, row in TABLE.items():
        assert row.name == name and row.label and row.summary
        assert row.captum().__module__.startswith("captum.attr")


@pytest.mark.parametrize("name", METHODS)
def test_options_defaults_and_unknown_option(name, model, x):
    row = TABLE[name]
    full = settings(name, {}, T)
    for option, default in row.options.items():
        assert option in full
        if default is not None:
            assert full[option] == default
    att = attribute(model, x, name, target=1)
    assert {k: att.settings[k] for k in row.options} == full
    with pytest.raises(ConfigurationError, match=f"{name}: unknown option"):
        attribute(model, x, name, no_such_option=1)


@pytest.mark.parametrize("name", METHODS)
def test_baseline_and_delta_as_in_table(name, model, x):
    row = TABLE[name]
    base = np.full((T, D), 0.3, np.float32)
    if row.needs_baseline:
        kwargs = {"baseline": "random", "reference": np.stack([base, base * 0.5])} if row.stochastic else \
            {"baseline": base}
        with_base = attribute(model, x, name, target=1, **kwargs)
        assert not np.allclose(with_base.values, attribute(model, x, name, target=1).values)
    else:
        with pytest.raises(ConfigurationError, match="takes no baseline"):
            attribute(model, x, name, target=1, baseline=base)
    att = attribute(model, x, name, target=1)
    assert (att.delta is not None) == row.has_delta
    batch = attribute_batch(model, np.stack([x, x * 0.5]), name, targets=[1, 2], device="cpu")
    assert (batch.delta is not None) == row.has_delta


@pytest.mark.parametrize("name", METHODS)
def test_cost_counts_the_rows_evaluated(name, model, x):
    options = {"n_steps": 12} if name == "integrated_gradients" else {"n_samples": 5} if name == "gradient_shap" \
        else {}
    ROWS_SEEN.clear()
    attribute(model, x, name, target=1, **options)
    assert sum(ROWS_SEEN) == method(name).cost(T, **options)


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")
@pytest.mark.parametrize("name", [n for n, call in CAPTUM_CALL.items() if call is not None])
def test_values_equal_captum(name, model, x):
    X = np.stack([x, x[::-1].copy(), x * 0.5])
    targets = torch.tensor([0, 1, 2])
    row = TABLE[name]
    base = torch.full((1, T, D), 0.2)
    kwargs = dict(CAPTUM_CALL[name])
    if row.needs_baseline:
        kwargs["baselines"] = base
    got = attribute_batch(model, X, name, targets=targets.numpy(), device="cpu", batch_size=2,
                          **({"baseline": base[0].numpy()} if row.needs_baseline else {}))
    expected = row.captum()(model).attribute(torch.as_tensor(X).requires_grad_(True), target=targets, **kwargs)
    if row.has_delta:
        expected, delta = expected
        np.testing.assert_allclose(got.delta, delta.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(got.values, expected.detach().numpy(), atol=1e-6)


def test_unknown_method_and_bad_options():
    with pytest.raises(ConfigurationError, match="unknown attribution method 'lime'"):
        method("lime")
    with pytest.raises(ConfigurationError, match="n_steps must be >= 1"):
        settings("integrated_gradients", {"n_steps": 0}, T)
    with pytest.raises(ConfigurationError, match="do not fit a sequence of length 10"):
        settings("occlusion", {"window": 11}, T)
    assert settings("integrated_gradients", {"n_steps": 8}, T)["internal_batch_size"] == 8
