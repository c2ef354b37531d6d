"""Importing parcel tables (long and wide form, CSV and Parquet) into the BreizhCrops layout."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from cropviz.data import open_breizhcrops
from cropviz.data.bands import band_order
from cropviz.data.importers import import_table
from cropviz.errors import ConfigurationError, DatasetError

L2A = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")


def make_long(n: int = 12, t: int = 8, seed: int = 0, bands=L2A, names=None, reflect=False,
              extra=True, cloud="prob", labels=("wheat", "corn", "meadow")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2017-01-05", periods=t, freq="20D")
    ids = np.repeat(np.arange(100, 100 + n), t)
    frame = pd.DataFrame({"parcel_id": ids, "date": np.tile(dates.strftime("%Y-%m-%d"), n)})
    frame["crop"] = np.array(labels)[np.arange(n) % len(labels)][ids - 100]
    for b in bands:
        values = rng.integers(100, 5000, len(frame)).astype(float)
        frame[(names or {}).get(b, b)] = values / 1e4 if reflect else values
    if extra:
        frame["VV"] = rng.normal(-12, 2, len(frame)).round(3)
    if cloud == "prob":
        frame["cloud_prob"] = rng.uniform(0, 1, len(frame)).round(3)
    elif cloud == "scl":
        frame["SCL"] = rng.choice([4, 5, 8, 9, 3], len(frame))
    return frame


def to_wide(long: pd.DataFrame) -> pd.DataFrame:
    values = [c for c in long.columns if c not in ("parcel_id", "date", "crop")]
    wide = long.pivot(index="parcel_id", columns="date", values=values)
    wide.columns = [f"{v}_{d.replace('-', '')}" for v, d in wide.columns]
    labels = long.groupby("parcel_id")["crop"].first()
    return wide.assign(crop=labels).reset_index()


def arrays(root, region, level):
    ds = open_breizhcrops(root, region, level=level)
    return ds, {int(i): ds._read_array(int(i), p) for i, p in zip(ds.index["id"], ds.index["path"], strict=True)}


def same_dataset(a, b, level="L2A"):
    ds_a, arr_a = arrays(*a, level)
    ds_b, arr_b = arrays(*b, level)
    assert ds_a.classes == ds_b.classes and list(ds_a.columns) == list(ds_b.columns)
    pd.testing.assert_frame_equal(ds_a.index.drop(columns="path"), ds_b.index.drop(columns="path"))
    assert arr_a.keys() == arr_b.keys()
    for k in arr_a:
        np.testing.assert_allclose(arr_a[k], arr_b[k], rtol=1e-9, equal_nan=True)


def test_long_and_wide_forms_and_csv_parquet_give_identical_datasets(tmp_path):
    long = make_long(names={"B2": "S2-L2A-B02", "B8": "B08", "B8A": "sentinel2_B8A"})
    long.to_csv(tmp_path / "long.csv", index=False)
    to_wide(long).to_parquet(tmp_path / "wide.parquet", index=False)
    a = import_table(tmp_path / "long.csv", tmp_path / "a", "r", progress=False)
    b = import_table(tmp_path / "wide.parquet", tmp_path / "b", "r", progress=False)
    assert a["form"] == "long" and b["form"] == "wide" and a["level"] == b["level"] == "L2A"
    assert a["column_names"]["S2-L2A-B02"] == "B2" and a["extra"] == ["VV"] and a["cloud"] == "probability"
    same_dataset((tmp_path / "a", "r"), (tmp_path / "b", "r"))
    ds = open_breizhcrops(tmp_path / "a", "r", level="L2A")
    p = ds.parcel(100)
    row = long.loc[(long["parcel_id"] == 100)].iloc[0]
    assert p.bands.iloc[0]["B2"] == row["S2-L2A-B02"] and p.extra.iloc[0]["VV"] == row["VV"]
    assert p.flags.iloc[0]["CLD"] == pytest.approx(row["cloud_prob"] * 100)  # 0-1 -> percent
    assert (p.cloudy == (p.flags["CLD"] > 50).to_numpy()).all()
    meta = json.loads((tmp_path / "a" / "cropviz.json").read_text())
    assert meta["simulated"] is False and meta["source"] == "imported"
    assert meta["levels"]["L2A"]["extra"] == ["VV"] and "import_table" in meta["regions"]["r"]["command"]
    assert "command" not in meta and meta["default"] == {"year": 2017, "level": "L2A", "region": "r"}
    assert meta["regions"]["r"]["source_files"] == [str(tmp_path / "long.csv")]


def test_streamed_import_equals_in_memory_and_reflectance_is_scaled(tmp_path):
    long = make_long(n=15, seed=1)
    long.to_csv(tmp_path / "t.csv", index=False)
    long.assign(**{b: long[b] / 1e4 for b in L2A}).to_parquet(tmp_path / "refl.parquet")
    s = import_table(tmp_path / "t.csv", tmp_path / "mem", "r", progress=False)
    c = import_table(tmp_path / "t.csv", tmp_path / "chunk", "r", chunksize=7, progress=False)
    r = import_table(tmp_path / "refl.parquet", tmp_path / "refl", "r", chunksize=11, progress=False)
    assert s["scale"] == "dn" and r["scale"] == "reflectance" and c["rows"] == s["rows"] == len(long)
    same_dataset((tmp_path / "mem", "r"), (tmp_path / "chunk", "r"))
    same_dataset((tmp_path / "mem", "r"), (tmp_path / "refl", "r"))


def test_reflectance_times_1000_is_refused_by_auto_and_read_with_scale_1000(tmp_path):
    long = make_long(n=6, seed=2)
    long.to_csv(tmp_path / "dn.csv", index=False)
    long.assign(**{b: (long[b] / 10).round(1) for b in L2A}).to_csv(tmp_path / "x1000.csv", index=False)
    with pytest.raises(DatasetError, match=r"x1000.csv: band values \(median \d+\) are too low .* pass --scale 1000"):
        import_table(tmp_path / "x1000.csv", tmp_path / "auto", "r", progress=False)
    summary = import_table(tmp_path / "x1000.csv", tmp_path / "milli", "r", scale="1000", progress=False)
    assert summary["scale"] == "1000"
    import_table(tmp_path / "dn.csv", tmp_path / "dn", "r", progress=False)
    same_dataset((tmp_path / "dn", "r"), (tmp_path / "milli", "r"))
    with pytest.raises(ConfigurationError, match="--scale must be .* got '-3'"):
        import_table(tmp_path / "x1000.csv", tmp_path / "neg", "r", scale="-3", progress=False)


def test_nodata_becomes_missing_observations(tmp_path):
    long = make_long(n=4, t=6)
    long.loc[0, "B4"] = 65535
    long.loc[1, "B2"] = -9999
    long.loc[2, "B12"] = np.nan
    long.loc[3, "VV"] = -9999  # extra nodata -> NaN, observation kept
    long.to_csv(tmp_path / "t.csv", index=False)
    s = import_table(tmp_path / "t.csv", tmp_path / "o", "r", progress=False)
    assert s["nodata_rows_dropped"] == 3 and s["observations"] == len(long) - 3
    ds = open_breizhcrops(tmp_path / "o", "r", level="L2A")
    assert ds.index.set_index("id").loc[100, "sequencelength"] == 3
    p = ds.parcel(100)
    assert len(p) == 3 and np.isnan(p.extra["VV"].iloc[0]) and not p.bands.isna().any().any()


def test_custom_level_unknown_clouds_unlabelled_and_training(tmp_path):
    from cropviz.models import load
    from cropviz.models.classifier import Classifier
    from cropviz.training import TrainConfig, train

    bands = ("B2", "B3", "B4", "B8", "B11")
    for region, seed in (("tr", 0), ("va", 1)):
        long = make_long(n=24, t=10, seed=seed, bands=bands, cloud=None)
        long.to_csv(tmp_path / f"{region}.csv", index=False)
        s = import_table(tmp_path / f"{region}.csv", tmp_path / "o", region, progress=False)
    assert s["level"] == "CUSTOM" and s["cloud"] == "unknown" and s["absent_bands"][0] == "B1"
    ds = open_breizhcrops(tmp_path / "o", "va", level="CUSTOM")
    assert band_order("CUSTOM", "breizhcrops") == bands and band_order("CUSTOM", "spectral") == bands
    assert ds.cloud_kind == "unknown" and not ds.parcel(100).cloudy.any()
    assert np.isnan(ds.index["cloud_share"]).all()
    config = TrainConfig(model="elects", root=str(tmp_path / "o"), train_regions=["tr"], val_region="va",
                         level="CUSTOM", epochs=1, batch_size=8, device="cpu",
                         hparams={"hidden_dims": 16, "num_layers": 1})
    path, _ = train(config, tmp_path / "m.pt", progress=False)
    predictions = Classifier.from_path(path) if hasattr(Classifier, "from_path") else None
    model = load(path, device="cpu")
    clf = predictions or Classifier(model, model.cropviz_info, "cpu")
    table = clf.predict(ds)
    assert len(table) == len(ds) and set(table["pred"]) <= set(range(len(ds.classes)))
    # a parcel without a label is kept (class id -1) in a level defined by the metadata
    long = make_long(n=3, t=4, bands=bands, cloud=None)
    long.loc[long["parcel_id"] == 101, "crop"] = np.nan
    long.to_csv(tmp_path / "u.csv", index=False)
    s = import_table(tmp_path / "u.csv", tmp_path / "o", "un", progress=False)
    ds = open_breizhcrops(tmp_path / "o", "un", level="CUSTOM")
    assert s["unlabelled"] == 1 and ds.index.set_index("id").loc[101, "classid"] == -1
    assert ds.index.set_index("id").loc[101, "classname"] == "unlabelled" and len(ds.skipped) == 0


def test_labels_classes_scl_string_ids_and_geometry(tmp_path):
    long = make_long(n=10, cloud="scl", labels=("wheat", "corn", "corn", "corn", "rye"))
    long["parcel_id"] = "P" + long["parcel_id"].astype(str)
    long.to_csv(tmp_path / "t.csv", index=False)
    polygons = gpd.GeoDataFrame({"parcel_id": [f"P{i}" for i in range(100, 109)]},
                                geometry=[box(i, 0, i + 0.5, 0.5) for i in range(9)], crs="EPSG:2154")
    polygons.to_file(tmp_path / "p.gpkg")
    s = import_table(tmp_path / "t.csv", tmp_path / "o", "r", min_class_size=3, geometry=tmp_path / "p.gpkg",
                     progress=False)
    assert s["cloud"] == "scl" and s["ids"] == "mapped" and s["missing_geometry"] == 1
    ds = open_breizhcrops(tmp_path / "o", "r", level="L2A")
    assert ds.classes == ["corn", "other"]  # rye and wheat have 2 parcels each
    p = ds.parcel(1)
    assert (p.cloudy == np.isin(p.flags["CLD"], (3, 8, 9, 10))).all()
    ids = pd.read_csv(tmp_path / "o" / "2017" / "r_ids.csv")
    assert ids.loc[0, "source_id"] == "P100" and ids.loc[0, "id"] == 1
    gdf = ds.geodataframe()
    assert ds.missing_geometry == 1 and gdf.crs.to_epsg() == 2154
    # lon/lat points
    pts = make_long(n=3, t=3).assign(lon=lambda d: -3 + d["parcel_id"] / 1000, lat=48.0)
    pts.to_csv(tmp_path / "pts.csv", index=False)
    with pytest.raises(ConfigurationError, match="level 'L2A' already holds other columns"):
        import_table(tmp_path / "pts.csv", tmp_path / "o", "pts", progress=False)  # cloud: scl vs probability
    s = import_table(tmp_path / "pts.csv", tmp_path / "o2", "pts", progress=False)
    gdf = open_breizhcrops(tmp_path / "o2", "pts", level="L2A").geodataframe()
    assert s["geometry"] == "points" and gdf.geom_type.eq("Point").all() and gdf.crs.to_epsg() == 4326


@pytest.mark.parametrize("case,match", [
    ("no_id", r"t\.csv: no id column"),
    ("bad_dates", r"t\.csv: 2 rows have dates that do not parse in column 'date' \(first: row 2"),
    ("duplicates", r"t\.csv: 1 duplicate \(id, date\) rows, e\.g\. id 100 date 2017-01-05"),
    ("unknown_band", r"t\.csv: 1 columns look like bands but are not Sentinel-2 bands: B13"),
    ("mixed_units", r"t\.csv: mixed units: rows 11-20 look like reflectance"),
    ("no_bands", r"t\.csv: no Sentinel-2 band columns"),
    ("two_labels", r"t\.csv: 1 parcels have several labels"),
])
def test_bad_input_one_line_errors(tmp_path, case, match):
    long = make_long(n=5, t=4)
    if case == "no_id":
        long = long.rename(columns={"parcel_id": "field"})
    elif case == "bad_dates":
        long.loc[[1, 3], "date"] = "not a date"
    elif case == "duplicates":
        long = pd.concat([long, long.iloc[[0]]])
    elif case == "unknown_band":
        long["B13"] = 1.0
    elif case == "mixed_units":
        long.loc[10:, list(L2A)] = long.loc[10:, list(L2A)] / 1e4
    elif case == "no_bands":
        long = long[["parcel_id", "date", "crop", "VV"]]
    elif case == "two_labels":
        long.loc[1, "crop"] = "rye"
    long.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DatasetError, match=match) as info:
        import_table(tmp_path / "t.csv", tmp_path / "o", "r", chunksize=10, progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "o").exists() and [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_existing_region_needs_overwrite_and_foreign_roots_are_refused(tmp_path):
    make_long(n=3, t=3).to_csv(tmp_path / "t.csv", index=False)
    import_table(tmp_path / "t.csv", tmp_path / "o", "r", progress=False)
    with pytest.raises(DatasetError, match="region 'r' already exists; pass overwrite=True"):
        import_table(tmp_path / "t.csv", tmp_path / "o", "r", progress=False)
    s = import_table(tmp_path / "t.csv", tmp_path / "o", "r", overwrite=True, progress=False)
    assert s["parcels"] == 3
    (tmp_path / "bc").mkdir()
    (tmp_path / "bc" / "classmapping.csv").write_text(",id,classname,code\n")
    with pytest.raises(DatasetError, match="import did not write"):
        import_table(tmp_path / "t.csv", tmp_path / "bc", "r", progress=False)
    with pytest.raises(ConfigurationError, match="scale must be"):
        import_table(tmp_path / "t.csv", tmp_path / "x", "r", scale="bogus", progress=False)


def test_date_major_wide_blocks_with_a_date_list_and_a_classmapping_file(tmp_path):
    long = make_long(n=6, t=3, extra=False, cloud=None)
    long.to_csv(tmp_path / "long.csv", index=False)
    dates = sorted(long["date"].unique())
    wide = long.pivot(index="parcel_id", columns="date", values=list(L2A))
    wide.columns = [f"t{dates.index(d)}_{b}" for b, d in wide.columns]
    wide = wide.assign(crop=long.groupby("parcel_id")["crop"].first()).reset_index()
    wide.to_csv(tmp_path / "wide.csv", index=False)
    (tmp_path / "map.csv").write_text("code,classname\nwheat,cereal\ncorn,maize\n")
    a = import_table(tmp_path / "long.csv", tmp_path / "a", "r", classmapping=tmp_path / "map.csv", progress=False)
    import_table(tmp_path / "wide.csv", tmp_path / "b", "r", wide_pattern="t{index}_{band}", dates=dates,
                 classmapping=tmp_path / "map.csv", progress=False)
    assert a["labels_not_in_classmapping"] == 1 and a["cloud"] == "unknown"
    same_dataset((tmp_path / "a", "r"), (tmp_path / "b", "r"))
    ds = open_breizhcrops(tmp_path / "a", "r", level="L2A")
    assert ds.classes == ["cereal", "maize"] and len(ds.skipped) == 2  # the two 'meadow' parcels
    assert set(ds.skipped["reason"]) == {"code meadow not in classmapping"}


def monthly_table(n: int = 6, t: int = 5, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A wide monthly-composite table (columns like OPTICAL-B02-ts3-10m, each row its own season)
    and the same data in long form."""
    rng = np.random.default_rng(seed)
    starts = pd.to_datetime(["2017-03-01", "2017-10-01", "2018-01-01"])[np.arange(n) % 3]
    wide = pd.DataFrame({"parcel_id": np.arange(1, n + 1), "season_start": starts.strftime("%Y-%m-%d"),
                         "crop": np.array(["wheat", "corn"])[np.arange(n) % 2]})
    long_rows = []
    values = {}
    for b in L2A:
        res = "10m" if b in ("B2", "B3", "B4", "B8") else "20m"
        name = b if len(b) == 3 else b.replace("B", "B0")
        for k in range(t):
            v = rng.integers(100, 5000, n).astype(float)
            values[(b, k)] = v
            wide[f"OPTICAL-{name}-ts{k}-{res}"] = v
    for i in range(n):
        for k in range(t):
            row = {"parcel_id": i + 1, "date": starts[i] + pd.DateOffset(months=k), "crop": wide.loc[i, "crop"]}
            row.update({b: values[(b, k)][i] for b in L2A})
            long_rows.append(row)
    return wide, pd.DataFrame(long_rows)


