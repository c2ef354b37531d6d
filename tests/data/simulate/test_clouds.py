import numpy as np

from cropviz.data.simulate import clouds


def _setup(seed: int = 0, n: int = 200):
    rng = np.random.default_rng(seed)
    acq = clouds.make_acquisitions(rng)
    xy = rng.uniform(0, 80_000, size=(n, 2))
    cont = clouds.contamination(acq, xy, rng)
    return acq, xy, cont, rng


def test_acquisitions_deterministic_dates_in_2017():
    a, b = clouds.make_acquisitions(np.random.default_rng(0)), clouds.make_acquisitions(np.random.default_rng(0))
    np.testing.assert_array_equal(a.doy, b.doy)
    np.testing.assert_array_equal(a.cover, b.cover)
    dates = a.dates()
    assert np.all(dates.astype("datetime64[Y]") == np.datetime64("2017", "Y"))
    assert np.all(np.diff(a.doy) >= 0)
    assert np.unique(np.stack([a.doy, a.orbit], 1), axis=0).shape[0] == len(a.doy)
    for arr in (a.cover, a.cirrus):
        assert np.all((arr >= 0) & (arr <= 1))
    # three orbits, 10-day revisit before July and 5-day afterwards: ~ 3 * (18 + 37) dates
    assert 150 <= len(a.doy) <= 175
    per_orbit_early = np.bincount(a.orbit[a.doy < clouds.S2B_START_DOY], minlength=3)
    per_orbit_late = np.bincount(a.orbit[a.doy >= clouds.S2B_START_DOY], minlength=3)
    assert np.all(per_orbit_late > 1.7 * per_orbit_early)


def test_coverage_first_date_always_seen():
    acq, xy, _, rng = _setup()
    seen = clouds.coverage(acq, xy[:, 0] / 80_000, rng)
    assert seen.shape == (len(xy), len(acq.doy))
    assert seen[:, 0].all()
    assert 0.2 < seen.mean() < 0.95


def test_apply_clear_is_identity_and_opaque_brightens():
    acq, _, cont, rng = _setup()
    bands = np.arange(13)
    refl = rng.uniform(0.02, 0.1, size=cont["state"].shape + (13,))
    clear = {k: np.zeros_like(v) for k, v in cont.items()}
    np.testing.assert_array_equal(clouds.apply(refl, clear, bands), refl)
    out = clouds.apply(refl, cont, bands)
    opaque = cont["state"] == clouds.OPAQUE
    assert opaque.any()
    assert np.all(out[opaque][:, 1] > refl[opaque][:, 1])      # bright clouds over a dark surface
    shadow = cont["state"] == clouds.SHADOW
    assert np.all(out[shadow] < refl[shadow])


def test_qa60_codes_and_cld_ranges():
    _, _, cont, rng = _setup()
    state = cont["state"]
    qa = clouds.qa60(state)
    assert set(np.unique(qa)) <= {0.0, 1024.0, 2048.0}
    np.testing.assert_array_equal(qa == 1024.0, state == clouds.OPAQUE)
    np.testing.assert_array_equal(qa == 2048.0, state == clouds.CIRRUS)
    assert np.all(qa[(state == clouds.SHADOW) | (state == clouds.HAZE)] == 0)
    p = clouds.cld(cont, rng)
    assert p.min() >= 0 and p.max() <= 100
    np.testing.assert_array_equal(p, np.round(p))
    assert p[state == clouds.OPAQUE].mean() > 60 > p[state == clouds.CLEAR].mean()
