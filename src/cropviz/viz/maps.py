"""Parcel maps with pydeck: compact polygon records, a pickable layer, a clickable view, legends.

Offline: the deck has no map style (:data:`NO_MAP_STYLE`), so the browser asks no tile or style
server for anything; the region's own imagery is drawn under the parcels by a BitmapLayer
(:func:`basemap_layer`, images from :mod:`cropviz.data.basemap`) or, without imagery, a light
outline of the region (:func:`outline_layer`). Large regions travel as vector tiles the browser
fetches from the app's own static folder (:mod:`cropviz.viz.tiles`, drawn by :func:`tile_layer`):
every parcel is drawn, and a frame draws only the tiles in view.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from cropviz.errors import ConfigurationError
from cropviz.viz.colors import (
    CORRECT_COLOR,
    MISSING_COLOR,
    WRONG_COLOR,
    class_color,
    class_hex,
    continuous_colors,
    hex_to_rgb,
    rgb_to_hex,
)
from cropviz.viz.tiles import TileSet

#: What the parcels can be coloured by.
COLOR_BY: tuple[str, ...] = ("true", "pred", "correct", "confidence", "uncertainty", "ndvi")

#: Metres per degree of latitude (for the simplification tolerance).
_M_PER_DEG = 111_320.0

#: Columns of a record that the tooltip shows.
TOOLTIP_FIELDS: tuple[str, ...] = ("id", "code", "crop", "true", "predicted", "confidence_text")

TOOLTIP_HTML = ("<b>parcel {id}</b><br/>code {code} ({crop})<br/>true: {true}<br/>"
                "predicted: {predicted}<br/>confidence: {confidence_text}")


def _unknown_mode(color_by: str) -> ConfigurationError:
    return ConfigurationError(f"unknown colour mode {color_by!r}; use one of {', '.join(COLOR_BY)}")


def _text_column(gdf: pd.DataFrame, column: str | None, n: int) -> np.ndarray:
    if column is None or column not in gdf.columns:
        return np.full(n, "", dtype=object)
    values = gdf[column]
    return np.where(values.isna(), "", values.astype(str)).astype(object)


def _class_column(gdf: pd.DataFrame, column: str | None, n: int,
                  classes: Sequence[str] | None) -> np.ndarray:
    """Class names of a column; integer class ids are mapped through ``classes``."""
    if classes is None or column is None or column not in gdf.columns or \
            not pd.api.types.is_numeric_dtype(gdf[column]):
        return _text_column(gdf, column, n)
    ids = pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=float)
    lookup = np.array([str(c) for c in classes] + [""], dtype=object)
    valid = np.isfinite(ids) & (ids >= 0) & (ids < len(classes))
    return lookup[np.where(valid, np.nan_to_num(ids), len(classes)).astype(np.int64)]


def _float_column(gdf: pd.DataFrame, column: str | None, n: int) -> np.ndarray:
    if column is None or column not in gdf.columns:
        return np.full(n, np.nan)
    return pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=float)


def _class_rgb(names: np.ndarray) -> np.ndarray:
    """N x 3 colours of class names, looked up once per distinct name."""
    out = np.tile(np.array(hex_to_rgb(MISSING_COLOR), dtype=np.uint8), (len(names), 1))
    for name in pd.unique(names):
        if name != "":
            out[names == name] = class_color(name)
    return out


def parcel_colors(true: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                  ndvi: np.ndarray, color_by: str,
                  ndvi_range: tuple[float, float] = (0.0, 1.0), uncertainty: np.ndarray | None = None) -> np.ndarray:
    """N x 3 uint8 fill colours of parcels for a ``color_by`` mode (see :data:`COLOR_BY`);
    ``uncertainty``: normalised predictive entropy in [0, 1] (NaN: unknown)."""
    if uncertainty is None:
        uncertainty = np.full(len(true), np.nan)
    if color_by == "true":
        return _class_rgb(true)
    if color_by == "pred":
        return _class_rgb(predicted)
    if color_by == "correct":
        out = np.tile(np.array(hex_to_rgb(MISSING_COLOR), dtype=np.uint8), (len(true), 1))
        known = (true != "") & (predicted != "")
        out[known & (true == predicted)] = hex_to_rgb(CORRECT_COLOR)
        out[known & (true != predicted)] = hex_to_rgb(WRONG_COLOR)
        return out
    if color_by == "confidence":
        return continuous_colors(confidence, "confidence", 0.0, 1.0)
    if color_by == "uncertainty":  # normalised entropy: certain (0) looks like full confidence
        return continuous_colors(1.0 - uncertainty, "confidence", 0.0, 1.0)
    if color_by == "ndvi":
        return continuous_colors(ndvi, "ndvi", *ndvi_range)
    raise _unknown_mode(color_by)


def _to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is not None:
        return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs("EPSG:4326")
    if len(gdf) and np.abs(gdf.total_bounds).max() > 180:
        raise ConfigurationError("parcel geometries have no CRS and are not in degrees; "
                                 "pass a GeoDataFrame in EPSG:4326 (see cropviz.data.to_wgs84)")
    return gdf


def _metric(geoms: np.ndarray, lat: np.ndarray, inverse: bool = False) -> np.ndarray:
    """WGS84 polygons in a local metric frame (lon scaled by cos(lat) of each geometry's
    ``lat``), or back to degrees with ``inverse``; a new array."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    scale = np.column_stack([np.cos(np.radians(lat))[index], np.ones(len(index))]) * _M_PER_DEG
    return shapely.set_coordinates(np.array(geoms, copy=True), coords / scale if inverse else coords * scale)


