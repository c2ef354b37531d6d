"""Band and index series of parcels, season grids, class envelopes and region season grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.data.indices import class_envelope, compute_index
from cropviz.data.series import (
    class_envelopes,
    interpolate_to_grid,
    parcel_series,
    region_index_grid,
    region_season,
    season_grid,
    series_names,
)


def test_series_names_offer_the_indices_the_bands_allow():
    assert series_names(["B2", "B3", "B4", "B8"]) == ["NDVI", "NDWI", "EVI", "B2", "B3", "B4", "B8"]
    assert series_names(["B4"]) == ["B4"]


def test_parcel_series_gives_reflectance_and_indices(demo_root):
    ds = open_breizhcrops(demo_root, "frh04")
    parcel = ds.parcel(int(ds.index["id"].iloc[0]))
    table = parcel_series(parcel, ["B4", "NDVI"])
    np.testing.assert_allclose(table["B4"], parcel.bands["B4"].to_numpy() / 1e4)
    np.testing.assert_allclose(table["NDVI"], compute_index(parcel.bands, "NDVI").to_numpy())
    assert list(table.index) == list(pd.DatetimeIndex(parcel.dates))
    pd.testing.assert_frame_equal(parcel.series(["B4", "NDVI"]), table)
    assert ds.series_names == series_names(ds.spectral_bands) and ds.series_names[0] == "NDVI"


def test_grid_interpolation_uses_clear_observations_only():
    dates = np.array(["2017-01-01", "2017-01-11", "2017-01-21"], dtype="datetime64[ns]")
    values = np.array([[0.0], [100.0], [20.0]])
    grid = np.array(["2017-01-06", "2017-01-16"], dtype="datetime64[ns]")
    clear = interpolate_to_grid(dates, values, np.array([False, True, False]), grid)
    np.testing.assert_allclose(clear[:, 0], [5.0, 15.0])  # the cloudy 100 is skipped
    every = interpolate_to_grid(dates, values, np.array([True, True, True]), grid)  # none clear: all used
    np.testing.assert_allclose(every[:, 0], [50.0, 60.0])
    assert season_grid(2017, 7)[0] == np.datetime64("2017-01-01") and len(season_grid(2017, 7)) == 53


def test_class_envelopes_equal_the_envelope_of_the_class_parcels(demo_root):
    ds = open_breizhcrops(demo_root, "frh04")
    classname = ds.index["classname"].value_counts().index[0]
    envelope = class_envelopes(ds, "NDVI", classes=[classname], max_parcels=500)[classname]
    ids = ds.index.loc[ds.index["classname"] == classname, "id"]
    dates, values = [], []
    for parcel in ds.parcels(ids):
        keep = ~parcel.cloudy if (~parcel.cloudy).sum() >= 2 else np.ones(len(parcel.dates), bool)
        dates.append(parcel.dates[keep])
        values.append(compute_index(parcel.bands, "NDVI").to_numpy()[keep])
    pd.testing.assert_frame_equal(envelope, class_envelope(dates, values, season_grid(2017)))


def test_region_season_places_every_sampled_parcel(demo_root):
    ds = open_breizhcrops(demo_root, "frh04")
    ids, grid, values, xy = region_season(ds, "NDVI", max_parcels=15)
    again_ids, again_grid, again_values = region_index_grid(ds, "NDVI", max_parcels=15)
    np.testing.assert_array_equal(ids, again_ids)
    np.testing.assert_array_equal(values, again_values)
    assert values.shape == (15, len(grid)) and xy.shape == (15, 2)
    centroid = ds.geodataframe().set_index("id").loc[int(ids[0])].geometry.centroid
    assert xy[0] == pytest.approx([centroid.x, centroid.y])
