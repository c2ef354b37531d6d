"""ELECTS: stopping probabilities, loss, early stopping and metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cropviz.early import ElectsModel, early_metrics, elects_loss, stopping_probabilities
from cropviz.errors import ConfigurationError


def test_stopping_probabilities_hand_example() -> None:
    delta = torch.tensor([[0.1, 0.2, 0.5, 0.9], [0.5, 0.5, 0.5, 0.5]])
    p = stopping_probabilities(delta)
    # row 0: 0.1; 0.2*0.9; 0.5*0.9*0.8; remaining 0.9*0.8*0.5 (last delta ignored)
    expected = torch.tensor([[0.1, 0.18, 0.36, 0.36], [0.5, 0.25, 0.125, 0.125]])
    assert torch.allclose(p, expected, atol=1e-7)


def test_stopping_probabilities_sum_to_one() -> None:
    delta = torch.rand(50, 12, generator=torch.Generator().manual_seed(0))
    p = stopping_probabilities(delta)
    assert (p >= 0).all()
    assert torch.allclose(p.sum(dim=1), torch.ones(50), atol=1e-6)
    assert torch.allclose(stopping_probabilities(torch.rand(3, 1)), torch.ones(3, 1))


def _numpy_loss(log_probs: np.ndarray, delta: np.ndarray, y: np.ndarray, alpha: float, eps: float) -> float:
    n, t_len, _ = log_probs.shape
    total = 0.0
    for i in range(n):
        survive = 1.0
        for t in range(t_len):
            p_stop = survive if t == t_len - 1 else delta[i, t] * survive
            survive *= 1.0 - delta[i, t]
            p_stop += eps / t_len
            log_py = log_probs[i, t, y[i]]
            total += alpha * p_stop * -log_py - (1 - alpha) * p_stop * np.exp(log_py) * (1 - t / t_len)
    return total / n


@pytest.mark.parametrize("alpha,eps", [(0.5, 10.0), (0.8, 0.0), (0.2, 1.0)])
def test_loss_matches_numpy(alpha: float, eps: float) -> None:
    g = torch.Generator().manual_seed(1)
    log_probs = torch.log_softmax(torch.randn(6, 7, 4, generator=g, dtype=torch.float64), dim=-1)
    delta = torch.rand(6, 7, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (6,), generator=g)
    got = elects_loss(log_probs, delta, y, alpha=alpha, epsilon=eps).item()
    want = _numpy_loss(log_probs.numpy(), delta.numpy(), y.numpy(), alpha, eps)
    assert got == pytest.approx(want, rel=1e-10)
    per_step = elects_loss(log_probs, delta, y[:, None].expand(6, 7), alpha=alpha, epsilon=eps).item()
    assert per_step == pytest.approx(got, rel=1e-12)


def test_loss_rejects_bad_shapes() -> None:
    with pytest.raises(ConfigurationError):
        elects_loss(torch.zeros(2, 3, 4), torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))


def _fixed_model(delta: torch.Tensor, num_classes: int = 3) -> ElectsModel:
    model = ElectsModel(input_dim=2, num_classes=num_classes, hidden_dims=8)
    n, t_len = delta.shape
    logits = torch.arange(n * t_len * num_classes, dtype=torch.float32).reshape(n, t_len, num_classes)
    logits = torch.sin(logits)  # a different arg-max at different steps
    model.forward_steps = lambda x: (torch.log_softmax(logits, dim=-1), delta)  # type: ignore[method-assign]
    return model


def test_deterministic_stop_first_crossing_and_last_step() -> None:
    delta = torch.tensor([[0.1, 0.6, 0.2, 0.9, 0.1], [0.1, 0.2, 0.3, 0.4, 0.45], [0.7, 0.1, 0.1, 0.1, 0.1]])
    model = _fixed_model(delta)
    res = model.predict_early(torch.zeros(3, 5, 2))
    assert res.stop_step.tolist() == [1, 4, 0]
    log_probs, _ = model.forward_steps(torch.zeros(3, 5, 2))
    for i, t in enumerate(res.stop_step):
        assert np.allclose(res.probabilities[i], log_probs[i, t].exp().numpy())
        assert res.prediction[i] == int(log_probs[i, t].argmax())
    assert model.predict_early(torch.zeros(3, 5, 2), threshold=0.65).stop_step.tolist() == [3, 4, 0]
    assert res.sampled_stops is None and res.stop_distribution is None


def test_sampled_stops_reproducible_and_match_probabilities() -> None:
    delta = torch.tensor([[0.1, 0.2, 0.5, 0.9], [0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    model = _fixed_model(delta)
    x = torch.zeros(3, 4, 2)
    a = model.predict_early(x, n_samples=20_000, seed=7)
    b = model.predict_early(x, n_samples=20_000, seed=7)
    c = model.predict_early(x, n_samples=20_000, seed=8)
    assert np.array_equal(a.sampled_stops, b.sampled_stops)
    assert not np.array_equal(a.sampled_stops, c.sampled_stops)
    assert a.sampled_stops.shape == (20_000, 3)
    assert np.array_equal(a.stop_step, a.sampled_stops[0])
    assert np.allclose(a.stop_distribution.sum(axis=1), 1.0)
    assert np.abs(a.stop_distribution - stopping_probabilities(delta).numpy()).max() < 0.015
    assert (a.sampled_stops[:, 2] == 3).all()


def test_predict_early_restores_training_mode() -> None:
    model = ElectsModel(input_dim=4, num_classes=3, hidden_dims=8)
    model.train()
    res = model.predict_early(torch.randn(2, 6, 4))
    assert model.training
    assert res.stop_step.tolist() == [5, 5]  # b = -20: delta ~ 0, stop at the last step
    assert res.delta.max() < 1e-6


def test_forward_shapes() -> None:
    model = ElectsModel(input_dim=13, num_classes=9).eval()
    x = torch.randn(3, 11, 13)
    log_probs, delta = model.forward_steps(x)
    assert log_probs.shape == (3, 11, 9) and delta.shape == (3, 11)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3, 11), atol=1e-5)
    assert torch.equal(model(x), log_probs[:, -1])
    with pytest.raises(ConfigurationError):
        model(torch.randn(3, 11, 10))


@pytest.fixture
def one_thread():
    """Tiny LSTM steps are slowest with several threads on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_reduces_loss(one_thread: None) -> None:
    torch.manual_seed(0)
    n, t_len, d = 32, 6, 3
    y = torch.arange(n) % 2
    x = torch.randn(n, t_len, d) * 0.3
    x[:, :, 0] += (2 * y[:, None] - 1).float() * torch.linspace(0.2, 1.5, t_len)
    model = ElectsModel(input_dim=d, num_classes=2, hidden_dims=8, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = elects_loss(*model.forward_steps(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_early_metrics_hand_example() -> None:
    stop = np.array([0, 3, 1, 3])
    preds = np.array([0, 1, 1, 0])
    y = np.array([0, 1, 0, 0])
    dates = np.array(["2017-01-01", "2017-01-11", "2017-01-21", "2017-01-31"], dtype="datetime64[D]")
    m = early_metrics(stop, preds, y, T=4, dates=dates, classes=["wheat", "corn", "barley"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["earliness"] == pytest.approx(np.mean([1, 4, 2, 4]) / 4)  # (t + 1) / T
    e = m["earliness"]
    assert m["harmonic_mean"] == pytest.approx(2 * 0.75 * (1 - e) / (0.75 + 1 - e))
    # F1: wheat P=2/2 R=2/3 -> 0.8; corn P=1/2 R=1 -> 2/3; barley absent -> 0
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 0.0) / 3)
    assert m["mean_stop_date"] == np.datetime64("2017-01-18")  # mean of 1, 31, 11, 31 Jan = 18.5
    pc = m["per_class"]
    assert pc.loc[0, "class"] == "wheat" and pc.loc[0, "support"] == 3
    assert pc.loc[0, "accuracy"] == pytest.approx(2 / 3)
    assert pc.loc[1, "earliness"] == pytest.approx(1.0)
    with pytest.raises(ConfigurationError):
        early_metrics(np.array([4]), np.array([0]), np.array([0]), T=4)