def _inset_exteriors(parts: np.ndarray, lat: np.ndarray, inset_m: float, decimals: int) -> list[list]:
    """Per polygon, the exterior rings (lists of rounded [lon, lat]) of its parts shrunk
    ``inset_m`` metres inward; none where it vanishes under the inset."""
    inset = shapely.buffer(_metric(parts, lat), -inset_m, join_style="mitre", mitre_limit=2.0)
    pieces, owner = shapely.get_parts(_metric(inset, lat, inverse=True), return_index=True)
    keep = (shapely.get_type_id(pieces) == 3) & ~shapely.is_empty(pieces)
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(pieces[keep]), return_index=True)
    coords = np.round(coords, decimals).tolist()
    ends = np.cumsum(np.bincount(ring, minlength=int(keep.sum()))).tolist()
    out: list[list] = [[] for _ in range(len(parts))]
    for part, a, b in zip(owner[keep].tolist(), [0] + ends[:-1], ends, strict=True):
        out[part].append(coords[a:b])
    return out


def _borders(parts: np.ndarray, polygons: Sequence[list], lat: np.ndarray, border_m: float,
             decimals: int) -> list[list]:
    """Per polygon part, its exterior ring with a hole per piece of the part shrunk ``border_m``
    metres inward (see :func:`parcel_layer_data`)."""
    holes = _inset_exteriors(parts, lat, border_m, decimals)
    return [[rings[0], *inner] for rings, inner in zip(polygons, holes, strict=True)]


def with_borders(records: pd.DataFrame, border_m: float = 4.0, decimals: int = 6) -> pd.DataFrame:
    """``records`` of :func:`parcel_layer_data` made with ``border_m=None``, with their ``border``
    column added (the parcels' edges for :func:`parcel_deck`; rebuilt from their ``polygon`` rings,
    so a few thousand records take a fraction of a second)."""
    polygons = records["polygon"].tolist()
    parts = np.array([shapely.Polygon(rings[0], rings[1:]) for rings in polygons], dtype=object)
    return records.assign(border=_borders(parts, polygons, records["lat"].to_numpy(dtype=float), border_m,
                                          decimals))


