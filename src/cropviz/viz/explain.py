"""Explanation figures: attention maps, attributions over time and bands, cloud attention.

Observations are placed by position (0..T-1) with their dates as tick labels, because model
inputs sampled with replacement can repeat a date; hover text shows the date of each cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cropviz.data.bands import wavelength_order
from cropviz.errors import ConfigurationError
from cropviz.viz.colors import CLOUD_COLOR, NEGATIVE_COLOR, POSITIVE_COLOR, plotly_scale

CLEAR_COLOR = "#4477AA"

#: What each Sentinel-2 band measures, for axis labels ("B8 NIR").
BAND_NAMES: dict[str, str] = {
    "B1": "coastal aerosol", "B2": "blue", "B3": "green", "B4": "red", "B5": "red edge 1",
    "B6": "red edge 2", "B7": "red edge 3", "B8": "NIR", "B8A": "narrow NIR", "B9": "water vapour",
    "B10": "cirrus", "B11": "SWIR 1", "B12": "SWIR 2"}

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def band_label(band: str) -> str:
    """A band with what it measures ('B8' -> 'B8 NIR'); other names unchanged."""
    name = BAND_NAMES.get(str(band))
    return f"{band} {name}" if name else str(band)


def month_name(month: int) -> str:
    """'Jan' ... 'Dec' of a month number 1-12."""
    return _MONTH_NAMES[int(month) - 1]


def date_labels(dates: Sequence | np.ndarray) -> list[str]:
    """ISO day strings ('2017-04-02') of dates."""
    return [d.strftime("%Y-%m-%d") for d in pd.to_datetime(np.asarray(dates))]


def short_date_labels(dates: Sequence | np.ndarray) -> list[str]:
    """Short day strings ('02 Apr') of dates, for crowded axes."""
    return [d.strftime("%d %b") for d in pd.to_datetime(np.asarray(dates))]


def _ticks(labels: list[str], max_ticks: int = 12, values: list[str] | None = None) -> dict:
    """At most ``max_ticks`` of ``labels`` as tick texts, at positions 0 ... T-1 (or at the
    categories ``values``)."""
    step = max(1, int(np.ceil(len(labels) / max_ticks)))
    pos = list(range(0, len(labels), step))
    return {"tickmode": "array", "tickvals": pos if values is None else [values[i] for i in pos],
            "ticktext": [labels[i] for i in pos], "tickangle": -45}


def _square(matrix: np.ndarray, labels: list[str], what: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(labels):
        raise ConfigurationError(f"{what} of shape {m.shape} does not fit {len(labels)} dates")
    return m


def _attention_hover(labels: list[str]) -> np.ndarray:
    # an array (copied and sent in one piece), not T x T nested lists of strings
    dates = np.asarray(labels, dtype=object)
    return ("query " + dates[:, None]) + ("<br>key " + dates[None, :])


def _attention_trace(m: np.ndarray, hover: np.ndarray, **kw: Any) -> go.Heatmap:
    t = len(hover)
    return go.Heatmap(z=m, x=np.arange(t), y=np.arange(t), text=hover,
                      hovertemplate="%{text}<br>attention %{z:.4f}<extra></extra>", **kw)


def attention_heatmap(matrix: np.ndarray, dates: Sequence | np.ndarray,
                      title: str | None = None) -> go.Figure:
    """Heatmap of a T x T attention matrix: rows = query date, columns = key date."""
    labels = date_labels(dates)
    m = _square(matrix, labels, "attention matrix")
    fig = go.Figure(_attention_trace(m, _attention_hover(labels), colorscale="Viridis", zmin=0,
                                     colorbar={"title": {"text": "attention"}}))
    fig.update_layout(title=title, xaxis={"title": {"text": "key date"}, **_ticks(labels)},
                      yaxis={"title": {"text": "query date"}, "autorange": "reversed",
                             **_ticks(labels)},
                      margin={"l": 90, "r": 20, "t": 40 if title else 10, "b": 90})
    return fig


def _distinct(labels: list[str]) -> list[str]:
    """``labels`` with repeats told apart ('2017-04-02', '2017-04-02 (2)'): category names."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def attention_grid(matrices: np.ndarray, dates: Sequence | np.ndarray,
                   title: str | None = None, layer_numbers: Sequence[int] | None = None) -> go.Figure:
    """Grid of attention heatmaps, one row per layer and one column per head (L x H x T x T),
    sharing one colour scale; ``layer_numbers`` name the rows (default 1 ... L). Date ticks and
    axis titles (query date, key date) are drawn on the outer panels only, so they never run into
    the panel titles. The axes are categories named by date (repeated dates numbered), which the
    hover shows: no per-cell text is sent."""
    labels = _distinct(date_labels(dates))
    a = np.asarray(matrices, dtype=float)
    if a.ndim != 4:
        raise ConfigurationError(
            f"attention_grid needs an L x H x T x T array, got shape {a.shape}")
    n_layers, n_heads = a.shape[:2]
    numbers = list(range(1, n_layers + 1)) if layer_numbers is None else [int(k) for k in layer_numbers]
    if len(numbers) != n_layers:
        raise ConfigurationError(f"attention_grid: {len(numbers)} layer numbers for {n_layers} layers")
    row_height = 300
    height = 90 + row_height * n_layers + 60
    fig = make_subplots(rows=n_layers, cols=n_heads, horizontal_spacing=0.03,
                        vertical_spacing=min(0.3, 60 / height) if n_layers > 1 else 0.0,
                        subplot_titles=[f"layer {numbers[i]} · head {j + 1}"
                                        for i in range(n_layers) for j in range(n_heads)])
    cells = [(i, j) for i in range(n_layers) for j in range(n_heads)]  # make_subplots numbers axes row-major
    # float32 halves what is sent; attention needs no more than 4 digits
    fig.add_traces([go.Heatmap(z=_square(a[i, j], labels, f"attention of layer {numbers[i]} head {j + 1}"
                                         ).astype(np.float32), x=labels, y=labels, coloraxis="coloraxis",
                               hovertemplate="query %{y}<br>key %{x}<br>attention %{z:.4f}<extra></extra>")
                    for i, j in cells],
                   rows=[i + 1 for i, _ in cells], cols=[j + 1 for _, j in cells])
    ticks = _ticks(short_date_labels(dates), max_ticks=6, values=labels)
    axes: dict[str, dict] = {}
    for k, (i, j) in enumerate(cells):  # every axis in one layout update (plotly validates each update)
        suffix = str(k + 1) if k else ""
        axes[f"xaxis{suffix}"] = {"type": "category", **(
            {"showticklabels": True, "title": {"text": "key date (attended to)"}, **ticks}
            if i == n_layers - 1 else {"showticklabels": False})}
        axes[f"yaxis{suffix}"] = {"type": "category", "autorange": "reversed", **(
            {"showticklabels": True, "title": {"text": "query date"}, **ticks, "tickangle": 0}
            if j == 0 else {"showticklabels": False})}
    fig.update_layout(**axes, title=title,
                      coloraxis={"colorscale": "Viridis", "cmin": 0, "colorbar": {"title": {"text": "attention"}}},
                      height=height, showlegend=False,
                      margin={"l": 90, "r": 20, "t": 90 if title else 50, "b": 90})
    return fig


