"""Imported data carry their year, level and groups: every command and training use them unasked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cropviz.cli import app
from cropviz.data import open_breizhcrops
from cropviz.data.breizhcrops import dataset_defaults
from cropviz.data.importers import import_table
from cropviz.errors import ConfigurationError
from cropviz.models import registry
from cropviz.training import TrainConfig, preset_hparams, train, validation_split
from tests.data.importers.test_table import make_long, to_wide

BANDS = ("B2", "B3", "B4", "B8", "B11")


@pytest.fixture()
def pixel_root(tmp_path):
    """A pixel table (40 pixels of 10 polygons, two crops) imported with --row-id --group-col, in 2018."""
    long = make_long(n=40, t=6, bands=BANDS, cloud=None, extra=False, labels=("wheat", "corn"))
    long["date"] = long["date"].str.replace("2017", "2018")
    wide = to_wide(long).drop(columns="parcel_id")
    polygon = np.repeat(np.arange(10), 4)
    wide.insert(0, "polygon", [f"F{p}" for p in polygon])
    wide["crop"] = np.where(polygon % 2 == 0, "wheat", "corn")
    wide.to_csv(tmp_path / "pixels.csv", index=False)
    import_table(tmp_path / "pixels.csv", tmp_path / "root", "r", row_id=True, group_col="polygon", progress=False)
    return tmp_path / "root"


def test_year_and_level_recorded_at_import_are_the_defaults(pixel_root, tmp_path):
    assert dataset_defaults(pixel_root, "r") == (2018, "CUSTOM")
    assert dataset_defaults(pixel_root) == (2018, "CUSTOM")  # the root's last import
    assert dataset_defaults(tmp_path / "nothing") == (2017, "L1C")  # BreizhCrops
    ds = open_breizhcrops(pixel_root, "r")
    assert ds.year == 2018 and ds.level == "CUSTOM" and len(ds) == 40
    result = CliRunner().invoke(app, ["info", "--root", str(pixel_root), "--region", "r", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["year"] == 2018 and summary["level"] == "CUSTOM" and summary["parcels"] == 40


def test_validation_fraction_is_seeded_and_keeps_groups_together(pixel_root):
    ds = open_breizhcrops(pixel_root, "r")
    train_ids, val_ids = validation_split([ds], 0.2, seed=0)
    again = validation_split([ds], 0.2, seed=0)
    assert np.array_equal(train_ids["r"], again[0]["r"]) and np.array_equal(val_ids["r"], again[1]["r"])
    group = pd.read_csv(ds.index_path).set_index("id")["group"]
    train_groups, val_groups = set(group.loc[train_ids["r"]]), set(group.loc[val_ids["r"]])
    assert not train_groups & val_groups and len(val_groups) == 2 and len(val_ids["r"]) == 8
    assert sorted(np.concatenate([train_ids["r"], val_ids["r"]])) == list(range(1, 41))
    other = validation_split([ds], 0.2, seed=1)[1]["r"]
    assert not np.array_equal(other, val_ids["r"])
    by_pixel = validation_split([ds], 0.2, seed=0, group_col="id")[1]["r"]  # any index column groups
    assert len(by_pixel) == 8 and len(set(group.loc[by_pixel])) > 2
    with pytest.raises(ConfigurationError, match=r"--group-col 'field': not a column of .*r\.csv"):
        validation_split([ds], 0.2, seed=0, group_col="field")


def test_train_without_a_validation_region_holds_out_a_grouped_fifth(pixel_root, tmp_path):
    config = TrainConfig(model="random_forest", root=str(pixel_root), train_regions=["r"], seed=0,
                         hparams={"n_estimators": 20})
    path, best = train(config, tmp_path / "rf.npz", progress=False)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["val_region"] is None and card["val_fraction"] == 0.2 and card["level"] == "CUSTOM"
    assert card["year"] == 2018 and card["preset"] == "demo"
    assert "pixels.csv" in card["data"]
    assert "validation 0.2 of their parcels (seed 0, grouped by polygon)" in card["data"]
    assert 0.0 <= best["macro_f1"] <= 1.0


def test_paper_preset_is_the_published_architecture():
    tempcnn = registry.spec("tempcnn")
    assert preset_hparams(tempcnn, "paper")["hidden_dims"] == 128
    assert preset_hparams(tempcnn, "demo")["hidden_dims"] == 64
    assert preset_hparams(registry.spec("transformer"), "paper")["n_layers"] == 5
    assert preset_hparams(registry.spec("lstm"), "paper")["num_layers"] == 4
    with pytest.raises(ConfigurationError, match="--preset must be one of demo, paper"):
        preset_hparams(tempcnn, "big")
