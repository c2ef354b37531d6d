import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import geometry_mask

from cropviz.data.simulate import patches, phenology, spectra
from cropviz.data.simulate.parcels import class_names


@pytest.fixture(scope="module")
def rendered():
    names = class_names()
    classid = np.array([names.index("wheat"), names.index("corn")])
    codes = np.array(["BTH", "MIS"], dtype=object)
    rng = np.random.default_rng(0)
    params = phenology.draw_params(rng, names, classid, codes, np.zeros(2), 0.0)
    ends = spectra.endmembers(np.ones(2), np.full(2, 0.5), np.full(2, 0.5))
    poly = shapely.Polygon([(200_000, 6_750_000), (200_300, 6_750_050), (200_260, 6_750_240),
                            (199_980, 6_750_200)])
    dn, transform = patches.render(poly, params, 0, ends[0], rng)
    return poly, dn, transform


def test_patch_dates_in_2017_in_order():
    dates = patches.patch_dates()
    assert len(dates) == patches.N_DATES == 24
    assert np.all(np.diff(dates).astype(int) > 0)
    assert dates[0] >= np.datetime64("2017-01-01") and dates[-1] <= np.datetime64("2017-10-31")
    np.testing.assert_array_equal(dates - np.datetime64("2017-01-01") + 1,
                                  patches.patch_doy().astype("timedelta64[D]"))


def test_render_shape_and_polygon_mask(rendered):
    poly, dn, transform = rendered
    n_bands = len(patches.BAND_INDEX)
    assert dn.shape == (patches.N_DATES * n_bands, patches.SIZE, patches.SIZE)
    assert dn.dtype == np.uint16
    xmin, ymin, xmax, ymax = poly.bounds
    np.testing.assert_allclose([transform.c, transform.f], [xmin, ymax])
    np.testing.assert_allclose([transform.a, -transform.e], [(xmax - xmin) / patches.SIZE,
                                                             (ymax - ymin) / patches.SIZE])
    inside = geometry_mask([poly], out_shape=dn.shape[1:], transform=transform, invert=True)
    assert 0.3 < inside.mean() < 0.95
    assert np.all(dn[:, ~inside] == 0)
    assert np.all(dn[:, inside] > 0)


def test_render_wheat_green_in_may_bare_in_september(rendered):
    poly, dn, transform = rendered
    inside = geometry_mask([poly], out_shape=dn.shape[1:], transform=transform, invert=True)
    refl = dn.reshape(patches.N_DATES, len(patches.BAND_INDEX), -1)[:, :, inside.ravel()] / 1e4
    names = [spectra.BANDS[i] for i in patches.BAND_INDEX]
    ndvi = np.median(spectra.ndvi(refl.transpose(0, 2, 1), tuple(names)), axis=1)  # per date
    doy = patches.patch_doy()
    may, sept = np.argmin(np.abs(doy - 130)), np.argmin(np.abs(doy - 260))
    assert ndvi[may] > 0.6
    assert ndvi[sept] < 0.4


def test_write_roundtrip(rendered, tmp_path):
    _, dn, transform = rendered
    path = tmp_path / "patch.tif"
    patches.write(path, dn, transform)
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(), dn)
        assert src.transform == transform
        assert src.crs.to_epsg() == 2154
        assert src.nodata == 0
