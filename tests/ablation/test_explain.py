"""One parcel as a shuffled model sees it."""

from __future__ import annotations

import numpy as np

from cropviz import ablation
from cropviz.models.inputs import time_permutation


def test_input_order_and_explanation_of_a_shuffled_model(demo_root, shuffled_gru):
    from cropviz.data import open_breizhcrops

    ds = open_breizhcrops(demo_root, "frh04")
    parcel = int(ds.patches().ids[0])
    dates, ndvi = ablation.input_ndvi(shuffled_gru, ds, parcel)
    all_dates = np.asarray(ds.patches().dates, "datetime64[ns]")
    np.testing.assert_array_equal(dates, all_dates[time_permutation(len(all_dates), 5, parcel)])
    assert ndvi.shape == dates.shape and np.isfinite(ndvi).all()
    attribution = ablation.explain_input(shuffled_gru, ds, parcel, "integrated_gradients", n_steps=4)
    assert attribution.per_observation.shape == (len(all_dates),)
    assert attribution.values.shape == (len(all_dates), 10 * 32 * 32)
