"""What the parcel dossier shows besides the diagnosis row: curves and decisive observations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cropviz.data.series import parcel_series
from cropviz.types import IntArray

#: A parcel's curve: (id, class name, dates, values, cloudy mask).
Curve = tuple[int, str, np.ndarray, np.ndarray, np.ndarray]


def parcel_curves(ds: Any, ids: IntArray, name: str = "NDVI") -> list[Curve]:
    """Band or index ``name`` of parcels ``ids`` over their whole series, with cloud flags."""
    curves = []
    for parcel_id in ids:
        parcel = ds.parcel(int(parcel_id))
        values = parcel_series(parcel, [name])[name].to_numpy(dtype=float)
        curves.append((int(parcel.id), str(parcel.classname), np.asarray(parcel.dates), values,
                       np.asarray(parcel.cloudy, dtype=bool)))
    return curves


def decisive_observations(per_observation: np.ndarray, dates: np.ndarray, cloudy: np.ndarray | None,
                          top: int = 5) -> pd.DataFrame:
    """The ``top`` model inputs of largest |attribution|: observation (1 = the first input), date,
    attribution, share of |attribution|, cloud flag; largest first."""
    values = np.asarray(per_observation, dtype=float)
    magnitude = np.abs(values)
    order = np.argsort(-magnitude, kind="stable")[:top]
    flags = np.zeros(len(values), bool) if cloudy is None else np.asarray(cloudy, dtype=bool)
    total = magnitude.sum()
    return pd.DataFrame({"observation": order + 1, "date": pd.to_datetime(np.asarray(dates)[order]),
                         "attribution": values[order],
                         "share_of_total": magnitude[order] / total if total > 0 else 0.0,
                         "cloud_flagged": flags[order]})


def neighbour_table(diagnosis: pd.DataFrame, parcel_id: int) -> pd.DataFrame:
    """The parcel's nearest neighbours (embedding space) with their labels, predictions and verdicts."""
    rows = diagnosis.set_index("id")
    ids = [int(i) for i in rows.at[int(parcel_id), "neighbours"]]
    neighbours = rows.loc[ids, ["true_class", "pred_class", "confidence", "verdict"]].reset_index()
    neighbours.insert(0, "rank", np.arange(1, len(ids) + 1))
    return neighbours
