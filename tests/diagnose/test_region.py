"""The diagnosis of a region end to end: a planted label error, the cache, the CLI and the Dask step."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.diagnose import diagnose, in_training_regions, suspected_label_errors
from cropviz.models import Classifier

REQUIRED = ["id", "true", "pred", "confidence", "margin", "second_class", "label_quality", "knn_agreement",
            "cloud_attribution_share", "flips_without_clouds", "atypicality", "verdict", "reason"]


@pytest.fixture(scope="module")
def model() -> Classifier:
    return Classifier.open("transformer", device="cpu")


@pytest.fixture(scope="module")
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


def test_a_planted_label_error_is_diagnosed(planted, model):
    root, parcel_id = planted
    ds = open_breizhcrops(root, "frh04")
    frame = diagnose(model, ds)
    assert set(REQUIRED) <= set(frame.columns) and len(frame) == len(ds)
    row = frame.set_index("id").loc[parcel_id]
    assert row["verdict"] == "label_error", row["reason"]
    assert row["label_quality"] < 0.075 and row["confidence"] > 0.9
    suspects = suspected_label_errors(frame, ds)
    assert parcel_id in set(suspects["id"])
    assert suspects.set_index("id").loc[parcel_id, "given_class"] == row["true_class"]
    assert not in_training_regions(model, ds)
    assert set(frame["verdict"][frame["true"] == frame["pred"]]) == {"correct"}


def test_the_workspace_stores_evidence_and_diagnosis(planted, model, tmp_path, monkeypatch):
    from cropviz.store import Store
    from cropviz.workspace import Workspace

    ds = open_breizhcrops(planted[0], "frh04")
    first = Workspace(ds, model, Store(tmp_path)).diagnosis()
    pd.testing.assert_frame_equal(first.drop(columns="neighbours"),
                                  diagnose(model, ds).drop(columns="neighbours"))
    monkeypatch.setattr("cropviz.diagnose.region_evidence", lambda *a, **k: pytest.fail("evidence computed again"))
    again = Workspace(ds, model, Store(tmp_path))
    pd.testing.assert_frame_equal(first.drop(columns="neighbours"), again.diagnosis().drop(columns="neighbours"))
    assert list(again.embedding_2d().columns) == ["id", "x", "y"] and len(again.embedding_2d()) == len(first)


def test_cli_writes_the_diagnosis(planted, tmp_path):
    from typer.testing import CliRunner

    from cropviz.cli import app

    out = tmp_path / "diagnosis.parquet"
    result = CliRunner().invoke(app, ["diagnose", "--model", "transformer", "--root", str(planted[0]),
                                      "--region", "frh04", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert set(REQUIRED) <= set(frame.columns)
    assert frame.set_index("id").loc[planted[1], "verdict"] == "label_error"
    assert "label_error" in result.output and f"wrote {out}" in result.output


def test_cli_names_a_missing_region(planted, tmp_path):
    from typer.testing import CliRunner

    from cropviz.cli import app

    result = CliRunner().invoke(app, ["diagnose", "--model", "transformer", "--root", str(planted[0]),
                                      "--region", "nowhere", "--out", str(tmp_path / "d.parquet")])
    assert result.exit_code == 2 and "nowhere" in result.output


def test_dask_step_gives_the_local_diagnosis(planted, model, cluster, tmp_path):
    from cropviz.diagnose.distributed import diagnose_region

    out = tmp_path / "dask.parquet"
    frame = diagnose_region(planted[0], "frh04", "transformer", out, scheduler=cluster.scheduler_address,
                            partition_size=15, device="cpu")
    local = diagnose(model, open_breizhcrops(planted[0], "frh04"))
    assert pd.read_parquet(out)["id"].tolist() == local["id"].tolist()
    assert frame["verdict"].tolist() == local["verdict"].tolist()
    np.testing.assert_allclose(frame["label_quality"], local["label_quality"], atol=1e-5)
