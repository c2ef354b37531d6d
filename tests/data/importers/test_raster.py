"""Parcel statistics from small generated GeoTIFFs, checked against rasterio's own masks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.features import geometry_mask
from rasterio.transform import from_origin
from shapely.geometry import box

from cropviz.data import open_breizhcrops
from cropviz.data.importers import extract_rasters
from cropviz.errors import DatasetError

BANDS = ("B2", "B3", "B4", "B8")
DATES = ("20170315", "20170504", "20170613")
ORIGIN = (400000.0, 5300200.0)  # EPSG:32630, 10 m pixels, 20 x 20


def write_tif(path, data, crs="EPSG:32630", transform=None, descriptions=None, nodata=None):
    transform = transform or from_origin(*ORIGIN, 10, 10)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data)
        for k, d in enumerate(descriptions or []):
            dst.set_band_description(k + 1, d)


def stack(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(200, 4000, (len(BANDS), 20, 20)).astype(np.uint16)
    scl = rng.choice(np.array([4, 5, 8, 9], dtype=np.uint16), (1, 20, 20))
    return np.concatenate([data, scl])


def parcels_file(tmp_path):
    x0, y0 = ORIGIN
    geoms = [box(x0 + 23, y0 - 97, x0 + 88, y0 - 31),       # inside
             box(x0 + 165, y0 - 60, x0 + 230, y0 - 20),     # across the right edge
             box(x0 + 52, y0 - 153, x0 + 57, y0 - 148),     # smaller than a pixel
             box(x0 + 500, y0 - 500, x0 + 540, y0 - 460),   # outside every raster
             box(x0 + 101, y0 - 181, x0 + 149, y0 - 121)]   # inside, written in another CRS
    gdf = gpd.GeoDataFrame({"ID_PARCEL": [1, 2, 3, 4, 5], "crop": ["wheat", "corn", "wheat", "corn", "corn"]},
                           geometry=geoms, crs="EPSG:32630").to_crs("EPSG:2154")
    gdf.to_file(tmp_path / "parcels.gpkg")
    return tmp_path / "parcels.gpkg", gdf


def hand_mean(path, geom, crs_from="EPSG:2154", cloudy_codes=None):
    """Band means, stds and pixel count over the parcel's pixels (its clear pixels when the last
    layer is SCL and ``cloudy_codes`` is given; all pixels when none is clear), by numpy."""
    with rasterio.open(path) as src:
        g = gpd.GeoSeries([geom], crs=crs_from).to_crs(src.crs).iloc[0]
        inside = geometry_mask([g], out_shape=(src.height, src.width), transform=src.transform, invert=True)
        if not inside.any():
            r, c = src.index(g.centroid.x, g.centroid.y)
            inside[r, c] = True
        data = src.read().astype(float)
    if cloudy_codes is not None:
        clear = inside & ~np.isin(data[-1], cloudy_codes)
        inside = clear if clear.any() else inside
    return data[:, inside].mean(axis=1), data[:, inside].std(axis=1), int(inside.sum())


@pytest.fixture()
def per_date(tmp_path):
    folder = tmp_path / "tiles"
    folder.mkdir()
    for k, d in enumerate(DATES):
        write_tif(folder / f"S2A_MSIL2A_{d}T105031_N0204_R051_T30UVU.tif", stack(k), descriptions=[*BANDS, "SCL"])
    return folder


def test_per_date_means_over_clear_pixels_match_numpy(tmp_path, per_date):
    path, gdf = parcels_file(tmp_path)
    s = extract_rasters(per_date, path, tmp_path / "out", "r", workers=2, progress=False)
    assert s["outside_rasters"] == 1 and s["outside_ids"] == [4] and s["centroid_fallback"] == 1
    assert s["parcels"] == 4 and s["parcel_dates"] == 12 and s["level"] == "CUSTOM" and s["cloud"] == "probability"
    assert s["cloud_layer"] == "SCL" and s["cloud_mask"] == "scl" and s["warnings"] == []  # found and read as SCL
    ds = open_breizhcrops(tmp_path / "out", "r", level="CUSTOM")
    assert ds.classes == ["corn", "wheat"] and list(ds.spectral_bands) == list(BANDS)
    files = sorted(per_date.iterdir())
    for parcel_id in (1, 2, 3, 5):
        p = ds.parcel(parcel_id)
        geom = gdf.set_index("ID_PARCEL").geometry[parcel_id]
        for t, f in enumerate(files):
            mean, std, n = hand_mean(f, geom, cloudy_codes=(3, 8, 9, 10))
            np.testing.assert_allclose(p.bands.iloc[t].to_numpy(), mean[:4], rtol=1e-9)
            np.testing.assert_allclose(p.extra[[f"{b}_std" for b in BANDS]].iloc[t].to_numpy(), std[:4], atol=1e-6)
            assert p.extra["pixels"].iloc[t] == n
            with rasterio.open(f) as src:
                g = gpd.GeoSeries([geom], crs=2154).to_crs(src.crs).iloc[0]
                inside = geometry_mask([g], (20, 20), src.transform, invert=True)
                scl = src.read(5)[inside] if inside.any() else None
            if scl is not None:
                clear = 1 - np.isin(scl, (3, 8, 9, 10)).mean()
                assert p.extra["clear_fraction"].iloc[t] == pytest.approx(clear)
                assert p.flags["CLD"].iloc[t] == pytest.approx(100 * (1 - clear))
                assert p.cloudy[t] == (clear < 0.5)
    assert ds.parcel(3).extra["pixels"].iloc[0] == 1  # the centroid pixel


def test_a_40_percent_cloudy_parcel_keeps_its_crop_mean_and_a_boolean_clm_is_found(tmp_path):
    x0, y0 = ORIGIN
    gpd.GeoDataFrame({"id": [1]}, geometry=[box(x0, y0 - 100, x0 + 100, y0)], crs="EPSG:32630").to_file(
        tmp_path / "p.gpkg")
    folder = tmp_path / "tiles"
    folder.mkdir()
    data = np.full((4, 20, 20), 1000, dtype=np.uint16)
    clm = np.zeros((1, 20, 20), dtype=np.uint16)
    clm[0, :4, :10] = 1  # 40 of the parcel's 100 pixels are cloud ...
    data[:, :4, :10] = 9000  # ... and bright
    write_tif(folder / "S2_20170315.tif", np.concatenate([data, clm]), descriptions=[*BANDS, "CLM"])
    s = extract_rasters(folder, tmp_path / "p.gpkg", tmp_path / "o", "r", progress=False)
    assert s["cloud_layer"] == "CLM" and s["cloud_mask"] == "boolean" and s["cloudy_observations"] == 0
    p = open_breizhcrops(tmp_path / "o", "r", level="CUSTOM").parcel(1)
    np.testing.assert_allclose(p.bands.iloc[0].to_numpy(), 1000.0)  # the cloud is masked, not mixed in
    assert p.extra["clear_fraction"].iloc[0] == pytest.approx(0.6) and p.extra["pixels"].iloc[0] == 60
    assert not p.cloudy[0]
    with pytest.warns(UserWarning, match="layer 'CLM' .* looks like a cloud layer but is not used"):
        s = extract_rasters(folder, tmp_path / "p.gpkg", tmp_path / "n", "r", cloud_band="none", progress=False)
    assert s["cloud_mask"] is None and s["unused_layers"] == ["CLM"]
    p = open_breizhcrops(tmp_path / "n", "r", level="CUSTOM").parcel(1)
    np.testing.assert_allclose(p.bands.iloc[0].to_numpy(), 0.6 * 1000 + 0.4 * 9000)
    clm[0, :8, :10] = 1  # 80 % cloud: flagged cloudy
    write_tif(folder / "S2_20170315.tif", np.concatenate([data, clm]), descriptions=[*BANDS, "CLM"])
    s = extract_rasters(folder, tmp_path / "p.gpkg", tmp_path / "c", "r", progress=False)
    p = open_breizhcrops(tmp_path / "c", "r", level="CUSTOM").parcel(1)
    assert s["cloudy_observations"] == 1 and p.cloudy[0] and p.extra["clear_fraction"].iloc[0] == pytest.approx(0.2)


def test_same_date_files_are_mosaicked_first_valid_pixel_never_averaged(tmp_path):
    x0, y0 = ORIGIN
    gpd.GeoDataFrame({"id": [1]}, geometry=[box(x0 + 50, y0 - 100, x0 + 150, y0)], crs="EPSG:32630").to_file(
        tmp_path / "p.gpkg")
    folder = tmp_path / "tiles"
    folder.mkdir()
    a = np.full((4, 20, 20), 1000, dtype=np.uint16)
    a[:, :, 10:] = 0  # tile A has no data right of column 10
    b = np.full((4, 20, 20), 3000, dtype=np.uint16)  # tile B covers everything
    write_tif(folder / "S2_20170315_T30UVU.tif", a, descriptions=list(BANDS), nodata=0)
    write_tif(folder / "S2_20170315_T30UWU.tif", b, descriptions=list(BANDS), nodata=0)
    s = extract_rasters(folder, tmp_path / "p.gpkg", tmp_path / "o", "r", progress=False)
    p = open_breizhcrops(tmp_path / "o", "r", level="CUSTOM").parcel(1)
    assert s["parcel_dates"] == 1 and len(p.dates) == 1
    # 50 pixels from A (its valid ones), the other 50 from B; an average of the tiles would give 2000
    # on A's half and count 150 pixels
    np.testing.assert_allclose(p.bands.iloc[0].to_numpy(), 0.5 * 1000 + 0.5 * 3000)
    assert p.extra["pixels"].iloc[0] == 100


def test_20m_scl_file_masks_10m_single_band_files_and_index_layers_are_kept(tmp_path):
    x0, y0 = ORIGIN
    gpd.GeoDataFrame({"id": [1]}, geometry=[box(x0, y0 - 100, x0 + 100, y0)], crs="EPSG:32630").to_file(
        tmp_path / "p.gpkg")
    folder = tmp_path / "tiles"
    folder.mkdir()
    rng = np.random.default_rng(3)
    planes = {b: rng.integers(500, 3000, (1, 20, 20)).astype(np.uint16) for b in BANDS}
    for b, plane in planes.items():
        write_tif(folder / f"T30UVU_20170315_{b}.tif", plane)
    ndvi = rng.uniform(0.1, 0.9, (1, 20, 20)).astype(np.float32)
    write_tif(folder / "T30UVU_20170315_NDVI.tif", ndvi)
    scl = np.full((1, 10, 10), 4, dtype=np.uint8)
    scl[0, 0, :3] = 9  # three 20 m pixels = twelve 10 m pixels of the parcel are cloud
    write_tif(folder / "T30UVU_20170315_SCL.tif", scl, transform=from_origin(*ORIGIN, 20, 20))
    s = extract_rasters(folder, tmp_path / "p.gpkg", tmp_path / "o", "r", workers=1, progress=False)
    assert s["cloud_layer"] == "SCL" and s["cloud_mask"] == "scl" and "NDVI" in s["extra"]
    p = open_breizhcrops(tmp_path / "o", "r", level="CUSTOM").parcel(1)
    clear = np.ones((10, 10), bool)
    clear[:2, :6] = False
    for b in BANDS:
        assert p.bands[b].iloc[0] == pytest.approx(planes[b][0, :10, :10][clear].mean())
    assert p.extra["NDVI"].iloc[0] == pytest.approx(ndvi[0, :10, :10][clear].mean(), rel=1e-6)
    assert p.extra["clear_fraction"].iloc[0] == pytest.approx(0.88) and p.extra["pixels"].iloc[0] == 88


def test_index_only_rasters_fail_fast_naming_the_users_folder(tmp_path):
    path, _ = parcels_file(tmp_path)
    folder = tmp_path / "ndvi"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for d in DATES:
        layers = np.concatenate([rng.uniform(0, 1, (1, 20, 20)), rng.integers(0, 2, (1, 20, 20))]).astype(np.float32)
        write_tif(folder / f"S2_{d}.tif", layers, descriptions=["NDVI", "CLM"])
    with pytest.raises(DatasetError, match=r"ndvi: no Sentinel-2 band layer in 3 raster files \(layers: CLD, NDVI\)"
                       ) as info:
        extract_rasters(folder, path, tmp_path / "o", "r", progress=False)
    assert ".extract" not in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))


def test_per_band_layout_and_mixed_crs_give_the_same_statistics(tmp_path, per_date):
    path, gdf = parcels_file(tmp_path)
    folder = tmp_path / "bands"
    folder.mkdir()
    cubes = [stack(k) for k in range(len(DATES))]
    for b, band in enumerate(BANDS):
        write_tif(folder / f"T30UVU_{band.replace('B', 'B0') if len(band) == 2 else band}_10m.tif",
                  np.stack([c[b] for c in cubes]), descriptions=[f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in DATES])
    with pytest.warns(UserWarning, match="layer 'SCL'"):
        a = extract_rasters(per_date, path, tmp_path / "a", "r", cloud_band="none", workers=1, progress=False)
    b = extract_rasters(folder, path, tmp_path / "b", "r", workers=2, progress=False)
    da = open_breizhcrops(tmp_path / "a", "r", level="CUSTOM")
    db = open_breizhcrops(tmp_path / "b", "r", level="CUSTOM")
    for parcel_id in da.ids:
        np.testing.assert_allclose(da.parcel(parcel_id).bands.to_numpy(), db.parcel(parcel_id).bands.to_numpy())
    assert a["cloud"] == "unknown" and not da.parcel(1).cloudy.any()
    # one date re-gridded into Lambert-93: parcels reprojected per file, hand means per file
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in sorted(per_date.iterdir())[:2]:
        (mixed / f.name).write_bytes(f.read_bytes())
    x, y = gdf.total_bounds[[0, 3]]
    write_tif(mixed / f"S2B_MSIL2A_{DATES[2]}T105031.tif", stack(2), crs="EPSG:2154",
              transform=from_origin(x - 20, y + 20, 10, 10), descriptions=[*BANDS, "SCL"])
    c = extract_rasters(mixed, path, tmp_path / "c", "r", cloud_band="none", progress=False)
    assert c["raster_crs"] == {"EPSG:2154": 1, "EPSG:32630": 2}
    dc = open_breizhcrops(tmp_path / "c", "r", level="CUSTOM")
    f = sorted(mixed.iterdir())[2]
    mean, _, _ = hand_mean(f, gdf.set_index("ID_PARCEL").geometry[5])
    np.testing.assert_allclose(dc.parcel(5).bands.iloc[2].to_numpy(), mean[:4])


def test_bad_rasters_one_line_errors(tmp_path, per_date):
    path, _ = parcels_file(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    write_tif(bad / "S2A_20170315_x.tif", stack(0), descriptions=["B2", "B3", "B14", "B8", "SCL"])
    with pytest.raises(DatasetError, match=r"S2A_20170315_x\.tif: layer 3 'B14' is not a Sentinel-2 band"):
        extract_rasters(bad, path, tmp_path / "o", "r", progress=False)
    write_tif(bad / "S2A_20170315_x.tif", stack(0)[:4])
    with pytest.raises(DatasetError, match=r"layer 1 has no band name; name the layers with --band-names"):
        extract_rasters(bad, path, tmp_path / "o", "r", progress=False)
    s = extract_rasters(bad, path, tmp_path / "o", "r", band_names=BANDS, progress=False)
    assert s["parcels"] == 4
    write_tif(bad / "noname.tif", stack(0)[:1])
    with pytest.raises(DatasetError, match=r"noname\.tif: per-band file without a band in its name"):
        extract_rasters(bad / "noname.tif", path, tmp_path / "p", "r", progress=False)
    far = gpd.GeoDataFrame({"id": [9]}, geometry=[box(0, 0, 10, 10)], crs="EPSG:2154")
    far.to_file(tmp_path / "far.gpkg")
    with pytest.raises(DatasetError, match=r"far\.gpkg: all 1 parcels lie outside every raster"):
        extract_rasters(per_date, tmp_path / "far.gpkg", tmp_path / "q", "r", progress=False)
    assert not (tmp_path / "p").exists() and not (tmp_path / "q").exists()


def test_patch_form_opens_as_a_patchset(tmp_path):
    from cropviz.data.bands import PATCH_BANDS

    folder = tmp_path / "tiles"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for d in DATES[:2]:
        data = rng.integers(200, 4000, (len(PATCH_BANDS), 20, 20)).astype(np.uint16)
        write_tif(folder / f"S2A_MSIL2A_{d}T105031.tif", data, descriptions=list(PATCH_BANDS))
    path, _ = parcels_file(tmp_path)
    s = extract_rasters(folder, path, tmp_path / "o", "r", patches=True, progress=False)
    ds = open_breizhcrops(tmp_path / "o", "r", level="L2A")
    patches = ds.patches()
    assert s["level"] == "L2A" and s["patches"] == 4 and sorted(patches.ids) == [1, 2, 3, 5]
    cube = patches.read(1)
    assert cube.shape == (2, 10, 32, 32) and len(patches.dates) == 2
    assert (cube[0, 0] > 0).mean() > 0.8  # parcel 1 is a box: nearly every pixel of its bbox is inside
    assert 0.02 < cube[cube > 0].mean() < 0.4  # reflectance of the 200-4000 DN rasters
    assert set(patches.index["classid"]) <= {0, 1}