def parcel_layer_data(gdf_wgs84: gpd.GeoDataFrame, color_by: str = "true",
                      true_col: str = "classname", pred_col: str = "predicted",
                      confidence_col: str = "confidence", ndvi_col: str = "ndvi",
                      uncertainty_col: str = "uncertainty",
                      crop_col: str | None = None, classes: Sequence[str] | None = None,
                      simplify_m: float | None = None,
                      decimals: int = 6, alpha: int = 200,
                      ndvi_range: tuple[float, float] = (0.0, 1.0), border_m: float | None = 4.0) -> pd.DataFrame:
    """Records for a pydeck PolygonLayer, one per polygon part (multipolygons are exploded).

    Columns: ``id, code, crop, true, predicted, confidence, confidence_text, ndvi,
    polygon`` (list of rings, exterior first, each a list of [lon, lat] rounded to
    ``decimals``), ``fill_color`` ([r, g, b, alpha]) and centroid ``lon, lat``. Missing
    attribute columns give empty text / NaN. ``crop_col`` names a crop label column (default:
    the true class). ``classes`` maps integer class-id columns (such as the predictions
    table's ``true``/``pred``) to names. ``simplify_m`` simplifies geometries with that
    tolerance in metres (topology preserved) for large regions. ``border``: the parcel's edge
    as a filled polygon with holes, its exterior ring with a hole per part of the parcel
    shrunk ``border_m`` metres inward (the whole parcel when it vanishes under the inset; the
    edges of a parcel's own holes are not drawn); :func:`parcel_deck` fills it in the line
    colour instead of stroking the parcels (deck.gl's path shader costs seconds per page in a
    browser without a GPU). ``border_m=None``: no ``border`` column (a layer drawn from vector
    tiles has no use for it; 2.5 s saved on 200,000 parcels; :func:`with_borders` adds it later).
    Vectorised: 5,000 parcels take well under a second.
    """
    if color_by not in COLOR_BY:
        raise _unknown_mode(color_by)
    gdf = _to_wgs84(gdf_wgs84)
    n = len(gdf)
    ids = (gdf["id"].to_numpy() if "id" in gdf.columns else np.arange(n)).astype(np.int64)
    true = _class_column(gdf, true_col, n, classes)
    predicted = _class_column(gdf, pred_col, n, classes)
    confidence = _float_column(gdf, confidence_col, n)
    ndvi = _float_column(gdf, ndvi_col, n)
    uncertainty = _float_column(gdf, uncertainty_col, n)
    rgb = parcel_colors(true, predicted, confidence, ndvi, color_by, ndvi_range, uncertainty)
    geoms = gdf.geometry.to_numpy()
    if simplify_m:
        geoms = shapely.simplify(geoms, simplify_m / _M_PER_DEG, preserve_topology=True)
    parts, row = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, row = parts[keep], row[keep]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    coords = np.round(coords, decimals).tolist()
    ring_ends = np.cumsum(np.bincount(coord_ring, minlength=len(rings))).tolist()
    ring_lists = [coords[a:b] for a, b in zip([0] + ring_ends[:-1], ring_ends, strict=False)]
    part_ends = np.cumsum(np.bincount(ring_part, minlength=len(parts))).tolist()
    polygons = [ring_lists[a:b] for a, b in zip([0] + part_ends[:-1], part_ends, strict=False)]
    centroids = shapely.get_coordinates(shapely.centroid(parts))
    if border_m is not None:
        borders = _borders(parts, polygons, centroids[:, 1], border_m, decimals)
    boxes = shapely.bounds(parts)
    fill = np.column_stack([rgb[row], np.full(len(row), int(alpha), dtype=np.uint8)])
    conf = confidence[row]
    records = pd.DataFrame({
        "id": ids[row],
        "code": _text_column(gdf, "code", n)[row],
        "crop": _text_column(gdf, crop_col, n)[row] if crop_col else true[row],
        "true": true[row],
        "predicted": predicted[row],
        "confidence": conf,
        "confidence_text": np.where(np.isfinite(conf), np.char.mod("%.2f", np.nan_to_num(conf)),
                                    "-").astype(object),
        "ndvi": ndvi[row],
        "polygon": polygons,
        **({} if border_m is None else {"border": borders}),
        "fill_color": fill.tolist(),
        "lon": np.round(centroids[:, 0], decimals),
        "lat": np.round(centroids[:, 1], decimals),
        "west": boxes[:, 0], "south": boxes[:, 1], "east": boxes[:, 2], "north": boxes[:, 3],
    })
    return records


#: Streamlit's deck.gl chart fills a missing map style with a Carto style from the internet;
#: this value (pydeck's own "no style" sentinel) makes it draw no map at all.
NO_MAP_STYLE = "__MAP_STYLE__"

