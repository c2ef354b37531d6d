import numpy as np

from cropviz.data.indices import index_array
from cropviz.data.simulate import spectra


def test_endmember_ndvi_green_high_soil_low():
    assert spectra.ndvi(spectra.GREEN) > 0.6
    assert spectra.ndvi(spectra.SOIL) < 0.3
    assert spectra.ndvi(spectra.DRY) < 0.5


def test_ndvi_matches_index_array():
    rng = np.random.default_rng(0)
    refl = rng.uniform(0.01, 0.5, size=(4, 7, 13))
    np.testing.assert_allclose(spectra.ndvi(refl), index_array(refl, spectra.BANDS, "NDVI"))


def test_surface_mixing_pure_green_and_pure_soil():
    n = 3
    ends = spectra.endmembers(np.ones(n), np.zeros(n), np.zeros(n))
    zero, one = np.zeros((n, 1)), np.ones((n, 1))
    soil = spectra.surface(zero, zero, zero, one, ends)
    np.testing.assert_allclose(soil[:, 0], np.broadcast_to(spectra.SOIL, (n, 13)))
    green = spectra.surface(one, zero, zero, one, ends)  # green + dense-canopy NIR excess
    np.testing.assert_allclose(green[:, 0], np.broadcast_to(spectra.GREEN + 0.06 * spectra._NIR, (n, 13)))
    assert np.all(spectra.ndvi(green) > spectra.ndvi(soil))


def test_top_of_atmosphere_adds_path_radiance_and_is_monotone():
    rng = np.random.default_rng(0)
    boa = rng.uniform(0.0, 0.05, size=(5, 6, 13))        # dark surface
    aerosol, vapour = np.ones((5, 6)), np.ones((5, 6))
    toa = spectra.top_of_atmosphere(boa, aerosol, vapour)
    assert np.all(toa[..., 1] > boa[..., 1])             # B2 (blue) brightened by path radiance
    np.testing.assert_allclose(toa[..., 0], boa[..., 0] * 0.78 + 0.095)
    brighter = spectra.top_of_atmosphere(boa + 0.1, aerosol, vapour)
    hazier = spectra.top_of_atmosphere(boa, 2 * aerosol, vapour)
    assert np.all(brighter > toa) and np.all(hazier >= toa)
    np.testing.assert_allclose(hazier - toa, spectra.PATH * aerosol[..., None] * np.ones_like(boa))
