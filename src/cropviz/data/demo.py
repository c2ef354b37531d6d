"""Simulated BreizhCrops-like demo region, written in the exact BreizhCrops on-disk layout.

``generate_demo(root)`` writes four regions (frh01, frh02 train, frh03 validation, frh04 test)
of simulated Sentinel-2 parcel time series for 2017 (L1C and L2A), their polygons, 32x32
parcel patches and a ``cropviz.json`` saying the data are simulated. The simulator lives in
``cropviz.data.simulate``; everything is deterministic for a seed and generated in chunks of
parcels so that BreizhCrops-sized regions stream to disk in bounded memory.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from importlib import resources
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cropviz.data.bands import H5_COLUMNS, REFLECTANCE_SCALE, SPECTRAL_BANDS
from cropviz.data.simulate import clouds, phenology, spectra
from cropviz.data.simulate import patches as patchsim
from cropviz.data.simulate.parcels import REGIONS, SPLITS, RegionParcels, class_names, make_region
from cropviz.errors import ConfigurationError, DatasetError

__all__ = ["DEFAULT_PARCELS", "DEFAULT_PATCHES", "generate_demo"]

GENERATOR = "cropviz demo 0.1.0"
YEAR = 2017
#: Default parcels per region.
DEFAULT_PARCELS: dict[str, int] = {"frh01": 1000, "frh02": 1000, "frh03": 600, "frh04": 800}
#: Default number of parcels per region that also get a 32x32 patch GeoTIFF.
DEFAULT_PATCHES = 500
CHUNK = 256
#: Longest side of the demo basemaps in pixels (about 8 m per pixel over a region's patchwork).
BASEMAP_SIDE = 1024
#: Mild shift of the season per department (days): a small domain shift between splits.
REGION_SHIFT = {"frh01": -3.0, "frh02": 1.0, "frh03": 3.0, "frh04": 0.0}
_L2A_BANDS = np.array([spectra.BANDS.index(b) for b in SPECTRAL_BANDS["L2A"]])
_C1, _C2 = H5_COLUMNS["L1C"], H5_COLUMNS["L2A"]
_L1C_SPECTRAL = [_C1.index(b) for b in spectra.BANDS]
_L2A_SPECTRAL = [_C2.index(b) for b in SPECTRAL_BANDS["L2A"]]
_EPOCH_NS = np.datetime64("1970-01-01", "ns")


def _write_static(root: Path) -> None:
    res = resources.files("cropviz.data.resources")
    with res.joinpath("rpg_codes.csv").open("rb") as src, open(root / "codes.csv", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with res.joinpath("classmapping.csv").open("rb") as src, open(root / "classmapping.csv", "wb") as dst:
        shutil.copyfileobj(src, dst)


def _resolve_counts(parcels: int | dict[str, int] | None, regions: list[str]) -> dict[str, int]:
    if parcels is None:
        return {r: DEFAULT_PARCELS[r] for r in regions}
    if isinstance(parcels, dict):
        counts = {r: int(parcels.get(r, DEFAULT_PARCELS[r])) for r in regions}
    else:
        counts = {r: int(parcels) for r in regions}
    bad = {r: n for r, n in counts.items() if n < 1}
    if bad:
        raise ConfigurationError(f"parcels per region must be >= 1, got {bad}")
    return counts


def _patch_rows(rng: np.random.Generator, classid: np.ndarray, mapped: np.ndarray, k: int) -> np.ndarray:
    """Parcels (with a mapped code) that get a patch: 3 of every class first, then random; sorted."""
    pool = np.flatnonzero(mapped)
    if k >= len(pool):
        return pool
    first = [rng.permutation(pool[classid[pool] == c])[:3] for c in np.unique(classid[pool])]
    chosen = np.unique(np.concatenate(first))[:k]
    rest = rng.permutation(np.setdiff1d(pool, chosen))[: k - len(chosen)]
    return np.sort(np.concatenate([chosen, rest]))


def land_cover(region: str, n: int, seed: int) -> gpd.GeoDataFrame:
    """The simulated land around ``region``'s ``n`` demo parcels (seed ``seed``), for its basemap:
    hedges and verges under all, the window's other fields (each showing a random demo parcel's
    observations), woods, villages and roads, in Lambert-93. Rebuilds the region's landscape from
    the seed (under a second)."""
    ri = REGIONS.index(region)
    rng_geo = np.random.default_rng(np.random.SeedSequence([seed, ri]).spawn(4)[0])
    return _land_cover(make_region(region, n, rng_geo, id_offset=(ri + 1) * 10_000_000), ri, seed)


def _land_cover(par: RegionParcels, ri: int, seed: int) -> gpd.GeoDataFrame:
    """:func:`land_cover` of region number ``ri``'s parcels ``par``."""
    land = par.land
    donors = np.random.default_rng([seed, ri, 7]).choice(par.ids, size=len(land.unlisted))
    return gpd.GeoDataFrame({"kind": ["hedge"] + ["field"] * len(land.unlisted) + ["wood", "village", "road"],
                             "donor": [-1, *map(int, donors), -1, -1, -1]},
                            geometry=[land.window, *land.unlisted, land.woods, land.villages, land.roads],
                            crs="EPSG:2154")