#: The parcel under the pointer is described in the map's top-left corner, never cut at an edge
#: (a page adds this CSS once; deck.gl otherwise places the tooltip at the pointer).
TOOLTIP_CSS = ("<style>.deck-tooltip{transform:none!important;top:8px!important;left:8px!important;"
               "max-width:300px;}</style>")

_TOOLTIP_STYLE = {"backgroundColor": "rgba(255,255,255,0.94)", "color": "#222", "fontSize": "13px",
                  "border": "1px solid #999", "borderRadius": "4px", "padding": "6px 8px"}

#: Width of the world in pixels at zoom 0 in deck.gl's web-mercator view (512-pixel tiles).
_WORLD_PX = 512.0

#: Smallest parcel on screen (pixels) that a default view aims for, so a click lands on it.
CLICKABLE_PX = 28.0


def fit_view(min_lon: float, min_lat: float, max_lon: float, max_lat: float,
             width_px: int = 800, height_px: int = 500, max_zoom: float = 17.0,
             padding: float = 0.1) -> pdk.ViewState:
    """A web-mercator view state showing the given bounds (with ``padding`` share around)."""
    lon, lat = (min_lon + max_lon) / 2, (min_lat + max_lat) / 2
    dlon = (max_lon - min_lon) * (1 + 2 * padding)
    dlat = (max_lat - min_lat) * (1 + 2 * padding)
    zooms = [max_zoom]
    if dlon > 0:
        zooms.append(math.log2(width_px * 360.0 / (_WORLD_PX * dlon)))
    if dlat > 0:
        zooms.append(math.log2(height_px * 360.0 * math.cos(math.radians(lat)) / (_WORLD_PX * dlat)))
    zoom = float(min(max(min(zooms), 1.0), max_zoom))
    return pdk.ViewState(longitude=lon, latitude=lat, zoom=round(zoom, 2), pitch=0, bearing=0)


def record_bounds(records: pd.DataFrame) -> tuple[float, float, float, float]:
    """West, south, east, north of records from :func:`parcel_layer_data`."""
    if len(records) == 0:
        raise ConfigurationError("no parcels to take the bounds of (empty records)")
    return (float(records["west"].min()), float(records["south"].min()),
            float(records["east"].max()), float(records["north"].max()))


def clickable_zoom(records: pd.DataFrame, min_px: float = CLICKABLE_PX) -> float:
    """The zoom at which the median parcel of ``records`` spans ``min_px`` screen pixels."""
    lat = math.radians(float(records["lat"].median()))
    span = np.maximum(records["east"] - records["west"],
                      (records["north"] - records["south"]) / max(math.cos(lat), 1e-6))
    median = float(np.median(span))
    if not median > 0:
        return 17.0
    return float(min(math.log2(min_px * 360.0 / (_WORLD_PX * median)), 19.0))


def clickable_view(records: pd.DataFrame, selected_id: int | None = None, width_px: int = 800,
                   height_px: int = 560, min_px: float = CLICKABLE_PX) -> pdk.ViewState:
    """A view where parcels are big enough to click: all of ``records`` when they fit at that
    size, else the neighbourhood of the selected parcel (or of the first record) at the zoom
    where the median parcel spans ``min_px`` pixels (0: always all of ``records``). The view is
    moved as little as needed to stay inside the records' extent, so a parcel near the region's
    edge is shown with the region around it rather than empty ground beyond."""
    whole = fit_view(*record_bounds(records), width_px=width_px, height_px=height_px)
    if min_px <= 0:  # no size asked for: the whole region
        return whole
    zoom = clickable_zoom(records, min_px)
    if whole.zoom >= zoom:
        return whole
    centre = records[records["id"] == selected_id] if selected_id is not None else records[:0]
    centre = centre if len(centre) else records.iloc[:1]
    lon, lat = float(centre["lon"].iloc[0]), float(centre["lat"].iloc[0])
    zoom = round(zoom, 2)
    west, south, east, north = record_bounds(records)
    metres = metres_per_pixel(zoom, lat)
    half_lon = width_px / 2 * metres / (_M_PER_DEG * math.cos(math.radians(lat)))
    half_lat = height_px / 2 * metres / _M_PER_DEG
    return pdk.ViewState(longitude=_inside(lon, west, east, half_lon), latitude=_inside(lat, south, north, half_lat),
                         zoom=zoom, pitch=0, bearing=0)


