"""Mapbox vector tiles (MVT) of parcels, so a browser draws every parcel of a 200k-parcel region.

:func:`write_tiles` cuts parcel polygons into a pyramid of ``{z}/{x}/{y}.pbf`` files (web-mercator
tiles, MVT 2.1, one layer ``parcels``): centroids as points at the zooms where a parcel is a pixel
or two, clipped polygons from :attr:`TileSet.polygon_zoom` up. The browser loads only the tiles in
view (deck.gl's MVTLayer, which parses them in workers), so a frame draws a few thousand parcels
whatever the region's size. The encoder is vectorised with numpy and shapely: every feature of a
zoom is one stream of protobuf varints (a per-feature encoder such as ``mapbox-vector-tile`` spends
about 1 ms per polygon, minutes for a region). :func:`overview_png` draws every parcel into one
picture for the view of the whole region, where even the tiles would put every parcel in a frame.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import shapely

from cropviz.errors import ConfigurationError

#: The name of the tiles' one layer.
LAYER = "parcels"
#: Tile coordinates per tile side (MVT's default extent).
EXTENT = 4096
#: Tile margin (tile units) kept around a clipped polygon, so edges do not show at tile borders.
BUFFER = 16
#: Screen pixels of a tile side in deck.gl (its web-mercator zoom z shows tiles of zoom z).
TILE_PX = 512
#: Median parcel size (pixels) from which parcels are drawn as polygons rather than points.
POLYGON_PX = 4.0
#: Median parcel size (pixels) at the most detailed tiles (deck.gl enlarges them beyond).
DETAIL_PX = 32.0
#: Deepest tile zoom written.
MAX_ZOOM = 16
#: Version of what :func:`write_tiles` writes (part of a cache key: tiles of another version are cut again).
FORMAT = 1
#: The manifest written last into a tile folder (its presence means the folder is complete).
MANIFEST = "tiles.json"
#: Pixels on the long side of :func:`overview_png`'s picture.
OVERVIEW_PX = 4096


@dataclass(frozen=True)
class TileSet:
    """A folder of tiles: zooms ``min_zoom``..``max_zoom`` (points below ``polygon_zoom``),
    ``bounds`` (west, south, east, north), ``parcels`` encoded, ``tiles`` files, ``size`` bytes."""

    folder: str
    min_zoom: int
    polygon_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float]
    parcels: int
    tiles: int
    size: int


def _mercator(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Web-mercator world coordinates in [0, 1] (y down) of WGS84 degrees."""
    lat = np.clip(lat, -85.0511, 85.0511)
    x = (lon + 180.0) / 360.0
    y = 0.5 - np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / (2 * np.pi)
    return np.column_stack([x, y])


def tile_zooms(geometry: np.ndarray) -> tuple[int, int, int]:
    """(min, polygon, max) tile zooms for WGS84 parcel ``geometry``: the whole region in a few
    tiles, the median parcel :data:`POLYGON_PX` pixels wide, and :data:`DETAIL_PX` wide."""
    box = shapely.bounds(geometry)
    lat = math.radians(float(np.nanmedian((box[:, 1] + box[:, 3]) / 2)))
    span = np.maximum(box[:, 2] - box[:, 0], (box[:, 3] - box[:, 1]) / max(math.cos(lat), 1e-6))
    median = float(np.nanmedian(span))
    if not median > 0:  # points only
        median = 1e-4

    def zoom_for(px: float) -> int:
        return int(np.clip(math.ceil(math.log2(px * 360.0 / (TILE_PX * median))), 0, MAX_ZOOM))

    polygon, detail = zoom_for(POLYGON_PX), zoom_for(DETAIL_PX)
    width = max(float(np.nanmax(box[:, 2]) - np.nanmin(box[:, 0])), 1e-9)
    whole = int(np.clip(math.floor(math.log2(2 * 360.0 / width)), 0, polygon))  # ~2 tiles wide
    return min(whole, polygon), polygon, max(detail, polygon)


def _zigzag(v: np.ndarray) -> np.ndarray:
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _varint_lengths(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64)
    n = np.ones(len(v), dtype=np.int64)
    for shift in range(7, 64, 7):
        n += v >= np.uint64(1 << shift)
    return n