def test_per_row_calendars_with_star_tokens_equal_the_long_table(tmp_path):
    wide, long = monthly_table()
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long.to_csv(tmp_path / "long.csv", index=False)
    import_table(tmp_path / "long.csv", tmp_path / "a", "r", progress=False)
    b = import_table(tmp_path / "wide.csv", tmp_path / "b", "r", wide_pattern="OPTICAL-{band}-ts{index}-{*}",
                     start_date_col="season_start", step="1MS", progress=False)
    assert b["level"] == "L2A" and b["calendar"] == {"start_date_column": "season_start", "step": "1MS"}
    same_dataset((tmp_path / "a", "r"), (tmp_path / "b", "r"))
    p = open_breizhcrops(tmp_path / "b", "r", level="L2A").parcel(2)
    assert [str(d)[:10] for d in p.dates] == ["2017-10-01", "2017-11-01", "2017-12-01", "2018-01-01", "2018-02-01"]


def test_a_pattern_that_leaves_bands_out_fails_unless_bands_says_which(tmp_path):
    wide, _ = monthly_table()
    wide.to_csv(tmp_path / "wide.csv", index=False)
    with pytest.raises(DatasetError, match=r"wide\.csv: --wide-pattern 'OPTICAL-\{band\}-ts\{index\}-10m' leaves "
                                           r"out 30 band-like columns \(OPTICAL-B05-ts0-20m, .*--bands") as info:
        import_table(tmp_path / "wide.csv", tmp_path / "o", "r", wide_pattern="OPTICAL-{band}-ts{index}-10m",
                     start_date_col="season_start", step="1MS", progress=False)
    assert "\n" not in str(info.value)
    s = import_table(tmp_path / "wide.csv", tmp_path / "o", "r", wide_pattern="OPTICAL-{band}-ts{index}-10m",
                     start_date_col="season_start", step="1MS", bands=["B2", "B3", "B4", "B8"], progress=False)
    assert s["bands"] == ["B2", "B3", "B4", "B8"] and s["level"] == "CUSTOM"
    s = import_table(tmp_path / "wide.csv", tmp_path / "o2", "r", wide_pattern="OPTICAL-{band}-ts{index}-{*}",
                     start_date_col="season_start", step="1MS", bands=["B4", "B8"], progress=False)
    assert s["bands"] == ["B4", "B8"] and "OPTICAL-B02-ts0-10m" in s["ignored_columns"]
    with pytest.raises(ConfigurationError, match=r"--step 'monthly' is not a pandas offset"):
        import_table(tmp_path / "wide.csv", tmp_path / "x", "r", wide_pattern="OPTICAL-{band}-ts{index}-{*}",
                     start_date_col="season_start", step="monthly", progress=False)


