"""Tests of the simulated demo region (cropviz.data.demo): layout, determinism, realism."""

from __future__ import annotations

import json

import geopandas as gpd
import h5py
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.features import geometry_mask

from cropviz.data.bands import H5_COLUMNS
from cropviz.data.demo import generate_demo
from cropviz.errors import ConfigurationError, DatasetError

N = 60
REGIONS = ["frh01", "frh02", "frh03", "frh04"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    summary = generate_demo(root, parcels=N, seed=0, patches=8, progress=False)
    return root, summary


def _series(root, level, region):
    index = pd.read_csv(root / "2017" / level / f"{region}.csv")
    with h5py.File(root / "2017" / level / f"{region}.h5", "r") as f:
        return index, {row.id: f[row.path][()] for row in index.itertuples()}


def test_layout_files_and_columns(demo):
    root, summary = demo
    codes = pd.read_csv(root / "codes.csv", sep=";")
    assert "Code Culture" in codes.columns and len(codes) > 300
    cm = pd.read_csv(root / "classmapping.csv", index_col=0)
    assert list(cm.columns) == ["id", "classname", "code"] and cm["id"].nunique() == 9
    meta = json.loads((root / "cropviz.json").read_text())
    assert meta["simulated"] is True and meta["seed"] == 0 and meta["generator"].startswith("cropviz demo")
    assert set(meta["regions"]) == set(REGIONS) and "generate_demo" in meta["command"]
    assert meta["regions"]["frh04"]["parcels"] == N and meta["regions"]["frh03"]["split"] == "validation"
    for region in REGIONS:
        for level in ("L1C", "L2A"):
            index, arrays = _series(root, level, region)
            assert list(index.columns) == ["idx", "id", "CODE_CULTU", "path", "meanQA60", "sequencelength"]
            assert len(index) == N and index["id"].is_unique
            for row in index.itertuples():
                a = arrays[row.id]
                assert a.dtype == np.float64 and a.shape == (row.sequencelength, len(H5_COLUMNS[level]))
                doa = a[:, H5_COLUMNS[level].index("doa")].astype(np.int64).astype("datetime64[ns]")
                assert np.all(np.diff(doa) > np.timedelta64(0)) and str(doa[0])[:4] == "2017"
                spectral = np.delete(a, [H5_COLUMNS[level].index(c) for c in
                                         ("doa", "QA10", "QA20", "QA60", "CLD", "EDG", "SAT")
                                         if c in H5_COLUMNS[level]], axis=1)
                assert np.all(spectral == np.round(spectral)) and spectral.min() >= 0
                assert spectral.max() < 20000
        # Every class present in every region.
        index = pd.read_csv(root / "2017" / "L1C" / f"{region}.csv")
        classes = index["CODE_CULTU"].map(cm.set_index("code")["id"])
        assert classes.nunique() == 9


def test_deterministic_for_seed(demo, tmp_path):
    root, _ = demo
    generate_demo(tmp_path / "a", parcels=N, seed=0, regions=["frh03"], patches=2, progress=False)
    generate_demo(tmp_path / "b", parcels=N, seed=1, regions=["frh03"], patches=0, progress=False)
    for level in ("L1C", "L2A"):
        i0, a0 = _series(root, level, "frh03")
        i1, a1 = _series(tmp_path / "a", level, "frh03")
        pd.testing.assert_frame_equal(i0, i1)
        h5 = f"2017/{level}/frh03.h5"
        assert (root / h5).read_bytes() == (tmp_path / "a" / h5).read_bytes()   # byte-identical
        assert all(np.array_equal(a0[k], a1[k]) for k in a0)
        i2, a2 = _series(tmp_path / "b", level, "frh03")
        assert not all(np.array_equal(a0[k], a2[k]) for k in a0 if a0[k].shape == a2[k].shape)
    p0 = sorted((root / "2017" / "patches" / "frh03").glob("*.tif"))
    p1 = sorted((tmp_path / "a" / "2017" / "patches" / "frh03").glob("*.tif"))
    with rasterio.open(p0[0]) as s0, rasterio.open(p1[0]) as s1:
        assert p0[0].name == p1[0].name and np.array_equal(s0.read(), s1.read())


def _monthly_ndvi(root, regions):
    cm = pd.read_csv(root / "classmapping.csv").set_index("code")
    sums = {}
    for region in regions:
        index, arrays = _series(root, "L2A", region)
        for row in index.itertuples():
            a = arrays[row.id]
            clear = a[:, 11] < 50
            dates = a[clear, 0].astype(np.int64).astype("datetime64[ns]")
            month = dates.astype("datetime64[M]").astype(int) % 12
            nd = (a[clear, 7] - a[clear, 3]) / (a[clear, 7] + a[clear, 3])
            name = cm.loc[row.CODE_CULTU, "classname"] if row.CODE_CULTU in cm.index else None
            s = sums.setdefault(name, np.zeros((2, 12)))
            np.add.at(s[0], month, nd)
            np.add.at(s[1], month, 1)
    return {k: v[0] / np.maximum(v[1], 1) for k, v in sums.items()}


def test_phenology_ndvi_peaks(demo):
    root, _ = demo
    nd = _monthly_ndvi(root, REGIONS)
    peak = {k: int(np.argmax(v)) + 1 for k, v in nd.items()}
    assert peak["corn"] in (7, 8, 9)
    assert peak["wheat"] in (4, 5)
    assert peak["barley"] in (3, 4, 5) and nd["barley"][5] < nd["wheat"][5]  # June: barley riper
    assert nd["corn"][3] < 0.35 < nd["corn"][7]        # bare in April, green in August
    assert nd["rapeseed"][0] > nd["wheat"][0]          # rapeseed already green in January
    for meadow in ("permanent meadows", "temporary meadows"):
        assert nd[meadow].min() > 0.45                 # green all year
    assert nd["nuts"][3] < nd["orchards"][3]           # later leaf-out of nut trees (April)


def test_clouds_and_qa60(demo):
    root, summary = demo
    total = flagged = 0
    for region in REGIONS:
        _, arrays = _series(root, "L1C", region)
        for a in arrays.values():
            qa = a[:, 15]
            assert set(np.unique(qa)) <= {0.0, 1024.0, 2048.0}
            assert np.all(a[:, 13:15] == 0)
            total += len(qa)
            flagged += int((qa > 0).sum())
            # Opaque clouds are bright in the blue band, cirrus raises B10.
            if (qa == 1024).any() and (qa == 0).any():
                assert np.median(a[qa == 1024, 1]) > np.median(a[qa == 0, 1])
            if (qa == 2048).any():
                assert np.median(a[qa == 2048, 10]) > 80
            assert np.all(a[qa == 0, 10] < 80)
        share = summary["regions"][region]["contaminated_share"]
        assert 0.35 < share < 0.75
    assert 0.25 < flagged / total < 0.6
    # L2A cloud probability agrees with the L1C flags (same acquisitions, same clouds).
    _, l1 = _series(root, "L1C", "frh04")
    _, l2 = _series(root, "L2A", "frh04")
    qa = np.concatenate([a[:, 15] for a in l1.values()])
    cld = np.concatenate([a[:, 11] for a in l2.values()])
    assert np.mean(cld[qa == 1024] > 50) > 0.9 and np.mean(cld[qa == 0] > 50) < 0.02


def test_sequence_lengths_vary_and_clouds_correlated(demo):
    root, _ = demo
    index, arrays = _series(root, "L1C", "frh04")
    lengths = index["sequencelength"].to_numpy()
    assert lengths.min() >= 40 and lengths.max() <= 170 and lengths.max() - lengths.min() > 20
    # Neighbouring parcels (same date) share clouds far more often than chance.
    gdf = gpd.read_file(root / "2017" / "frh04.shp").set_index("ID")
    xy = np.column_stack([gdf.centroid.x, gdf.centroid.y])
    ids = gdf.index.to_numpy()
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    agree = []
    for i in range(len(ids)):
        j = int(np.argsort(d[i])[1])
        a, b = arrays[ids[i]], arrays[ids[j]]
        common, ia, ib = np.intersect1d(a[:, 16], b[:, 16], return_indices=True)
        agree.append(np.mean((a[ia, 15] > 0) == (b[ib, 15] > 0)))
    assert np.mean(agree) > 0.8


def test_polygons(demo):
    root, _ = demo
    for region in REGIONS:
        gdf = gpd.read_file(root / "2017" / f"{region}.shp")
        assert gdf.crs.to_epsg() == 2154 and "ID" in gdf.columns and len(gdf) == N
        index = pd.read_csv(root / "2017" / "L1C" / f"{region}.csv")
        assert set(gdf["ID"]) == set(index["id"])
        x0, y0, x1, y1 = gdf.total_bounds
        assert 100_000 < x0 and x1 < 400_000 and 6_700_000 < y0 and y1 < 6_880_000
        area = gdf.area / 1e4
        assert area.min() >= 0.3 and area.max() <= 15 and gdf.is_valid.all()
        # A contiguous patchwork of fields: no overlaps, at least 40 % of the convex hull covered.
        union = gdf.geometry.union_all()
        assert abs(gdf.area.sum() - union.area) < 1.0 and gdf.area.sum() > 0.4 * union.convex_hull.area
        assert (gdf.geometry.apply(lambda g: len(g.exterior.coords)) > 5).any()   # not all quads
        assert not gdf.geometry.apply(lambda g: abs(g.area - g.minimum_rotated_rectangle.area) < 1).all()


def test_patches(demo):
    root, _ = demo
    dates = pd.read_csv(root / "2017" / "patches" / "dates.csv")
    assert len(dates) == 24 and dates["date"].iloc[0].startswith("2017-01")
    assert dates["date"].iloc[-1] < "2017-11"
    pidx = pd.read_csv(root / "2017" / "patches" / "frh04.csv")
    assert list(pidx.columns) == ["id", "path", "classid"] and len(pidx) == 8
    gdf = gpd.read_file(root / "2017" / "frh04.shp").set_index("ID")
    for row in pidx.itertuples():
        with rasterio.open(root / row.path) as src:
            assert (src.count, src.height, src.width) == (240, 32, 32)
            assert src.crs.to_epsg() == 2154 and src.dtypes[0] == "uint16"
            assert src.compression.name.lower() == "deflate"
            dn = src.read()
            inside = geometry_mask([gdf.loc[row.id, "geometry"]], out_shape=(32, 32),
                                   transform=src.transform, invert=True)
            assert np.allclose(src.bounds, gdf.loc[row.id, "geometry"].bounds)
        assert np.all(dn[:, ~inside] == 0) and np.all(dn[:, inside] > 0)
        # In-field texture: pixels of a date differ within the parcel.
        assert dn[6 * 10 + 6][inside].std() > 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigurationError):
        generate_demo(tmp_path, regions=["nowhere"], progress=False)
    with pytest.raises(ConfigurationError):
        generate_demo(tmp_path, parcels=0, progress=False)


