"""Colour-blind-friendly colours: one fixed colour per BreizhCrops class, scales for values.

The nine class colours are Paul Tol's "muted" qualitative scheme (designed to stay distinct
under the common colour-vision deficiencies). Other class names get a colour from Tol's
"bright"/"light" schemes chosen by a stable hash of the name (same name, same colour, every run).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

RGB = tuple[int, int, int]

#: Fixed colours of the nine BreizhCrops classes (Tol muted).
CLASS_COLORS: dict[str, str] = {
    "barley": "#CC6677",
    "wheat": "#DDCC77",
    "rapeseed": "#999933",
    "corn": "#882255",
    "sunflower": "#88CCEE",
    "orchards": "#332288",
    "nuts": "#AA4499",
    "permanent meadows": "#117733",
    "temporary meadows": "#44AA99",
}

#: Fallback colours for class names outside CLASS_COLORS (Tol bright + light, minus greys).
FALLBACK_COLORS: tuple[str, ...] = (
    "#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377",
    "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#AAAA00",
)

#: Colours of correct / wrong predictions (Tol vibrant blue and orange) and of missing values.
CORRECT_COLOR = "#0077BB"
WRONG_COLOR = "#EE7733"
MISSING_COLOR = "#BBBBBB"
#: Colour of cloud-flagged observations.
CLOUD_COLOR = "#888888"
#: Positive / negative colours of signed weights (attributions): Tol vibrant red and blue.
POSITIVE_COLOR = "#CC3311"
NEGATIVE_COLOR = "#0077BB"
#: Words naming those colours in captions (so text and figures cannot disagree).
POSITIVE_WORD = "red"
NEGATIVE_WORD = "blue"

#: Continuous scales as (position 0-1, hex) stops. Confidence: viridis (perceptually uniform,
#: colour-blind safe). NDVI: ColorBrewer BrBG, brown (bare soil) through cream to blue-green
#: (dense canopy), colour-blind safe.
CONFIDENCE_SCALE: tuple[tuple[float, str], ...] = (
    (0.0, "#440154"), (0.25, "#3B528B"), (0.5, "#21918C"), (0.75, "#5EC962"), (1.0, "#FDE725"))
NDVI_SCALE: tuple[tuple[float, str], ...] = (
    (0.0, "#8C510A"), (0.25, "#D8B365"), (0.5, "#F6E8C3"), (0.75, "#5AB4AC"), (1.0, "#01665E"))
#: Diverging scale for signed values centred at 0 (blue negative, red positive).
DIVERGING_SCALE: tuple[tuple[float, str], ...] = (
    (0.0, "#2166AC"), (0.25, "#92C5DE"), (0.5, "#F7F7F7"), (0.75, "#F4A582"), (1.0, "#B2182B"))

#: Sequential scale for magnitudes (0 = none): ColorBrewer YlOrRd, colour-blind safe.
MAGNITUDE_SCALE: tuple[tuple[float, str], ...] = (
    (0.0, "#FFFFCC"), (0.25, "#FED976"), (0.5, "#FD8D3C"), (0.75, "#E31A1C"), (1.0, "#800026"))

SCALES = {"confidence": CONFIDENCE_SCALE, "ndvi": NDVI_SCALE, "diverging": DIVERGING_SCALE,
          "magnitude": MAGNITUDE_SCALE}


def normalize_name(name: str) -> str:
    """Lower-case a class name and treat '_' and '-' as spaces ('Permanent_Meadows' -> ...)."""
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def hex_to_rgb(hex_color: str) -> RGB:
    """'#RRGGBB' -> (r, g, b) ints."""
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def rgb_to_hex(rgb: Sequence[int]) -> str:
    """(r, g, b) -> '#RRGGBB'."""
    return "#{:02X}{:02X}{:02X}".format(*(int(c) for c in rgb[:3]))


def class_hex(name: str) -> str:
    """Hex colour of a class name: the fixed palette, else a stable hash-chosen fallback."""
    key = normalize_name(name)
    if key in CLASS_COLORS:
        return CLASS_COLORS[key]
    digest = int(hashlib.md5(key.encode("utf-8")).hexdigest(), 16)
    return FALLBACK_COLORS[digest % len(FALLBACK_COLORS)]


def darken(hex_color: str, factor: float = 0.7) -> str:
    """A darker shade of a hex colour (each channel times ``factor``), e.g. for outlines and text
    of light class colours such as wheat's."""
    return rgb_to_hex([round(c * factor) for c in hex_to_rgb(hex_color)])


def class_color(name: str) -> RGB:
    """(r, g, b) colour of a class name (see :func:`class_hex`)."""
    return hex_to_rgb(class_hex(name))


def class_rgba(name: str, alpha: float = 1.0) -> str:
    """CSS 'rgba(r,g,b,a)' string of a class colour, e.g. for translucent plotly fills."""
    r, g, b = class_color(name)
    return f"rgba({r},{g},{b},{alpha:g})"


def hex_rgba(hex_color: str, alpha: float) -> str:
    """CSS 'rgba(...)' string of a hex colour with opacity ``alpha``."""
    r, g, b = hex_to_rgb(hex_color)
    return f"rgba({r},{g},{b},{alpha:g})"


def class_colors(names: Iterable[str]) -> dict[str, str]:
    """Mapping name -> hex for several class names, in the given order."""
    return {str(n): class_hex(n) for n in names}


def plotly_scale(name: str) -> list[list]:
    """A continuous scale ('confidence', 'ndvi', 'diverging', 'magnitude') as a plotly colorscale list."""
    return [[pos, col] for pos, col in SCALES[name]]


def continuous_colors(values: Sequence[float] | np.ndarray, scale: str = "confidence",
                      vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """Vectorised colour lookup: values -> N x 3 uint8 RGB by linear interpolation of a scale.

    Values are clipped to [vmin, vmax]; NaN values get :data:`MISSING_COLOR`.
    """
    stops = SCALES[scale]
    pos = np.array([p for p, _ in stops])
    rgb = np.array([hex_to_rgb(c) for _, c in stops], dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    span = vmax - vmin if vmax > vmin else 1.0
    t = np.clip((v - vmin) / span, 0.0, 1.0)
    out = np.stack([np.interp(t, pos, rgb[:, k]) for k in range(3)], axis=-1)
    out[~np.isfinite(v)] = hex_to_rgb(MISSING_COLOR)
    return np.rint(out).astype(np.uint8)