def _inside(value: float, low: float, high: float, half: float) -> float:
    """``value`` moved so that ``value`` ± ``half`` lies within [low, high] (the middle when it cannot)."""
    if high - low <= 2 * half:
        return (low + high) / 2
    return min(max(value, low + half), high - half)


def basemap_layer(image: str, bounds: Sequence[float], opacity: float = 1.0) -> pdk.Layer:
    """A non-pickable BitmapLayer drawing ``image`` (a URL or data URL) over WGS84 ``bounds``
    (west, south, east, north): the region's own imagery under the parcels."""
    west, south, east, north = (float(b) for b in bounds)
    # pdk.types.String: pydeck would otherwise read a '.png' URL as a local file to inline
    return pdk.Layer("BitmapLayer", id="basemap", image=pdk.types.String(image), bounds=[west, south, east, north],
                     opacity=opacity, pickable=False,
                     texture_parameters={"minFilter": "nearest", "magFilter": "nearest"})  # crisp pixels


def outline_layer(outline: Any) -> pdk.Layer:
    """A light, non-pickable fill of a region's outline (a shapely (multi)polygon in WGS84);
    not stroked (deck.gl's path shader costs seconds per page in a browser without a GPU)."""
    rings = [[np.round(shapely.get_coordinates(ring), 6).tolist()
              for ring in [part.exterior, *part.interiors]]
             for part in shapely.get_parts(outline) if part.geom_type == "Polygon"]
    return pdk.Layer("PolygonLayer", id="outline", data=[{"polygon": r} for r in rings],
                     get_polygon="polygon", get_fill_color=[225, 222, 210, 255],
                     stroked=False, filled=True, pickable=False)


def image_data_url(path: str | PathLike[str]) -> str:
    """A PNG file as a data URL (for a basemap when the app cannot serve static files)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def publish(data: bytes, folder: str | PathLike[str], suffix: str) -> str:
    """Write ``data`` to ``folder`` named by its content hash (kept when already there); return
    the file name. The folder gets a ``.gitignore`` so published files stay out of git."""
    folder = Path(folder)
    name = hashlib.sha256(data).hexdigest()[:24] + suffix
    target = folder / name
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / ".gitignore").exists():
            (folder / ".gitignore").write_text("*\n")
        partial = target.with_suffix(suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)
    return name


#: Record columns a parcel layer needs in the browser (tooltip, selection, drawing).
LAYER_COLUMNS: tuple[str, ...] = (*TOOLTIP_FIELDS, "polygon", "fill_color")
#: The tooltip of parcels drawn from vector tiles (large regions): what a tile's features carry.
FILE_TOOLTIP_HTML = ("<b>parcel {id}</b><br/>true: {true}<br/>predicted: {predicted}<br/>"
                     "confidence: {confidence_text}")


def tile_properties(records: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(ids, properties) of parcel records for :func:`cropviz.viz.tiles.write_tiles`, one row per
    parcel (its first polygon part): the tooltip's text and the fill colour as ``r, g, b``."""
    first = records.drop_duplicates("id")
    rgb = np.asarray(first["fill_color"].tolist(), dtype=np.int64)[:, :3]
    return first["id"].to_numpy(), {
        "true": first["true"].to_numpy().astype(str), "predicted": first["predicted"].to_numpy().astype(str),
        "confidence_text": first["confidence_text"].to_numpy().astype(str),
        "r": rgb[:, 0], "g": rgb[:, 1], "b": rgb[:, 2]}


