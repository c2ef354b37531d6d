import os
import shutil

import pandas as pd
import plotly.graph_objects as go
import pytest

from cropviz.errors import ConfigurationError
from cropviz.viz import export


def test_html_is_self_contained():
    html = export.figure_to_html(go.Figure(go.Bar(x=[1], y=[2])))
    assert "<html>" in html[:100] and '<script src="http' not in html
    assert len(html) > 1_000_000  # plotly.js embedded
    assert "Plotly.newPlot" in html


def test_png_raises_configuration_error_without_kaleido(monkeypatch):
    monkeypatch.setattr(export, "png_available", lambda: False)
    with pytest.raises(ConfigurationError, match="kaleido"):
        export.figure_to_png(go.Figure())


def test_png_bytes_or_clear_error():
    """A real PNG where Chromium is installed (CI installs it), else the one-line error."""
    if shutil.which("chromium") or os.environ.get("CI"):
        png = export.figure_to_png(go.Figure(go.Bar(x=[1], y=[2])), width=200, height=100, scale=1)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(png[16:20], "big") == 200  # IHDR width
    else:
        with pytest.raises(ConfigurationError, match="kaleido|Chrome"):
            export.figure_to_png(go.Figure(go.Bar(x=[1], y=[2])), width=200, height=100)


def test_table_to_csv_bytes():
    data = export.table_to_csv(pd.DataFrame({"class": ["wheat"], "f1": [0.5]}))
    assert data == b"class,f1\nwheat,0.5\n"
