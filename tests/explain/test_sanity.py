"""Model-randomisation sanity checks of attribution methods."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cropviz.explain import sanity_check
from tests.explain.toys import D, FlatNet, T, seeded


def test_sanity_check_low_rank_correlation_on_trained_toy():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, size=(200, T, D)).astype(np.float32)
    y = (X[:, 3:5].mean(axis=(1, 2)) > 0).astype(np.int64) + (X[:, 9].mean(axis=1) > 0.3).astype(np.int64)
    model = seeded(FlatNet)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-2)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    model.train()
    for _ in range(100):
        opt.zero_grad()
        nn.functional.nll_loss(model(Xt), yt).backward()
        opt.step()
    model.eval()
    for method in ("saliency", "integrated_gradients"):
        rhos = [sanity_check(model, X[i], method, seed=0, n_steps=32) if method != "saliency"
                else sanity_check(model, X[i], method, seed=0) for i in range(4)]
        assert np.mean([r["spearman"] for r in rhos]) < 0.4, method
    trained = sanity_check(model, X[0], "saliency")["original"]
    assert len(set(np.argsort(-trained)[:3]) & {3, 4, 9}) >= 2
    cascade = sanity_check(model, X[0], "integrated_gradients", seed=0, mode="cascading", n_steps=32)
    assert [name for name, _ in cascade["cascade"]] == ["l2", "l1"]
    assert cascade["spearman"] == cascade["cascade"][-1][1]
    # the trained model's parameters are untouched
    assert torch.equal(model(Xt[:1]), model(Xt[:1]))
