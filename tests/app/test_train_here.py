"""Imported data in the app: no error page when no shipped model fits, a model trained in place,
provenance per region and class names from the code table (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app_support.train_here import model_path, training_plan
from cropviz.data import open_breizhcrops
from cropviz.data.importers import import_table
from tests.data.importers.test_table import make_long

BANDS = ("B2", "B3", "B4", "B8", "B11")


@pytest.fixture()
def imported_root(tmp_path: Path) -> Path:
    """Two imported regions (5 bands, codes 10/20/30 named by a code table): nothing shipped fits."""
    (tmp_path / "codes.csv").write_text("CODE_CULTU;description\n10;wheat\n20;maize\n30;meadow\n")
    for region, seed in (("north", 0), ("south", 1)):
        long = make_long(n=30, t=8, seed=seed, bands=BANDS, cloud=None, labels=("10", "20", "30"))
        long.to_csv(tmp_path / f"{region}.csv", index=False)
        import_table(tmp_path / f"{region}.csv", tmp_path / "root", region, classmapping=tmp_path / "codes.csv",
                     progress=False)
    return tmp_path / "root"


def test_training_plan_keeps_the_shown_region_unseen(imported_root):
    ds = open_breizhcrops(imported_root, "south")
    plan = training_plan(ds)
    assert ds.classes == ["maize", "meadow", "wheat"]  # names from the code table, not 10/20/30
    assert plan.train_regions == ["north"] and plan.val_fraction == 0.2 and plan.level == "CUSTOM"
    assert model_path(ds, "tempcnn") == imported_root / "models" / "south-2017-CUSTOM-tempcnn.pt"


def test_imported_data_offers_training_in_place_instead_of_an_error(app, imported_root):
    app.query_params.update({"source": "Dataset folder", "root": str(imported_root), "region": "south"})
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    header = " ".join(c.value for c in app.caption) + " ".join(w.value for w in app.warning)
    assert "south.csv" in header and "north.csv" not in header  # this region's own provenance
    app.sidebar.button(key="train_here_start").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any("Trained random_forest" in s.value for s in app.success)
    path = imported_root / "models" / "south-2017-CUSTOM-random_forest.npz"
    assert path.exists() and path.with_suffix(".json").exists()
    card = path.with_suffix(".json").read_text()
    assert "north.csv" in card and "south.csv" not in card  # trained on north, validated on a share of it
    app.run()  # the next run uses the model trained here
    assert not app.error and any("using the model trained here" in c.value for c in app.sidebar.caption)
