"""Class mappings, import commands and the written layout's metadata."""

from __future__ import annotations

import pandas as pd
import pytest

from cropviz.data.importers.writer import build_classmapping, command_text, read_classmapping_file
from cropviz.errors import DatasetError


def test_class_mapping_sorts_numeric_codes_and_folds_small_classes():
    labels = pd.Series(["10", "2", "2", "10", "33", None, "2"])
    table = build_classmapping(labels, min_class_size=2)
    assert table.to_dict("records") == [{"id": 0, "classname": "2", "code": "2"},
                                        {"id": 1, "classname": "10", "code": "10"},
                                        {"id": 2, "classname": "other", "code": "33"}]


def test_code_tables_are_read_by_column_name(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("CODE_CULTU;libelle\nBTH;wheat\nMIS;corn\nBTP;wheat\n")
    table = read_classmapping_file(path)
    assert table.to_dict("records") == [{"id": 1, "classname": "wheat", "code": "BTH"},
                                        {"id": 0, "classname": "corn", "code": "MIS"},
                                        {"id": 1, "classname": "wheat", "code": "BTP"}]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="bad.csv.*needs a code column and a class name column.*found a, b"):
        read_classmapping_file(tmp_path / "bad.csv")


def test_the_command_of_an_import_fits_on_one_line(monkeypatch):
    files = [f"tiles/S2_2017{m:02d}01.tif" for m in range(1, 13)]
    monkeypatch.setattr("sys.argv", ["/usr/bin/cropviz", "extract", "--rasters", *files, "--root", "out"])
    text = command_text("extract_rasters", {})
    assert text == ("cropviz extract --rasters tiles/S2_20170101.tif ... (10 more) tiles/S2_20171201.tif "
                    "--root out")
    monkeypatch.setattr("sys.argv", ["python"])
    assert command_text("import_table", {"region": "r1"}) == "cropviz.data.importers.import_table(region='r1')"