def test_overwrite_only_replaces_a_demo(tmp_path):
    generate_demo(tmp_path, parcels=12, regions=["frh02"], patches=1, progress=False)
    with pytest.raises(ConfigurationError):
        generate_demo(tmp_path, parcels=12, regions=["frh02"], progress=False)
    summary = generate_demo(tmp_path, parcels=10, regions=["frh03"], patches=0, overwrite=True,
                            progress=False)
    assert summary["regions"]["frh03"]["parcels"] == 10
    assert not (tmp_path / "2017" / "frh02.shp").exists() and not (tmp_path / "2017" / "patches").exists()
    real = tmp_path / "real"
    (real / "2017").mkdir(parents=True)
    (real / "classmapping.csv").write_text(",id,classname,code\n")
    with pytest.raises(DatasetError):
        generate_demo(real, parcels=10, overwrite=True, progress=False)
    assert (real / "classmapping.csv").exists()


def test_progress_false_is_silent(tmp_path, capsys):
    generate_demo(tmp_path, parcels=12, regions=["frh02"], patches=1, progress=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_reader_opens_demo(demo, tmp_path):
    from cropviz.data import open_breizhcrops

    root, _ = demo
    for level, width in (("L1C", 13), ("L2A", 10)):
        ds = open_breizhcrops(root, "frh01", level=level)
        assert len(ds) == N and ds.skipped.empty and ds.metadata["simulated"] is True
        assert ds.index["classid"].nunique() == 9
        parcel = ds.parcel(int(ds.index["id"].iloc[0]))
        assert parcel.bands.shape[1] == width and 0.1 < parcel.cloudy.mean() < 0.95
        x = ds.model_input(list(ds.index["id"].iloc[:3]))
        assert x.shape == (3, 45, width) and 0 < x.mean() < 1
    patches = open_breizhcrops(root, "frh04").patches()
    assert len(patches.ids) == 8 and patches.read(patches.ids[0]).shape == (24, 10, 32, 32)
    # Larger regions also carry a few RPG codes outside the class mapping: the reader skips them.
    generate_demo(tmp_path, parcels=400, regions=["frh04"], patches=0, progress=False)
    ds = open_breizhcrops(tmp_path, "frh04")
    assert 0 < len(ds.skipped) < 30 and len(ds) + len(ds.skipped) == 400
