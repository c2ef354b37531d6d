"""Figures of the diagnosis: verdict counts, confusion pairs, reliability diagrams, the embedding
scatter and neighbour curves (data in, plotly figure out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import CLOUD_COLOR, CORRECT_COLOR, FALLBACK_COLORS, class_hex

#: One colour per verdict (Tol bright; correct in the app's "correct" blue).
VERDICT_COLORS: dict[str, str] = {
    "correct": CORRECT_COLOR, "label_error": "#EE6677", "cloud_driven": "#AAAAAA",
    "ambiguous": "#CCBB44", "atypical": "#AA3377", "model_error": "#228833",
}
VERDICT_ORDER = tuple(VERDICT_COLORS)
#: How each verdict reads in figures, tables and filters (the identifiers stay in the data and CSVs).
VERDICT_LABELS: dict[str, str] = {"correct": "correct", "label_error": "label error", "cloud_driven": "cloud-driven",
                                  "ambiguous": "ambiguous", "atypical": "atypical", "model_error": "model error"}


def verdict_label(verdict: str) -> str:
    """The readable name of a verdict identifier (``"cloud_driven"`` -> ``"cloud-driven"``); an unknown
    identifier comes back unchanged."""
    return VERDICT_LABELS.get(verdict, verdict)


def verdict_counts_figure(frame: pd.DataFrame, include_correct: bool = False, title: str | None = None) -> go.Figure:
    """Bars of parcels per verdict (the misclassified ones unless ``include_correct``)."""
    counts = frame["verdict"].value_counts()
    verdicts = [v for v in VERDICT_ORDER if include_correct or v != "correct"]
    values = [int(counts.get(v, 0)) for v in verdicts]
    fig = go.Figure(go.Bar(x=[verdict_label(v) for v in verdicts], y=values, text=values, textposition="outside",
                           textangle=0, cliponaxis=False, marker={"color": [VERDICT_COLORS[v] for v in verdicts]},
                           hovertemplate="%{x}: %{y} parcels<extra></extra>"))
    fig.update_layout(title=title, yaxis_title="parcels", xaxis_title="verdict", showlegend=False,
                      margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 40})
    return fig


def confusion_pairs(frame: pd.DataFrame, top: int | None = 15) -> pd.DataFrame:
    """Misclassified parcels per (true, predicted) pair and verdict: true_class, pred_class, total
    and one column per verdict, the most frequent pairs first (ties by class names)."""
    wrong = frame[frame["verdict"] != "correct"]
    if wrong.empty:
        return pd.DataFrame(columns=["true_class", "pred_class", "total"])
    table = wrong.groupby(["true_class", "pred_class", "verdict"]).size().unstack(fill_value=0)
    table["total"] = table.sum(axis=1)
    table = table.reset_index().sort_values(["total", "true_class", "pred_class"], ascending=[False, True, True])
    table = table.reset_index(drop=True)
    return table.head(top) if top else table


def confusion_pairs_figure(pairs: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Horizontal stacked bars of :func:`confusion_pairs`: one bar per pair, split by verdict."""
    fig = go.Figure()
    labels = [f"{t} → {p}" for t, p in zip(pairs.get("true_class", []), pairs.get("pred_class", []), strict=True)]
    for verdict in VERDICT_ORDER:
        if verdict in pairs.columns:
            name = verdict_label(verdict)
            fig.add_trace(go.Bar(y=labels, x=pairs[verdict], name=name, orientation="h",
                                 marker={"color": VERDICT_COLORS[verdict]},
                                 hovertemplate="%{y}<br>" + name + ": %{x}<extra></extra>"))
    fig.update_layout(barmode="stack", title=title, xaxis_title="misclassified parcels",
                      yaxis={"autorange": "reversed", "title": "true → predicted"},
                      legend={"orientation": "h", "y": -0.2},
                      margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 40})
    return fig


