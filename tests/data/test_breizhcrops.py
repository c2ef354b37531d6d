"""Tests of the BreizhCrops-layout reader on tiny generated folders."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pandas as pd
import pytest

from cropviz.data import BreizhCropsDataset, list_regions, open_breizhcrops
from cropviz.data.breizhcrops import parcel_seed, summarize
from cropviz.errors import DatasetError, UnknownParcelError
from tests.data.layout_fixtures import make_series, truncate, write_layout, write_patches


def _parcels(level: str = "L1C"):
    return [
        (11, "BTH", make_series(level, 50, seed=1, cloudy=[0, 1], shuffle=True)),  # wheat
        (12, "MIE", make_series(level, 45, seed=2)),                               # corn
        (13, "ORH", make_series(level, 30, seed=3, cloudy=[5])),                   # barley
        (14, "XYZ", make_series(level, 20, seed=4)),                               # unknown code
        (15, "PPH", np.zeros((0, len(make_series(level, 1)[0])))),                 # zero length
        (16, "PRL", make_series(level, 12, seed=6)),                               # missing in h5
    ]


@pytest.fixture()
def l1c_root(tmp_path):
    return write_layout(tmp_path / "bc", _parcels("L1C"), missing_in_h5=[16], missing_geometry=[13])


@pytest.mark.parametrize("form", ["pristine", "rewritten"])
def test_index_both_forms(tmp_path, form):
    root = write_layout(tmp_path / "bc", _parcels(), index_form=form, missing_in_h5=[16])
    ds = open_breizhcrops(root, "frh04", year=2017, level="L1C")
    assert len(ds) == 3
    assert list(ds.index["id"]) == [11, 12, 13]
    assert list(ds.index["code"]) == ["BTH", "MIE", "ORH"]
    assert list(ds.index["classid"]) == [1, 3, 0]
    assert list(ds.index["classname"]) == ["wheat", "corn", "barley"]
    assert list(ds.index["sequencelength"]) == [50, 45, 30]
    assert ds.index["id"].dtype == np.int64
    # meanQA60 = 2 * 1024 / 50 -> 2 of 50 dates opaque
    assert ds.index["cloud_share"].tolist() == pytest.approx([0.04, 0.0, 1 / 30])
    assert ds.classes[:4] == ["barley", "wheat", "rapeseed", "corn"]
    assert len(ds.classes) == 9
    reasons = dict(zip(ds.skipped["id"], ds.skipped["reason"], strict=True))
    assert reasons == {14: "code XYZ not in classmapping", 15: "zero-length sequence",
                       16: "missing in h5"}
    assert ds.metadata["simulated"] is False
    assert ds.codes is not None and "Code Culture" in ds.codes.columns


def test_classmapping_columns_read_by_name(tmp_path):
    root = write_layout(tmp_path / "bc", _parcels(), classmapping_columns=["code", "classname", "id"],
                        missing_in_h5=[16])
    ds = open_breizhcrops(root, "frh04")
    assert ds.classes[-1] == "temporary meadows"
    assert list(ds.index["classid"]) == [1, 3, 0]


def test_parcel_sorted_bands_flags_and_clouds(l1c_root):
    ds = open_breizhcrops(l1c_root, "frh04")
    p = ds.parcel(11)
    assert p.dates.dtype == np.dtype("datetime64[ns]")
    assert len(p) == 50
    assert np.all(np.diff(p.dates.astype(np.int64)) > 0)
    assert p.dates[0] == np.datetime64("2017-01-03")
    assert p.dates[-1] == np.datetime64("2017-01-03") + np.timedelta64(49 * 5, "D")
    assert list(p.bands.columns) == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                                     "B10", "B11", "B12"]
    assert list(p.flags.columns) == ["QA10", "QA20", "QA60"]
    assert p.bands["B1"].iloc[3] == 1003.0 and p.bands["B12"].iloc[0] == 2200.0
    assert p.cloudy[:3].tolist() == [True, True, False] and p.cloudy.sum() == 2
    assert (p.classid, p.classname, p.code, p.label) == (1, "wheat", "BTH", 1)
    refl = p.reflectance()
    assert refl.dtype == np.float32 and refl.shape == (50, 13)
    # breizhcrops order: B1 B10 B11 B12 B2 ...
    assert refl[0, :5].tolist() == pytest.approx([0.1, 0.2, 0.21, 0.22, 0.11])
    assert p.reflectance("spectral")[0, 1] == pytest.approx(0.11)


def test_qa60_bits_opaque_and_cirrus(tmp_path):
    arr = make_series("L1C", 4)
    arr[:, 15] = [1024, 2048, 512, 1024 + 2048]
    root = write_layout(tmp_path / "bc", [(1, "BTH", arr)])
    assert open_breizhcrops(root, "frh04").parcel(1).cloudy.tolist() == [True, True, False, True]


def test_l2a_level(tmp_path):
    root = write_layout(tmp_path / "bc", _parcels("L2A"), level="L2A", index_form="rewritten")
    ds = open_breizhcrops(root, "frh04", level="L2A")
    p = ds.parcel(13)
    assert list(p.bands.columns) == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
    assert list(p.flags.columns) == ["CLD", "EDG", "SAT"]
    assert p.cloudy.sum() == 1 and p.cloudy[5]
    # CLD 90 on 1 of 30 dates, 10 elsewhere: mean 12.67 % -> approximate share from the index
    assert ds.index.set_index("id").loc[13, "cloud_share"] == pytest.approx((90 + 29 * 10) / 30 / 100)
    x = ds.model_input([13, 12])
    assert x.shape == (2, 45, 10) and x.dtype == np.float32
    assert x[1, 0, 0] == pytest.approx(0.11)  # B2 at the first date of parcel 12


def _reference_transform(level):
    from breizhcrops.datasets import breizhcrops as reference  # the test-time reference package

    return reference.get_default_transform(level)


@pytest.mark.parametrize("n_dates", [45, 30, 60])
def test_model_input_matches_breizhcrops_transform(tmp_path, n_dates):
    arr = make_series("L1C", n_dates, seed=7)
    root = write_layout(tmp_path / "bc", [(101, "BTH", arr)])
    ds = open_breizhcrops(root, "frh04")
    ours = ds.model_input([101], seed=3)[0]
    np.random.seed(parcel_seed(3, 101))  # the reference draws from numpy's global RandomState
    theirs = _reference_transform("L1C")(arr).numpy()
    assert ours.shape == theirs.shape == (45, 13)
    np.testing.assert_array_equal(ours, theirs)


def test_model_input_deterministic_and_full_length(l1c_root):
    ds = open_breizhcrops(l1c_root, "frh04")
    a = ds.model_input([11, 13], seed=0)
    b = ds.model_input([13, 11], seed=0)
    np.testing.assert_array_equal(a[0], b[1])
    assert not np.array_equal(a[0], ds.model_input([11], seed=1)[0])
    # T == 45: every observation once, in time order
    np.testing.assert_array_equal(ds.model_input([12])[0], ds.parcel(12).reflectance())
    assert [p.id for p in ds.parcels([13, 11])] == [13, 11] and len(list(ds.parcels())) == 3
    full = ds.model_input([11, 13], sequence_length=None)
    assert [x.shape for x in full] == [(50, 13), (30, 13)]
    assert ds.model_input().shape == (3, 45, 13)
    with pytest.raises(UnknownParcelError, match="frh04.csv: parcels not in the index: 14, 99"):
        ds.model_input([11, 14, 99])
    with pytest.raises(UnknownParcelError,
                       match=r"frh04.csv: parcel 14 is not in the index \(skipped: code XYZ not in classmapping\)"):
        ds.parcel(14)


def test_nan_rows_dropped_and_all_nan_parcel(tmp_path):
    some = make_series("L1C", 10)
    some[[2, 7], 4] = np.nan
    allnan = np.full((6, 17), np.nan)
    root = write_layout(tmp_path / "bc", [(1, "BTH", some), (2, "MIE", allnan), (3, "ORH", make_series("L1C", 5))],
                        sequencelength={2: 6})
    ds = open_breizhcrops(root, "frh04")
    assert len(ds) == 3  # lazily: all-NaN only found on read
    assert len(ds.parcel(1)) == 8 and ds.nan_rows == {1: 2}
    with pytest.raises(DatasetError, match=r"frh04\.h5: parcel 2: no valid observations"):
        ds.parcel(2)
    ds.validate()
    assert list(ds.index["id"]) == [1, 3]
    assert ds.skipped.iloc[-1].tolist() == [2, "all rows NaN"]
    assert ds.index["sequencelength"].tolist() == [8, 5]
    pre = open_breizhcrops(root, "frh04", preload=True)
    assert list(pre.index["id"]) == [1, 3] and summarize(pre)["skipped"] == {"all rows NaN": 1}


def test_wrong_column_count(tmp_path):
    root = write_layout(tmp_path / "bc", [(1, "BTH", make_series("L2A", 5))])  # 14 cols as L1C
    ds = open_breizhcrops(root, "frh04", level="L1C")
    with pytest.raises(DatasetError, match=r"frh04\.h5: parcel 1: expected 17 columns for L1C, got 14"):
        ds.parcel(1)


def test_truncated_h5(l1c_root):
    truncate(l1c_root / "2017" / "L1C" / "frh04.h5", keep=0.3)
    with pytest.raises(DatasetError, match=r"frh04\.h5: not a readable HDF5 file \(truncated or corrupt\?\)"):
        open_breizhcrops(l1c_root, "frh04")


def test_missing_folders_and_files_list_regions(l1c_root, tmp_path):
    with pytest.raises(DatasetError, match="dataset folder does not exist"):
        open_breizhcrops(tmp_path / "nope", "frh04")
    with pytest.raises(DatasetError, match=r"2018: folder does not exist; regions on disk: 2017/L1C/frh04"):
        open_breizhcrops(l1c_root, "frh04", year=2018)
    with pytest.raises(DatasetError, match=r"L2A: folder does not exist; regions on disk: 2017/L1C/frh04"):
        open_breizhcrops(l1c_root, "frh04", level="L2A")
    with pytest.raises(DatasetError, match=r"frh01\.csv: file does not exist; regions on disk: 2017/L1C/frh04"):
        open_breizhcrops(l1c_root, "frh01")
    (l1c_root / "classmapping.csv").unlink()
    with pytest.raises(DatasetError, match=r"classmapping\.csv: file does not exist"):
        open_breizhcrops(l1c_root, "frh04")


def test_index_missing_columns(l1c_root):
    index = l1c_root / "2017" / "L1C" / "frh04.csv"
    pd.read_csv(index).drop(columns=["path", "sequencelength"]).to_csv(index, index=False)
    with pytest.raises(DatasetError, match=r"frh04\.csv: index lacks required columns path, sequencelength"):
        open_breizhcrops(l1c_root, "frh04")


def test_arbitrary_region_and_year_names(tmp_path):
    root = tmp_path / "bc"
    write_layout(root, _parcels()[:2], region="belle-ile")
    write_layout(root, _parcels("L2A")[:1], region="my-farm", year="2019b", level="L2A",
                 key_pattern="csv/{region}/{id}.csv")
    assert list_regions(root) == [(2017, "L1C", "belle-ile"), ("2019b", "L2A", "my-farm")]
    ds = open_breizhcrops(root, "my-farm", year="2019b", level="L2A")
    assert len(ds) == 1 and ds.index["path"].iloc[0] == "csv/my-farm/11.csv"
    assert len(ds.parcel(11)) == 50


def test_lazy_open_pickle_and_preload(l1c_root, monkeypatch):
    def no_read(*args, **kwargs):
        raise AssertionError("array read at open")

    with monkeypatch.context() as m:
        m.setattr(BreizhCropsDataset, "_read_array", no_read)
        m.setattr(h5py.Dataset, "__getitem__", no_read)
        ds = open_breizhcrops(l1c_root, "frh04")
        assert len(ds) == 3
    first = ds.parcel(13).bands.to_numpy()
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._handle is None
    np.testing.assert_array_equal(clone.parcel(13).bands.to_numpy(), first)
    ds.close()

    pre = open_breizhcrops(l1c_root, "frh04", preload=True)
    pre.close()
    (l1c_root / "2017" / "L1C" / "frh04.h5").unlink()
    np.testing.assert_array_equal(pre.parcel(13).bands.to_numpy(), first)
    assert pre.cloud_share_source == "computed"
    assert pre.index["cloud_share"].tolist() == pytest.approx([0.04, 0.0, 1 / 30])


@pytest.mark.parametrize("fmt", ["shp", "gpkg", "parquet"])
def test_geodataframe_reports_missing_geometry(tmp_path, fmt):
    root = write_layout(tmp_path / "bc", _parcels(), geometry=fmt, missing_in_h5=[16],
                        missing_geometry=[13], id_column="ID_PARCEL" if fmt == "gpkg" else "ID")
    ds = open_breizhcrops(root, "frh04")
    gdf = ds.geodataframe()
    assert list(gdf.columns) == ["id", "code", "classid", "classname", "geometry"]
    assert gdf.crs.to_epsg() == 2154
    assert list(gdf["id"]) == [11, 12, 13]
    assert gdf.geometry.isna().tolist() == [False, False, True]
    assert gdf.attrs["missing_geometry"] == 1 and ds.missing_geometry == 1
    assert gdf.geometry.iloc[0].area == pytest.approx(10000.0)


def test_no_geometry_file(tmp_path):
    root = write_layout(tmp_path / "bc", _parcels()[:1], geometry=None)
    ds = open_breizhcrops(root, "frh04")
    assert ds.geometry_path is None
    with pytest.raises(DatasetError, match="no parcel geometry file"):
        ds.geodataframe()


def test_patches(l1c_root):
    ds = open_breizhcrops(l1c_root, "frh04")
    assert ds.patches() is None
    write_patches(l1c_root, [11, 12], n_dates=3)
    patches = ds.patches()
    assert patches.ids.tolist() == [11, 12]
    assert patches.dates[1] == np.datetime64("2017-01-13")
    cube = patches.read(12)
    assert cube.shape == (3, 10, 32, 32) and cube.dtype == np.float32
    assert cube[2, 4, 0, 0] == pytest.approx((200 + 4 + 1) * 1e-4)
    assert patches.path(11).name == "11.tif"


def test_summarize_and_metadata(l1c_root):
    (l1c_root / "cropviz.json").write_text(json.dumps({"simulated": True, "seed": 0}))
    ds = open_breizhcrops(l1c_root, "frh04")
    s = summarize(ds)
    assert s["simulated"] is True and s["parcels"] == 3
    assert s["parcels_per_class"]["wheat"] == 1 and s["parcels_per_class"]["nuts"] == 0
    assert s["sequence_length"] == {"min": 30, "median": 45.0, "mean": 125 / 3, "max": 50}
    assert s["cloud_share"] == pytest.approx((0.04 + 0 + 1 / 30) / 3)
    assert s["skipped"] == {"code XYZ not in classmapping": 1, "zero-length sequence": 1,
                            "missing in h5": 1}


def test_bad_classmapping_and_level(l1c_root):
    from cropviz.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown level 'L3'"):
        open_breizhcrops(l1c_root, "frh04", level="L3")
    mapping = l1c_root / "classmapping.csv"
    table = pd.read_csv(mapping, index_col=0)
    table.rename(columns={"classname": "name"}).to_csv(mapping)
    with pytest.raises(DatasetError, match=r"classmapping\.csv: missing columns classname"):
        open_breizhcrops(l1c_root, "frh04")
    table.assign(id=table["id"] + 1).to_csv(mapping)
    with pytest.raises(DatasetError, match=r"classmapping\.csv: class ids must be 0\.\.8, got 1, 2"):
        open_breizhcrops(l1c_root, "frh04")
    table.to_csv(mapping)
    (l1c_root / "codes.csv").unlink()
    assert open_breizhcrops(l1c_root, "frh04").codes is None
