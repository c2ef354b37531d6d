"""Figures of early classification (ELECTS): animated parcel and region views, trade-offs.

Animations are plotly figures with one frame per date, a play button and a date slider. Every
frame carries the same traces, in the same order and of the same types, as the figure's data,
so plotly.js can step through all frames to the end. Frames are named by their index (dates may
repeat when observations were sampled with replacement); slider labels show the dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import CLOUD_COLOR, CORRECT_COLOR, MISSING_COLOR, WRONG_COLOR, class_hex
from cropviz.viz.trajectories import CLOUD_TRACE_NAME

#: Trace names of the parcel animation that mark the stop moment.
STOP_TRACE = "stop"
STOP_DELTA_TRACE = "stop (delta)"
UNDECIDED_TRACE = "not decided yet"


def _labels(dates: Sequence | np.ndarray) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.to_datetime(np.asarray(dates))]


def _animation_controls(n_frames: int, labels: list[str], frame_ms: int, y: float = -0.08) -> dict:
    """Layout with play (from the first frame, through the last) / pause buttons and a slider."""
    names = [str(t) for t in range(n_frames)]
    play = {"frame": {"duration": frame_ms, "redraw": True}, "mode": "immediate",
            "fromcurrent": False, "transition": {"duration": 0}}
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
    return {
        "updatemenus": [{"type": "buttons", "direction": "left", "x": 0.0, "y": y, "xanchor": "left",
                         "yanchor": "top", "showactive": False,
                         "buttons": [{"label": "▶ play", "method": "animate", "args": [names, play]},
                                     {"label": "❚❚ pause", "method": "animate", "args": [[None], still]}]}],
        "sliders": [{"active": n_frames - 1, "x": 0.18, "len": 0.82, "y": y, "yanchor": "top",
                     "currentvalue": {"prefix": "date: "},
                     "steps": [{"label": label, "method": "animate", "args": [[name], still]}
                               for name, label in zip(names, labels, strict=False)]}],
    }


def _cumulative_stop(delta: np.ndarray) -> np.ndarray:
    """Probability of having stopped at or before each step (FIELD.md section 3, last step 1)."""
    import torch

    from cropviz.early.elects import stopping_probabilities

    p = stopping_probabilities(torch.from_numpy(np.asarray(delta, dtype=np.float64)[None]))[0].numpy()
    return np.cumsum(p)


#: Decimals of the numbers an animation's frames carry (far below what a pixel or a hover shows).
FRAME_DECIMALS = 4


def _plain(value: Any) -> Any:
    """``value`` with numpy arrays as lists (floats rounded to :data:`FRAME_DECIMALS`), nested dicts too.

    Streamlit copies a figure to a dict on every rerun; plotly converts each numpy array of it on the
    way (about 0.2 s for a parcel's 70 frames), while lists are copied as they are, and the rounded
    numbers print shorter than the arrays' binary form.
    """
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiubOU":  # not dates: tolist() gives integers
        return (np.round(value, FRAME_DECIMALS) if value.dtype.kind == "f" else value).tolist()
    return value


def _frames(updates: list[list[dict]]) -> list[dict]:
    """Frames as plain dicts (validated once, by the figure): frame ``t`` is named ``str(t)``
    and holds one ``scatter`` update per trace of the figure's data, in order."""
    return [{"name": str(t), "data": [{"type": "scatter", **_plain(u)} for u in data]}
            for t, data in enumerate(updates)]


def parcel_early_animation(dates: Sequence | np.ndarray, values: Sequence[float] | np.ndarray,
                           class_probs: np.ndarray, delta: Sequence[float] | np.ndarray,
                           classes: Sequence[str], stop_step: int, final_pred: int,
                           value_name: str = "NDVI", threshold: float | None = None,
                           true_class: int | None = None, min_prob: float = 0.1, frame_ms: int = 250,
                           title: str | None = None, cloudy: Sequence[bool] | np.ndarray | None = None) -> go.Figure:
    """One parcel's early classification, revealed date by date (T frames).

    Rows: the trajectory ``values`` (e.g. NDVI of the sampled observations) up to the current
    date, its line joining the clear observations and the cloud-flagged ones (``cloudy``, T
    flags) drawn as grey x markers, as in the inspector (the model reads both); class
    probabilities ``class_probs`` (T x C) over time, for the classes reaching ``min_prob`` at
    some date plus the classes chosen at the stop and at the end; the stopping
    probability ``delta_t`` and the cumulative probability of having stopped. From the frame of
    ``stop_step`` on, the stop is marked with the class chosen then; the title gives the
    full-season answer (class at the last step, ``final_pred``) for comparison. The figure's
    data is the last frame; play starts from the first date.
    """
    labels = _labels(dates)
    v = np.asarray(values, dtype=float)
    probs = np.asarray(class_probs, dtype=float)
    d = np.asarray(delta, dtype=float)
    t_len = len(labels)
    if t_len == 0:
        raise ConfigurationError("parcel_early_animation needs at least one date")
    if v.shape != (t_len,) or d.shape != (t_len,) or probs.shape != (t_len, len(classes)):
        raise ConfigurationError(f"parcel_early_animation: values {v.shape}, delta {d.shape} and class_probs "
                                 f"{probs.shape} do not fit {t_len} dates and {len(classes)} classes")
    if not 0 <= stop_step < t_len:
        raise ConfigurationError(f"parcel_early_animation: stop_step {stop_step} outside 0..{t_len - 1}")
    flags = np.zeros(t_len, dtype=bool) if cloudy is None else np.asarray(cloudy, dtype=bool)
    if flags.shape != (t_len,):
        raise ConfigurationError(f"parcel_early_animation: {flags.shape} cloud flags do not fit {t_len} dates")
    x = np.array(labels, dtype=object)
    clear_values = np.where(flags, np.nan, v)
    cumulative = _cumulative_stop(d)
    chosen = int(probs[stop_step].argmax())
    keep = {chosen, int(final_pred)} | set(np.flatnonzero(probs.max(axis=0) >= min_prob).tolist())
    shown_classes = sorted(keep)
    stop_text = f"stop {labels[stop_step]}: {classes[chosen]} ({probs[stop_step, chosen]:.0%})"
    star = {"symbol": "star", "color": class_hex(classes[chosen]), "line": {"color": "#000000", "width": 1}}

    def updates(t: int) -> list[dict[str, Any]]:
        upto = slice(0, t + 1)
        stopped = t >= stop_step
        seen_cloudy = flags[upto]
        out: list[dict[str, Any]] = [{"x": x[upto], "y": clear_values[upto]},
                                     {"x": x[upto][seen_cloudy], "y": v[upto][seen_cloudy]}]
        out += [{"x": x[upto], "y": probs[upto, k]} for k in shown_classes]
        out += [{"x": x[upto], "y": d[upto]}, {"x": x[upto], "y": cumulative[upto]}]
        if threshold is not None:
            out.append({"x": [x[0], x[-1]], "y": [threshold, threshold]})
        out.append({"x": [x[stop_step]] if stopped else [], "y": [probs[stop_step, chosen]] if stopped else [],
                    "text": [stop_text] if stopped else []})
        out.append({"x": [x[stop_step]] if stopped else [], "y": [d[stop_step]] if stopped else []})
        return out

    styles: list[tuple[dict, int]] = [({"mode": "lines+markers", "name": value_name, "showlegend": False,
                                        "connectgaps": True, "line": {"color": "#333333"}, "marker": {"size": 5}}, 1),
                                       ({"mode": "markers", "name": CLOUD_TRACE_NAME, "showlegend": bool(flags.any()),
                                         "marker": {"symbol": "x-thin-open", "size": 8, "color": CLOUD_COLOR,
                                                    "line": {"width": 2, "color": CLOUD_COLOR}}}, 1)]
    for k in shown_classes:
        styles.append(({"mode": "lines", "name": classes[k], "line": {"color": class_hex(classes[k]),
                                                                         "width": 3 if k == chosen else 1.5}}, 2))
    styles += [({"mode": "lines", "name": "stopping probability δ_t", "line": {"color": "#000000"}}, 3),
               ({"mode": "lines", "name": "P(stopped by t)", "line": {"color": "#777777", "dash": "dash"}}, 3)]
    if threshold is not None:
        styles.append(({"mode": "lines", "name": f"threshold {threshold:g}",
                        "line": {"color": WRONG_COLOR, "dash": "dot"}}, 3))
    # the star's label beside it, away from the plot's edges: below a high probability, where text
    # above would run into the title of the panel above
    side = ("bottom" if probs[stop_step, chosen] > 0.75 else "top") + (" right" if stop_step < t_len / 2 else " left")
    styles += [({"mode": "markers+text", "name": STOP_TRACE, "textposition": side, "showlegend": False,
                 "marker": {**star, "size": 16}}, 2),
               ({"mode": "markers", "name": STOP_DELTA_TRACE, "showlegend": False, "marker": {**star, "size": 14}}, 3)]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, row_heights=[0.35, 0.4, 0.25],
                        subplot_titles=(value_name + " of the observations the model sees",
                                        "class probabilities", "stopping"))
    for (style, row), update in zip(styles, updates(t_len - 1), strict=False):
        fig.add_trace(go.Scatter(**style, **update), row=row, col=1)
    fig.frames = _frames([updates(t) for t in range(t_len)])
    final = f"full season: {classes[int(final_pred)]}"
    truth = "" if true_class is None else f" | true: {classes[int(true_class)]}"
    heading = f"{title} | " if title else ""
    when = pd.to_datetime(np.asarray(dates))
    pad = (when[-1] - when[0]) * 0.03 if t_len > 1 else pd.Timedelta(days=3)
    finite = v[np.isfinite(v)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    margin = (high - low) * 0.08 or 0.05
    fig.update_xaxes(type="date", range=[when[0] - pad, when[-1] + pad])
    fig.update_yaxes(range=[low - margin, high + margin], row=1, col=1)
    fig.update_yaxes(range=[0, 1.12], title={"text": "probability"}, row=2, col=1)
    fig.update_yaxes(range=[0, 1.05], row=3, col=1)
    # two lines: on one, the title ran under the chart's toolbar at the top right
    fig.update_layout(title=f"{heading}{stop_text}<br>{final}{truth}", height=720,
                      legend={"orientation": "v", "x": 1.02, "y": 0.75},
                      margin={"l": 50, "r": 10, "t": 115, "b": 110},
                      **_animation_controls(t_len, labels, frame_ms))
    return fig


def region_early_animation(xy: np.ndarray, stop_dates: Sequence | np.ndarray, preds: Sequence[int] | np.ndarray,
                           classes: Sequence[str], dates: Sequence | np.ndarray,
                           truths: Sequence[int] | np.ndarray | None = None,
                           ids: Sequence[int] | None = None, marker_size: int = 6, frame_ms: int = 300,
                           title: str | None = None) -> go.Figure:
    """Parcels (projected centroids ``xy``, N x 2) turn from grey to their predicted class's
    colour on the date the model stops for them; beside, the share of parcels decided and,
    with ``truths``, the running accuracy of the decided ones. One frame per date of ``dates``.

    Traces: the parcels (one scatter, colour codes 0 = undecided, k + 1 = class k), legend
    entries (undecided, then one per class), the share decided and the running accuracy.
    """
    from cropviz.early.analysis import decided_over_time

    pts = np.asarray(xy, dtype=float)
    stops = pd.to_datetime(np.asarray(stop_dates)).to_numpy(dtype="datetime64[ns]")
    pred = np.asarray(preds, dtype=np.int64)
    labels = _labels(dates)
    grid = pd.to_datetime(np.asarray(dates))
    if pts.ndim != 2 or pts.shape[1] != 2 or not (len(pts) == len(stops) == len(pred)):
        raise ConfigurationError(f"region_early_animation: centroids {pts.shape}, {len(stops)} stop dates and "
                                 f"{len(pred)} predictions do not fit")
    if not labels:
        raise ConfigurationError("region_early_animation needs at least one date")
    truth = None if truths is None else np.asarray(truths, dtype=np.int64)
    frame = pd.DataFrame({"stop_date": stops, "pred_at_stop": pred, "true": pred if truth is None else truth})
    curve = decided_over_time(frame, grid)
    decided_share = curve["decided"].to_numpy()
    accuracy = curve["running_accuracy"].to_numpy() if truth is not None else np.full(len(grid), np.nan)
    names = [str(i) for i in (ids if ids is not None else range(len(pts)))]
    hover = [f"parcel {names[i]}<br>stops {pd.Timestamp(stops[i]):%Y-%m-%d}: {classes[pred[i]]}"
             + ("" if truth is None else f"<br>true: {classes[truth[i]]}") for i in range(len(pts))]
    n_colors = len(classes) + 1
    scale = [[k / (n_colors - 1), c] for k, c in enumerate([MISSING_COLOR, *(class_hex(c) for c in classes)])]
    x = np.array(labels, dtype=object)

    def updates(t: int) -> list[dict[str, Any]]:
        code = np.where(stops <= grid[t].to_datetime64(), pred + 1, 0)
        return [{"marker": {"color": code}}, *({} for _ in range(len(classes) + 1)),
                {"x": x[:t + 1], "y": decided_share[:t + 1]}, {"x": x[:t + 1], "y": accuracy[:t + 1]}]

    last = updates(len(labels) - 1)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.08,
                        subplot_titles=("parcels coloured when the model decides", "decided so far"))
    fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="parcels", showlegend=False,
                             text=hover, hovertemplate="%{text}<extra></extra>",
                             marker={"color": last[0]["marker"]["color"], "colorscale": scale, "cmin": 0,
                                     "cmax": n_colors - 1, "size": marker_size}), row=1, col=1)
    for name in (UNDECIDED_TRACE, *classes):
        color = MISSING_COLOR if name == UNDECIDED_TRACE else class_hex(name)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker={"color": color, "size": 10}), row=1, col=1)
    fig.add_trace(go.Scatter(**last[-2], mode="lines+markers", name="share decided",
                             line={"color": "#333333"}, marker={"size": 4}), row=1, col=2)
    fig.add_trace(go.Scatter(**last[-1], mode="lines+markers", name="accuracy of decided",
                             line={"color": CORRECT_COLOR}, marker={"size": 4}), row=1, col=2)
    fig.frames = _frames([updates(t) for t in range(len(labels))])
    span = (grid[-1] - grid[0]) * 0.03 if len(grid) > 1 else pd.Timedelta(days=3)
    fig.update_xaxes(visible=False, row=1, col=1)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_xaxes(type="date", range=[grid[0] - span, grid[-1] + span], row=1, col=2)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=2)
    if len(pts):
        pad = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0) * 0.04
        fig.update_xaxes(range=[pts[:, 0].min() - pad, pts[:, 0].max() + pad], row=1, col=1)
        fig.update_yaxes(range=[pts[:, 1].min() - pad, pts[:, 1].max() + pad], row=1, col=1)
    fig.update_layout(title=title, height=620, margin={"l": 10, "r": 10, "t": 60 if title else 40, "b": 170},
                      legend={"orientation": "h", "y": -0.42, "yanchor": "top"},
                      **_animation_controls(len(labels), labels, frame_ms, y=-0.05))
    return fig