def test_positional_patterns_without_band_need_bands_and_never_traceback(tmp_path):
    long = make_long(n=5, t=4, extra=False, cloud=None)
    long.to_csv(tmp_path / "long.csv", index=False)
    dates = sorted(long["date"].unique())
    cube = long.sort_values(["parcel_id", "date"])[list(L2A)].to_numpy().reshape(5, 4 * len(L2A))  # time-major
    flat = pd.DataFrame(cube, columns=[f"x{k}" for k in range(cube.shape[1])])
    flat = flat.assign(parcel_id=np.arange(100, 105), crop=long.groupby("parcel_id")["crop"].first().to_numpy())
    flat.to_csv(tmp_path / "flat.csv", index=False)
    with pytest.raises(ConfigurationError, match=r"--wide-pattern 'x\{index\}' has no \{band\}: .*--bands"):
        import_table(tmp_path / "flat.csv", tmp_path / "o", "r", wide_pattern="x{index}", dates=dates, progress=False)
    import_table(tmp_path / "long.csv", tmp_path / "a", "r", progress=False)
    import_table(tmp_path / "flat.csv", tmp_path / "b", "r", wide_pattern="x{index}", dates=dates, bands=L2A,
                 progress=False)
    same_dataset((tmp_path / "a", "r"), (tmp_path / "b", "r"))


