"""Early classification of whole regions with an ELECTS classifier, and summaries of it.

The expensive part, one forward pass over every parcel, is :func:`region_steps`: per parcel and
step the class chosen, its probability, the stopping probability ``delta_t`` and the real date
of the observation. Everything else (stopping at a threshold, stop dates, share decided over the
season, trade-off rows) is cheap numpy on top, so a page can move a threshold slider instantly.
Steps are 0-based and deterministic stopping follows :meth:`ElectsModel.predict_early`: stop at
the first ``t`` with ``delta_t > threshold``, at ``T-1`` when there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from cropviz.data.indices import index_array
from cropviz.early.elects import early_metrics, stopping_probabilities
from cropviz.errors import ConfigurationError
from cropviz.models.inputs import ModelInput

if TYPE_CHECKING:
    from cropviz.data.breizhcrops import BreizhCropsDataset

__all__ = [
    "ParcelEarly",
    "RegionSteps",
    "animation_sample",
    "class_stop_summary",
    "decided_over_time",
    "deterministic_stop",
    "early_frame",
    "model_label",
    "parcel_early",
    "region_steps",
    "stop_date_distribution",
    "tradeoff_row",
    "tradeoff_table",
]

ProgressCallback = Callable[[int, int], None]


@dataclass
class RegionSteps:
    """Per-step outputs of an ELECTS model for N parcels and T steps (numpy arrays).

    ``ids, labels`` (N), ``dates`` (N x T datetime64[ns], the real date of each sampled
    observation), ``delta`` (N x T stopping probability), ``pred`` (N x T class chosen at each
    step), ``prob`` (N x T probability of that class).
    """

    ids: np.ndarray
    labels: np.ndarray
    dates: np.ndarray
    delta: np.ndarray
    pred: np.ndarray
    prob: np.ndarray


def _require_early(classifier: Any) -> None:
    if not getattr(classifier, "is_early", False):
        raise ConfigurationError(f"{getattr(classifier, 'name', classifier)!r} is not an early "
                                 "classifier (ELECTS); choose an 'elects' model")


def _forward_steps(classifier: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-probabilities N x T x C, delta N x T) as numpy, in eval mode without gradients."""
    model = classifier.model
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            log_probs, delta = model.forward_steps(torch.from_numpy(np.ascontiguousarray(x)).to(classifier.device))
    finally:
        model.train(was_training)
    return log_probs.float().cpu().numpy(), delta.float().cpu().numpy()


def region_steps(classifier: Any, dataset: BreizhCropsDataset, batch_size: int = 512, seed: int = 0,
                 progress: ProgressCallback | None = None) -> RegionSteps:
    """Per-step ELECTS outputs for every parcel of ``dataset`` (cached by ``Workspace.early_steps``)."""
    _require_early(classifier)
    classifier.check_fits(dataset)
    ids = np.asarray(dataset.index["id"], dtype=np.int64)
    parts: list[tuple] = []
    for start in range(0, len(ids), batch_size):
        prepared = classifier.inputs(dataset, ids[start:start + batch_size], seed=seed)
        log_probs, delta = _forward_steps(classifier, prepared.x)
        pred = log_probs.argmax(axis=2)
        prob = np.exp(np.take_along_axis(log_probs, pred[..., None], axis=2)[..., 0])
        parts.append((prepared.ids, prepared.labels, prepared.dates.astype("datetime64[ns]"), delta,
                      pred.astype(np.int16), prob.astype(np.float32)))
        if progress is not None:
            progress(min(start + batch_size, len(ids)), len(ids))
    if not parts:
        raise ConfigurationError(f"region_steps: region {dataset.region!r} has no usable parcels")
    return RegionSteps(*(np.concatenate([p[k] for p in parts]) for k in range(6)))


