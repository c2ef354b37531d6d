"""The command line: its commands, a dataset summary, and one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cropviz.cli import app
from cropviz.data import open_breizhcrops

runner = CliRunner()


def test_every_command_is_listed():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "download", "info", "train", "evaluate", "predict", "precompute", "import", "extract",
                    "reproduce", "diagnose"):
        assert command in result.output, command


def test_info_summarises_a_region(demo_root):
    result = runner.invoke(app, ["info", "--root", str(demo_root), "--region", "frh04", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    ds = open_breizhcrops(demo_root, "frh04")
    assert summary["parcels"] == len(ds) and summary["simulated"] is True
    assert summary["parcels_per_class"] == ds.index["classname"].value_counts().to_dict()
    assert summary["sequence_length"]["max"] == int(ds.index["sequencelength"].max())


def test_a_missing_region_is_one_line_without_traceback(demo_root):
    result = runner.invoke(app, ["info", "--root", str(demo_root), "--region", "nowhere"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "nowhere" in lines[0] and "Traceback" not in result.output
