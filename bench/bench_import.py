"""Import and extraction speed of ``cropviz.data.importers`` on generated data.

    OMP_NUM_THREADS=1 python bench/bench_import.py --rows 2000000 --format parquet
    OMP_NUM_THREADS=1 python bench/bench_import.py --rows 0 --parcels 2000 --dates 12
    OMP_NUM_THREADS=1 python bench/bench_import.py --rows 0 --parcels 2000 --dates 12 --scl --stac

Table: a long table (``--rows`` rows, 40 dates per parcel, 10 L2A bands, a cloud probability, a
radar VV column and a label) is written in streamed chunks, then imported with ``--chunksize``
in a child process; reported: rows/s and the child's peak resident memory (ru_maxrss).
Rasters: ``--dates`` per-date GeoTIFFs (10 bands, ``--size`` pixels square, 10 m) and
``--parcels`` rectangular parcels; reported: parcel-dates/s and peak memory. ``--scl`` adds an SCL
layer (about 30 % cloudy pixels: pixel-level masking); ``--stac`` also writes every date as COG
assets of a local static STAC catalog and times ``extract_stac`` on it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
DATES_PER_PARCEL = 40


def write_table(path: Path, rows: int, fmt: str, chunk: int = 500_000) -> None:
    """Write a long table of ``rows`` rows in chunks (never whole in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    dates = pd.date_range("2017-01-03", periods=DATES_PER_PARCEL, freq="9D").strftime("%Y-%m-%d").to_numpy()
    crops = np.array(["wheat", "corn", "barley", "meadow", "rapeseed"])
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        r = np.arange(start, start + n)
        pid = r // DATES_PER_PARCEL
        frame = pd.DataFrame({"parcel_id": pid, "date": dates[r % DATES_PER_PARCEL], "crop": crops[pid % 5]})
        for b in BANDS:
            frame[b] = rng.integers(100, 6000, n).astype(np.float32)
        frame["VV"] = rng.normal(-12, 2, n).astype(np.float32)
        frame["cloud_prob"] = rng.uniform(0, 1, n).astype(np.float32).round(3)
        if fmt == "csv":
            frame.to_csv(path, mode="a", header=start == 0, index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    if writer is not None:
        writer.close()


def _child(fn, args, queue) -> None:
    started = time.perf_counter()
    summary = fn(*args)
    queue.put((time.perf_counter() - started, summary))


def run_child(fn, *args):
    """Run ``fn(*args)`` in a forked child; return (seconds, result, child peak RSS in MiB, CPU s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    seconds, summary = queue.get()
    proc.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return seconds, summary, after.ru_maxrss / 1024, cpu


def _import(path: str, root: str, chunksize: int) -> dict:
    from cropviz.data.importers import import_table

    return import_table(path, root, "bench", chunksize=chunksize, progress=False)


def _extract(folder: str, parcels: str, root: str, workers: int) -> dict:
    from cropviz.data.importers import extract_rasters

    return extract_rasters(folder, parcels, root, "bench", workers=workers, progress=False)


def _extract_stac(catalog: str, parcels: str, root: str, workers: int) -> dict:
    from cropviz.data.stac import extract_stac

    return extract_stac(catalog, parcels, root, "bench", start="2017-01-01", end="2017-12-31", workers=workers,
                        progress=False)


def write_catalog(folder: Path, rasters: Path) -> Path:
    """A static STAC catalog with one item per date, one COG asset per band (and SCL)."""
    import geopandas as gpd
    import pystac
    import rasterio
    from shapely.geometry import box, mapping

    catalog = pystac.Catalog("bench", "bench catalog")
    extent = pystac.Extent(pystac.SpatialExtent([[-180, -90, 180, 90]]), pystac.TemporalExtent([[None, None]]))
    collection = pystac.Collection("sentinel-2-l2a", "bench", extent)
    catalog.add_child(collection)
    for tif in sorted(rasters.glob("S2A_*.tif")):
        with rasterio.open(tif) as src:
            footprint = gpd.GeoSeries([box(*src.bounds)], crs=src.crs).to_crs(4326)
            when = pd.Timestamp(tif.name.split("_")[2][:8]).to_pydatetime()
            item = pystac.Item(tif.stem, mapping(footprint.iloc[0]), list(footprint.total_bounds), when,
                               {"proj:epsg": 32630})
            profile = dict(src.profile, driver="COG", count=1)
            for key in ("tiled", "blockxsize", "blockysize", "interleave"):
                profile.pop(key, None)
            for k, name in enumerate(src.descriptions):
                path = folder / f"{tif.stem}_{name}.tif"
                with rasterio.open(path, "w", **profile) as dst:
                    dst.write(src.read(k + 1), 1)
                item.add_asset(name, pystac.Asset(str(path), media_type=pystac.MediaType.COG))
        collection.add_item(item)
    catalog.normalize_hrefs(str(folder / "stac"))
    catalog.save(pystac.CatalogType.ABSOLUTE_PUBLISHED)
    return folder / "stac" / "catalog.json"


def write_rasters(folder: Path, n_dates: int, size: int, n_parcels: int, scl: bool = False) -> Path:
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import box

    rng = np.random.default_rng(0)
    x0, y0 = 400000.0, 5300000.0
    for t in range(n_dates):
        date = (np.datetime64("2017-01-03") + np.timedelta64(10 * t, "D")).astype(str).replace("-", "")
        with rasterio.open(folder / f"S2A_MSIL2A_{date}T105031.tif", "w", driver="GTiff", height=size, width=size,
                           count=len(BANDS) + scl, dtype="uint16", crs="EPSG:32630", tiled=True, compress="deflate",
                           transform=from_origin(x0, y0, 10, 10)) as dst:
            for b in range(len(BANDS)):
                dst.write(rng.integers(100, 6000, (size, size)).astype(np.uint16), b + 1)
                dst.set_band_description(b + 1, BANDS[b])
            if scl:
                codes = rng.choice(np.array([4, 5, 8, 9], dtype=np.uint16), (size, size), p=[0.4, 0.3, 0.2, 0.1])
                dst.write(codes, len(BANDS) + 1)
                dst.set_band_description(len(BANDS) + 1, "SCL")
    extent = size * 10
    w = rng.uniform(40, 200, n_parcels)
    h = rng.uniform(40, 200, n_parcels)
    x = x0 + rng.uniform(0, extent - 200, n_parcels)
    y = y0 - rng.uniform(200, extent, n_parcels)
    gdf = gpd.GeoDataFrame({"id": np.arange(1, n_parcels + 1), "crop": rng.choice(["wheat", "corn"], n_parcels)},
                           geometry=[box(a, b, a + c, b + d) for a, b, c, d in zip(x, y, w, h, strict=True)],
                           crs="EPSG:32630")
    gdf.to_file(folder / "parcels.gpkg")
    return folder / "parcels.gpkg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="long-table rows (0: skip)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    parser.add_argument("--chunksize", type=int, default=1_000_000)
    parser.add_argument("--parcels", type=int, default=2000, help="parcels for the raster bench (0: skip)")
    parser.add_argument("--dates", type=int, default=12)
    parser.add_argument("--size", type=int, default=2000, help="raster width and height in pixels")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scl", action="store_true", help="add an SCL layer (pixel-level cloud masking)")
    parser.add_argument("--stac", action="store_true", help="also extract from a local static STAC catalog")
    parser.add_argument("--tmp", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(dir=args.tmp, prefix="cropviz-bench-"))
    results = {}
    try:
        if args.rows:
            table = scratch / f"table.{args.format}"
            t0 = time.perf_counter()
            write_table(table, args.rows, args.format)
            write_s = time.perf_counter() - t0
            seconds, summary, peak, cpu = run_child(_import, str(table), str(scratch / "imported"), args.chunksize)
            results["import"] = {"rows": args.rows, "format": args.format,
                                 "file_mb": round(table.stat().st_size / 2**20, 1),
                                 "chunksize": args.chunksize, "write_table_s": round(write_s, 1),
                                 "seconds": round(seconds, 1), "rows_per_s": round(args.rows / seconds),
                                 "cpu_seconds": round(cpu, 1), "rows_per_cpu_s": round(args.rows / cpu),
                                 "parcels": summary["parcels"], "peak_rss_mb": round(peak),
                                 "h5_mb": round(sum(p.stat().st_size
                                                    for p in (scratch / "imported").rglob("*.h5")) / 2**20, 1)}
            print(json.dumps(results["import"]), flush=True)
        if args.parcels:
            folder = scratch / "rasters"
            folder.mkdir()
            parcels = write_rasters(folder, args.dates, args.size, args.parcels, scl=args.scl)
            seconds, summary, peak, cpu = run_child(_extract, str(folder), str(parcels), str(scratch / "extracted"),
                                               args.workers)
            results["extract"] = {"files": args.dates, "size_px": args.size, "parcels": args.parcels,
                                  "workers": args.workers, "parcel_dates": summary["parcel_dates"],
                                  "seconds": round(seconds, 1),
                                  "parcel_dates_per_s": round(summary["parcel_dates"] / seconds, 1),
                                  "cpu_seconds": round(cpu, 1),
                                  "peak_rss_mb_max_child": round(peak), "scl": args.scl,
                                  "cloudy_observations": summary.get("cloudy_observations")}
            print(json.dumps(results["extract"]), flush=True)
            if args.stac:
                (scratch / "cogs").mkdir()
                catalog = write_catalog(scratch / "cogs", folder)
                seconds, summary, peak, cpu = run_child(_extract_stac, str(catalog), str(parcels),
                                                        str(scratch / "stac_out"), args.workers)
                results["extract_stac"] = {"items": summary["stac_items"], "parcels": args.parcels,
                                           "parcel_dates": summary["parcel_dates"], "seconds": round(seconds, 1),
                                           "parcel_dates_per_s": round(summary["parcel_dates"] / seconds, 1),
                                           "cpu_seconds": round(cpu, 1), "peak_rss_mb_max_child": round(peak)}
                print(json.dumps(results["extract_stac"]), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
