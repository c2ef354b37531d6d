"""Figures of the seed 004 ablations: ordered vs shuffled time, spatial vs temporal parameters.

Functions take tables (from :mod:`cropviz.ablation`) or arrays and return plotly figures. Where
the paper's numbers are drawn next to ours, each trace is named after its source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import NEGATIVE_COLOR, POSITIVE_COLOR
from cropviz.viz.explain import _ticks, date_labels

#: One colour per source: the paper's numbers and ours.
SOURCE_COLORS = ("#777777", "#4477AA", "#EE6677", "#228833")


def _need(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigurationError(f"{what}: table lacks column(s) {', '.join(missing)}")


def _source_colors(sources: Sequence[str]) -> dict[str, str]:
    return {s: SOURCE_COLORS[k % len(SOURCE_COLORS)] for k, s in enumerate(dict.fromkeys(sources))}


def _error_y(part: pd.DataFrame, value: str) -> dict[str, Any] | None:
    """Symmetric plotly error bars from the ``<value>_std`` column of ``part``, None when it has no
    finite value (rows without one get no bar)."""
    column = f"{value}_std"
    if column not in part:
        return None
    std = pd.to_numeric(part[column], errors="coerce").to_numpy(float)
    if not np.isfinite(std).any():
        return None
    return {"type": "data", "symmetric": True, "visible": True,
            "array": [float(v) if np.isfinite(v) else None for v in std]}


def grouped_bars(frame: pd.DataFrame, value: str, title: str | None = None,
                 axis_title: str = "macro F1 (%)") -> go.Figure:
    """Bars of ``value`` per ``model``, one group per model and one colour per ``source``; error bars
    of ±``<value>_std`` for the sources that have finite ones in that column (their values are
    written inside the bars, the others' above)."""
    _need(frame, ("source", "model", value), "grouped_bars")
    colors = _source_colors(frame["source"])
    fig = go.Figure()
    for source, part in frame.groupby("source", sort=False):
        error = _error_y(part, value)
        spreads = [""] * len(part) if error is None else [
            "" if std is None else f" ± {std:.1f}" for std in error["array"]]
        fig.add_bar(x=part["model"], y=part[value], name=str(source), marker_color=colors[source], error_y=error,
                    text=[f"{v:.1f}" for v in part[value]],
                    # with error bars the value sits inside the bar's foot, clear of the bar's whisker
                    textposition="outside" if error is None else "inside",
                    insidetextanchor="start", textangle=0,
                    hovertemplate=[f"%{{x}}<br>{source}: %{{y:.1f}}{spread}<extra></extra>" for spread in spreads])
    fig.update_layout(barmode="group", title=title, yaxis={"title": {"text": axis_title}},
                      legend={"orientation": "h", "y": -0.2}, margin={"l": 60, "r": 20, "t": 40 if title else 10})
    return fig


def label_positions(x: Sequence[float], y: Sequence[float], x_span: float, y_span: float) -> list[str]:
    """Plotly text positions for point labels that keep labels of nearby points apart: a point
    close to an already placed one (within 20 % of ``x_span``, about a label's width in a
    half-width chart, and 15 % of ``y_span``) takes the next free position among above, below,
    right and left."""
    choices = ("top center", "bottom center", "middle right", "middle left")
    placed: list[tuple[float, float, str]] = []
    positions = []
    for px, py in zip(x, y, strict=True):
        near = {pos for qx, qy, pos in placed
                if abs(px - qx) < 0.2 * x_span and abs(py - qy) < 0.15 * y_span}
        position = next((c for c in choices if c not in near), choices[len(near) % len(choices)])
        placed.append((px, py, position))
        positions.append(position)
    return positions


def f1_vs_temporal_share(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Macro F1 (%) against the temporal share of parameters, one marker series per ``source``,
    each point labelled with its model (labels of nearby points placed apart, see
    :func:`label_positions`), with error bars of ±``macro_f1_std`` where the frame has finite ones.
    Points without a share are left out."""
    _need(frame, ("source", "model", "macro_f1", "temporal_share"), "f1_vs_temporal_share")
    colors = _source_colors(frame["source"])
    notes = frame["share_note"] if "share_note" in frame else pd.Series([""] * len(frame), index=frame.index)
    drawn = frame.dropna(subset=["temporal_share"])
    f1_span = float(drawn["macro_f1"].max() - drawn["macro_f1"].min()) if len(drawn) else 1.0
    positions = pd.Series(label_positions(drawn["temporal_share"].to_numpy(float), drawn["macro_f1"].to_numpy(float),
                                          1.15, f1_span or 1.0), index=drawn.index)
    fig = go.Figure()
    for source, part in drawn.groupby("source", sort=False):
        fig.add_scatter(x=part["temporal_share"], y=part["macro_f1"], mode="markers+text", name=str(source),
                        text=part["model"], textposition=list(positions.loc[part.index]),
                        marker={"size": 11, "color": colors[source]}, error_y=_error_y(part, "macro_f1"),
                        customdata=notes.loc[part.index],
                        hovertemplate="%{text}: share %{x:.2f}, F1 %{y:.1f}<br>%{customdata}<extra>"
                                      + str(source) + "</extra>")
    fig.update_layout(title=title, xaxis={"title": {"text": "temporal share of parameters (0 = CNN, 1 = GRU)"},
                                          "range": [-0.1, 1.15]},
                      yaxis={"title": {"text": "macro F1 (%)"}}, legend={"orientation": "h", "y": -0.2},
                      margin={"l": 60, "r": 20, "t": 40 if title else 10})
    return fig


def per_class_delta_figure(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Horizontal bars of the per-class F1 change (shuffled - ordered, points), classes sorted by
    change; hover shows both F1 and the test support. ``frame`` is indexed by class."""
    _need(frame, ("ordered", "shuffled", "delta"), "per_class_delta_figure")
    data = frame.sort_values("delta")
    support = data["support"] if "support" in data else pd.Series(np.nan, index=data.index)
    fig = go.Figure(go.Bar(
        y=[str(c) for c in data.index], x=data["delta"], orientation="h",
        marker_color=np.where(data["delta"] >= 0, POSITIVE_COLOR, NEGATIVE_COLOR),
        customdata=np.stack([data["ordered"], data["shuffled"], support], axis=1),
        hovertemplate="%{y}: %{x:+.1f} points<br>ordered %{customdata[0]:.1f}, shuffled %{customdata[1]:.1f}"
                      "<br>test parcels %{customdata[2]}<extra></extra>"))
    axis = "F1 shuffled - ordered (points); < 0: the class needs the order"
    fig.update_layout(title=title, xaxis={"title": {"text": axis}},
                      margin={"l": 140, "r": 20, "t": 40 if title else 10}, height=max(260, 28 * len(data) + 80))
    return fig


def order_pair_figure(ordered: dict[str, Any], shuffled: dict[str, Any], value_name: str = "NDVI") -> go.Figure:
    """One parcel as two models see it: for the ordered and the shuffled model, the input sequence
    (``value`` per time step, in input order, dates as hover) and the attribution per time step.

    Each dict holds ``dates`` (T), ``value`` (T), optional ``attribution`` (T) and ``label``.
    """
    parts = (ordered, shuffled)
    for part in parts:
        if len(part["dates"]) != len(part["value"]):
            raise ConfigurationError(f"{part.get('label', 'sequence')}: {len(part['value'])} values "
                                     f"for {len(part['dates'])} dates")
        if part.get("attribution") is not None and len(part["attribution"]) != len(part["dates"]):
            raise ConfigurationError(f"{part.get('label', 'sequence')}: attribution does not fit the dates")
    titles = []
    for part in parts:
        titles += [f"{part.get('label', '')}: {value_name} in input order",
                   f"{part.get('label', '')}: attribution per input step"]
    fig = make_subplots(rows=4, cols=1, subplot_titles=titles, vertical_spacing=0.09)
    for k, part in enumerate(parts):
        labels = date_labels(part["dates"])
        x = list(range(len(labels)))
        fig.add_scatter(x=x, y=part["value"], mode="lines+markers", text=labels, name=part.get("label", ""),
                        hovertemplate="step %{x}: %{text}<br>" + value_name + " %{y:.3f}<extra></extra>",
                        row=2 * k + 1, col=1, showlegend=False)
        if part.get("attribution") is not None:
            v = np.asarray(part["attribution"], dtype=float)
            fig.add_bar(x=x, y=v, text=labels, marker_color=np.where(v >= 0, POSITIVE_COLOR, NEGATIVE_COLOR),
                        hovertemplate="step %{x}: %{text}<br>attribution %{y:.4g}<extra></extra>",
                        textposition="none", row=2 * k + 2, col=1, showlegend=False)
        for row in (2 * k + 1, 2 * k + 2):
            fig.update_xaxes(**_ticks(labels), row=row, col=1)
    fig.update_layout(height=900, margin={"l": 60, "r": 20, "t": 40, "b": 60})
    return fig