def tile_layer(tiles: TileSet, url: str, worker_url: str, alpha: int = 200, opacity: float = 1.0,
               visible_from_zoom: float | None = None) -> pdk.Layer:
    """The pickable parcel layer ``'parcels'`` drawn from vector tiles at ``url`` (a
    ``{z}/{x}/{y}.pbf`` template): filled polygons, or 2-pixel dots where a parcel is smaller
    than a few pixels. Picking gives the feature, whose ``properties`` hold the parcel's ``id``
    (see :func:`picked_parcel`); hovering highlights the parcel across tiles. ``worker_url``:
    where the browser loads loaders.gl's MVT worker script (its default is a CDN: the app asks no
    foreign host; the app serves the script from its static folder). ``visible_from_zoom``: below
    this view zoom no tile is fetched or drawn."""
    shown = {} if visible_from_zoom is None else {"visible_min_zoom": float(visible_from_zoom)}
    return pdk.Layer("MVTLayer", url, id="parcels", min_zoom=tiles.min_zoom, max_zoom=tiles.max_zoom, **shown,
                     extent=list(tiles.bounds), unique_id_property=pdk.types.String("id"),
                     get_fill_color=["properties.r", "properties.g", "properties.b", int(alpha)],
                     point_type=pdk.types.String("circle"), get_point_radius=2,
                     point_radius_units=pdk.types.String("pixels"), stroked=False, filled=True,
                     pickable=True, auto_highlight=True, highlight_color=[255, 255, 255, 110],
                     opacity=float(opacity), load_options={"mvt": {"workerUrl": worker_url}})


#: Zoom levels above the whole-region view from which the parcels are drawn from vector tiles
#: rather than from the overview picture (there, about 1/64 of the region's parcels are in view).
OVERVIEW_ZOOMS = 3.0


def overview_layer(image: str, bounds: Sequence[float], opacity: float = 1.0) -> pdk.Layer:
    """A non-pickable BitmapLayer ``'overview'``: the picture of every parcel from
    :func:`cropviz.viz.tiles.overview_png` at URL ``image`` over WGS84 ``bounds``."""
    west, south, east, north = (float(b) for b in bounds)
    return pdk.Layer("BitmapLayer", id="overview", image=pdk.types.String(image), bounds=[west, south, east, north],
                     opacity=float(opacity), pickable=False)


def picked_parcel(picked: Mapping[str, Any]) -> int | None:
    """The parcel id of an object picked on a parcel layer (a record, or a tile's feature)."""
    value = picked.get("id", (picked.get("properties") or {}).get("id"))
    return None if value is None else int(value)


#: Circumference of the earth at the equator in metres (deck.gl's web-mercator world).
_EARTH_M = 40_075_016.686


def metres_per_pixel(zoom: float, latitude: float) -> float:
    """Metres a screen pixel spans at ``zoom`` and ``latitude`` in deck.gl's web-mercator view."""
    return _EARTH_M * math.cos(math.radians(latitude)) / (_WORLD_PX * 2.0 ** zoom)


def selection_rings(records: pd.DataFrame, selected_id: int, width_m: float, decimals: int = 6) -> pd.DataFrame:
    """Records (``id``, ``polygon``) of a ring around each polygon part of parcel ``selected_id``:
    the part's exterior grown ``width_m`` metres outward, with the part itself as the hole.
    Empty when no record has that id."""
    rows = records[records["id"] == selected_id]
    if len(rows) == 0:
        return pd.DataFrame({"id": np.array([], dtype=np.int64), "polygon": []})
    outer = shapely.polygons([np.asarray(rings[0], dtype=float) for rings in rows["polygon"]])
    lat = rows["lat"].to_numpy(dtype=float)
    grown = _metric(shapely.buffer(_metric(outer, lat), width_m, quad_segs=4), lat, inverse=True)
    rings = [[np.round(shapely.get_coordinates(shapely.get_exterior_ring(g)), decimals).tolist(), polygon[0]]
             for g, polygon in zip(grown, rows["polygon"], strict=True)]
    return pd.DataFrame({"id": rows["id"].to_numpy(), "polygon": rings})