def deterministic_stop(delta: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """First step with ``delta_t > threshold`` per row of ``delta`` (N x T), ``T-1`` when none."""
    d = np.asarray(delta)
    if d.ndim != 2 or d.shape[1] < 1:
        raise ConfigurationError(f"deterministic_stop: expected delta N x T, got shape {d.shape}")
    above = d > threshold
    above[:, -1] = True
    return above.argmax(axis=1)


def early_frame(steps: RegionSteps, threshold: float = 0.5) -> pd.DataFrame:
    """One row per parcel from :class:`RegionSteps`: id, true, stop_step, stop_date,
    pred_at_stop, prob_at_stop, pred_full (last step), prob_full, earliness ``(stop+1)/T``,
    steps (T), correct_at_stop, correct_full."""
    stop = deterministic_stop(steps.delta, threshold)
    rows = np.arange(len(stop))
    t_len = steps.delta.shape[1]
    pred_stop = steps.pred[rows, stop].astype(np.int64)
    pred_full = steps.pred[:, -1].astype(np.int64)
    return pd.DataFrame({
        "id": steps.ids.astype(np.int64),
        "true": steps.labels.astype(np.int64),
        "stop_step": stop.astype(np.int64),
        "stop_date": pd.to_datetime(steps.dates[rows, stop]),
        "pred_at_stop": pred_stop,
        "prob_at_stop": steps.prob[rows, stop].astype(np.float64),
        "pred_full": pred_full,
        "prob_full": steps.prob[:, -1].astype(np.float64),
        "last_date": pd.to_datetime(steps.dates[:, -1]),
        "earliness": (stop + 1) / t_len,
        "steps": np.full(len(stop), t_len, dtype=np.int64),
        "correct_at_stop": pred_stop == steps.labels,
        "correct_full": pred_full == steps.labels,
    })


@dataclass
class ParcelEarly:
    """Everything the parcel animation shows for one parcel (T steps, C classes)."""

    id: int
    true: int
    dates: np.ndarray  # T datetime64[ns]
    ndvi: np.ndarray  # T, of the sampled observations
    cloudy: np.ndarray | None  # T bool
    class_probs: np.ndarray  # T x C
    delta: np.ndarray  # T
    stopping_probabilities: np.ndarray  # T, P(stop exactly at t)
    stop_step: int  # deterministic stop, or the first sampled draw
    prediction: int  # class at stop_step
    final_pred: int  # class at the last step
    stop_distribution: np.ndarray | None = None  # T, share of sampled draws stopping at t
    sampled_stops: np.ndarray | None = None  # n_samples

    def first_stop(self, threshold: float) -> int:
        """The deterministic stop at ``threshold``: the first step with delta above it (else the last)."""
        return int(deterministic_stop(self.delta[None], threshold)[0])


def parcel_early(classifier: Any, dataset: BreizhCropsDataset, parcel_id: int, threshold: float = 0.5,
                 n_samples: int | None = None, seed: int = 0, input_seed: int = 0) -> ParcelEarly:
    """Early classification of one parcel: deterministic at ``threshold`` or, with
    ``n_samples``, sampled stopping (``seed``) whose first draw gives the stop."""
    _require_early(classifier)
    prepared = classifier.inputs(dataset, [int(parcel_id)], seed=input_seed)
    log_probs, delta = _forward_steps(classifier, prepared.x)
    probs = np.exp(log_probs[0])
    distribution = sampled = None
    if n_samples is None:
        stop = int(deterministic_stop(delta, threshold)[0])
    else:
        result = classifier.model.predict_early(torch.from_numpy(prepared.x).to(classifier.device),
                                                n_samples=n_samples, seed=seed)
        distribution, sampled = result.stop_distribution[0], result.sampled_stops[:, 0]
        stop = int(sampled[0])
    return ParcelEarly(
        id=int(prepared.ids[0]), true=int(prepared.labels[0]), dates=prepared.dates[0],
        ndvi=index_array(prepared.x[0], classifier.info.bands, "NDVI").astype(np.float32),
        cloudy=None if prepared.cloudy is None else prepared.cloudy[0], class_probs=probs,
        delta=delta[0], stopping_probabilities=stopping_probabilities(torch.from_numpy(delta)).numpy()[0],
        stop_step=stop, prediction=int(probs[stop].argmax()), final_pred=int(probs[-1].argmax()),
        stop_distribution=distribution, sampled_stops=sampled)


def stop_date_distribution(classifier: Any, x: np.ndarray | ModelInput, n_samples: int = 200,
                           seed: int = 0) -> pd.DataFrame:
    """Sampled stopping: one row per parcel and step with the share of ``n_samples`` draws
    stopping there (``share``), the model's exact ``probability`` of stopping there, the class
    chosen there (``pred``) and its probability (``prob``), and the step's ``date`` when ``x``
    is a :class:`ModelInput` (NaT otherwise)."""
    _require_early(classifier)
    if isinstance(x, ModelInput):
        ids, dates, arr = x.ids, x.dates, x.x
    else:
        arr = np.asarray(x, dtype=np.float32)
        ids, dates = np.arange(len(arr)), None
    result = classifier.model.predict_early(torch.from_numpy(np.ascontiguousarray(arr)).to(classifier.device),
                                            n_samples=n_samples, seed=seed)
    log_probs, _ = _forward_steps(classifier, arr)
    n, t_len = result.delta.shape
    pred = log_probs.argmax(axis=2)
    return pd.DataFrame({
        "id": np.repeat(np.asarray(ids, dtype=np.int64), t_len),
        "step": np.tile(np.arange(t_len), n),
        "date": pd.to_datetime(np.asarray(dates).ravel()) if dates is not None else pd.NaT,
        "share": result.stop_distribution.ravel(),
        "probability": result.stopping_probabilities.ravel(),
        "pred": pred.ravel(),
        "prob": np.exp(np.take_along_axis(log_probs, pred[..., None], axis=2)[..., 0]).ravel(),
    })


def decided_over_time(early_df: pd.DataFrame, dates_grid: Sequence | np.ndarray) -> pd.DataFrame:
    """Per grid date: parcels decided (stop_date on or before it), ``decided`` share of all
    parcels, ``correct`` share of all parcels decided and right, and ``running_accuracy`` of the
    decided ones (NaN while none is decided)."""
    grid = pd.to_datetime(np.asarray(dates_grid))
    stop = early_df["stop_date"].to_numpy(dtype="datetime64[ns]")
    right = (early_df["pred_at_stop"].to_numpy() == early_df["true"].to_numpy())
    order = np.argsort(stop, kind="stable")
    cum_right = np.concatenate([[0], np.cumsum(right[order])])
    n_decided = np.searchsorted(stop[order], grid.to_numpy(dtype="datetime64[ns]"), side="right")
    n_correct = cum_right[n_decided]
    total = max(len(early_df), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_decided > 0, n_correct / np.maximum(n_decided, 1), np.nan)
    return pd.DataFrame({"date": grid, "n_decided": n_decided, "decided": n_decided / total,
                         "correct": n_correct / total, "running_accuracy": accuracy})


def class_stop_summary(early_df: pd.DataFrame, classes: Sequence[str],
                       year: int | None = None) -> pd.DataFrame:
    """Which crops can be mapped by when: per true class and month, the share of its parcels
    decided by the end of that month (``decided``) and decided and correct (``decided_correct``).

    One row per (class present, month 1-12 of ``year``, default the year of the stop dates):
    class, month ('Jan'...), cutoff (first day of the next month, exclusive), support,
    decided, decided_correct, mean_stop_date and median_stop_date (per class, same on each row;
    the median is the lower middle date for an even count, a date some parcel stopped on).
    """
    if len(early_df) == 0:
        raise ConfigurationError("class_stop_summary: no parcels")
    stops = pd.to_datetime(early_df["stop_date"])
    year = int(year if year is not None else stops.dt.year.mode().iloc[0])
    cutoffs = pd.date_range(f"{year}-02-01", periods=12, freq="MS")
    rows = []
    for classid, group in early_df.groupby("true", sort=True):
        when = pd.to_datetime(group["stop_date"]).to_numpy(dtype="datetime64[ns]")
        right = (group["pred_at_stop"] == group["true"]).to_numpy()
        mean_stop = pd.Timestamp(int(when.astype(np.int64).mean())).normalize()
        median_stop = pd.Timestamp(np.sort(when)[(len(when) - 1) // 2]).normalize()
        for month, cutoff in enumerate(cutoffs, start=1):
            decided = when < cutoff.to_datetime64()
            rows.append({"classid": int(classid), "class": classes[int(classid)],
                         "month": pd.Timestamp(year=year, month=month, day=1).strftime("%b"),
                         "cutoff": cutoff, "support": len(group), "decided": float(decided.mean()),
                         "decided_correct": float((decided & right).mean()),
                         "mean_stop_date": mean_stop, "median_stop_date": median_stop})
    return pd.DataFrame(rows)


def model_label(classifier: Any) -> str:
    """A short name for a classifier: its file stem (e.g. 'elects_alpha03'), else its arch."""
    path = classifier.info.path
    return Path(path).stem if path else classifier.name


def tradeoff_row(name: str, early_df: pd.DataFrame, classes: Sequence[str] | None = None,
                 full_season: bool = False, alpha: float | None = None) -> dict[str, Any]:
    """Accuracy, macro F1, earliness, harmonic mean and mean stop date of one model's
    :func:`early_frame`; ``full_season`` scores the last-step prediction (earliness 1.0)."""
    if len(early_df) == 0:
        raise ConfigurationError(f"tradeoff_row: no parcels for {name!r}")
    t_len = int(early_df["steps"].iloc[0])
    if full_season:
        stop = np.full(len(early_df), t_len - 1)
        preds = early_df["pred_full"].to_numpy()
        when = early_df["last_date"] if "last_date" in early_df else None
    else:
        stop, preds, when = early_df["stop_step"].to_numpy(), early_df["pred_at_stop"].to_numpy(), early_df["stop_date"]
    m = early_metrics(stop, preds, early_df["true"].to_numpy(), t_len,
                      classes=list(classes) if classes is not None else None)
    mean_date = pd.NaT
    if when is not None:
        ns = pd.to_datetime(when).to_numpy(dtype="datetime64[ns]").astype(np.int64)
        mean_date = pd.Timestamp(int(ns.mean())).normalize()
    return {"model": name, "alpha": alpha, "full_season": bool(full_season),
            "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "earliness": m["earliness"],
            "harmonic_mean": m["harmonic_mean"], "mean_stop_date": mean_date}


def tradeoff_table(classifiers: Sequence[Any] | Mapping[str, Any], dataset: BreizhCropsDataset, threshold: float = 0.5,
                   seed: int = 0,
                   steps_of: Callable[[Any], RegionSteps] | None = None) -> pd.DataFrame:
    """One row per model (see :func:`tradeoff_row`): ELECTS models stop early at ``threshold``
    (their card's ``alpha``); ELECTS weights whose card says ``full_season`` and non-early
    classifiers are scored on the full season (earliness 1.0). Sorted by earliness.
    ``steps_of(classifier)`` gives a model's :class:`RegionSteps` (default: computed now; the
    workspace passes its cached ones)."""
    items = classifiers.items() if isinstance(classifiers, Mapping) else \
        [(model_label(c), c) for c in classifiers]
    rows = []
    for name, clf in items:
        card = clf.info.card or {}
        if clf.is_early:
            steps = steps_of(clf) if steps_of else region_steps(clf, dataset, seed=seed)
            frame = early_frame(steps, threshold)
            full = bool(card.get("full_season", False))
            rows.append(tradeoff_row(name, frame, clf.classes, full_season=full,
                                     alpha=None if full else card.get("alpha")))
        else:
            pred = clf.predict(dataset, seed=seed)
            frame = pd.DataFrame({"true": pred["true"], "pred_full": pred["pred"], "steps": 1})
            rows.append(tradeoff_row(name, frame, clf.classes, full_season=True))
    return pd.DataFrame(rows).sort_values(["earliness", "model"]).reset_index(drop=True)


def animation_sample(frame: pd.DataFrame, centres: pd.DataFrame, step_days: int = 7,
                     max_parcels: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Rows of :func:`early_frame` joined with parcel ``centres`` (id, x, y), a seeded sample of at
    most ``max_parcels``, and the animation's date grid every ``step_days`` from the first stop to
    past the last observation."""
    joined = frame.merge(centres, on="id")
    if len(joined) > max_parcels:
        joined = joined.sample(max_parcels, random_state=seed)
    first, last = joined["stop_date"].min().normalize(), joined["last_date"].max().normalize()
    grid = pd.date_range(first, last + pd.Timedelta(days=step_days), freq=f"{step_days}D")
    return joined, grid