def tradeoff_figure(table: pd.DataFrame, metric: str = "accuracy") -> go.Figure:
    """Accuracy (or ``metric``) against earliness, one point per model, labelled by alpha;
    full-season references drawn as squares at earliness 1, named below and to the left (inside
    the plot, clear of the early points' labels above them)."""
    missing = {"model", "earliness", metric} - set(table.columns)
    if missing:
        raise ConfigurationError(f"tradeoff_figure: table lacks columns {sorted(missing)}")
    fig = go.Figure()
    full = table["full_season"].astype(bool) if "full_season" in table else pd.Series(False, index=table.index)

    def label(row: pd.Series) -> str:
        if full.loc[row.name]:
            return str(row["model"])  # the legend says "full season"
        alpha = row.get("alpha")
        return f"α={alpha:g}" if alpha is not None and pd.notna(alpha) else str(row["model"])

    for is_full, group in table.groupby(full.to_numpy()):
        fig.add_trace(go.Scatter(
            x=group["earliness"], y=group[metric], mode="markers+text",
            text=[label(r) for _, r in group.iterrows()], textposition="bottom left" if is_full else "top center",
            name="full season" if is_full else "ELECTS (early)",
            customdata=group[["model"]].to_numpy(),
            marker={"symbol": "square" if is_full else "circle", "size": 12,
                    "color": MISSING_COLOR if is_full else CORRECT_COLOR},
            hovertemplate="%{customdata[0]}<br>earliness %{x:.2f}<br>" + metric + " %{y:.3f}<extra></extra>"))
    early = table[~full.to_numpy()].sort_values("earliness")
    if len(early) > 1:
        fig.add_trace(go.Scatter(x=early["earliness"], y=early[metric], mode="lines", showlegend=False,
                                 line={"color": CORRECT_COLOR, "dash": "dot", "width": 1}, hoverinfo="skip"))
    fig.update_xaxes(title={"text": "earliness (share of the season observed before deciding)"},
                     range=[0, 1.05])
    fig.update_yaxes(title={"text": metric.replace("_", " ")}, range=[0, 1.05])
    fig.update_layout(title=f"{metric.replace('_', ' ')} vs earliness", height=420)
    return fig


