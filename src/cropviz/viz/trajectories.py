"""Parcel time-series figures: index/band trajectories, class envelopes, observation weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import (
    CLASS_COLORS,
    CLOUD_COLOR,
    FALLBACK_COLORS,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    class_hex,
    class_rgba,
    hex_rgba,
    normalize_name,
)

#: An envelope: (dates, mean, std) drawn as mean +- std, or (dates, mean, (lower, upper)),
#: or a DataFrame from :func:`cropviz.data.indices.class_envelope` (mean +- std).
Envelope: TypeAlias = tuple[Any, ...] | pd.DataFrame

CLOUD_TRACE_NAME = "cloud-flagged"


def _dates(dates: Sequence | np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))


def _check_length(what: str, n: int, expected: int) -> None:
    if n != expected:
        raise ConfigurationError(f"{what} has {n} entries but there are {expected} dates")


def _envelope_parts(label: str, env: Envelope) -> tuple[pd.DatetimeIndex, np.ndarray,
                                                         np.ndarray, np.ndarray]:
    if isinstance(env, pd.DataFrame):
        d, mean, std = env.index, env["mean"].to_numpy(float), env["std"].to_numpy(float)
        lower, upper = mean - std, mean + std
    elif len(env) == 3:
        d, mean, spread = env
        mean = np.asarray(mean, dtype=float)
        if isinstance(spread, tuple):
            lower, upper = (np.asarray(a, dtype=float) for a in spread)
        else:
            std = np.asarray(spread, dtype=float)
            lower, upper = mean - std, mean + std
    else:
        raise ConfigurationError(
            f"envelope {label!r} must be (dates, mean, std), (dates, mean, (lower, upper)) "
            "or a class_envelope DataFrame")
    d = _dates(d)
    _check_length(f"envelope {label!r}", len(mean), len(d))
    return d, mean, lower, upper


def add_envelope(fig: go.Figure, label: str, env: Envelope, color: str | None = None,
                 row: int | None = None, col: int | None = None,
                 dash: str = "dash") -> go.Figure:
    """Draw an envelope as a translucent band plus a mean line (legend group ``label``)."""
    d, mean, lower, upper = _envelope_parts(label, env)
    hexc = color or class_hex(label)
    ok = np.isfinite(lower) & np.isfinite(upper)
    x_band = list(d[ok]) + list(d[ok][::-1])
    y_band = list(upper[ok]) + list(lower[ok][::-1])
    kw = {} if row is None else {"row": row, "col": col or 1}
    fig.add_trace(go.Scatter(x=x_band, y=y_band, fill="toself", fillcolor=hex_rgba(hexc, 0.18),
                             line={"width": 0}, hoverinfo="skip", legendgroup=label,
                             showlegend=False, name=f"{label} band"), **kw)
    fig.add_trace(go.Scatter(x=d, y=mean, mode="lines", name=label, legendgroup=label,
                             line={"color": hexc, "dash": dash, "width": 1.5}), **kw)
    return fig


def trajectory_figure(dates: Sequence | np.ndarray, values: pd.DataFrame | pd.Series,
                      cloudy: Sequence[bool] | np.ndarray | None = None,
                      envelopes: Mapping[str, Envelope] | None = None,
                      title: str | None = None, yaxis_title: str | None = None,
                      hide_cloudy: bool = False,
                      colors: Mapping[str, str] | None = None,
                      envelope_colors: Mapping[str, str] | None = None) -> go.Figure:
    """Line figure of one parcel's series (columns of ``values``) over ``dates``.

    The line joins the clear observations only: a cloud-flagged observation is no measurement
    of the crop, so the line never dips to it. Cloud-flagged observations (``cloudy`` mask) are
    drawn as hollow grey x markers in one trace named ``"cloud-flagged"`` (one marker per cloudy
    observation and series); with ``hide_cloudy`` they are left out entirely (cloud-filtered
    view). ``envelopes`` (label -> envelope, see :data:`Envelope`) are drawn behind in the
    label's class colour unless ``envelope_colors`` says otherwise. Series colours: ``colors``
    or class colours if the column is a class name, else a fixed qualitative cycle.
    """
    d = _dates(dates)
    frame = values.to_frame() if isinstance(values, pd.Series) else values
    _check_length("values", len(frame), len(d))
    mask = np.zeros(len(d), dtype=bool) if cloudy is None else np.asarray(cloudy, dtype=bool)
    _check_length("cloudy mask", len(mask), len(d))
    fig = go.Figure()
    for label, env in (envelopes or {}).items():
        add_envelope(fig, label, env, color=(envelope_colors or {}).get(label))
    cloud_x: list = []
    cloud_y: list = []
    cloud_names: list = []
    clear = ~mask
    for i, column in enumerate(frame.columns):
        y = frame[column].to_numpy(dtype=float)
        color = (colors or {}).get(column) or (
            CLASS_COLORS.get(normalize_name(column)) or FALLBACK_COLORS[i % len(FALLBACK_COLORS)])
        fig.add_trace(go.Scatter(x=d[clear], y=y[clear], mode="lines+markers", name=str(column),
                                 line={"color": color, "width": 2},
                                 marker={"color": color, "size": 6}))
        if not hide_cloudy and mask.any():
            cloud_x += list(d[mask])
            cloud_y += list(y[mask])
            cloud_names += [str(column)] * int(mask.sum())
    if cloud_x:
        fig.add_trace(go.Scatter(
            x=cloud_x, y=cloud_y, mode="markers", name=CLOUD_TRACE_NAME, customdata=cloud_names,
            marker={"symbol": "x-thin-open", "size": 9, "color": CLOUD_COLOR,
                    "line": {"width": 2, "color": CLOUD_COLOR}},
            hovertemplate="%{x|%Y-%m-%d}<br>%{customdata}: %{y:.3f}<br>cloud-flagged"
                          "<extra></extra>"))
    fig.update_layout(title=title, yaxis={"title": {"text": yaxis_title}}, xaxis={"title": {"text": "date"}},
                      hovermode="closest", legend={"orientation": "h", "y": -0.15},
                      margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 40})
    return fig


def add_observation_weights(fig: go.Figure, dates: Sequence | np.ndarray,
                            weights: Sequence[float] | np.ndarray, name: str = "weight",
                            height_share: float = 0.25) -> go.Figure:
    """Add per-observation weights (attention or attribution) as bars in a strip under the plot.

    The strip is a second y axis ('y2') occupying the bottom ``height_share`` of the figure and
    sharing the x axis. Signed weights are coloured red (positive) / blue (negative); all
    non-negative weights (attention) use one colour. Returns ``fig`` (modified in place).
    """
    d = _dates(dates)
    w = np.asarray(weights, dtype=float)
    _check_length(f"weights {name!r}", len(w), len(d))
    signed = bool(np.nanmin(w, initial=0.0) < 0)
    colors = np.where(w >= 0, POSITIVE_COLOR, NEGATIVE_COLOR) if signed else "#555555"
    fig.add_trace(go.Bar(x=d, y=w, name=name, yaxis="y2", marker={"color": colors},
                         hovertemplate="%{x|%Y-%m-%d}<br>" + name + ": %{y:.4f}<extra></extra>"))
    split = float(height_share)
    fig.update_layout(xaxis={"anchor": "y2"}, yaxis={"domain": [split + 0.05, 1.0]},
                      yaxis2={"domain": [0.0, split], "anchor": "x", "title": {"text": name},
                              "zeroline": True, "showgrid": False},
                      bargap=0.3)
    return fig


def weights_figure(dates: Sequence | np.ndarray, curve: Sequence[float] | np.ndarray, curve_name: str,
                   weights: Sequence[float] | np.ndarray, name: str = "weight",
                   cloudy: Sequence[bool] | np.ndarray | None = None, title: str | None = None) -> go.Figure:
    """A parcel's ``curve`` (e.g. the NDVI of the model input) over ``dates`` with per-observation
    ``weights`` (attention, attribution) as bars under it (:func:`add_observation_weights`)."""
    fig = trajectory_figure(dates, pd.DataFrame({curve_name: np.asarray(curve, dtype=float)}), cloudy=cloudy,
                            title=title)
    return add_observation_weights(fig, dates, weights, name=name)


def mark_top_observations(fig: go.Figure, dates: Sequence | np.ndarray,
                          values: Sequence[float] | np.ndarray, labels: Sequence[str],
                          name: str = "top observations") -> go.Figure:
    """Mark chosen observations (e.g. the most attended) with stars and text labels."""
    d = _dates(dates)
    v = np.asarray(values, dtype=float)
    _check_length("values", len(v), len(d))
    _check_length("labels", len(labels), len(d))
    fig.add_trace(go.Scatter(x=d, y=v, mode="markers+text", name=name, text=list(labels),
                             textposition="top center",
                             marker={"symbol": "star", "size": 13, "color": "#000000",
                                     "line": {"width": 1, "color": "#FFFFFF"}}))
    return fig


def probability_bar(classes: Sequence[str], probs: Sequence[float] | np.ndarray,
                    true: str | None = None, title: str | None = None) -> go.Figure:
    """Horizontal bars of class probabilities in class order, coloured by class, on a 0-1 axis.

    Each bar is labelled with its probability; the class labels say which class is the true one
    (also outlined in black) and which the predicted (highest) one. Raises ConfigurationError
    for values outside [0, 1] (log-probabilities or probabilities exponentiated twice).
    """
    p = np.asarray(probs, dtype=float)
    names = [str(c) for c in classes]
    if len(p) != len(names):
        raise ConfigurationError(f"probability_bar got {len(p)} probabilities for "
                                 f"{len(names)} classes")
    if len(p) and (np.nanmin(p) < -1e-6 or np.nanmax(p) > 1 + 1e-6):
        raise ConfigurationError(f"probability_bar: probabilities must lie in [0, 1], got "
                                 f"{np.nanmin(p):.3g} to {np.nanmax(p):.3g}")
    if true is not None and str(true) not in names:
        raise ConfigurationError(f"true class {true!r} is not one of the classes")
    best = int(np.nanargmax(p)) if len(p) else -1
    is_true = np.array([n == str(true) for n in names])

    def tick(i: int, name: str) -> str:
        roles = [r for r, on in (("true", is_true[i]), ("predicted", i == best)) if on]
        return f"{name} ({' & '.join(roles)})" if roles else name

    fig = go.Figure(go.Bar(
        x=p, y=[tick(i, n) for i, n in enumerate(names)], orientation="h",
        # outside for short bars: "auto" leaves a bar of exactly 0 (an underflowed probability) unlabelled
        text=[f"{v:.2f}" for v in p], textposition=np.where(p >= 0.15, "inside", "outside"),
        cliponaxis=False, name="probability",
        marker={"color": [class_rgba(n, 0.85) for n in names],
                "line": {"color": "#000000", "width": np.where(is_true, 3, 0)}},
        hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis={"range": [0, 1], "title": {"text": "probability"}},
                      yaxis={"autorange": "reversed"}, showlegend=False,
                      margin={"l": 190, "r": 30, "t": 40 if title else 10, "b": 40})
    return fig
