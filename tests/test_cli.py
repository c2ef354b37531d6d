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


def test_reproduce_resumes_a_study_from_its_runs_folder_and_refuses_bad_folds(demo_root, tmp_path):
    out = tmp_path / "study.json"
    args = ["reproduce", "time-space", "--root", str(demo_root), "--out", str(out), "--quick", "--folds", "3",
            "--models", "gru", "--shuffled", "", "--zoo", "", "--only-folds", "2", "--runs", str(tmp_path / "runs")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["gru-ordered-fold2of3.json"]
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and json.loads(out.read_text())["reused_runs"] == 1
    bad = runner.invoke(app, [*args[:-4], "--only-folds", "two"])
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert bad.exit_code != 0 and len(lines) == 1 and "--only-folds 'two'" in lines[0]


def test_precompute_in_bfloat16_is_one_line_where_the_cpu_lacks_it(demo_root, tmp_path, monkeypatch):
    from cropviz import devices

    monkeypatch.setattr(devices, "native_bfloat16", lambda device: False)
    result = runner.invoke(app, ["precompute", "--root", str(demo_root), "--region", "frh04", "--model", "transformer",
                                 "--out", str(tmp_path / "o"), "--bf16"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and "no native bfloat16" in lines[0], result.output
