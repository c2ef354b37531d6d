"""Evaluation figures: confusion matrix, per-class scores, model comparison."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import FALLBACK_COLORS

#: Colours of the per-class metrics (Tol bright: blue, red, green, yellow).
METRIC_COLORS = {"precision": "#4477AA", "recall": "#EE6677", "f1": "#228833",
                 "support": "#CCBB44"}
#: Readable names of the summary metrics.
METRIC_LABELS = {"overall_accuracy": "overall accuracy", "kappa": "Cohen's kappa", "macro_f1": "macro F1",
                 "weighted_f1": "weighted F1", "accuracy": "accuracy", "f1": "F1"}


def row_normalize(cm: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows of zeros stay zeros)."""
    cm = np.asarray(cm, dtype=float)
    sums = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)


def confusion_figure(cm: np.ndarray | Sequence[Sequence[float]], classes: Sequence[str],
                     normalize: bool = True, title: str | None = None) -> go.Figure:
    """Heatmap of a confusion matrix (rows = true class, columns = predicted class).

    ``normalize`` colours by row share (recall per cell; each row sums to 1) and writes the
    share and the count in each cell; otherwise colours and writes counts. Empty cells stay
    blank, so the confusions stand out. The first class is drawn at the top.
    """
    counts = np.asarray(cm, dtype=float)
    names = [str(c) for c in classes]
    if counts.ndim != 2 or counts.shape != (len(names), len(names)):
        raise ConfigurationError(f"confusion matrix of shape {counts.shape} does not fit "
                                 f"{len(names)} classes")
    z = row_normalize(counts) if normalize else counts
    text = [["" if counts[i, j] == 0 else (f"{z[i, j]:.2f}<br>" if normalize else "") + f"{counts[i, j]:.0f}"
             for j in range(len(names))] for i in range(len(names))]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        zmin=0, zmax=1 if normalize else None, customdata=counts,
        # the title runs beside the bar: above it, the chart's toolbar covered it
        colorbar={"title": {"text": "row share" if normalize else "parcels", "side": "right"}},
        hovertemplate="true %{y}<br>predicted %{x}<br>count %{customdata:.0f}"
                      + ("<br>share %{z:.3f}" if normalize else "") + "<extra></extra>"))
    fig.update_layout(title=title, xaxis={"title": {"text": "predicted"}, "side": "bottom"},
                      yaxis={"title": {"text": "true"}, "autorange": "reversed"},
                      margin={"l": 130, "r": 20, "t": 40 if title else 30, "b": 110})  # the toolbar sits above
    return fig


def _per_class_frame(per_class: pd.DataFrame) -> pd.DataFrame:
    frame = per_class.copy()
    for col in ("class", "classname"):
        if col in frame.columns:
            frame = frame.set_index(col)
            break
    frame.columns = [str(c).lower().replace("f1-score", "f1").replace("f1_score", "f1")
                     for c in frame.columns]
    return frame


def per_class_figure(per_class: pd.DataFrame,
                     metrics: Sequence[str] = ("precision", "recall", "f1"),
                     title: str | None = None) -> go.Figure:
    """Grouped bars of per-class metrics.

    ``per_class``: one row per class (index = class names, or a 'class'/'classname' column),
    columns including ``metrics`` (sklearn's 'f1-score' is accepted for 'f1'). A score of
    exactly 0 has no bar to see, so it is written as '0' where the bar would be.
    """
    frame = _per_class_frame(per_class)
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ConfigurationError(f"per-class table lacks columns {', '.join(missing)} "
                                 f"(has {', '.join(map(str, frame.columns))})")
    names = [str(i) for i in frame.index]
    fig = go.Figure([go.Bar(x=names, y=frame[m].to_numpy(float), name=METRIC_LABELS.get(m, m),
                            marker={"color": METRIC_COLORS.get(m, FALLBACK_COLORS[k])},
                            text=["0" if v == 0 else "" for v in frame[m].to_numpy(float)],
                            textposition="outside", cliponaxis=False,
                            hovertemplate="%{x}<br>" + METRIC_LABELS.get(m, m) + " %{y:.3f}<extra></extra>")
                     for k, m in enumerate(metrics)])
    fig.update_layout(title=title, barmode="group", xaxis={"tickangle": -30, "automargin": True},
                      yaxis={"range": [0, 1.02], "title": {"text": "score"}},
                      legend={"orientation": "h", "y": 1.08},
                      margin={"l": 50, "r": 20, "t": 60 if title else 30, "b": 100})
    return fig


def model_comparison_figure(table: pd.DataFrame, metrics: Sequence[str] | None = None,
                            title: str | None = None) -> go.Figure:
    """Grouped bars comparing models: x = metric, one bar trace (colour) per model.

    ``table``: one row per model (index = model names, or a 'model' column), numeric metric
    columns (e.g. overall_accuracy, kappa, macro_f1), named on the axis in words
    (:data:`METRIC_LABELS`). ``metrics`` picks and orders columns; default all numeric columns.
    """
    frame = table.set_index("model") if "model" in table.columns else table
    if metrics is None:
        metrics = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ConfigurationError(f"model table lacks columns {', '.join(map(str, missing))}")
    values = frame[list(metrics)].to_numpy(float)
    fig = go.Figure([go.Bar(x=[METRIC_LABELS.get(str(m), str(m)) for m in metrics], y=values[k], name=str(model),
                            marker={"color": FALLBACK_COLORS[k % len(FALLBACK_COLORS)]},
                            text=[f"{v:.3f}" for v in values[k]], textposition="outside", cliponaxis=False)
                     for k, model in enumerate(frame.index)])
    fig.update_layout(title=title, barmode="group", yaxis={"title": {"text": "score"}},
                      legend={"orientation": "h", "y": 1.08},
                      margin={"l": 50, "r": 20, "t": 60 if title else 30, "b": 40})
    return fig
