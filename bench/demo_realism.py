"""Realism check of the simulated demo region (cropviz.data.demo).

Usage: python bench/demo_realism.py [ROOT]   (ROOT: an existing demo; default: generate one in a
temporary folder). Prints generation time, disk size, the class-mean NDVI peak month per class,
cloud shares, sequence lengths, the landscape (share of each region's convex hull covered by
parcels, field sizes), and a RandomForest baseline (n_estimators 200, seed 0) trained on
frh01+frh02 and evaluated on frh04 with per-date features (cloud-free L1C observations, NDVI and
the 13 bands linearly interpolated to a 10-day grid), over the full season and in season (only
observations up to 30 June and up to 30 September: what an early classifier can reach).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score

from cropviz.data.demo import generate_demo

GRID = np.arange(1, 366, 10)  # day-of-year grid
#: Last day of year of the observations the in-season baselines see (30 June, 30 September).
IN_SEASON = {"30 Jun": 181, "30 Sep": 273}
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def features(obs: list[tuple[np.ndarray, np.ndarray]], last_doy: int = 366) -> np.ndarray:
    """Per-date features of parcels' clear (doy, features) seen up to ``last_doy``, on GRID."""
    grid = GRID[GRID <= last_doy]
    rows = []
    for doy, feats in obs:
        seen = doy <= last_doy
        if seen.sum() < 1:
            seen[:1] = True
        rows.append(np.concatenate([np.interp(grid, doy[seen], feats[seen, j]) for j in range(feats.shape[1])]))
    return np.array(rows)


def landscape(root: Path, region: str) -> str:
    """Share of the region's convex hull covered by its parcels, and field sizes."""
    shapes = gpd.read_file(root / "2017" / f"{region}.shp")
    ha = shapes.area.to_numpy() / 1e4
    hull = shapes.geometry.union_all().convex_hull.area / 1e4
    return (f"{region}: parcels cover {ha.sum() / hull:.1%} of a {hull / 100:.0f} km2 hull; field size median "
            f"{np.median(ha):.1f} ha (10-90 %: {np.percentile(ha, 10):.1f}-{np.percentile(ha, 90):.1f} ha)")


def load(root: Path, region: str) -> tuple[list, np.ndarray, list, dict]:
    """Per-parcel clear (doy, features), class ids y, per-parcel clear (doy, ndvi) of a region."""
    cm = pd.read_csv(root / "classmapping.csv").set_index("code")["id"]
    index = pd.read_csv(root / "2017" / "L1C" / f"{region}.csv")
    index = index[index["CODE_CULTU"].isin(cm.index)]
    X, y, series = [], [], []
    stats: dict = {"obs": 0, "flagged": 0, "lengths": []}
    with h5py.File(root / "2017" / "L1C" / f"{region}.h5", "r") as f:
        for row in index.itertuples():
            a = f[row.path][()]
            doy = (a[:, 16].astype("datetime64[ns]") - np.datetime64("2017-01-01")).astype(
                "timedelta64[D]").astype(int) + 1
            clear = a[:, 15] == 0
            stats["obs"] += len(a)
            stats["flagged"] += int((~clear).sum())
            stats["lengths"].append(len(a))
            if clear.sum() < 2:
                clear[:] = True
            refl = a[clear, :13] * 1e-4
            ndvi = (refl[:, 7] - refl[:, 3]) / np.maximum(refl[:, 7] + refl[:, 3], 1e-6)
            feats = np.column_stack([ndvi, refl])
            X.append((doy[clear], feats))
            y.append(int(cm[row.CODE_CULTU]))
            series.append((doy[clear], ndvi))
    return X, np.array(y), series, stats


def main(argv: list[str]) -> None:
    if argv:
        root, gen = Path(argv[0]), None
    else:
        root = Path(tempfile.mkdtemp(prefix="cropviz-demo-"))
        t0, c0 = time.perf_counter(), time.process_time()
        gen = generate_demo(root, progress=False)
        print(f"generation: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU "
              f"-> {root}")
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"disk size: {size / 1e6:.1f} MB")
    for r in ("frh01", "frh02", "frh03", "frh04"):
        print(landscape(root, r))
    cm = pd.read_csv(root / "classmapping.csv").drop_duplicates("id").sort_values("id")
    classes = list(cm["classname"])
    data = {r: load(root, r) for r in ("frh01", "frh02", "frh04")}
    for r, (_, y, _, st) in data.items():
        lens = np.array(st["lengths"])
        print(f"{r}: {len(y)} parcels, QA60-flagged share {st['flagged'] / st['obs']:.2f}, "
              f"sequence length {lens.min()}-{lens.max()} (median {int(np.median(lens))})")
    if gen:
        for r, s in gen["regions"].items():
            print(f"{r}: contaminated share (incl. shadows/haze) {s['contaminated_share']:.2f}")
    # Class-mean NDVI per month (clear observations, all three regions).
    print("class-mean NDVI peak month (clear obs):")
    for c, name in enumerate(classes):
        month_vals: list[list[float]] = [[] for _ in range(12)]
        for _, y, series, _ in data.values():
            for (doy, nd), label in zip(series, y, strict=False):
                if label == c:
                    m = (np.datetime64("2017-01-01") + (doy - 1).astype("timedelta64[D]")).astype(
                        "datetime64[M]").astype(int) % 12
                    for k in range(12):
                        month_vals[k].extend(nd[m == k])
        means = np.array([np.mean(v) if v else np.nan for v in month_vals])
        if np.all(np.isnan(means)):
            continue
        prof = " ".join(f"{v:.2f}" for v in means)
        print(f"  {name:18s} peak {MONTHS[int(np.nanargmax(means))]}  [{prof}]")
    ytr = np.concatenate([data["frh01"][1], data["frh02"][1]])
    yte = data["frh04"][1]
    for season, last in (("full season", 366), *IN_SEASON.items()):
        Xtr = np.concatenate([features(data["frh01"][0], last), features(data["frh02"][0], last)])
        Xte = features(data["frh04"][0], last)
        t0 = time.perf_counter()
        rf = RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1).fit(Xtr, ytr)
        pred = rf.predict(Xte)
        f1 = f1_score(yte, pred, average=None, labels=range(len(classes)), zero_division=0)
        print(f"RandomForest (200 trees, seed 0), {season}: train frh01+frh02 ({len(ytr)}), test frh04 "
              f"({len(yte)}): OA {accuracy_score(yte, pred):.3f}, macro F1 {f1_score(yte, pred, average='macro'):.3f} "
              f"({time.perf_counter() - t0:.1f} s)")
        print("  per-class F1: " + ", ".join(f"{n} {v:.2f}" for n, v in zip(classes, f1, strict=False)))


if __name__ == "__main__":
    main(sys.argv[1:])
