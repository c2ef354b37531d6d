"""Attributions, baselines, batching, sanity check, what-if (cropviz.explain)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cropviz.errors import ConfigurationError
from cropviz.explain import (
    METHODS,
    attribute,
    attribute_batch,
    cloud_spectrum,
    top_k_observations,
    what_if,
)
from tests.explain.toys import T_STAR, C, CausalSteps, D, Planted, SmallNet, T, logp, seeded


def test_integrated_gradients_completeness_and_delta(x):
    model = seeded(SmallNet)
    base = np.full((T, D), 0.1, np.float32)
    att = attribute(model, x, "integrated_gradients", target=1, baseline=base, n_steps=200)
    expected = logp(model, x)[1] - logp(model, base)[1]
    assert abs(att.values.sum() - expected) < 1e-3
    assert abs(att.delta - (att.values.sum() - expected)) < 1e-4
    assert att.values.shape == (T, D) and att.per_observation.shape == (T,)
    np.testing.assert_allclose(att.per_observation, att.values.sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(att.per_observation_abs, np.abs(att.values).sum(axis=1), rtol=1e-6)
    assert att.settings["n_steps"] == 200 and att.settings["baseline"] == "array"


@pytest.mark.parametrize("ig_method", ["gausslegendre", "riemann_trapezoid"])
def test_fused_integrated_gradients_equal_captum(x, ig_method):
    from captum.attr import IntegratedGradients

    model = seeded(SmallNet)
    base = np.full((T, D), 0.2, np.float32)
    X = torch.as_tensor(np.stack([x, x * 0.5]))
    expected, delta = IntegratedGradients(model).attribute(
        X, baselines=torch.as_tensor(base)[None], target=torch.tensor([2, 0]), n_steps=30,
        method=ig_method, return_convergence_delta=True)
    for chunk in (30, 7):
        batch = attribute_batch(model, X, "integrated_gradients", targets=[2, 0], baseline=base, device="cpu",
                                n_steps=30, ig_method=ig_method, internal_batch_size=chunk)
        np.testing.assert_allclose(batch.values, expected.numpy(), atol=1e-6)
        np.testing.assert_allclose(batch.delta, delta.numpy(), atol=1e-5)


def test_occlusion_and_feature_ablation_equal_masking_one_observation(x):
    model = seeded(SmallNet)
    base = np.random.default_rng(1).uniform(0, 0.3, size=(T, D)).astype(np.float32)
    target = 2
    hand = np.empty(T, np.float32)
    for t in range(T):
        masked = x.copy()
        masked[t] = base[t]
        hand[t] = logp(model, x)[target] - logp(model, masked)[target]
    for method, opts in (("occlusion", {"window": 1}), ("feature_ablation", {})):
        att = attribute(model, x, method, target=target, baseline=base, **opts)
        np.testing.assert_allclose(att.values, np.repeat(hand[:, None], D, axis=1), atol=1e-5)
        np.testing.assert_allclose(att.per_observation, hand * D, atol=1e-4)
        assert att.delta is None


@pytest.mark.parametrize("method", METHODS)
def test_planted_model_decisive_observation_for_every_method(method, x):
    model = seeded(Planted)
    att = attribute(model, x, method)
    assert int(np.argmax(np.abs(att.per_observation))) == T_STAR
    assert top_k_observations(att, 1)["index"].iloc[0] == T_STAR
    assert att.method == method


def test_target_defaults_to_predicted_class(x):
    model = seeded(SmallNet)
    predicted = int(np.argmax(logp(model, x)))
    att = attribute(model, x, "saliency")
    assert att.target == predicted
    np.testing.assert_allclose(att.values, attribute(model, x, "saliency", target=predicted).values)
    batch = attribute_batch(model, np.stack([x, x * 0.5]), "saliency", device="cpu")
    assert batch.targets[0] == predicted






def test_attribute_batch_matches_single(x):
    model = seeded(SmallNet)
    X = np.stack([x, x[::-1].copy(), x * 0.5, x + 0.1, x * 0.2])
    batch = attribute_batch(model, X, "integrated_gradients", targets=[0, 1, 2, 0, 1], batch_size=2,
                            device="auto", n_steps=40)
    assert batch.values.shape == (5, T, D) and np.asarray(batch).shape == (5, T, D)
    for i in range(5):
        single = attribute(model, X[i], "integrated_gradients", target=int(batch.targets[i]), n_steps=40)
        np.testing.assert_allclose(batch.values[i], single.values, atol=1e-5)
        assert abs(batch.delta[i] - single.delta) < 1e-5
    again = attribute_batch(model, X, "integrated_gradients", targets=[0, 1, 2, 0, 1], batch_size=3, n_steps=40)
    np.testing.assert_allclose(again.values, batch.values, atol=1e-6)  # batching does not change values
    means, counts = batch.by_class(num_classes=3)
    assert list(counts) == [2, 2, 1]
    np.testing.assert_allclose(means[0], batch.values[[0, 3]].mean(axis=0), rtol=1e-5)


def test_attribute_batch_per_parcel_baselines(x):
    model = seeded(SmallNet)
    X = np.stack([x, x * 0.5, x + 0.1])
    cloudy = np.zeros((3, T), bool)
    cloudy[0, [1, 2]] = cloudy[2, 5] = True
    batch = attribute_batch(model, X, "deeplift", baseline="cloud_free_median", cloudy=cloudy, batch_size=2)
    per_parcel = attribute_batch(model, X, "feature_ablation", baseline=X[::-1].copy(), batch_size=2)
    for i in range(3):
        single = attribute(model, X[i], "deeplift", target=int(batch.targets[i]), baseline="cloud_free_median",
                           cloudy=cloudy[i])
        np.testing.assert_allclose(batch.values[i], single.values, atol=1e-5)
        single = attribute(model, X[i], "feature_ablation", target=int(per_parcel.targets[i]), baseline=X[2 - i])
        np.testing.assert_allclose(per_parcel.values[i], single.values, atol=1e-5)
    with pytest.raises(ConfigurationError, match="cloudy"):
        attribute_batch(model, X, "deeplift", baseline="cloud_free_median")


@pytest.mark.parametrize("method", ["occlusion", "feature_ablation", "deeplift", "gradient_shap"])
def test_attribute_batch_other_methods_match_single(method, x):
    model = seeded(SmallNet)
    X = np.stack([x, x * 0.5, x + 0.1])
    batch = attribute_batch(model, X, method, batch_size=2, device="cpu")
    for i in range(3):
        single = attribute(model, X[i], method, target=int(batch.targets[i]))
        if method == "gradient_shap":  # stochastic: same seed, but a batch draws differently
            assert single.values.shape == batch.values[i].shape
        else:
            np.testing.assert_allclose(batch.values[i], single.values, atol=1e-5)


def test_step_explains_early_model_causally(x):
    model = seeded(CausalSteps)
    att = attribute(model, x, "integrated_gradients", step=4, n_steps=50)
    assert np.all(att.values[5:] == 0) and np.any(att.values[:5] != 0)
    assert att.settings["step"] == 4
    with torch.no_grad():
        expected = model.forward_steps(torch.as_tensor(x)[None])[0][0, 4]
    assert att.target == int(expected.argmax())
    assert abs(att.values.sum() - (expected[att.target].item() - model.forward_steps(
        torch.zeros(1, T, D))[0][0, 4, att.target].item())) < 1e-3
    with pytest.raises(ConfigurationError, match="forward_steps"):
        attribute(seeded(SmallNet), x, "saliency", step=3)


def test_step_on_real_elects_model(x):
    from cropviz.early.elects import ElectsModel

    torch.manual_seed(0)
    model = ElectsModel(input_dim=D, num_classes=C, hidden_dims=8, num_layers=1).eval()
    for method in ("integrated_gradients", "saliency", "feature_ablation"):
        att = attribute(model, x, method, step=5)
        assert np.abs(att.values[6:]).max() < 1e-6 < np.abs(att.values[:6]).max(), method  # causal
    batch = attribute_batch(model, np.stack([x, x * 0.5]), "integrated_gradients", step=5, n_steps=20)
    assert np.abs(batch.values[:, 6:]).max() < 1e-6
    res = what_if(model, x, 2, mode="cloud", step=5)
    assert abs(res.before.sum() - 1) < 1e-5


def test_what_if_remove_and_cloud(x):
    model = seeded(Planted)
    res = what_if(model, x, T_STAR, mode="remove")
    np.testing.assert_allclose(res.x_after[T_STAR], (x[T_STAR - 1] + x[T_STAR + 1]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(np.delete(res.x_after, T_STAR, 0), np.delete(x, T_STAR, 0))
    np.testing.assert_allclose(res.before, np.exp(logp(model, x)), rtol=1e-5)
    np.testing.assert_allclose(res.after, np.exp(logp(model, res.x_after)), rtol=1e-5)
    assert abs(res.after.sum() - 1) < 1e-5
    ends = what_if(model, x, [0, T - 1], mode="remove")
    np.testing.assert_array_equal(ends.x_after[0], x[1])
    np.testing.assert_array_equal(ends.x_after[-1], x[-2])
    dates = np.array(["2017-01-01", "2017-01-02", "2017-01-05"] + [f"2017-02-{d:02d}" for d in range(1, T - 2)],
                     dtype="datetime64[ns]")
    dated = what_if(model, x, 1, mode="remove", dates=dates)
    np.testing.assert_allclose(dated.x_after[1], x[0] + (x[2] - x[0]) * 0.25, rtol=1e-5)
    cloud = what_if(model, x, 3, mode="cloud", spectrum=np.full(D, 0.5))
    np.testing.assert_array_equal(cloud.x_after[3], 0.5)
    np.testing.assert_allclose(cloud.after, cloud.before, rtol=1e-6)  # Planted ignores obs 3
    spec = cloud_spectrum(["B1", "B10", "B11", "B12", "B2", "B8"])
    np.testing.assert_allclose(spec, [0.5, 0.1, 0.35, 0.25, 0.5, 0.5])
    with pytest.raises(ConfigurationError, match="mode"):
        what_if(model, x, 3, mode="shadow")
    with pytest.raises(ConfigurationError, match="outside"):
        what_if(model, x, T)


def test_top_k_observations_with_dates():
    per_obs = np.array([0.1, -0.9, 0.3, 0.0])
    dates = np.array(["2017-01-01", "2017-02-01", "2017-03-01", "2017-04-01"], dtype="datetime64[ns]")
    df = top_k_observations(per_obs, 2, dates=dates)
    assert list(df["index"]) == [1, 2]
    assert list(df["value"]) == [-0.9, 0.3]
    assert df["date"].iloc[0] == np.datetime64("2017-02-01")
    assert abs(df["share"].iloc[0] - 0.9 / 1.3) < 1e-9
    assert len(top_k_observations(per_obs, 10)) == 4


def test_threads_sharing_one_model_get_the_sequential_results():
    """Sessions of the app explain parcels on one cached model at the same time (issue 15.12)."""
    import threading

    from cropviz.explain import attention
    from cropviz.models.zoo import TransformerModel

    torch.manual_seed(0)
    model = TransformerModel(input_dim=D, num_classes=C, d_model=16, n_head=2, n_layers=2, d_inner=32).eval()
    X = np.random.default_rng(3).uniform(0, 0.6, size=(4, T, D)).astype(np.float32)

    def predict(i: int) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.as_tensor(X[i:i + 1])).numpy()

    jobs = {
        "deeplift": lambda i: attribute(model, X[i], "deeplift", target=1).values,
        "integrated_gradients": lambda i: attribute(model, X[i], "integrated_gradients", target=1, n_steps=16).values,
        "gradient_shap": lambda i: attribute(model, X[i], "gradient_shap", baseline="random", reference=X,
                                             n_samples=4).values,
        "batch_deeplift": lambda i: attribute_batch(model, X[i:i + 2], "deeplift", device="cpu").values,
        "attention": lambda i: attention(model, X[i]).rollout,
        "predict": predict,
    }
    expected = {name: [job(i) for i in range(len(X) - 1)] for name, job in jobs.items()}
    results: dict[str, list[np.ndarray]] = {name: [] for name in jobs}
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def worker(name: str) -> None:
        start.wait()
        try:
            for _ in range(2):
                results[name] = [jobs[name](i) for i in range(len(X) - 1)]
                for got, want in zip(results[name], expected[name], strict=True):
                    np.testing.assert_array_equal(got, want)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert all(len(r) == len(X) - 1 for r in results.values())
    assert not model._forward_hooks and not any(m._forward_hooks for m in model.modules())


def test_predictions_do_not_wait_behind_an_attribution():
    import threading
    import time

    from cropviz.models.zoo import TransformerModel

    torch.manual_seed(0)
    model = TransformerModel(input_dim=D, num_classes=C, d_model=16, n_head=2, n_layers=2, d_inner=32).eval()
    X = np.random.default_rng(4).uniform(0, 0.6, size=(24, T, D)).astype(np.float32)
    busy = threading.Thread(target=lambda: attribute_batch(model, X, "deeplift", device="cpu", batch_size=1))
    busy.start()
    time.sleep(0.05)
    with torch.inference_mode():
        model(torch.as_tensor(X[:8]))  # must not block on the attribution running in the other thread
    finished_while_busy = busy.is_alive()
    busy.join()
    assert finished_while_busy