def _region(root: Path, region: str, ri: int, n: int, n_patches: int, seed: int,
            bar: tqdm | None) -> tuple[dict, gpd.GeoDataFrame]:
    """Write one region; return its summary and its land cover (for the basemap)."""
    ss = np.random.SeedSequence([seed, ri])
    rng_geo, rng_acq, rng_par, rng_pat = (np.random.default_rng(s) for s in ss.spawn(4))
    par = make_region(region, n, rng_geo, id_offset=(ri + 1) * 10_000_000)
    names = class_names()
    year_dir = root / str(YEAR)
    year_dir.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame({"ID": par.ids}, geometry=par.geometry, crs="EPSG:2154").to_file(
        year_dir / f"{region}.shp", driver="ESRI Shapefile")

    acq = clouds.make_acquisitions(rng_acq)
    dates_ns = (acq.dates() - _EPOCH_NS).astype(np.int64).astype(np.float64)
    n_farms = int(par.farm.max()) + 1
    farm_shift = rng_par.normal(0, 5, n_farms)[par.farm]
    params = phenology.draw_params(rng_par, names, par.classid, par.codes, farm_shift, REGION_SHIFT[region])
    soil_bright = np.clip(rng_par.normal(1.0, 0.15, n), 0.6, 1.4)
    chl = rng_par.normal(0, 1, n)
    lai = rng_par.normal(0, 1, n)
    ends = spectra.endmembers(soil_bright, chl, lai)
    x = par.centroid[:, 0]  # orbit footprint edges cross the region's patchwork
    xnorm = (x - x.min()) / max(float(x.max() - x.min()), 1.0)
    class_of_code = pd.read_csv(root / "classmapping.csv").set_index("code")["id"]
    mapped = np.isin(par.codes, class_of_code.index)
    patch_rows = set(_patch_rows(rng_pat, par.classid, mapped, n_patches).tolist()) if n_patches else set()

    paths = [f"{region}/{i}" for i in par.ids]
    meanqa, seqlen = np.zeros(n), np.zeros(n, dtype=np.int64)
    meancld = np.zeros(n)
    n_obs = n_flag = n_cont = 0
    patch_dir = year_dir / "patches" / region
    if patch_dir.exists():  # stale patches of an earlier demo in the same root
        shutil.rmtree(patch_dir)
    if patch_rows:
        patch_dir.mkdir(parents=True, exist_ok=True)
    patch_index = []
    h5opts = {"compression": "gzip", "compression_opts": 6, "shuffle": True}
    for level in ("L1C", "L2A"):
        (year_dir / level).mkdir(exist_ok=True)
    with h5py.File(year_dir / "L1C" / f"{region}.h5", "w", libver="latest") as f1, \
            h5py.File(year_dir / "L2A" / f"{region}.h5", "w", libver="latest") as f2:
        for ci, start in enumerate(range(0, n, CHUNK)):
            rows = np.arange(start, min(start + CHUNK, n))
            rng = np.random.default_rng([seed, ri, 1 + ci])
            m = len(rows)
            seen = clouds.coverage(acq, xnorm[rows], rng)
            g, d, fl = phenology.fractions(params, acq.doy, rows)
            moist = np.broadcast_to(acq.moist[None, :], g.shape)
            boa = spectra.surface(g, d, fl, moist, ends[rows])
            boa = boa * (1 + rng.normal(0, 0.012, (m, len(acq.doy), 1))
                         + rng.normal(0, 0.008, boa.shape)) + rng.normal(0, 0.002, boa.shape)
            aer = acq.aerosol[None, :] * np.exp(rng.normal(0, 0.06, g.shape))
            toa = spectra.top_of_atmosphere(boa, aer, acq.vapour[None, :])
            cont = clouds.contamination(acq, par.centroid[rows], rng)
            l1c = clouds.apply(toa, cont, np.arange(13))
            l2a = clouds.apply(boa[..., _L2A_BANDS], cont, _L2A_BANDS)
            dn1 = np.clip(np.round(np.maximum(l1c, 0) * REFLECTANCE_SCALE), 0, 65535)
            dn2 = np.clip(np.round(np.maximum(l2a, 0) * REFLECTANCE_SCALE), 0, 65535)
            qa = clouds.qa60(cont["state"])
            cp = clouds.cld(cont, rng)
            for k, r in enumerate(rows):
                sel = seen[k]
                T = int(sel.sum())
                a1 = np.zeros((T, len(_C1)))   # QA10, QA20 stay 0 as in the real files
                a1[:, _L1C_SPECTRAL] = dn1[k, sel]
                a1[:, _C1.index("QA60")] = qa[k, sel]
                a1[:, _C1.index("doa")] = dates_ns[sel]
                a2 = np.zeros((T, len(_C2)))   # EDG, SAT stay 0
                a2[:, _C2.index("doa")] = dates_ns[sel]
                a2[:, _L2A_SPECTRAL] = dn2[k, sel]
                a2[:, _C2.index("CLD")] = cp[k, sel]
                f1.create_dataset(paths[r], data=a1, **h5opts)
                f2.create_dataset(paths[r], data=a2, **h5opts)
                meanqa[r], meancld[r], seqlen[r] = qa[k, sel].mean(), cp[k, sel].mean(), T
                n_obs += T
                n_flag += int((qa[k, sel] > 0).sum())
                n_cont += int((cont["state"][k, sel] != clouds.CLEAR).sum())
                if r in patch_rows:
                    prng = np.random.default_rng([seed, ri, int(par.ids[r])])  # per parcel
                    dn, tr = patchsim.render(par.geometry[r], params, int(r), ends[r], prng)
                    patchsim.write(patch_dir / f"{par.ids[r]}.tif", dn, tr)
                    patch_index.append((par.ids[r], f"{YEAR}/patches/{region}/{par.ids[r]}.tif"))
            if bar is not None:
                bar.update(m)
    for level, mean in (("L1C", meanqa), ("L2A", meancld)):
        pd.DataFrame({"idx": np.arange(n), "id": par.ids, "CODE_CULTU": par.codes, "path": paths,
                      "meanQA60": mean, "sequencelength": seqlen}).to_csv(
            year_dir / level / f"{region}.csv", index=False)
    if patch_index:
        pid = np.array([p[0] for p in patch_index])
        codes = pd.Series(par.codes, index=par.ids).loc[pid]
        pd.DataFrame({"id": pid, "path": [p[1] for p in patch_index],
                      "classid": codes.map(class_of_code).to_numpy(dtype=np.int64)}).to_csv(
            year_dir / "patches" / f"{region}.csv", index=False)
    summary = {"parcels": n, "patches": len(patch_index), "split": SPLITS[region],
               "observations": int(n_obs), "qa60_flagged_share": round(n_flag / max(n_obs, 1), 4),
               "contaminated_share": round(n_cont / max(n_obs, 1), 4),
               "sequencelength": [int(seqlen.min()), int(seqlen.max())]}
    return summary, _land_cover(par, ri, seed)


