"""The demo's landscape (cropviz.data.simulate.landscape): a contiguous patchwork of RPG-like fields."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree

from cropviz.data.simulate.landscape import make_landscape
from cropviz.data.simulate.parcels import REGION_BOXES, make_region
from cropviz.errors import ConfigurationError

N = 300


@pytest.fixture(scope="module")
def land():
    return make_landscape(np.random.default_rng(3), N, REGION_BOXES["frh04"])


def test_fields_tile_farmland_over_the_hull(land):
    fields = land.fields
    assert len(fields) == N and shapely.is_valid(fields).all()
    area = shapely.area(fields)
    union = shapely.union_all(fields)
    assert abs(area.sum() - union.area) < 1.0                       # no two fields overlap
    hull = shapely.convex_hull(union)
    assert 0.5 < area.sum() / hull.area < 0.85                      # a patchwork, not specks
    # Gaps: no field on a road, in a wood or a village; hedges keep neighbours apart.
    for gap in (land.roads, land.woods, land.villages):
        assert shapely.area(shapely.intersection(fields, gap)).sum() < 1.0
    tree = shapely.STRtree(fields)
    left, right = tree.query(fields, predicate="dwithin", distance=2 * 2.9)
    assert len(left) == N                                           # only self within a hedge's width


def test_the_window_s_other_fields_surround_the_kept_ones_without_overlap(land):
    assert len(land.unlisted) > 0 and shapely.is_valid(land.unlisted).all()
    kept = shapely.union_all(land.fields)
    assert shapely.area(shapely.intersection(land.unlisted, kept)).sum() < 1.0
    assert shapely.within(land.unlisted, land.window).all()
    # farther from the patchwork's centre than its fields, on the whole
    centre = shapely.centroid(kept)
    assert np.median(shapely.distance(land.unlisted, centre)) > np.median(shapely.distance(land.fields, centre))


def test_field_sizes_and_shapes_like_the_rpg(land):
    ha = shapely.area(land.fields) / 1e4
    assert 1.5 < np.median(ha) < 4.0 and ha.min() >= 0.4 and ha.max() <= 14
    assert np.mean((ha >= 1) & (ha <= 10)) > 0.7
    rect = shapely.get_coordinates(shapely.minimum_rotated_rectangle(land.fields)).reshape(N, 5, 2)
    sides = np.hypot(*np.diff(rect[:, :3], axis=1).transpose(2, 0, 1))
    aspect = sides.max(axis=1) / sides.min(axis=1)
    assert np.median(aspect) > 1.4                                  # elongated
    fill = shapely.area(land.fields) / shapely.area(shapely.minimum_rotated_rectangle(land.fields))
    assert np.mean(fill < 0.97) > 0.5                               # mostly not rectangles


def test_farms_are_clusters_of_neighbours(land):
    xy = shapely.get_coordinates(shapely.centroid(land.fields))
    _, nearest = cKDTree(xy).query(xy, k=2)
    same = np.mean(land.farm[nearest[:, 1]] == land.farm)
    chance = np.sum(np.bincount(land.farm) ** 2) / N**2
    assert land.farm.max() + 1 == round(N / 14) and same > 0.6 > 5 * chance


def test_deterministic_for_seed(land):
    again = make_landscape(np.random.default_rng(3), N, REGION_BOXES["frh04"])
    assert all(a.equals(b) for a, b in zip(land.fields, again.fields, strict=True))
    other = make_landscape(np.random.default_rng(4), N, REGION_BOXES["frh04"])
    assert not land.fields[0].equals(other.fields[0])


def test_many_fields_in_a_small_box_shrink_to_fit():
    box = (0.0, 0.0, 3_000.0, 3_000.0)   # room for about 150 RPG-sized fields
    land = make_landscape(np.random.default_rng(0), 400, box)
    assert len(land.fields) == 400
    assert shapely.within(land.fields, shapely.box(*box)).all()
    assert np.median(shapely.area(land.fields)) < 1.5e4
    with pytest.raises(ConfigurationError):
        make_landscape(np.random.default_rng(0), 0, box)


def test_neighbouring_fields_share_their_farm_s_crops():
    region = make_region("frh01", 600, np.random.default_rng(0), id_offset=0)
    xy = region.centroid
    _, nearest = cKDTree(xy).query(xy, k=2)
    same_class = np.mean(region.classid[nearest[:, 1]] == region.classid)
    shares = np.bincount(region.classid) / len(region.classid)
    assert same_class > np.sum(shares**2) + 0.05                   # rotations cluster in space (chance: +0)
