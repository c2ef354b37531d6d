"""A shipped model and a copy of the tiny demo with one planted label error, shared by the diagnosis tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.models import Classifier


@pytest.fixture(scope="session")
def model() -> Classifier:
    return Classifier.open("transformer", device="cpu")


@pytest.fixture(scope="session")
def planted(demo_root: Path, model: Classifier, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A copy of the tiny demo whose frh04 index gives one confidently right parcel another code."""
    root = tmp_path_factory.mktemp("planted") / "demo"
    shutil.copytree(demo_root, root)
    ds = open_breizhcrops(root, "frh04")
    predictions = model.predict(ds)
    right = predictions[(predictions["true"] == predictions["pred"]) & (predictions["confidence"] > 0.95)]
    row = right.iloc[0]
    probs = row[[f"prob_{c}" for c in model.classes]].to_numpy(float)
    present = set(ds.index["classid"])
    wrong_class = next(k for k in np.argsort(probs) if k in present and k != row["true"])
    mapping = pd.read_csv(root / "classmapping.csv", index_col=0)
    code = mapping.loc[mapping["id"] == wrong_class, "code"].iloc[0]
    index_path = root / "2017" / "L1C" / "frh04.csv"
    index = pd.read_csv(index_path)
    index.loc[index["id"] == row["id"], "CODE_CULTU"] = code
    index.to_csv(index_path, index=False)
    return root, int(row["id"])