def test_positional_names_numbered_from_one_keep_each_band_in_place(tmp_path):
    long = make_long(n=5, t=4, extra=False, cloud=None)
    long.to_csv(tmp_path / "long.csv", index=False)
    dates = sorted(long["date"].unique())
    cube = long.sort_values(["parcel_id", "date"])[list(L2A)].to_numpy().reshape(5, 4 * len(L2A))
    flat = pd.DataFrame(cube, columns=[f"x{k + 1}" for k in range(cube.shape[1])])  # x1 = B2 of date 1
    flat = flat.assign(parcel_id=np.arange(100, 105), crop=long.groupby("parcel_id")["crop"].first().to_numpy(),
                       start=dates[0])
    flat.to_csv(tmp_path / "flat.csv", index=False)
    import_table(tmp_path / "long.csv", tmp_path / "a", "r", progress=False)
    import_table(tmp_path / "flat.csv", tmp_path / "b", "r", wide_pattern="x{index}", dates=dates, bands=L2A,
                 progress=False)
    same_dataset((tmp_path / "a", "r"), (tmp_path / "b", "r"))
    s = import_table(tmp_path / "flat.csv", tmp_path / "c", "r", wide_pattern="x{index}", bands=L2A,
                     start_date_col="start", step="20D", progress=False)
    assert s["parcels"] == 5 and s["observations"] == 20
    same_dataset((tmp_path / "a", "r"), (tmp_path / "c", "r"))