def stop_date_distribution_figure(early_df: pd.DataFrame, classes: Sequence[str], by: str = "true") -> go.Figure:
    """Per class (``by``: 'true' or 'pred_at_stop'), a box of the parcels' stop dates."""
    if by not in early_df or "stop_date" not in early_df:
        raise ConfigurationError(f"stop_date_distribution_figure: needs columns stop_date and {by!r}")
    fig = go.Figure()
    for classid in sorted(early_df[by].unique()):
        name = classes[int(classid)]
        group = early_df[early_df[by] == classid]
        fig.add_trace(go.Box(x=pd.to_datetime(group["stop_date"]), name=f"{name} ({len(group)})",
                             orientation="h", boxpoints="outliers", marker={"color": class_hex(name)},
                             line={"color": class_hex(name)}))
    fig.update_xaxes(title={"text": "stop date"}, type="date")
    fig.update_layout(title="When the model decides, per " + ("true class" if by == "true" else "predicted class"),
                      height=max(300, 45 * early_df[by].nunique() + 120), showlegend=False)
    return fig


def sampled_stops_figure(dates: Sequence | np.ndarray, share: Sequence[float] | np.ndarray,
                         probability: Sequence[float] | np.ndarray, deterministic_step: int | None = None,
                         n_samples: int | None = None) -> go.Figure:
    """One parcel's stop distribution: share of sampled draws stopping at each observation (bars)
    against the model's exact probability of stopping there, and the deterministic stop."""
    x = pd.to_datetime(np.asarray(dates))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=np.asarray(share), name=f"share of {n_samples or ''} draws".replace("  ", " "),
                         marker={"color": CORRECT_COLOR}))
    fig.add_trace(go.Scatter(x=x, y=np.asarray(probability), mode="markers", name="model P(stop at t)",
                             marker={"color": WRONG_COLOR, "symbol": "line-ew-open", "size": 14,
                                     "line": {"width": 2}}))
    if deterministic_step is not None:
        fig.add_vline(x=x[deterministic_step], line={"color": "#000000", "dash": "dot"})
        fig.add_annotation(x=x[deterministic_step], y=1.0, yref="paper", text="deterministic stop",
                           showarrow=False, xanchor="left")
    fig.update_yaxes(title={"text": "share"}, rangemode="tozero")
    fig.update_layout(title="Stop date over sampled draws", height=320, bargap=0.1)
    return fig
