"""The dossier's tables: a parcel's neighbours and its decisive observations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cropviz.diagnose.dossier import decisive_observations, neighbour_table


def test_neighbours_in_embedding_order_with_their_labels():
    diagnosis = pd.DataFrame({"id": [1, 2, 3], "true_class": ["wheat", "corn", "wheat"],
                              "pred_class": ["corn", "corn", "wheat"], "confidence": [0.6, 0.9, 0.8],
                              "verdict": ["label_error", "correct", "correct"],
                              "neighbours": [[3, 2], [1, 3], [1, 2]]})
    table = neighbour_table(diagnosis, 1)
    assert table["rank"].tolist() == [1, 2] and table["id"].tolist() == [3, 2]
    assert table["true_class"].tolist() == ["wheat", "corn"] and table["verdict"].tolist() == ["correct", "correct"]


def test_decisive_observations_carry_their_cloud_flags():
    per_observation = np.array([0.1, -0.9, 0.3, 0.05])
    dates = np.array(["2017-03-01", "2017-04-01", "2017-05-01", "2017-06-01"], dtype="datetime64[ns]")
    cloudy = np.array([False, True, False, False])
    table = decisive_observations(per_observation, dates, cloudy, top=2)
    assert table["observation"].tolist() == [2, 3]
    assert table["date"].dt.strftime("%Y-%m-%d").tolist() == ["2017-04-01", "2017-05-01"]
    assert table["attribution"].tolist() == [-0.9, 0.3]
    assert table["cloud_flagged"].tolist() == [True, False]
    np.testing.assert_allclose(table["share_of_total"], [0.9 / 1.35, 0.3 / 1.35])