def _symmetric_range(*arrays: np.ndarray) -> float:
    m = max((float(np.nanmax(np.abs(a))) if np.isfinite(a).any() else 0.0) for a in arrays)
    return m if m > 0 else 1.0


def _attribution_trace(v: np.ndarray, labels: list[str], bands: Sequence[str], **kw: Any) -> go.Heatmap:
    """A T x D heatmap trace with the bands in wavelength order (models take them in other orders)."""
    t = len(labels)
    order = wavelength_order(bands)
    v = v[:, order]
    names = [band_label(bands[k]) for k in order]
    hover = (np.asarray(labels, dtype=object)[None, :] + "<br>") + np.asarray(names, dtype=object)[:, None]
    return go.Heatmap(z=v.T, x=np.arange(t), y=names, text=hover,
                      hovertemplate="%{text}<br>attribution %{z:.4g}<extra></extra>", **kw)


def _check_attribution(values: np.ndarray, labels: list[str], bands: Sequence[str]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape != (len(labels), len(bands)):
        raise ConfigurationError(f"attribution of shape {v.shape} does not fit {len(labels)} "
                                 f"dates x {len(bands)} bands")
    return v


def attribution_heatmap(values: np.ndarray, dates: Sequence | np.ndarray, bands: Sequence[str],
                        title: str | None = None, signed: bool | None = None,
                        value_name: str = "attribution") -> go.Figure:
    """Heatmap of a T x D attribution (x = observation date, y = band in wavelength order from the
    top, labelled with what it measures).

    Signed values get diverging colours centred at 0 (red positive, blue negative, symmetric
    range); magnitudes (``signed=False``, or by default when no value is negative) a sequential
    scale from 0 to the largest value, so the whole scale is used.
    """
    labels = date_labels(dates)
    v = _check_attribution(values, labels, bands)
    if signed is None:
        signed = bool(np.nanmin(v, initial=0.0) < 0)
    if signed:
        lim = _symmetric_range(v)
        colors: dict = {"colorscale": plotly_scale("diverging"), "zmid": 0, "zmin": -lim, "zmax": lim}
    else:
        colors = {"colorscale": plotly_scale("magnitude"), "zmin": 0, "zmax": _symmetric_range(v)}
    fig = go.Figure(_attribution_trace(v, labels, bands, colorbar={"title": {"text": value_name}},
                                       **colors))
    fig.update_layout(title=title, xaxis={"title": {"text": "observation date"}, **_ticks(labels)},
                      yaxis={"title": {"text": "band"}, "autorange": "reversed"},
                      height=max(320, 22 * len(bands) + 170),
                      margin={"l": 130, "r": 20, "t": 40 if title else 10, "b": 90})
    return fig


def top_observations_table(top: pd.DataFrame, cloudy: Sequence[bool] | np.ndarray) -> pd.DataFrame:
    """The most decisive observations (:func:`cropviz.explain.top_k_observations`) for people:
    observation number (1 = first), day, cloud flag, signed attribution (three significant digits) and
    share of the total."""
    mask = np.asarray(cloudy, dtype=bool)
    index = top["index"].to_numpy(int)
    if len(index) and index.max() >= len(mask):
        raise ConfigurationError(f"cloud flags of {len(mask)} observations do not cover observation {index.max()}")
    return _observations_for_people(index + 1, top["date"], mask[index], top["value"],
                                    np.broadcast_to(top["share"], len(index)))


def decisive_table(decisive: pd.DataFrame) -> pd.DataFrame:
    """A parcel dossier's decisive inputs (:func:`cropviz.diagnose.dossier.decisive_observations`)
    in the form of :func:`top_observations_table`."""
    return _observations_for_people(decisive["observation"], decisive["date"], decisive["cloud_flagged"],
                                    decisive["attribution"], decisive["share_of_total"])


def _observations_for_people(observation: Any, dates: Any, cloudy: Any, values: Any, shares: Any) -> pd.DataFrame:
    return pd.DataFrame({"observation": np.asarray(observation, dtype=int),
                         "date": pd.to_datetime(pd.Series(dates)).dt.strftime("%Y-%m-%d").to_numpy(),
                         "cloud-flagged": np.where(np.asarray(cloudy, dtype=bool), "yes", "no"),
                         # three significant digits, trailing zeros kept, so the column reads evenly
                         "attribution": [f"{v:#.3g}" for v in np.asarray(values, dtype=float)],
                         "share of |attribution|": [f"{v:.0%}" for v in np.asarray(shares, dtype=float)]})


def _bar_trace(labels: list[str], v: np.ndarray, cloudy: np.ndarray | None, name: str) -> go.Bar:
    colors = np.where(v >= 0, POSITIVE_COLOR, NEGATIVE_COLOR)
    marker: dict = {"color": colors}
    if cloudy is not None:
        marker["pattern"] = {"shape": np.where(cloudy, "/", "").tolist()}
    return go.Bar(x=list(range(len(labels))), y=v, name=name, marker=marker, text=labels,
                  hovertemplate="%{text}<br>" + name + " %{y:.4g}<extra></extra>")


def attribution_bars(dates: Sequence | np.ndarray, per_observation: Sequence[float] | np.ndarray,
                     cloudy: Sequence[bool] | np.ndarray | None = None,
                     title: str | None = None, name: str = "attribution") -> go.Figure:
    """Bars of one value per observation (signed colours); cloud-flagged ones hatched."""
    labels = date_labels(dates)
    v = np.asarray(per_observation, dtype=float)
    if v.shape != (len(labels),):
        raise ConfigurationError(f"{name} of shape {v.shape} does not fit {len(labels)} dates")
    mask = None if cloudy is None else np.asarray(cloudy, dtype=bool)
    if mask is not None and mask.shape != v.shape:
        raise ConfigurationError(
            f"cloudy mask of shape {mask.shape} does not fit {len(labels)} dates")
    fig = go.Figure(_bar_trace(labels, v, mask, name))
    fig.update_layout(title=title, xaxis={"title": {"text": "observation date"}, **_ticks(labels)},
                      yaxis={"title": {"text": name}}, showlegend=False,
                      margin={"l": 60, "r": 20, "t": 40 if title else 10, "b": 90})
    return fig


def compare_attributions(a: np.ndarray, b: np.ndarray, titles: Sequence[str],
                         dates: Sequence | np.ndarray, bands: Sequence[str] | None = None,
                         title: str | None = None) -> go.Figure:
    """Two attributions side by side on one symmetric colour scale / y range.

    2-D inputs (T x D, with ``bands``) give heatmaps; 1-D inputs (per observation) give bars.
    """
    labels = date_labels(dates)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(titles) != 2:
        raise ConfigurationError("compare_attributions needs two titles")
    if x.shape != y.shape:
        raise ConfigurationError(f"attributions to compare differ in shape: {x.shape} vs {y.shape}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=list(titles), shared_yaxes=True,
                        horizontal_spacing=0.05)
    lim = _symmetric_range(x, y)
    if x.ndim == 2:
        if bands is None:
            raise ConfigurationError("compare_attributions of T x D arrays needs the band names")
        for k, v in enumerate((x, y)):
            v = _check_attribution(v, labels, bands)
            fig.add_trace(_attribution_trace(v, labels, bands, coloraxis="coloraxis"),
                          row=1, col=k + 1)
        fig.update_layout(coloraxis={"colorscale": plotly_scale("diverging"), "cmid": 0,
                                     "cmin": -lim, "cmax": lim,
                                     "colorbar": {"title": {"text": "attribution"}}})
        fig.update_yaxes(autorange="reversed")
    elif x.ndim == 1 and x.shape == (len(labels),):
        for k, v in enumerate((x, y)):
            fig.add_trace(_bar_trace(labels, v, None, str(titles[k])), row=1, col=k + 1)
        fig.update_yaxes(range=[-lim * 1.05, lim * 1.05])
    else:
        raise ConfigurationError(f"attributions of shape {x.shape} do not fit {len(labels)} dates")
    fig.update_xaxes(**_ticks(labels, max_ticks=8))
    fig.update_layout(title=title, showlegend=False)
    return fig


def cloud_attention_figure(df: pd.DataFrame, class_col: str = "classname",
                           cloudy_col: str = "cloudy", value_col: str = "attention",
                           title: str | None = None) -> go.Figure:
    """Mean attention received by cloud-flagged vs clear observations, per class and per month.

    ``df``: one row per observation, or aggregated rows with their observation count ``n``;
    columns ``class_col``, ``cloudy_col`` (bool), ``value_col`` and ``month`` (1-12) or ``date``.
    Left panel: per class; right panel: per month; grouped bars clear (blue) vs cloudy (grey).
    """
    needed = [class_col, cloudy_col, value_col]
    missing = [c for c in needed if c not in df.columns]
    if "month" not in df.columns and "date" not in df.columns:
        missing.append("month or date")
    if missing:
        raise ConfigurationError(f"cloud attention table lacks columns {', '.join(missing)}")
    data = df[needed].copy()
    data["n"] = df["n"].to_numpy(float) if "n" in df.columns else 1.0
    data["weighted"] = data[value_col].astype(float) * data["n"]
    data["month"] = (df["month"].astype(int) if "month" in df.columns
                     else pd.to_datetime(df["date"]).dt.month)
    data[cloudy_col] = data[cloudy_col].astype(bool)
    classes = list(pd.unique(data[class_col].astype(str)))
    data[class_col] = data[class_col].astype(str)
    class_sums = data.groupby([class_col, cloudy_col])[["weighted", "n"]].sum()
    month_sums = data.groupby(["month", cloudy_col])[["weighted", "n"]].sum()
    by_class = class_sums["weighted"] / class_sums["n"]
    by_month = month_sums["weighted"] / month_sums["n"]
    months = list(range(1, 13))
    month_names = [month_name(m) for m in months]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55],
                        subplot_titles=["per class", "per month"], shared_yaxes=True)
    for flag, name, color in ((False, "clear", CLEAR_COLOR), (True, "cloudy", CLOUD_COLOR)):
        fig.add_trace(go.Bar(x=classes, y=[by_class.get((c, flag), np.nan) for c in classes],
                             name=name, legendgroup=name, marker={"color": color}),
                      row=1, col=1)
        fig.add_trace(go.Bar(x=month_names, y=[by_month.get((m, flag), np.nan) for m in months],
                             name=name, legendgroup=name, showlegend=False,
                             marker={"color": color}), row=1, col=2)
    fig.update_xaxes(tickangle=-45, row=1, col=1)
    fig.update_layout(title=title, barmode="group", yaxis={"title": {"text": f"mean {value_col}"}},
                      legend={"orientation": "h", "y": 1.12})
    return fig
