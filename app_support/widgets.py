"""Figure and table display with downloads: every figure as PNG and interactive HTML, tables as CSV."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from cropviz.errors import ConfigurationError, CropvizError
from cropviz.viz.export import figure_to_html, figure_to_png, table_to_csv


def _png(fig: Any) -> bytes:
    try:
        return figure_to_png(fig)
    except ConfigurationError as error:  # no Chrome for kaleido: say so in the file
        return str(error).encode()


def show_figure(fig: Any, name: str, key: str | None = None, **chart_options: Any) -> Any:
    """Draw a plotly figure with PNG and HTML download buttons (built only when clicked)."""
    event = st.plotly_chart(fig, key=key, **chart_options)
    left, right, _ = st.columns([1, 1, 6])
    left.download_button("PNG", data=lambda: _png(fig), file_name=f"{name}.png", mime="image/png",
                         key=f"{key or name}-png", on_click="ignore")
    right.download_button("HTML", data=lambda: figure_to_html(fig), file_name=f"{name}.html",
                          mime="text/html", key=f"{key or name}-html", on_click="ignore")
    return event


def show_table(frame: pd.DataFrame, name: str, key: str | None = None, **options: Any) -> Any:
    """Draw a table with a CSV download button."""
    event = st.dataframe(frame, key=key, **options)
    st.download_button("CSV", data=lambda: table_to_csv(frame), file_name=f"{name}.csv",
                       mime="text/csv", key=f"{key or name}-csv", on_click="ignore")
    return event


def seed004_results(key: str) -> dict | None:
    """The seed 004 results file the user uploads, else the shipped demo run (None if unreadable)."""
    from app_support import cache
    from cropviz.ablation import check_results

    upload = st.file_uploader("Results file of `cropviz reproduce time-space` (default: the shipped demo run)",
                              type=["json"], key=key)
    try:
        return (check_results(json.loads(upload.getvalue()), upload.name) if upload is not None
                else cache.seed004_results())
    except (CropvizError, json.JSONDecodeError, UnicodeDecodeError) as error:
        st.error(f"Cannot read the results: {error}")
        return None
