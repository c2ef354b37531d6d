"""How the parcel map scales on the server: records, the vector tiles the browser fetches, basemap drawing.

    python bench/bench_map.py [--sizes 5000 50000 200000]

Parcels are the demo simulator's polygons for region frh04 (Lambert-93, BreizhCrops density at
200k parcels), with a random class, prediction and confidence. For each size it times
``parcel_layer_data`` (every parcel, no sampling, simplified at 5 m above 10,000 parcels as the
app does), ``write_tiles`` (the vector tiles the app cuts into its static folder for regions above
5,000 parcels: every parcel, points below the polygon zoom) with their zooms, files and size, and
the region outline; then the basemap of the demo's frh04 when ``--demo`` names a demo root.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from cropviz.data import to_wgs84
from cropviz.data.basemap import region_outline, write_dataset_basemap
from cropviz.data.simulate.parcels import class_names, make_region
from cropviz.viz.maps import clickable_view, parcel_layer_data, tile_properties
from cropviz.viz.tiles import write_tiles

SIMPLIFY_ABOVE = 10_000  # as app_support.cache: simplify at 5 m above this many parcels


def parcels(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """``n`` simulated parcels of frh04 in WGS84 with a class, a prediction and a confidence."""
    rng = np.random.default_rng(seed)
    region = make_region("frh04", n, rng, id_offset=40_000_000)
    names = class_names()
    frame = gpd.GeoDataFrame({"id": region.ids, "classname": np.asarray(names)[region.classid],
                              "predicted": rng.choice(names, n), "confidence": rng.uniform(0, 1, n)},
                             geometry=region.geometry, crs=2154)
    return to_wgs84(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000, 200000])
    parser.add_argument("--demo", type=Path, default=None, help="a demo root: also time its frh04 basemap")
    args = parser.parse_args()
    print("| parcels | build records (s) | cut tiles (s) | zooms (min/polygon/max) | tile files | tiles (MB) "
          "| outline (s) |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        gdf = parcels(n)
        started = time.perf_counter()
        records = parcel_layer_data(gdf, color_by="pred", simplify_m=5.0 if n > SIMPLIFY_ABOVE else None)
        built = time.perf_counter() - started
        clickable_view(records, int(records["id"].iloc[0]))
        folder = Path(tempfile.mkdtemp(prefix="cropviz-bench-tiles-")) / "tiles"
        started = time.perf_counter()
        tiles = write_tiles(gdf.geometry.to_numpy(), *tile_properties(records), folder)
        cut = time.perf_counter() - started
        shutil.rmtree(folder.parent)
        started = time.perf_counter()
        region_outline(gdf.geometry)
        outlined = time.perf_counter() - started
        print(f"| {n:,} | {built:.2f} | {cut:.1f} | {tiles.min_zoom}/{tiles.polygon_zoom}/{tiles.max_zoom} | "
              f"{tiles.tiles:,} | {tiles.size / 1e6:.1f} | {outlined:.2f} |")
    if args.demo is not None:
        from cropviz.data.breizhcrops import open_breizhcrops

        ds = open_breizhcrops(args.demo, "frh04", year=2017, level="L2A")
        started = time.perf_counter()
        basemap = write_dataset_basemap(ds, folder=Path("/tmp/cropviz-bench-basemap"))
        print(f"basemap of {args.demo}/frh04 ({len(ds)} parcels, {basemap.size[0]}x{basemap.size[1]} px, "
              f"{len(basemap.dates)} dates x 2 kinds): {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
