"""How the parcel map scales: time to build the pydeck records and the size sent to the browser.

    python bench/bench_map.py [--sizes 5000 20000 100000]

Parcels are random 1-4 ha quadrilaterals in Brittany (Lambert-93). For each size it times
``parcel_layer_data`` (polygons; simplified above the app's points threshold) and the JSON of the
deck the app would send: polygons below ``POINTS_ABOVE`` parcels, centroids above, and at most
``MAX_DRAWN`` parcels (a seeded sample).
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import shapely

from cropviz.data import to_wgs84
from cropviz.viz.maps import parcel_deck, parcel_layer_data

POINTS_ABOVE = 10_000  # as app_support.cache.POINTS_ABOVE
MAX_DRAWN = 25_000  # as app_support.cache.MAX_DRAWN
CLASSES = ["barley", "wheat", "rapeseed", "corn", "sunflower", "orchards", "nuts", "permanent meadows",
           "temporary meadows"]


def parcels(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """``n`` random quadrilateral parcels in Lambert-93 with a class, a prediction and a confidence."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(150_000, 390_000, n)
    y = rng.uniform(6_750_000, 6_870_000, n)
    side = np.sqrt(rng.uniform(1e4, 4e4, n))
    jitter = rng.uniform(-0.15, 0.15, (n, 4, 2)) * side[:, None, None]
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    rings = np.stack([x, y], axis=1)[:, None, :] + corners[None] * side[:, None, None] + jitter
    polygons = shapely.polygons(np.concatenate([rings, rings[:, :1]], axis=1))
    frame = gpd.GeoDataFrame({"id": np.arange(n), "classname": rng.choice(CLASSES, n),
                              "predicted": rng.choice(CLASSES, n), "confidence": rng.uniform(0, 1, n)},
                             geometry=polygons, crs=2154)
    return to_wgs84(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 100000])
    args = parser.parse_args()
    print("| parcels | mode | build records (s) | deck JSON (s) | JSON size (MB) |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        gdf = parcels(n)
        points = n > POINTS_ABOVE
        started = time.perf_counter()
        records = parcel_layer_data(gdf, color_by="pred", simplify_m=5.0 if points else None)
        built = time.perf_counter() - started
        drawn = records.sample(MAX_DRAWN, random_state=0) if len(records) > MAX_DRAWN else records
        started = time.perf_counter()
        payload = parcel_deck(drawn, points=points).to_json()
        serialised = time.perf_counter() - started
        print(f"| {n} | {'centroids' if points else 'polygons'} | {built:.2f} | {serialised:.2f} | "
              f"{len(payload) / 1e6:.1f} |")


if __name__ == "__main__":
    main()