def test_pixel_tables_get_row_ids_and_keep_their_polygon_as_group(tmp_path):
    long = make_long(n=8, t=3, extra=False, cloud=None)
    wide = to_wide(long).drop(columns="parcel_id")
    wide.insert(0, "polygon", ["F1", "F1", "F1", "F2", "F2", "F3", "F3", "F3"])  # 3 polygons, 8 pixels
    wide.to_csv(tmp_path / "pixels.csv", index=False)
    with pytest.raises(DatasetError, match=r"pixels\.csv: no id column .*name it with --id-col"):
        import_table(tmp_path / "pixels.csv", tmp_path / "o", "r", progress=False)
    s = import_table(tmp_path / "pixels.csv", tmp_path / "o", "r", row_id=True, group_col="polygon", progress=False)
    assert s["parcels"] == 8 and s["row_ids"] and s["group_column"] == "polygon"
    index = pd.read_csv(tmp_path / "o" / "2017" / "L2A" / "r.csv")
    assert list(index["id"]) == list(range(1, 9)) and list(index["group"]) == list(wide["polygon"])
    ds = open_breizhcrops(tmp_path / "o", "r", level="L2A")
    assert ds.parcel(4).bands.iloc[0]["B2"] == wide.loc[3, f"B2_{long['date'].iloc[0].replace('-', '')}"]
    # the same pixels as a long table with the polygon as id: duplicates name the pixel-table options
    pix = long.assign(parcel_id=np.repeat(wide["polygon"].to_numpy(), 3)).drop(columns="crop")
    pix.to_csv(tmp_path / "pix_long.csv", index=False)
    with pytest.raises(DatasetError, match=r"duplicate \(id, date\) rows, e\.g\. id F1 .*--row-id with --group-col"):
        import_table(tmp_path / "pix_long.csv", tmp_path / "p", "r", id_col="parcel_id", progress=False)