class CompactDeck(pdk.Deck):
    """A pydeck Deck whose JSON (what ``st.pydeck_chart`` sends) has no indentation: pydeck indents
    by 2 spaces, which triples the size of nested polygon data and keeps Python's JSON encoder
    off its fast path."""

    def to_json(self) -> str:
        """The deck as compact JSON (same content as :meth:`pydeck.Deck.to_json`)."""
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def parcel_deck(records: pd.DataFrame, selected_id: int | None = None,
                view: pdk.ViewState | Mapping | None = None, under: Sequence[pdk.Layer] = (),
                height: int = 560, tooltip: bool = True,
                line_color: Sequence[int] = (40, 40, 40, 200), opacity: float = 1.0,
                tiles: tuple[TileSet, str, str] | None = None, ring_px: float = 3.0,
                overview: tuple[str, Sequence[float]] | None = None) -> pdk.Deck:
    """A pydeck Deck of parcel records from :func:`parcel_layer_data`, with no map style.

    The parcel layer has id ``'parcels'`` and is pickable (streamlit selection returns its
    records). ``under``: layers drawn beneath the parcels (:func:`basemap_layer`,
    :func:`outline_layer`). Nothing is stroked (deck.gl's path shader costs seconds per page in
    a browser without a GPU): the parcels' edges are a non-pickable layer ``'borders'`` above
    them, their ``border`` rings filled in ``line_color``, and the selected parcel is marked by
    :func:`selection_rings` filled white (layer ``'selected'``, ``ring_px`` pixels wide at the
    view's zoom) and black (``'selected-core'``, half as wide). ``opacity``: of the parcel layer
    (below 1 the imagery shows through). ``tiles``: a tile set, its URL template and the MVT
    worker's URL: the parcels are drawn from vector tiles (:func:`tile_layer`), ``records`` give
    the view and the selected parcel's rings. ``overview``: with ``tiles``, the URL and WGS84
    bounds of a picture of every parcel (:func:`cropviz.viz.tiles.overview_png`), drawn instead of
    the tiles up to :data:`OVERVIEW_ZOOMS` levels above the view's zoom (the whole region at once).
    Without ``view`` the view is :func:`clickable_view`.
    """
    if len(records) == 0:
        raise ConfigurationError("no parcels to draw (empty records)")
    state = (clickable_view(records, selected_id, height_px=height) if view is None
             else pdk.ViewState(**view) if isinstance(view, Mapping) else view)
    layers = [*under]
    if tiles is not None:
        if overview is not None:
            layers.append(overview_layer(*overview, opacity=opacity * 200 / 255))  # as the tiles' fill
        layers.append(tile_layer(*tiles, opacity=opacity, visible_from_zoom=None if overview is None
                                 else float(state.zoom) + OVERVIEW_ZOOMS))
    else:
        columns = [c for c in LAYER_COLUMNS if c in records.columns]
        layers.append(pdk.Layer("PolygonLayer", data=records[columns],
                                id="parcels", get_polygon="polygon", get_fill_color="fill_color",
                                stroked=False, filled=True, pickable=True, auto_highlight=True,
                                highlight_color=[255, 255, 255, 110], opacity=float(opacity)))
        if "border" in records.columns:
            layers.append(pdk.Layer("PolygonLayer", data=records[["border"]], id="borders",
                                    get_polygon="border", get_fill_color=list(line_color),
                                    stroked=False, filled=True, pickable=False, opacity=float(opacity)))
    if selected_id is not None:
        pixel_m = metres_per_pixel(float(state.zoom), float(state.latitude))
        white = selection_rings(records, selected_id, ring_px * pixel_m)
        if len(white):
            black = selection_rings(records, selected_id, ring_px * pixel_m / 2)
            for layer_id, rings, color in (("selected", white, [255, 255, 255, 255]),
                                           ("selected-core", black, [0, 0, 0, 255])):
                layers.append(pdk.Layer("PolygonLayer", data=rings, id=layer_id, get_polygon="polygon",
                                        get_fill_color=color, stroked=False, filled=True, pickable=False))
    return CompactDeck(layers=layers, initial_view_state=state, map_style=NO_MAP_STYLE,
                    map_provider=None, height=height,
                    tooltip={"html": TOOLTIP_HTML if tiles is None else FILE_TOOLTIP_HTML,
                             "style": _TOOLTIP_STYLE} if tooltip else False)


