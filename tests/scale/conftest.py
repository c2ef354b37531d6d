"""Fixtures of the scale tests: two small models trained on the demo fixture."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def models(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A random forest and a tiny transformer trained for one epoch on the demo fixture."""
    from cropviz.training import TrainConfig, train

    folder = tmp_path_factory.mktemp("scale-models")
    common = dict(root=str(demo_root), train_regions=["frh02"], val_region="frh03", epochs=1, device="cpu")
    rf, _ = train(TrainConfig(model="random_forest", **common), folder / "rf.npz", progress=False)
    tf, _ = train(TrainConfig(model="transformer", hparams=dict(d_model=16, n_head=2, n_layers=1, d_inner=32),
                              **common), folder / "tf.pt", progress=False)
    return {"rf": Path(rf), "tf": Path(tf)}
