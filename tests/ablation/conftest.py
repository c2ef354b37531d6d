"""Fixtures shared by the ablation tests: one tiny reproduction and one shuffled GRU per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from cropviz.ablation import (
    reproduce_time_space,
)


@pytest.fixture(scope="session")
def tiny_results(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A truly tiny reproduction on the tiny demo: every default model, both orders, 1 epoch."""
    out = tmp_path_factory.mktemp("ablation") / "results.json"
    return out, reproduce_time_space(demo_root, out, quick=True, epochs=1, seed=3, progress=False)


@pytest.fixture(scope="session")
def shuffled_gru(demo_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """A GRU patch model trained 1 epoch on shuffled time order by the ordinary training command."""
    from cropviz.models import Classifier
    from cropviz.training import TrainConfig, train

    out = tmp_path_factory.mktemp("gru") / "gru_shuffled.pt"
    path, _ = train(TrainConfig(model="gru", root=str(demo_root), train_regions=["frh01"], val_region="frh03",
                                epochs=1, batch_size=32, seed=5, shuffle_time=True), out, progress=False)
    return Classifier.open(path, device="cpu")