def legend_items(color_by: str, classes: Sequence[str] | None = None, steps: int = 5,
                 ndvi_range: tuple[float, float] = (0.0, 1.0)) -> list[tuple[str, str]]:
    """(label, hex) pairs for a legend of a ``color_by`` mode: one per class for 'true'/'pred',
    correct / wrong / no prediction, or ``steps`` stops of the confidence / NDVI scale."""
    if color_by in ("true", "pred"):
        if classes is None:
            raise ConfigurationError(f"a legend coloured by {color_by!r} needs the class names")
        return [(str(c), class_hex(c)) for c in classes]
    if color_by == "correct":
        return [("correct", CORRECT_COLOR), ("wrong", WRONG_COLOR),
                ("no prediction", MISSING_COLOR)]
    if color_by == "uncertainty":
        values = np.linspace(0.0, 1.0, steps)
        rgb = continuous_colors(1.0 - values, "confidence", 0.0, 1.0)
        return [(f"{v:.2f}", rgb_to_hex(c)) for v, c in zip(values, rgb, strict=False)]
    if color_by in ("confidence", "ndvi"):
        lo, hi = (0.0, 1.0) if color_by == "confidence" else ndvi_range
        values = np.linspace(lo, hi, steps)
        rgb = continuous_colors(values, color_by, lo, hi)
        return [(f"{v:.2f}", rgb_to_hex(c)) for v, c in zip(values, rgb, strict=False)]
    raise _unknown_mode(color_by)


def locator_png(records: pd.DataFrame, selected_id: int, center: tuple[float, float], radius_m: float = 400.0,
                size_px: int = 560, imagery: str | PathLike[str] | None = None,
                imagery_bounds: Sequence[float] | None = None, opacity: float = 0.7) -> bytes:
    """A still picture (PNG) of the parcels within ``radius_m`` of ``center`` (lon, lat): square,
    ``size_px`` wide, north up, the ``imagery`` file (a basemap image over WGS84
    ``imagery_bounds``: west, south, east, north) under the parcels, each parcel of ``records``
    (:func:`parcel_layer_data`) filled in its colour at ``opacity`` with a dark edge, and
    ``selected_id`` outlined in black and white. Drawn on the server: no WebGL in the browser,
    for pages where the map only says where a parcel is."""
    from PIL import Image, ImageDraw

    lon0, lat0 = float(center[0]), float(center[1])
    m_per_lon = _M_PER_DEG * math.cos(math.radians(lat0))
    scale = size_px / (2.0 * radius_m)  # pixels per metre

    def to_px(ring: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
        return [(size_px / 2 + (lon - lon0) * m_per_lon * scale, size_px / 2 - (lat - lat0) * _M_PER_DEG * scale)
                for lon, lat in ring]

    west, east = lon0 - radius_m / m_per_lon, lon0 + radius_m / m_per_lon
    south, north = lat0 - radius_m / _M_PER_DEG, lat0 + radius_m / _M_PER_DEG
    picture = Image.new("RGBA", (size_px, size_px), (244, 242, 236, 255))
    if imagery is not None and imagery_bounds is not None:
        b_west, b_south, b_east, b_north = (float(v) for v in imagery_bounds)
        with Image.open(imagery) as source:
            width, height = source.size
            box = ((west - b_west) / (b_east - b_west) * width, (b_north - north) / (b_north - b_south) * height,
                   (east - b_west) / (b_east - b_west) * width, (b_north - south) / (b_north - b_south) * height)
            picture.alpha_composite(source.convert("RGBA").transform((size_px, size_px), Image.Transform.EXTENT, box,
                                                                     resample=Image.Resampling.NEAREST))
    near = records[((records["lon"] - lon0).abs() * m_per_lon <= 3 * radius_m)
                   & ((records["lat"] - lat0).abs() * _M_PER_DEG <= 3 * radius_m)]
    fills = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(fills)
    for polygon, color in zip(near["polygon"], near["fill_color"], strict=True):
        draw.polygon(to_px(polygon[0]), fill=(*[int(c) for c in color[:3]], int(255 * opacity)))
        for hole in polygon[1:]:
            draw.polygon(to_px(hole), fill=(0, 0, 0, 0))
    picture.alpha_composite(fills)
    edges = ImageDraw.Draw(picture)
    for polygon in near["polygon"]:
        for ring in polygon:
            edges.line(to_px(ring), fill=(40, 40, 40, 255), width=1)
    for polygon in near.loc[near["id"] == int(selected_id), "polygon"]:
        edges.line(to_px(polygon[0]), fill=(0, 0, 0, 255), width=5, joint="curve")
        edges.line(to_px(polygon[0]), fill=(255, 255, 255, 255), width=2, joint="curve")
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="PNG", optimize=False)
    return out.getvalue()