def _prepare_root(root: Path, overwrite: bool) -> None:
    """Refuse to write over existing data; with ``overwrite`` remove an earlier *simulated* demo."""
    meta_path = root / "cropviz.json"
    has_data = (root / str(YEAR)).exists() or (root / "classmapping.csv").exists()
    simulated = False
    if meta_path.exists():
        try:
            simulated = bool(json.loads(meta_path.read_text()).get("simulated", False))
        except (OSError, ValueError) as exc:
            raise DatasetError(meta_path, f"unreadable metadata ({exc})") from exc
    if not (has_data or meta_path.exists()):
        return
    if not overwrite:
        raise ConfigurationError(f"{root} already holds a dataset; pass overwrite=True to replace a demo")
    if not simulated:
        raise DatasetError(root, "holds data that is not a cropviz simulated demo; refusing to overwrite it")
    shutil.rmtree(root / str(YEAR), ignore_errors=True)
    for name in ("codes.csv", "classmapping.csv", "cropviz.json"):
        (root / name).unlink(missing_ok=True)


def _command(root: Path, parcels: int | dict[str, int] | None, seed: int, regions: list[str],
             patches: bool | int) -> str:
    if Path(sys.argv[0]).name == "cropviz":
        return " ".join(["cropviz", *sys.argv[1:]])
    return (f"cropviz.data.demo.generate_demo({str(root)!r}, parcels={parcels!r}, seed={seed!r}, "
            f"regions={regions!r}, patches={patches!r})")


