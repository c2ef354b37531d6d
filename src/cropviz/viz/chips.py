"""Image chips of parcel patches (seed 004 form) as a strip of true-colour thumbnails."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

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
    """Thumbnails of every date of a patch, labelled with the date, ``per_row`` per row.

    The thumbnails are tiled into one image (white gaps, a label band above each row): one trace
    however many dates, where a subplot per date made the figure slow to build and to draw. The
    image travels as a PNG (``source``), not as a list of pixel values (``z``): a fraction of the
    bytes, and the browser decodes it natively."""
    images = true_color(patch, bands)
    labels = [d.strftime("%d %b") for d in pd.to_datetime(np.asarray(dates))]
    if len(labels) != len(images):
        raise ConfigurationError(f"{len(labels)} dates for a patch of {len(images)} dates")
    n, h, w = images.shape[:3]
    rows, cols = int(np.ceil(n / per_row)), min(per_row, n)
    gap, band = max(1, w // 8), max(4, h // 3)  # between thumbnails; above each row for the labels
    mosaic = np.full((rows * (band + h), cols * (w + gap) - gap, 3), 255, np.uint8)
    annotations = []
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        top, left = (k // per_row) * (band + h) + band, (k % per_row) * (w + gap)
        mosaic[top:top + h, left:left + w] = image
        annotations.append({"x": left + (w - 1) / 2, "y": top - 0.5, "text": label, "showarrow": False,
                            "yanchor": "bottom", "font": {"size": 9}})
    axis = {"visible": False}
    layout = {"title": title, "height": 110 * rows + (40 if title else 20), "annotations": annotations,
              "xaxis": axis, "yaxis": axis, "margin": {"l": 5, "r": 5, "t": 40 if title else 20, "b": 5}}
    return go.Figure(go.Image(source=png_data_url(mosaic), hoverinfo="skip"), layout)


def png_data_url(image: np.ndarray) -> str:
    """An H x W x 3 uint8 image as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