def _varints(v: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Protobuf varint bytes of unsigned ``v`` (one stream) and each value's byte length."""
    v = v.astype(np.uint64)
    lengths = _varint_lengths(v)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out = np.zeros(int(lengths.sum()), dtype=np.uint8)
    for i in range(int(lengths.max(initial=1))):
        at = lengths > i
        byte = (v[at] >> np.uint64(7 * i)) & np.uint64(0x7F)
        more = (lengths[at] > i + 1).astype(np.uint64) << np.uint64(7)
        out[starts[at] + i] = (byte | more).astype(np.uint8)
    return out.tobytes(), lengths


def _varint(n: int) -> bytes:
    """The protobuf varint of one non-negative integer."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _value_field(value: str | int) -> bytes:
    """A layer's ``values`` entry: an MVT Value message (string, or unsigned integer)."""
    message = _field(1, value.encode()) if isinstance(value, str) else bytes([5 << 3]) + _varint(value)
    return _field(4, message)


@dataclass
class _Features:
    """Features of one zoom, sorted by tile: tile index, parcel row, type, geometry ints."""

    tile: np.ndarray  # (F,) int64 key x * 2**z + y
    row: np.ndarray  # (F,) parcel row
    kind: np.ndarray  # (F,) 1 point, 3 polygon
    geometry: np.ndarray  # concatenated command/parameter ints (uint64)
    counts: np.ndarray  # (F,) ints of each feature's geometry


def _points(world: np.ndarray, z: int) -> _Features:
    scaled = world * (2**z)
    tile_xy = np.clip(np.floor(scaled), 0, 2**z - 1).astype(np.int64)
    local = np.clip(np.round((scaled - tile_xy) * EXTENT), 0, EXTENT).astype(np.int64)
    n = len(world)
    geometry = np.column_stack([np.full(n, 1 << 3 | 1, dtype=np.uint64), _zigzag(local[:, 0]),
                                _zigzag(local[:, 1])]).ravel()
    return _Features(tile_xy[:, 0] * 2**z + tile_xy[:, 1], np.arange(n), np.full(n, 1),
                     geometry, np.full(n, 3))


def _polygons(parts: np.ndarray, part_row: np.ndarray, z: int) -> _Features:
    """Polygon features of zoom ``z`` (parts in world pixels of that zoom: world * 2**z * EXTENT);
    polygons thinner than a tile unit vanish."""
    box = shapely.bounds(parts)
    lo = np.floor((box[:, :2] - BUFFER) / EXTENT).astype(np.int64)
    hi = np.floor((box[:, 2:] + BUFFER) / EXTENT).astype(np.int64)
    nx, ny = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    per = nx * ny
    pair_part = np.repeat(np.arange(len(parts)), per)
    k = np.arange(len(pair_part)) - np.repeat(np.cumsum(per) - per, per)
    tx = lo[pair_part, 0] + k % nx[pair_part]
    ty = lo[pair_part, 1] + k // nx[pair_part]
    geoms = parts[pair_part]
    cut = per[pair_part] > 1
    if cut.any():
        x0, y0 = tx[cut] * EXTENT - BUFFER, ty[cut] * EXTENT - BUFFER
        rects = shapely.box(x0, y0, x0 + EXTENT + 2 * BUFFER, y0 + EXTENT + 2 * BUFFER)
        try:
            geoms[cut] = shapely.intersection(geoms[cut], rects)
        except shapely.errors.GEOSException:  # an invalid polygon: repaired first
            geoms[cut] = shapely.intersection(shapely.make_valid(geoms[cut]), rects)
    pieces, pair = shapely.get_parts(geoms, return_index=True)
    polygonal = shapely.get_type_id(pieces) == 3
    pieces, pair = pieces[polygonal], pair[polygonal]
    # tile-local integer coordinates; exterior rings with positive area in MVT's y-down frame
    pieces = shapely.orient_polygons(pieces, exterior_cw=False)
    rings, ring_piece = shapely.get_rings(pieces, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    ring_pair = pair[ring_piece]
    origin = np.column_stack([tx, ty])[ring_pair[coord_ring]] * EXTENT
    xy = np.round(coords - origin).astype(np.int64)
    # drop each ring's closing point and repeated points (rounding merges near vertices)
    last = np.r_[coord_ring[1:] != coord_ring[:-1], True]
    same = np.r_[False, (xy[1:] == xy[:-1]).all(axis=1) & (coord_ring[1:] == coord_ring[:-1])]
    keep = ~last & ~same
    xy, coord_ring = xy[keep], coord_ring[keep]
    ring_n = np.bincount(coord_ring, minlength=len(rings))
    good_ring = ring_n >= 3
    # a piece survives with its exterior (ring 0 of each piece)
    first_ring = np.r_[True, ring_piece[1:] != ring_piece[:-1]]
    piece_ok = np.zeros(len(pieces), dtype=bool)
    piece_ok[ring_piece[first_ring & good_ring]] = True
    ring_ok = good_ring & piece_ok[ring_piece]
    at = ring_ok[coord_ring]
    xy, coord_ring = xy[at], coord_ring[at]
    ring_ids = np.flatnonzero(ring_ok)
    ring_n = ring_n[ring_ids]
    ring_pair_ok = ring_pair[ring_ids]
    # features: one per (part, tile) pair that kept a ring; sorted by tile then part
    tile_key = tx * 2**z + ty
    feature_pairs = np.unique(ring_pair_ok)
    order = np.lexsort((feature_pairs, tile_key[feature_pairs]))
    feature_pairs = feature_pairs[order]
    rank = np.empty(len(pair_part), dtype=np.int64)
    rank[feature_pairs] = np.arange(len(feature_pairs))
    ring_feature = rank[ring_pair_ok]
    ring_order = np.argsort(ring_feature, kind="stable")  # rings grouped by feature, in order
    xy = xy[_take(ring_n, ring_order)]
    ring_n, ring_feature = ring_n[ring_order], ring_feature[ring_order]
    point_feature = np.repeat(ring_feature, ring_n)
    delta = xy.copy()
    delta[1:] -= xy[:-1]
    first_point = np.r_[True, point_feature[1:] != point_feature[:-1]]
    delta[first_point] = xy[first_point]
    # per ring: MoveTo(1) x y, LineTo(n-1) 2(n-1) ints, ClosePath
    ring_len = 2 * ring_n + 3
    ring_start = np.cumsum(ring_len) - ring_len
    geometry = np.zeros(int(ring_len.sum()), dtype=np.uint64)
    geometry[ring_start] = 1 << 3 | 1
    geometry[ring_start + 3] = ((ring_n - 1) << 3 | 2).astype(np.uint64)
    geometry[ring_start + ring_len - 1] = 1 << 3 | 7
    point_ring_sorted = np.repeat(np.arange(len(ring_n)), ring_n)
    k = np.arange(len(xy)) - np.repeat(np.cumsum(ring_n) - ring_n, ring_n)
    slot = ring_start[point_ring_sorted] + 1 + 2 * k + (k > 0)
    geometry[slot] = _zigzag(delta[:, 0])
    geometry[slot + 1] = _zigzag(delta[:, 1])
    counts = np.bincount(ring_feature, weights=ring_len, minlength=len(feature_pairs)).astype(np.int64)
    rows = part_row[pair_part[feature_pairs]]
    return _Features(tile_key[feature_pairs], rows, np.full(len(rows), 3), geometry, counts)


def _take(counts: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indices into concatenated runs of ``counts`` that put the runs in ``order``."""
    starts = np.cumsum(counts) - counts
    picked = counts[order]
    return np.repeat(starts[order], picked) + np.arange(int(picked.sum())) - np.repeat(np.cumsum(picked) - picked,
                                                                                      picked)


def _by_tile(*parts: _Features) -> _Features:
    """Features of ``parts`` together, sorted by tile (stable)."""
    tile = np.concatenate([p.tile for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    order = np.argsort(tile, kind="stable")
    geometry = np.concatenate([p.geometry for p in parts])[_take(counts, order)]
    return _Features(tile[order], np.concatenate([p.row for p in parts])[order],
                     np.concatenate([p.kind for p in parts])[order], geometry, counts[order])


def _encode(features: _Features, tags: np.ndarray, values: list[bytes], keys: list[str], z: int,
            ids: np.ndarray, folder: Path) -> tuple[int, int]:
    """Write the tiles of one zoom; (files, bytes). ``tags``: (parcels, properties) global value
    indices, re-indexed per tile into each tile's own value table."""
    f = len(features.row)
    if f == 0:
        return 0, 0
    n_props = tags.shape[1]
    global_values = tags[features.row]  # (F, P)
    n_values = len(values)
    pair_key = np.repeat(features.tile, n_props) * n_values + global_values.ravel()
    uniq, inverse = np.unique(pair_key, return_inverse=True)
    uniq_tile = uniq // n_values
    tile_first = np.searchsorted(uniq, uniq_tile * n_values)
    local = (np.arange(len(uniq)) - tile_first)[inverse].reshape(f, n_props)
    tag_ints = np.empty((f, 2 * n_props), dtype=np.uint64)
    tag_ints[:, 0::2] = np.arange(n_props)
    tag_ints[:, 1::2] = local
    tag_bytes = _varint_lengths(tag_ints.ravel()).reshape(f, -1).sum(axis=1)
    geom_lengths = _varint_lengths(features.geometry)
    geom_starts = np.cumsum(features.counts) - features.counts
    geom_bytes = np.add.reduceat(geom_lengths, geom_starts) if len(geom_lengths) else np.zeros(f, dtype=np.int64)
    fid = ids[features.row].astype(np.uint64)
    body = (1 + _varint_lengths(fid) + 1 + _varint_lengths(tag_bytes) + tag_bytes + 2 + 1
            + _varint_lengths(geom_bytes) + geom_bytes)
    head = np.column_stack([np.full(f, 2 << 3 | 2), body, np.full(f, 1 << 3), fid, np.full(f, 2 << 3 | 2),
                            tag_bytes]).astype(np.uint64)
    mid = np.column_stack([np.full(f, 3 << 3), features.kind, np.full(f, 4 << 3 | 2), geom_bytes]).astype(np.uint64)
    width = head.shape[1] + tag_ints.shape[1] + mid.shape[1]
    fixed = np.hstack([head, tag_ints, mid])  # (F, width)
    total = f * width + len(features.geometry)
    starts = np.cumsum(width + features.counts) - (width + features.counts)
    stream = np.zeros(total, dtype=np.uint64)
    stream[(starts[:, None] + np.arange(width)).ravel()] = fixed.ravel()
    geom_slot = np.repeat(starts + width, features.counts) + (
        np.arange(len(features.geometry)) - np.repeat(geom_starts, features.counts))
    stream[geom_slot] = features.geometry
    data, _ = _varints(stream)
    feature_bytes = 1 + _varint_lengths(body) + body
    ends = np.cumsum(feature_bytes)
    tile_keys, tile_start = np.unique(features.tile, return_index=True)
    tile_end = np.r_[tile_start[1:], f]
    byte_start = np.r_[0, ends][tile_start]
    byte_end = ends[tile_end - 1]
    uniq_start = np.searchsorted(uniq_tile, tile_keys)
    uniq_end = np.r_[uniq_start[1:], len(uniq)]
    key_bytes = b"".join(_field(3, k.encode()) for k in keys)
    tail = bytes([5 << 3]) + _varint(EXTENT) + bytes([15 << 3, 2])
    name = _field(1, LAYER.encode())
    written = 0
    for t, key in enumerate(tile_keys.tolist()):
        x, y = divmod(key, 2**z)
        value_bytes = b"".join([values[v] for v in (uniq[uniq_start[t]:uniq_end[t]] % n_values).tolist()])
        layer = name + data[byte_start[t]:byte_end[t]] + key_bytes + value_bytes + tail
        tile = _field(3, layer)
        path = folder / str(z) / str(x) / f"{y}.pbf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tile)
        written += len(tile)
    return len(tile_keys), written


def write_tiles(geometry: np.ndarray, ids: np.ndarray, properties: Mapping[str, np.ndarray],
                folder: str | PathLike[str], zooms: tuple[int, int, int] | None = None) -> TileSet:
    """Write the vector tiles of parcels to ``folder`` (``{z}/{x}/{y}.pbf`` and :data:`MANIFEST`);
    return what was written. ``geometry``: WGS84 shapely (multi)polygons or points, one per parcel;
    ``ids``: integer parcel ids (each feature's id, and its ``id`` property as text so browsers
    keep ids above 2**24 exact); ``properties``: arrays of text or non-negative integers, one value
    per parcel. ``zooms``: (min, polygon, max) tile zooms (default: :func:`tile_zooms`). The folder
    is written beside and renamed into place, so a reader sees no half-written folder.
    """
    geometry = np.asarray(geometry, dtype=object)
    ids = np.asarray(ids).astype(np.int64)
    if len(geometry) == 0 or len(ids) != len(geometry):
        raise ConfigurationError(f"tiles need one id per parcel geometry (got {len(ids)} ids, "
                                 f"{len(geometry)} geometries)")
    if (ids < 0).any() or len(np.unique(ids)) != len(ids):
        raise ConfigurationError("tiles need distinct non-negative parcel ids")
    zmin, zpoly, zmax = zooms if zooms is not None else tile_zooms(geometry)
    columns = {"id": ids.astype(str), **{k: np.asarray(v) for k, v in properties.items()}}
    values: list[bytes] = []
    tags = np.empty((len(ids), len(columns)), dtype=np.int64)
    tags[:, 0] = np.arange(len(ids))  # ids are distinct: one value each
    values.extend(_value_field(v) for v in columns["id"].tolist())
    for j, column in enumerate(columns.values()):
        if len(column) != len(ids):
            raise ConfigurationError(f"tile property {list(columns)[j]!r} has {len(column)} values "
                                     f"for {len(ids)} parcels")
        if j == 0:
            continue
        numeric = np.issubdtype(column.dtype, np.integer)
        distinct, inverse = np.unique(column if numeric else column.astype(str), return_inverse=True)
        tags[:, j] = inverse + len(values)
        values.extend(_value_field(int(v) if numeric else str(v)) for v in distinct.tolist())
    centre = shapely.point_on_surface(geometry)
    centre_xy = shapely.get_coordinates(centre)
    world = _mercator(centre_xy[:, 0], centre_xy[:, 1])
    parts, part_row = shapely.get_parts(geometry, return_index=True)
    polygonal = shapely.get_type_id(parts) == 3
    parts, part_row = parts[polygonal], part_row[polygonal]
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        files = size = 0
        world_parts = shapely.transform(parts, lambda c: _mercator(c[:, 0], c[:, 1]))
        for z in range(zmin, zmax + 1):
            if z >= zpoly and len(parts):
                scale = float(2**z * EXTENT)
                merc = shapely.simplify(shapely.transform(world_parts, lambda c, s=scale: c * s), 0.5)
                features = _polygons(merc, part_row, z)
                drawn = np.zeros(len(geometry), dtype=bool)
                drawn[features.row] = True
                drawn_as_points = np.flatnonzero(~drawn)  # points, and polygons that vanished
                extra = _points(world[drawn_as_points], z)
                extra.row = drawn_as_points
                features = _by_tile(features, extra)
            else:
                features = _by_tile(_points(world, z))
            n, b = _encode(features, tags, values, list(columns), z, ids, work)
            files, size = files + n, size + b
        west, south, east, north = (float(v) for v in shapely.total_bounds(geometry))
        tiles = TileSet(str(folder), zmin, zpoly, zmax, (west, south, east, north), len(ids), files, size)
        (work / MANIFEST).write_text(json.dumps({k: v for k, v in asdict(tiles).items() if k != "folder"}))
        os.chmod(work, 0o755)
        try:
            work.rename(folder)
        except OSError:  # written meanwhile by another process: keep that one
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return tiles


def read_tiles(folder: str | PathLike[str]) -> TileSet | None:
    """The tile set written to ``folder`` by :func:`write_tiles`, or None when there is none."""
    manifest = Path(folder) / MANIFEST
    if not manifest.exists():
        return None
    meta = json.loads(manifest.read_text())
    return TileSet(folder=str(folder), min_zoom=int(meta["min_zoom"]), polygon_zoom=int(meta["polygon_zoom"]),
                   max_zoom=int(meta["max_zoom"]), bounds=tuple(meta["bounds"]), parcels=int(meta["parcels"]),
                   tiles=int(meta["tiles"]), size=int(meta["size"]))


def overview_png(geometry: np.ndarray, rgb: np.ndarray,
                 max_px: int = OVERVIEW_PX) -> tuple[bytes, tuple[float, float, float, float]]:
    """One picture of every parcel filled with its colour, on the web-mercator grid of
    :func:`cropviz.data.basemap.parcel_index_raster` (``max_px`` pixels along its long side; every
    parcel has at least the pixel of its centroid), transparent elsewhere: PNG bytes and the
    picture's WGS84 bounds (west, south, east, north). ``geometry``: WGS84 shapely (multi)polygons
    or points, one per parcel; ``rgb``: (parcels, 3) colours 0-255. A map draws the whole region
    from it as one image instead of one dot per parcel (a browser without a GPU takes seconds per
    frame for 200,000 dots)."""
    import io

    import geopandas as gpd
    from PIL import Image

    from cropviz.data.basemap import parcel_index_raster

    colours = np.asarray(rgb)
    if colours.shape != (len(geometry), 3):
        raise ConfigurationError(f"the overview needs one RGB colour per parcel geometry (got colours of shape "
                                 f"{colours.shape} for {len(geometry)} geometries)")
    index, bounds = parcel_index_raster(gpd.GeoSeries(np.asarray(geometry, dtype=object), crs="EPSG:4326"),
                                        max_side=max_px)
    palette = np.zeros((len(colours) + 1, 4), dtype=np.uint8)
    palette[1:, :3] = np.clip(colours, 0, 255)
    palette[1:, 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(palette[index], "RGBA").save(buffer, format="PNG")
    return buffer.getvalue(), bounds