def generate_demo(root: str | Path, parcels: int | dict[str, int] | None = None, seed: int = 0,
                  regions: list[str] | None = None, patches: bool | int = True,
                  progress: bool = True, overwrite: bool = False) -> dict:
    """Write a simulated BreizhCrops-layout dataset (year 2017, L1C + L2A) under ``root``.

    ``parcels``: parcels per region (int), or a {region: n} dict; default DEFAULT_PARCELS
    (1000/1000/600/800). ``regions``: subset of frh01..frh04 (default all four). ``patches``:
    True for DEFAULT_PATCHES (500) patch GeoTIFFs per region, an int for that many, False for
    none. ``overwrite``: replace an earlier simulated demo in ``root`` (never real data).
    Deterministic for ``seed``. Returns a summary dict (also stored in ``<root>/cropviz.json``).
    """
    regions = list(REGIONS) if regions is None else list(regions)
    unknown = [r for r in regions if r not in REGIONS]
    if unknown or not regions:
        raise ConfigurationError(f"unknown demo regions {unknown}; choose from {list(REGIONS)}")
    counts = _resolve_counts(parcels, regions)
    n_patches = DEFAULT_PATCHES if patches is True else int(patches or 0)
    if n_patches < 0:
        raise ConfigurationError(f"patches must be a non-negative count, got {patches}")
    root = Path(root)
    _prepare_root(root, overwrite)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    _write_static(root)
    if n_patches:
        (root / str(YEAR) / "patches").mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"date": [str(d) for d in patchsim.patch_dates()]}).to_csv(
            root / str(YEAR) / "patches" / "dates.csv", index=False)
    summary: dict = {"simulated": True, "source": "cropviz simulated demo region (not real data)",
                     "seed": int(seed), "generator": GENERATOR, "year": YEAR, "levels": ["L1C", "L2A"],
                     "regions": {}, "patches": {"per_region": n_patches, "size": patchsim.SIZE,
                                                "dates": patchsim.N_DATES, "level": "L2A",
                                                "selection": "up to 3 parcels of every class, then random"},
                     "command": _command(root, parcels, seed, regions, patches)}
    covers: dict[str, gpd.GeoDataFrame] = {}
    bar = tqdm(total=sum(counts.values()), desc="demo", unit="parcel", disable=not progress)
    with bar:
        for region in regions:
            bar.set_description(f"demo {region}")
            ri = REGIONS.index(region)
            summary["regions"][region], covers[region] = _region(root, region, ri, counts[region], n_patches,
                                                                 seed, bar if progress else None)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    with open(root / "cropviz.json", "w") as f:
        json.dump(summary, f, indent=2)
    from cropviz.data.basemap import write_dataset_basemap
    from cropviz.data.breizhcrops import open_breizhcrops

    for region in regions:  # the map's offline imagery: the land at its clear L2A observations, monthly
        write_dataset_basemap(open_breizhcrops(root, region, year=YEAR, level="L2A"), source="simulated demo",
                              max_side=BASEMAP_SIDE, land_cover=covers[region])
    summary["root"] = str(root)
    summary["bytes"] = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return summary
