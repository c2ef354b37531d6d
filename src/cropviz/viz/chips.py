"""Image chips of parcel patches (seed 004 form) as a strip of true-colour thumbnails."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cropviz.data.bands import PATCH_BANDS
from cropviz.errors import ConfigurationError


def true_color(patch: np.ndarray, bands: Sequence[str] = PATCH_BANDS, gain: float = 3.5) -> np.ndarray:
    """T x H x W x 3 uint8 true-colour (B4, B3, B2) images of a T x C x H x W reflectance patch."""
    if patch.ndim != 4:
        raise ConfigurationError(f"a patch must be T x C x H x W, got shape {patch.shape}")
    index = [list(bands).index(b) for b in ("B4", "B3", "B2")]
    rgb = np.moveaxis(patch[:, index], 1, -1) * gain
    return (np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


def chip_strip(patch: np.ndarray, dates: Sequence, bands: Sequence[str] = PATCH_BANDS,
               per_row: int = 12, title: str | None = None) -> go.Figure:
    """Thumbnails of every date of a patch, labelled with the date, ``per_row`` per row."""
    images = true_color(patch, bands)
    labels = [d.strftime("%d %b") for d in pd.to_datetime(np.asarray(dates))]
    if len(labels) != len(images):
        raise ConfigurationError(f"{len(labels)} dates for a patch of {len(images)} dates")
    rows = int(np.ceil(len(images) / per_row))
    fig = make_subplots(rows=rows, cols=per_row, subplot_titles=labels,
                        horizontal_spacing=0.005, vertical_spacing=0.08)
    for t, image in enumerate(images):
        fig.add_trace(go.Image(z=image, hovertemplate=f"{labels[t]}<extra></extra>"),
                      row=t // per_row + 1, col=t % per_row + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=9)
    fig.update_layout(title=title, height=110 * rows + (40 if title else 20),
                      margin={"l": 5, "r": 5, "t": 40 if title else 20, "b": 5})
    return fig
