import numpy as np
import pandas as pd
import pytest

from cropviz.data.indices import INDICES, class_envelope, compute_index
from cropviz.errors import ConfigurationError

# green leaf and bare soil reflectances of FIELD.md section 5, in DN
LEAF = {"B2": 300, "B3": 700, "B4": 300, "B5": 1000, "B6": 3000, "B7": 3800, "B8": 4000,
        "B11": 2000}
SOIL = {"B2": 800, "B3": 1100, "B4": 1400, "B5": 1700, "B6": 1900, "B7": 2100, "B8": 2300,
        "B11": 3200}


@pytest.fixture
def bands() -> pd.DataFrame:
    return pd.DataFrame([LEAF, SOIL], index=pd.to_datetime(["2017-05-01", "2017-08-01"]),
                        dtype=float)


def test_ndvi_equals_hand_computation(bands):
    ndvi = compute_index(bands, "NDVI")
    assert ndvi.name == "NDVI"
    assert ndvi.index.equals(bands.index)
    np.testing.assert_allclose(ndvi, [(4000 - 300) / 4300, (2300 - 1400) / 3700])


@pytest.mark.parametrize("name, expected", [
    ("NDWI", [(700 - 4000) / 4700, (1100 - 2300) / 3400]),
    ("NDMI", [(4000 - 2000) / 6000, (2300 - 3200) / 5500]),
    ("NDRE", [(4000 - 1000) / 5000, (2300 - 1700) / 4000]),
    ("CIre", [3800 / 1000 - 1, 2100 / 1700 - 1]),
    ("MTCI", [(3000 - 1000) / (1000 - 300), (1900 - 1700) / (1700 - 1400)]),
    ("evi", [2.5 * (0.4 - 0.03) / (0.4 + 6 * 0.03 - 7.5 * 0.03 + 1),
             2.5 * (0.23 - 0.14) / (0.23 + 6 * 0.14 - 7.5 * 0.08 + 1)]),
])
def test_indices_equal_formulas(bands, name, expected):
    np.testing.assert_allclose(compute_index(bands, name), expected)


def test_ratio_indices_are_scale_free_and_evi_uses_reflectance(bands):
    for name in INDICES:
        np.testing.assert_allclose(compute_index(bands / 1e4, name), compute_index(bands, name))


def test_division_by_zero_gives_nan():
    df = pd.DataFrame({"B4": [0.0, 0.1, np.nan], "B8": [0.0, 0.3, 0.2], "B5": [0.1, 0.1, 0.1]})
    ndvi = compute_index(df, "NDVI")
    assert np.isnan(ndvi[0]) and np.isnan(ndvi[2])
    assert ndvi[1] == pytest.approx(0.5)
    mtci = compute_index(df.assign(B6=0.2, B4=0.1), "MTCI")  # B5 - B4 == 0
    assert mtci.isna().all()
    assert not np.isinf(compute_index(df.assign(B7=0.3, B5=0.0), "CIre")).any()


def test_missing_bands_raise_configuration_error():
    l2a = pd.DataFrame({"B2": [1.0], "B4": [1.0], "B8": [2.0]})
    with pytest.raises(ConfigurationError, match="B11"):
        compute_index(l2a, "NDMI")
    with pytest.raises(ConfigurationError, match="unknown spectral index"):
        compute_index(l2a, "XYZ")


def test_index_table_names_required_bands():
    assert INDICES["NDVI"][1] == ("B8", "B4")
    assert INDICES["NDWI"][1] == ("B3", "B8")
    assert INDICES["NDMI"][1] == ("B8", "B11")
    assert set(INDICES) >= {"NDVI", "NDWI", "NDMI", "NDRE", "CIre", "MTCI"}


def test_class_envelope_matches_numpy_on_shared_grid():
    rng = np.random.default_rng(0)
    grid = pd.date_range("2017-01-01", periods=20, freq="10D")
    values = [rng.uniform(size=20) for _ in range(5)]
    env = class_envelope([grid] * 5, values, grid)
    stack = np.stack(values)
    np.testing.assert_allclose(env["mean"], stack.mean(axis=0))
    np.testing.assert_allclose(env["std"], stack.std(axis=0))
    np.testing.assert_allclose(env["q10"], np.quantile(stack, 0.1, axis=0))
    np.testing.assert_allclose(env["q90"], np.quantile(stack, 0.9, axis=0))
    assert (env["n"] == 5).all()
    assert env.index.equals(grid)


def test_class_envelope_interpolates_without_extrapolating():
    d1 = pd.to_datetime(["2017-01-01", "2017-01-11"])
    d2 = pd.to_datetime(["2017-01-11", "2017-01-01", "2017-01-21"])  # unsorted on purpose
    grid = pd.to_datetime(["2017-01-01", "2017-01-06", "2017-01-16", "2017-01-31"])
    env = class_envelope([d1, d2], [[0.0, 1.0], [2.0, 0.0, 4.0]], grid)
    # parcel 1 at Jan 6: 0.5, parcel 2: 1.0 -> mean 0.75; Jan 16 only parcel 2: 3.0
    np.testing.assert_allclose(env["mean"].iloc[:3], [0.0, 0.75, 3.0])
    np.testing.assert_allclose(env["n"], [2, 2, 1, 0])
    assert np.isnan(env["mean"].iloc[3])


def test_class_envelope_skips_nan_and_checks_lengths():
    grid = pd.date_range("2017-01-01", periods=3, freq="D")
    env = class_envelope([grid], [[1.0, np.nan, 3.0]], grid)
    np.testing.assert_allclose(env["mean"], [1.0, 2.0, 3.0])
    with pytest.raises(ConfigurationError):
        class_envelope([grid], [[1.0, 2.0]], grid)
