"""The diagnosis of a region end to end: a planted label error, the cache, the CLI and the Dask step."""

from __future__ import annotations

import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.diagnose import diagnose, in_training_regions, suspected_label_errors
from cropviz.errors import ConfigurationError

REQUIRED = ["id", "true", "pred", "confidence", "margin", "second_class", "label_quality", "knn_agreement",
            "cloud_attribution_share", "flips_without_clouds", "atypicality", "verdict", "reason"]


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


def test_a_parcels_diagnosis_equals_the_regions_without_attributing_the_region(planted, model, tmp_path,
                                                                                 monkeypatch):
    from cropviz.diagnose import evidence
    from cropviz.store import Store
    from cropviz.workspace import Workspace

    ds = open_breizhcrops(planted[0], "frh04")
    full = Workspace(ds, model, Store(tmp_path / "full")).diagnosis().set_index("id")
    attributed = full.index[full["cloud_attribution_share"].notna()]
    cloud_driven = full.index[full["verdict"] == "cloud_driven"]
    ids = list(dict.fromkeys([*attributed[:3], *cloud_driven[:2], planted[1],
                              *full.index[full["true"] == full["pred"]][:2]]))
    assert len(attributed) >= 3

    attributed_rows = []
    real_attribute = evidence.attribute_clouds
    monkeypatch.setattr(evidence, "attribute_clouds",
                        lambda m, d, ev, **k: attributed_rows.append(len(ev)) or real_attribute(m, d, ev, **k))
    workspace = Workspace(ds, model, Store(tmp_path / "parcels"))
    rows = workspace.parcel_diagnosis(ids).set_index("id")
    assert rows.index.tolist() == ids and attributed_rows == [len(set(ids) & set(attributed))]
    columns = ["verdict", "reason", "cloud_attribution_share", "label_quality", "pred_class", "neighbours"]
    pd.testing.assert_frame_equal(rows[columns], full.loc[ids, columns], atol=1e-5)
    assert rows.at[planted[1], "verdict"] == "label_error"
    workspace.parcel_diagnosis(ids[:2])  # the shares are kept
    assert len(attributed_rows) == 1
    workspace.diagnosis()  # once the region's diagnosis is stored, its rows are read
    pd.testing.assert_frame_equal(workspace.parcel_diagnosis(ids).set_index("id")[columns], full.loc[ids, columns],
                                  atol=1e-5)
    assert len(attributed_rows) == 2
    with pytest.raises(ConfigurationError, match=r"does not read parcel\(s\) \[-1\] of frh04"):
        workspace.parcel_diagnosis([ids[0], -1])
