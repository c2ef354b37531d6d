"""Write "your own data" examples from the simulated demo: parcel tables and polygons as a user
would export them from another tool, to try `cropviz import table` end to end.

    python scripts/example_data.py --demo data/demo --out example

writes ``example/<region>.csv`` (long form: parcel_id, date, B02..B12 in reflectance 0-1, a cloud
probability column, the crop name) for frh01, frh03 and frh04, ``example/parcels.gpkg`` and
``example/frh04_monthly.csv``: the same frh04 parcels as monthly composites in the wide form of
global crop datasets (``OPTICAL-B02-ts3-10m``, a ``season_start`` column), to import with

    cropviz import table example/frh04_monthly.csv --root monthly --region frh04 \
        --wide-pattern 'OPTICAL-{band}-ts{index}-{*}' --start-date-col season_start --step 1MS
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from cropviz.data import open_breizhcrops

BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")


def export_region(demo: Path, region: str, out: Path, limit: int) -> pd.DataFrame:
    """One long table of a demo region's L2A series, named like a typical Sentinel-2 export."""
    dataset = open_breizhcrops(demo, region, level="L2A")
    frames = []
    for parcel in dataset.parcels(dataset.index["id"].to_numpy()[:limit]):
        frame = (parcel.bands[list(BANDS)] / 1e4).round(4)
        frame.columns = [f"B{b[1:].zfill(2)}" if b[1:].isdigit() else b for b in BANDS]
        frame.insert(0, "date", pd.DatetimeIndex(parcel.dates).strftime("%Y-%m-%d"))
        frame.insert(0, "parcel_id", parcel.id)
        frame["cloud_prob"] = parcel.flags["CLD"].to_numpy() / 100.0
        frame["crop"] = parcel.classname
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(out / f"{region}.csv", index=False)
    return dataset.geodataframe()[["id", "geometry"]].rename(columns={"id": "parcel_id"})


def monthly_table(table: pd.DataFrame, out: Path) -> Path:
    """Monthly mean composites of a long table, one row per parcel, columns OPTICAL-<band>-ts<k>-<res>."""
    bands = [c for c in table.columns if c.startswith("B")]
    month = pd.to_datetime(table["date"]).dt.to_period("M").dt.to_timestamp()
    monthly = table.assign(month=month).groupby(["parcel_id", "month"])[bands].mean().reset_index()
    start = monthly.groupby("parcel_id")["month"].transform("min")
    monthly["step"] = ((monthly["month"].dt.year - start.dt.year) * 12 + monthly["month"].dt.month
                       - start.dt.month)
    wide = monthly.pivot(index="parcel_id", columns="step", values=bands)
    resolution = {b: "10m" if b in ("B02", "B03", "B04", "B08") else "20m" for b in bands}
    wide.columns = [f"OPTICAL-{b}-ts{k}-{resolution[b]}" for b, k in wide.columns]
    info = table.groupby("parcel_id").agg(crop=("crop", "first"), date=("date", "min"))
    wide.insert(0, "season_start", pd.to_datetime(info["date"]).dt.to_period("M").dt.to_timestamp().dt.date)
    wide.insert(1, "crop", info["crop"])
    path = out / "frh04_monthly.csv"
    wide.reset_index().to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("data/demo"))
    parser.add_argument("--out", type=Path, default=Path("example"))
    parser.add_argument("--parcels", type=int, default=400, help="parcels per region")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    polygons = [export_region(args.demo, region, args.out, args.parcels) for region in ("frh01", "frh03", "frh04")]
    pd.concat(polygons).to_file(args.out / "parcels.gpkg", driver="GPKG")
    monthly_table(pd.read_csv(args.out / "frh04.csv"), args.out)
    print(f"wrote {', '.join(p.name for p in sorted(args.out.iterdir()))} to {args.out}")


if __name__ == "__main__":
    main()
