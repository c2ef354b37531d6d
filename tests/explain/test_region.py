"""Explanations over many parcels: cloud attention summaries and class-aggregated attributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.explain import attribute
from cropviz.explain.region import (
    class_attributions,
    cloud_attention_by_month,
    cloud_attention_summary,
    observation_attention,
)
from cropviz.models import Classifier

OBSERVATIONS = pd.DataFrame({
    "classname": ["wheat", "wheat", "wheat", "corn", "corn"],
    "cloudy": [False, True, False, False, True],
    "month": [1, 1, 2, 2, 2],
    "attention": [1.2, 0.4, 1.0, 1.5, 0.5],
})


def test_cloud_attention_per_class_and_for_all():
    table = cloud_attention_summary(OBSERVATIONS)
    assert table.loc["wheat", "clear"] == pytest.approx(1.1) and table.loc["wheat", "cloudy"] == pytest.approx(0.4)
    assert table.loc["corn", "cloudy / clear"] == pytest.approx(1 / 3)
    assert table.loc["all classes", "cloudy share"] == pytest.approx(2 / 5)
    assert table.loc["all classes", "observations"] == 5


def test_aggregated_rows_are_weighted_by_their_counts():
    aggregated = pd.DataFrame({"classname": ["wheat", "wheat"], "cloudy": [False, False], "month": [1, 2],
                               "attention": [1.0, 2.0], "n": [3, 1]})
    assert cloud_attention_summary(aggregated).loc["wheat", "clear"] == pytest.approx((3 + 2) / 4)
    by_month = cloud_attention_by_month(OBSERVATIONS)
    assert by_month.loc[2, "clear"] == pytest.approx(1.25) and by_month.loc[1, "cloudy"] == pytest.approx(0.4)
    assert by_month.loc[2, "cloudy"] == pytest.approx(0.5)


def test_region_tables_equal_per_parcel_explanations(demo_root):
    ds = open_breizhcrops(demo_root, "frh04")
    model = Classifier.open("transformer", device="cpu")
    ids = ds.index["id"].to_numpy()[:4]
    attention = observation_attention(model, ds, ids)
    assert len(attention) == 4 * 45 and attention.groupby("id")["attention"].sum().round(4).eq(45.0).all()
    table = class_attributions(model, ds, ids, method="saliency")
    prepared = model.inputs(ds, ids)
    predicted = model.log_probs(prepared.x).argmax(axis=1)
    per_parcel = [attribute(model.model, prepared.x[k], "saliency", target=int(predicted[k])).values
                  for k in range(len(ids))]
    total = sum(np.asarray(v).sum() for v in per_parcel)
    assert (table["value"] * table["n"]).sum() == pytest.approx(total, rel=1e-4)
