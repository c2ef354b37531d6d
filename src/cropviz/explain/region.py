"""Explanations over many parcels: attention received by cloudy and clear observations, and
class-aggregated attributions by date and band."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from cropviz.explain.attention import rollout
from cropviz.explain.attribution import attribute_batch
from cropviz.types import IntArray


def observation_attention(classifier: Any, dataset: Any, ids: IntArray, batch_size: int = 128) -> pd.DataFrame:
    """One row per observation of each parcel's model input: id, classname, date, month, cloudy,
    and ``attention`` = rollout weight x T (1.0 means the observation gets an equal share)."""
    prepared = classifier.inputs(dataset, ids)
    names = dict(zip(dataset.index["id"], dataset.index["classname"], strict=False))
    rows = []
    model = classifier.model
    for start in range(0, len(prepared.ids), batch_size):
        x = torch.from_numpy(prepared.x[start:start + batch_size]).to(classifier.device)
        with torch.inference_mode():
            layers = [a.float().cpu().numpy() for a in model.attention_weights(x)]
        stacked = np.stack(layers, axis=1)  # N x L x H x T x T
        for offset, matrices in enumerate(stacked):
            row = start + offset
            weight = rollout(matrices).mean(axis=0) * matrices.shape[-1]
            rows.append(pd.DataFrame({"id": prepared.ids[row], "classname": names[int(prepared.ids[row])],
                                      "date": prepared.dates[row], "cloudy": prepared.cloudy[row],
                                      "attention": weight}))
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["id", "classname", "date", "cloudy", "attention"])
    frame["month"] = pd.to_datetime(frame["date"]).dt.month
    return frame


def _weighted_mean(frame: pd.DataFrame, value: str) -> float:
    """Mean of ``value`` over observations: rows weighted by their count ``n`` when aggregated."""
    if not len(frame):
        return float("nan")
    weights = frame["n"].to_numpy(float) if "n" in frame else np.ones(len(frame))
    return float((frame[value].to_numpy(float) * weights).sum() / weights.sum())


def cloud_attention_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per class: mean attention received by clear and by cloudy observations, their ratio, and
    the share of cloudy observations; a last row 'all classes'.

    ``frame``: one row per observation (:func:`observation_attention`), or aggregated rows with
    their observation count ``n`` (``PrecomputedResults.observation_summary``)."""
    def summarise(group: pd.DataFrame) -> pd.Series:
        counts = group["n"] if "n" in group else pd.Series(1, index=group.index)
        clear = _weighted_mean(group[~group["cloudy"]], "attention")
        cloudy = _weighted_mean(group[group["cloudy"]], "attention")
        return pd.Series({"clear": clear, "cloudy": cloudy, "cloudy / clear": cloudy / clear,
                          "cloudy share": counts[group["cloudy"]].sum() / counts.sum(),
                          "observations": int(counts.sum())})

    per_class = frame.groupby("classname").apply(summarise, include_groups=False)
    per_class.loc["all classes"] = summarise(frame)
    return per_class


def cloud_attention_by_month(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean attention received per month (rows 1-12 present in ``frame``) by clear and cloudy
    observations; ``frame`` as for :func:`cloud_attention_summary`."""
    table = {flag_name: {month: _weighted_mean(group, "attention")
                         for month, group in frame[frame["cloudy"] == flag].groupby("month")}
             for flag, flag_name in ((False, "clear"), (True, "cloudy"))}
    result = pd.DataFrame(table)
    result.index.name = "month"
    return result.sort_index()


def class_attributions(classifier: Any, dataset: Any, ids: IntArray, method: str = "saliency",
                       target: str = "predicted", period: str = "14D", **options: Any) -> pd.DataFrame:
    """Attributions of many parcels aggregated per class, date period and band.

    Targets are each parcel's predicted (or true) class. Every parcel's observations are binned
    into ``period`` bins of their real dates; returns one row per (classname, period, band) with
    the mean signed attribution ``value`` and mean absolute attribution ``magnitude``, and the
    number of observations ``n``.
    """
    prepared = classifier.inputs(dataset, ids)
    if target == "true":
        targets = prepared.labels
    else:
        targets = classifier.log_probs(prepared.x).argmax(axis=1)
    result = attribute_batch(classifier.model, prepared.x, method, targets=targets, device=classifier.device,
                             **options)
    values = np.asarray(result.values)  # N x T x D
    n, t, d = values.shape
    names = dict(zip(dataset.index["id"], dataset.index["classname"], strict=False))
    frame = pd.DataFrame({
        "classname": np.repeat([names[int(i)] for i in prepared.ids], t * d),
        "date": np.repeat(prepared.dates.reshape(-1), d),
        "band": np.tile(np.asarray(classifier.info.bands), n * t),
        "value": values.reshape(-1),
    })
    frame["magnitude"] = frame["value"].abs()
    frame["period"] = pd.to_datetime(frame["date"]).dt.floor(period)
    grouped = frame.groupby(["classname", "period", "band"]).agg(
        value=("value", "mean"), magnitude=("magnitude", "mean"), n=("value", "size"))
    return grouped.reset_index()
