"""Export of figures and tables: self-contained HTML, PNG (kaleido), CSV bytes."""

from __future__ import annotations

import importlib.util

import pandas as pd
import plotly.graph_objects as go

from cropviz.errors import ConfigurationError


def figure_to_html(fig: go.Figure, full_html: bool = True) -> str:
    """HTML of a figure with plotly.js embedded (works offline; about 4 MB)."""
    return fig.to_html(include_plotlyjs=True, full_html=full_html)


def png_available() -> bool:
    """Whether the kaleido package (PNG export) is importable; it also needs Chrome/Chromium."""
    return importlib.util.find_spec("kaleido") is not None


def figure_to_png(fig: go.Figure, width: int | None = None, height: int | None = None,
                  scale: float = 2.0) -> bytes:
    """PNG bytes of a figure via kaleido; ConfigurationError when kaleido or Chrome is missing."""
    if not png_available():
        raise ConfigurationError("PNG export needs the 'kaleido' package and a Chrome/Chromium "
                                 "browser (pip install kaleido); use HTML export instead")
    try:
        return fig.to_image(format="png", width=width, height=height, scale=scale)
    except Exception as exc:  # kaleido raises many types when Chrome is absent or fails
        detail = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                      type(exc).__name__)
        raise ConfigurationError(
            f"PNG export failed (kaleido needs Chrome/Chromium): {detail}") from exc


def table_to_csv(df: pd.DataFrame, index: bool = False) -> bytes:
    """UTF-8 CSV bytes of a table (for download buttons)."""
    return df.to_csv(index=index).encode("utf-8")
