"""Write "your own data" examples from the simulated demo: parcel tables and polygons as a user
would export them from another tool, to try `cropviz import table` end to end.

    python scripts/example_data.py --demo data/demo --out example

writes ``example/<region>.csv`` (long form: parcel_id, date, B02..B12 in reflectance 0-1, a cloud
probability column, the crop name) for frh01, frh03 and frh04, and ``example/parcels.gpkg``.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("data/demo"))
    parser.add_argument("--out", type=Path, default=Path("example"))
    parser.add_argument("--parcels", type=int, default=400, help="parcels per region")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    polygons = [export_region(args.demo, region, args.out, args.parcels) for region in ("frh01", "frh03", "frh04")]
    pd.concat(polygons).to_file(args.out / "parcels.gpkg", driver="GPKG")
    print(f"wrote {', '.join(p.name for p in sorted(args.out.iterdir()))} to {args.out}")


if __name__ == "__main__":
    main()
