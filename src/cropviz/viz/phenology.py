"""Crop calendar of Brittany (FIELD.md section 5), phenology curves, season animation.

Calendar months are float positions: 1.0 = 1 January, 7.5 = mid-July, 13.0 = end of December.
Events flagged ``previous_year`` (sowing of winter crops) happen before the observed season.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import class_hex, darken, hex_rgba, normalize_name, plotly_scale
from cropviz.viz.trajectories import Envelope, add_envelope


@dataclass(frozen=True)
class CalendarEvent:
    """One phenological or management event spanning month positions [start, end)."""

    event: str
    start: float
    end: float
    previous_year: bool = False


_E = CalendarEvent

#: Crop calendar per BreizhCrops class (FIELD.md section 5).
CROP_CALENDAR: dict[str, tuple[CalendarEvent, ...]] = {
    "wheat": (_E("sowing", 10.0, 12.0, True), _E("green-up", 2.0, 4.0), _E("peak", 4.0, 6.0),
              _E("ripening", 6.0, 7.0), _E("harvest", 7.5, 8.0)),
    "barley": (_E("sowing", 10.0, 12.0, True), _E("green-up", 2.0, 4.0), _E("peak", 4.0, 5.5),
               _E("ripening", 5.5, 6.67), _E("harvest", 6.67, 7.33)),
    "rapeseed": (_E("sowing", 8.0, 10.0, True), _E("green (winter)", 1.0, 4.0),
                 _E("flowering", 4.0, 5.0), _E("harvest", 7.0, 7.5)),
    "corn": (_E("bare soil", 1.0, 4.67), _E("sowing", 4.67, 6.0), _E("fast growth", 6.0, 8.0),
             _E("peak", 8.0, 9.0), _E("silage harvest", 9.0, 10.0),
             _E("grain harvest", 10.0, 11.0)),
    "sunflower": (_E("sowing", 4.0, 6.0), _E("peak", 7.0, 8.0), _E("brown heads", 8.0, 9.0),
                  _E("harvest", 9.0, 10.0)),
    "orchards": (_E("leaf-out", 4.0, 5.0), _E("leaf-fall", 11.0, 12.0)),
    "nuts": (_E("leaf-out", 5.0, 6.0), _E("leaf-fall", 11.0, 12.0)),
    "permanent meadows": (_E("mowing / grazing", 5.0, 7.0), _E("later cuts / grazing", 7.0, 10.0)),
    "temporary meadows": (_E("cuts (3-4)", 4.0, 10.0),),
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_position_to_date(position: float, year: int) -> pd.Timestamp:
    """Timestamp of a month position in ``year`` (13.0 = 1 January of year + 1)."""
    month = int(math.floor(position))
    start = pd.Timestamp(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
    return start + pd.Timedelta(days=(position - month) * start.days_in_month)


def month_span_text(start: float, end: float) -> str:
    """'Oct-Nov' style text of a month span [start, end)."""
    first = _MONTHS[(int(start) - 1) % 12]
    last = _MONTHS[(int(math.ceil(end)) - 2) % 12]
    return first if first == last else f"{first}-{last}"


def calendar_events(classname: str, year: int) -> pd.DataFrame:
    """Events of a class's calendar as dates of the season ``year`` (previous-year events in
    ``year - 1``): columns class, event, start, end, previous_year. Empty for unknown classes."""
    rows = [{"class": classname, "event": e.event,
             "start": month_position_to_date(e.start, year - e.previous_year),
             "end": month_position_to_date(e.end, year - e.previous_year),
             "previous_year": e.previous_year}
            for e in CROP_CALENDAR.get(normalize_name(classname), ())]
    return pd.DataFrame(rows, columns=["class", "event", "start", "end", "previous_year"])


def _curve_dates(curves: Mapping[str, Envelope]) -> pd.DatetimeIndex:
    parts = [env.index if isinstance(env, pd.DataFrame) else pd.to_datetime(np.asarray(env[0]))
             for env in curves.values()]
    return pd.DatetimeIndex(np.concatenate([np.asarray(p, dtype="datetime64[ns]") for p in parts])
                            if parts else [])


def phenology_figure(curves: Mapping[str, Envelope], classes: Sequence[str] | None = None,
                     index_name: str = "NDVI", calendar: bool = True, year: int | None = None,
                     title: str | None = None) -> go.Figure:
    """Mean +- spread curves of an index per class, with the crop calendar underneath.

    ``curves``: class -> (dates, mean, std) or a class_envelope DataFrame. ``classes`` picks
    the classes drawn (default all). With ``calendar`` a strip below shows each chosen class's
    calendar events as bars in the class colour, outlined in a darker shade so light colours
    (wheat) show (trace name '<class> calendar'); event names are written inside the bars that
    are wide enough and in the hover of all. Events of the previous year (sowing of winter crops)
    are named under the class on the strip's axis ('sown Oct-Nov, previous year').
    """
    chosen = [str(c) for c in (classes if classes is not None else curves)]
    unknown = [c for c in chosen if c not in curves]
    if unknown:
        raise ConfigurationError(f"no curves for classes {', '.join(unknown)}")
    all_dates = _curve_dates({c: curves[c] for c in chosen})
    if year is None:
        if len(all_dates) == 0:
            raise ConfigurationError("phenology_figure needs curves or a year")
        year = int(pd.Series(all_dates.year).median())
    x0, x1 = pd.Timestamp(year, 1, 1), pd.Timestamp(year, 12, 31)
    if len(all_dates):
        x0, x1 = min(x0, all_dates.min()), max(x1, all_dates.max())
    with_calendar = calendar and any(normalize_name(c) in CROP_CALENDAR for c in chosen)
    rows = 2 if with_calendar else 1
    strip_share = min(0.5, 0.08 + 0.06 * len(chosen)) if with_calendar else 0.0
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[1 - strip_share, strip_share] if with_calendar else [1.0])
    for c in chosen:
        add_envelope(fig, c, curves[c], color=darken(class_hex(c), 0.85), row=1, col=1, dash="solid")
    if with_calendar:
        ticks: list[str] = []
        shown: list[str] = []
        for c in chosen:
            events = calendar_events(c, year)
            if events.empty:
                continue
            hexc = class_hex(c)
            fig.add_trace(go.Bar(
                base=events["start"], x=(events["end"] - events["start"]).dt.total_seconds() * 1e3,
                y=[c] * len(events), orientation="h", name=f"{c} calendar", text=events["event"],
                textposition="inside", insidetextanchor="middle", textangle=0, constraintext="inside",
                insidetextfont={"color": "#000000", "size": 11}, showlegend=False,
                marker={"color": hex_rgba(hexc, 0.85), "line": {"color": darken(hexc, 0.6), "width": 1.5}},
                customdata=np.stack([events["start"].dt.strftime("%d %b %Y"),
                                     events["end"].dt.strftime("%d %b %Y")], axis=-1),
                hovertemplate=(c + ": %{text}<br>%{customdata[0]} - %{customdata[1]}"
                               "<extra></extra>")),
                row=2, col=1)
            before = [f"{e.event} {month_span_text(e.start, e.end)}" for e in CROP_CALENDAR[normalize_name(c)]
                      if e.previous_year and month_position_to_date(e.end, year - 1) <= x0]
            shown.append(c)
            ticks.append(c + (f"<br><sub>{', '.join(before)} (previous year)</sub>" if before else ""))
        fig.update_layout(barmode="overlay", uniformtext={"minsize": 9, "mode": "hide"})
        fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=shown, ticktext=ticks,
                         row=2, col=1)
    fig.update_xaxes(type="date", range=[x0, x1])
    fig.update_yaxes(title={"text": index_name}, row=1, col=1)
    fig.update_layout(title=title, hovermode="closest",
                      height=int(400 / (1 - strip_share)) if with_calendar else 400,
                      legend={"orientation": "h", "y": 1.08}, margin={"l": 170, "r": 20, "t": 60, "b": 40})
    return fig


def season_frames(xy: np.ndarray, dates: Sequence | np.ndarray, values: np.ndarray,
                  ids: Sequence[int] | None = None, index_name: str = "NDVI",
                  vmin: float = 0.0, vmax: float = 1.0, marker_size: int = 6,
                  frame_ms: int = 400, title: str | None = None,
                  classnames: Sequence[str] | None = None) -> go.Figure:
    """Animated scatter of parcel centroids coloured by an index, one frame per date.

    ``xy``: N x 2 projected centroid coordinates in metres (e.g. Lambert-93), drawn as km east
    and north of the region's south-west corner at equal aspect; ``values``: N x T index values
    (interpolate gaps first; NaN is drawn without colour); ``classnames`` (N) go in the hover.
    Has a date slider and play / pause buttons, a title naming the shown date; needs no map tiles.
    """
    pts = np.asarray(xy, dtype=float)
    v = np.asarray(values, dtype=float)
    labels = [d.strftime("%Y-%m-%d") for d in pd.to_datetime(np.asarray(dates))]
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ConfigurationError(f"season_frames needs N x 2 centroids, got shape {pts.shape}")
    if v.shape != (len(pts), len(labels)):
        raise ConfigurationError(f"values of shape {v.shape} do not fit {len(pts)} parcels x "
                                 f"{len(labels)} dates")
    if not labels:
        raise ConfigurationError("season_frames needs at least one date")
    if classnames is not None and len(classnames) != len(pts):
        raise ConfigurationError(f"{len(classnames)} class names for {len(pts)} parcels")
    hover = [f"parcel {k if ids is None else ids[k]}" + ("" if classnames is None else f" ({classnames[k]})")
             for k in range(len(pts))]
    km = (pts - np.nanmin(pts, axis=0)) / 1000.0 if len(pts) else pts

    def marker(t: int) -> dict:
        return {"color": v[:, t], "colorscale": plotly_scale("ndvi"), "cmin": vmin, "cmax": vmax,
                "size": marker_size, "colorbar": {"title": {"text": index_name}}}

    def scatter(t: int) -> go.Scatter:
        return go.Scatter(x=km[:, 0], y=km[:, 1], mode="markers", marker=marker(t),
                          text=hover, name=index_name,
                          hovertemplate="%{text}<br>" + index_name
                                        + " %{marker.color:.2f}<extra></extra>")

    def heading(label: str) -> dict:
        return {"text": f"{title + ': ' if title else ''}{index_name} of every parcel on {label}"}

    play = {"frame": {"duration": frame_ms, "redraw": True}, "fromcurrent": True,
            "transition": {"duration": 0}}
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
             "transition": {"duration": 0}}
    fig = go.Figure(data=[scatter(0)],
                    frames=[go.Frame(data=[scatter(t)], name=label, layout={"title": heading(label)})
                            for t, label in enumerate(labels)])
    fig.update_layout(
        title=heading(labels[0]), xaxis={"title": {"text": "km east"}, "zeroline": False},
        yaxis={"title": {"text": "km north"}, "scaleanchor": "x", "scaleratio": 1, "zeroline": False},
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.14,
                      "xanchor": "left", "yanchor": "top",
                      "buttons": [{"label": "play", "method": "animate", "args": [None, play]},
                                  {"label": "pause", "method": "animate",
                                   "args": [[None], still]}]}],
        sliders=[{"active": 0, "x": 0.15, "len": 0.85, "y": -0.14, "yanchor": "top",
                  "currentvalue": {"prefix": "date: "},
                  "steps": [{"label": label, "method": "animate", "args": [[label], still]}
                            for label in labels]}],
        margin={"l": 60, "r": 10, "t": 50, "b": 110})
    return fig