def reliability_figure(tables: Mapping[str, pd.DataFrame], title: str | None = None) -> go.Figure:
    """Reliability diagram: observed accuracy against mean confidence per bin, one line per table
    (from :func:`cropviz.calibration.reliability_table`; e.g. 'uncalibrated' and 'calibrated', or
    one per class), with the diagonal of perfect calibration. Marker size follows the bin count."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                               line={"color": "#888888", "dash": "dash"}))
    for name, table in tables.items():
        missing = {"confidence", "accuracy", "count"} - set(table.columns)
        if missing:
            raise ConfigurationError(f"reliability table {name!r} lacks columns {sorted(missing)}")
        filled = table[table["count"] > 0]
        size = 6 + 14 * np.sqrt(filled["count"] / max(int(table["count"].max()), 1))
        color = class_hex(name) if name not in ("uncalibrated", "calibrated") else \
            FALLBACK_COLORS[0 if name == "uncalibrated" else 1]
        fig.add_trace(go.Scatter(x=filled["confidence"], y=filled["accuracy"], mode="lines+markers", name=name,
                                 marker={"size": size, "color": color}, line={"color": color},
                                 customdata=filled["count"],
                                 hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} parcels"
                                               "<extra>" + name + "</extra>"))
    fig.update_layout(title=title, xaxis={"title": "mean predicted probability", "range": [0, 1]},
                      yaxis={"title": "observed frequency", "range": [0, 1]},
                      legend={"orientation": "h", "y": -0.2},
                      margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 40})
    return fig


def embedding_figure(coords: np.ndarray, ids: Sequence[int], groups: Sequence[str], color_by: str,
                     selected_id: int | None = None, highlighted: Sequence[int] = (),
                     title: str | None = None) -> go.Figure:
    """2-D embedding scatter, one trace per group (class or verdict), ids in ``customdata`` (for
    lasso selection); the ``selected_id`` parcel is ringed, ``highlighted`` parcels outlined."""
    coords = np.asarray(coords, dtype=float)
    id_array = np.asarray(ids, dtype=np.int64)
    group_array = np.asarray([str(g) for g in groups])
    if coords.shape != (len(id_array), 2) or len(group_array) != len(id_array):
        raise ConfigurationError(f"embedding_figure: {coords.shape} coordinates for {len(id_array)} ids and "
                                 f"{len(group_array)} groups")
    fig = go.Figure()
    marked = np.isin(id_array, np.asarray(list(highlighted), dtype=np.int64))
    order = [v for v in VERDICT_ORDER if v in set(group_array)] if color_by == "verdict" else sorted(set(group_array))
    for group in order:
        rows = group_array == group
        color = VERDICT_COLORS.get(group, "#777777") if color_by == "verdict" else class_hex(group)
        name = verdict_label(group) if color_by == "verdict" else group
        fig.add_trace(go.Scattergl(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=name, customdata=id_array[rows],
            marker={"color": color, "size": np.where(marked[rows], 9, 6),
                    "line": {"width": np.where(marked[rows], 1.5, 0).tolist(), "color": "#000000"}},
            hovertemplate="parcel %{customdata}<br>" + name + "<extra></extra>"))
    if selected_id is not None and int(selected_id) in set(id_array.tolist()):
        row = int(np.flatnonzero(id_array == int(selected_id))[0])
        fig.add_trace(go.Scatter(x=[coords[row, 0]], y=[coords[row, 1]], mode="markers", name="selected parcel",
                                 customdata=[int(selected_id)],
                                 marker={"symbol": "circle-open", "size": 18, "color": "#000000",
                                         "line": {"width": 3}},
                                 hovertemplate="selected parcel %{customdata}<extra></extra>"))
    fig.update_layout(title=title, height=620, xaxis={"title": "UMAP 1", "showticklabels": False},
                      yaxis={"title": "UMAP 2", "showticklabels": False}, dragmode="lasso",
                      legend={"orientation": "h", "y": -0.15},
                      margin={"l": 30, "r": 20, "t": 50 if title else 20, "b": 40})
    return fig


def neighbour_curves_figure(curves: Sequence[tuple[int, str, np.ndarray, np.ndarray, np.ndarray]],
                            parcel: tuple[int, str, np.ndarray, np.ndarray, np.ndarray],
                            yaxis_title: str = "NDVI", title: str | None = None) -> go.Figure:
    """The parcel's curve (thick, black) over its neighbours' curves coloured by their labels.

    Each curve is (id, class name, dates, values, cloudy); cloud-flagged observations are left
    out of the lines (they are no measurement of the crop)."""
    fig = go.Figure()
    shown: set[str] = set()
    for parcel_id, classname, dates, values, cloudy in curves:
        clear = ~np.asarray(cloudy, dtype=bool)
        fig.add_trace(go.Scatter(x=pd.to_datetime(np.asarray(dates)[clear]), y=np.asarray(values)[clear],
                                 mode="lines", name=classname, legendgroup=classname,
                                 showlegend=classname not in shown, line={"color": class_hex(classname), "width": 1.2},
                                 opacity=0.75, hovertemplate=f"parcel {parcel_id} ({classname})<br>"
                                                             "%{x|%Y-%m-%d}: %{y:.3f}<extra></extra>"))
        shown.add(classname)
    parcel_id, classname, dates, values, cloudy = parcel
    clear = ~np.asarray(cloudy, dtype=bool)
    fig.add_trace(go.Scatter(x=pd.to_datetime(np.asarray(dates)[clear]), y=np.asarray(values)[clear],
                             mode="lines+markers", name=f"parcel {parcel_id} (labelled {classname})",
                             line={"color": "#000000", "width": 3}, marker={"size": 5}))
    if (~clear).any():
        fig.add_trace(go.Scatter(x=pd.to_datetime(np.asarray(dates)[~clear]), y=np.asarray(values)[~clear],
                                 mode="markers", name="cloud-flagged",
                                 marker={"symbol": "x-thin-open", "size": 9, "color": CLOUD_COLOR,
                                         "line": {"width": 2, "color": CLOUD_COLOR}}))
    fig.update_layout(title=title, xaxis_title="date", yaxis_title=yaxis_title, hovermode="closest",
                      legend={"orientation": "h", "y": -0.15},
                      margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 40})
    return fig