def test_string_ids_are_kept_in_the_index_as_source_id(tmp_path):
    long = make_long(n=4, t=3)
    long["parcel_id"] = "FR-" + long["parcel_id"].astype(str)
    long.to_csv(tmp_path / "t.csv", index=False)
    import_table(tmp_path / "t.csv", tmp_path / "o", "r", progress=False)
    index = pd.read_csv(tmp_path / "o" / "2017" / "L2A" / "r.csv")
    assert list(index["source_id"]) == ["FR-100", "FR-101", "FR-102", "FR-103"] and list(index["id"]) == [1, 2, 3, 4]
    assert len(open_breizhcrops(tmp_path / "o", "r", level="L2A")) == 4


def test_cli_import_table_with_a_per_row_calendar_and_one_line_errors(tmp_path):
    from typer.testing import CliRunner

    from cropviz.cli import app

    wide, _ = monthly_table()
    wide.to_csv(tmp_path / "wide.csv", index=False)
    base = ["import", "table", str(tmp_path / "wide.csv"), "--root", str(tmp_path / "o"), "--region", "r"]
    result = CliRunner().invoke(app, [*base, "--wide-pattern", "OPTICAL-{band}-ts{index}"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "leaves out 50 band-like columns" in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(app, [*base, "--wide-pattern", "OPTICAL-{band}-ts{index}-{*}", "--start-date-col",
                                      "season_start", "--step", "1MS", "--bands", "B2,B3,B4,B8"])
    assert result.exit_code == 0, result.output
    assert '"bands": [\n    "B2",' in result.output and open_breizhcrops(tmp_path / "o", "r").level == "CUSTOM"
    result = CliRunner().invoke(app, [*base, "--overwrite", "--wide-pattern", "ts{index}"])
    assert result.exit_code == 2 and "has no {band}: name the band of each position with --bands" in result.output
