"""Lazy reading of a precomputed Parquet dataset (what :func:`cropviz.scale.precompute` writes).

Nothing here loads a whole region's list columns: predictions scan only the requested columns,
one parcel is read with a filter pushed down to the Parquet row groups, and class aggregates
iterate over record batches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from cropviz.errors import CropvizError, DatasetError
from cropviz.scale.precompute import MANIFEST, part_name
from cropviz.store import dataset_fingerprint

if TYPE_CHECKING:
    from cropviz.data.breizhcrops import BreizhCropsDataset
    from cropviz.models.classifier import Classifier

#: Columns of every part besides prob_<class>: the prediction table of Classifier.predict.
PREDICTION_COLUMNS = ("id", "true", "pred", "confidence")


class PrecomputedResults:
    """A precomputed region: ``.manifest`` plus lazy scans of its Parquet parts."""

    def __init__(self, out: str | os.PathLike[str], allow_incomplete: bool = False) -> None:
        self.path = Path(out)
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise DatasetError(self.path, "no manifest.json; not a cropviz precompute folder")
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as error:
            raise DatasetError(manifest_path, f"unreadable manifest ({error})") from None
        count = int(self.manifest["partitions"]["count"])
        parts = [self.path / part_name(k) for k in range(count)]
        present = [p for p in parts if p.is_file()]
        if len(present) < count and not allow_incomplete:
            raise DatasetError(self.path, f"incomplete: {len(present)} of {count} parts; rerun precompute "
                                          "to finish (or open with allow_incomplete=True)")
        self.complete = len(present) == count
        import pyarrow.dataset as pads  # imported on first use: finding results stays cheap

        self.dataset = pads.dataset([str(p) for p in present], format="parquet")

    @property
    def classes(self) -> list[str]:
        """Class names, in class-id order."""
        return list(self.manifest["classes"])

    @property
    def explain(self) -> list[str]:
        """The explanations that were precomputed."""
        return list(self.manifest["settings"]["explain"])

    @property
    def columns(self) -> list[str]:
        """Columns of the Parquet parts."""
        return list(self.dataset.schema.names)

    def __len__(self) -> int:
        return self.dataset.count_rows()

    def __repr__(self) -> str:
        d = self.manifest["dataset"]
        return (f"PrecomputedResults({self.path}, {self.manifest['model']} on {d['region']} {d['year']} "
                f"{d['level']}, {self.manifest['partitions']['parcels']} parcels, explain={self.explain})")

    def prediction_columns(self) -> list[str]:
        """id, true, pred, confidence, prob_<class>...: the scalar prediction columns."""
        return list(PREDICTION_COLUMNS) + [f"prob_{c}" for c in self.classes]

    def predictions(self, columns: Sequence[str] | None = None, filter: pc.Expression | None = None) -> pd.DataFrame:
        """The prediction table (default: the scalar prediction columns), scanning only ``columns``."""
        columns = self.prediction_columns() if columns is None else list(columns)
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise DatasetError(self.path, f"no column(s) {', '.join(missing)}; it has {', '.join(self.columns)}")
        return self.dataset.to_table(columns=columns, filter=filter).to_pandas()

    def parcel(self, parcel_id: int) -> dict[str, Any]:
        """Every column of one parcel (lists as numpy arrays); DatasetError when absent."""
        table = self.dataset.to_table(filter=pc.field("id") == int(parcel_id))
        if table.num_rows == 0:
            raise DatasetError(self.path, f"no parcel with id {parcel_id}")
        row = table.slice(0, 1).to_pylist()[0]
        return {k: np.asarray(v) if isinstance(v, list) else v for k, v in row.items()}

    def class_aggregate(self, method: str, by: str = "pred", absolute: bool = False,
                        batch_size: int = 65536) -> pd.DataFrame:
        """Mean per-observation values of ``method`` per class of ``by`` ('pred' or 'true').

        ``method``: an attribution method or 'attention_rollout'. Rows: class names (all classes,
        count 0 and NaN means for absent ones); columns: ``count`` and ``t0..t{T-1}`` (sequence
        positions). ``absolute`` averages absolute values. Reads batch by batch.
        """
        if method not in self.columns:
            raise DatasetError(self.path, f"no per-observation column {method!r}; precomputed: "
                                          f"{', '.join(self.explain) or 'predictions only'}")
        if by not in ("pred", "true"):
            raise DatasetError(self.path, f"class_aggregate by {by!r}; use 'pred' or 'true'")
        C = len(self.classes)
        sums: np.ndarray | None = None
        counts = np.zeros(C, dtype=np.int64)
        for batch in self.dataset.to_batches(columns=[by, method], batch_size=batch_size):
            if batch.num_rows == 0:
                continue
            labels = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
            lists = batch.column(1)
            flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False).astype(np.float64)
            values = flat.reshape(batch.num_rows, -1)
            if absolute:
                values = np.abs(values)
            if sums is None:
                sums = np.zeros((C, values.shape[1]))
            np.add.at(sums, labels, values)
            counts += np.bincount(labels, minlength=C)[:C]
        T = 0 if sums is None else sums.shape[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (sums if sums is not None else np.zeros((C, 0))) / counts[:, None]
        frame = pd.DataFrame(means, index=pd.Index(self.classes, name="class"),
                             columns=[f"t{t}" for t in range(T)])
        frame.insert(0, "count", counts)
        return frame

    def observation_summary(self, column: str, by: str = "true", period: str = "month", relative: bool = False,
                            split_cloudy: bool = True, batch_size: int = 16384) -> pd.DataFrame:
        """Per-observation ``column`` of every parcel aggregated per class, date period and cloud flag.

        ``column``: an attribution method or 'attention_rollout'. ``by``: group parcels by their
        'true' or 'pred' class. ``period``: 'month' or a fixed pandas frequency ('14D'), applied to
        each observation's real date. ``relative`` multiplies a parcel's values by its number of
        observations (rollout -> multiple of the uniform share). Returns one row per (classname,
        period, cloudy) -- per (classname, period) without ``split_cloudy`` -- with ``month``,
        ``value`` (mean), ``magnitude`` (mean absolute value) and ``n`` (observations). Reads
        batch by batch: memory does not grow with the region.
        """
        needed = [column, "dates", "cloudy"]
        missing = [c for c in needed if c not in self.columns]
        if missing:
            raise DatasetError(self.path, f"no per-observation column(s) {', '.join(missing)}; precomputed: "
                                          f"{', '.join(self.explain) or 'predictions only'}")
        if by not in ("pred", "true"):
            raise DatasetError(self.path, f"observation_summary by {by!r}; use 'pred' or 'true'")
        keys = ["class", "period", "cloudy"] if split_cloudy else ["class", "period"]
        partial = []
        for batch in self.dataset.to_batches(columns=[by, "dates", "cloudy", column], batch_size=batch_size):
            if batch.num_rows == 0:
                continue
            lengths = pc.list_value_length(batch.column(3)).to_numpy(zero_copy_only=False).astype(np.int64)
            values = pc.list_flatten(batch.column(3)).to_numpy(zero_copy_only=False).astype(np.float64)
            if relative:
                values = values * np.repeat(lengths, lengths)
            dates = pc.list_flatten(batch.column(1)).to_numpy(zero_copy_only=False).astype("datetime64[ns]")
            frame = pd.DataFrame({
                "class": np.repeat(batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64), lengths),
                "period": (dates.astype("datetime64[M]").astype("datetime64[ns]") if period == "month"
                           else pd.DatetimeIndex(dates).floor(period)),
                "value": values, "magnitude": np.abs(values), "n": 1})
            if split_cloudy:
                frame["cloudy"] = pc.list_flatten(batch.column(2)).to_numpy(zero_copy_only=False).astype(bool)
            frame = frame[frame["class"] >= 0]  # unlabelled parcels have no true class
            partial.append(frame.groupby(keys).sum())
        columns = ["classname", "period", "month", *keys[2:], "value", "magnitude", "n"]
        if not partial:
            return pd.DataFrame(columns=columns)
        sums = pd.concat(partial).groupby(level=list(range(len(keys)))).sum().reset_index()
        sums["value"] /= sums["n"]
        sums["magnitude"] /= sums["n"]
        sums["classname"] = np.asarray(self.classes)[sums["class"].to_numpy()]
        sums["month"] = pd.DatetimeIndex(sums["period"]).month
        return sums[columns]


def open_precomputed(out: str | os.PathLike[str], allow_incomplete: bool = False) -> PrecomputedResults:
    """Open a folder written by :func:`cropviz.scale.precompute` (lazily)."""
    return PrecomputedResults(out, allow_incomplete=allow_incomplete)


def precomputed_folder(classifier: Classifier, dataset: BreizhCropsDataset) -> Path:
    """Where ``cropviz precompute`` writes by default for this model and region."""
    stem = Path(classifier.info.path or classifier.name).stem
    return Path(dataset.root) / "precomputed" / f"{dataset.region}-{dataset.year}-{dataset.level}-{stem}"


def find_precomputed(classifier: Classifier, dataset: BreizhCropsDataset, seed: int = 0) -> PrecomputedResults | None:
    """Complete results of ``cropviz precompute`` for this model, these dataset files and seed, if any.

    They lie in :func:`precomputed_folder` (precompute's default ``--out``); results of other
    weights, changed data or another seed are ignored, and so are bfloat16 ones (``precompute
    --bf16``): the app's predictions stay those of the float32 model its explanations use.
    """
    folder = precomputed_folder(classifier, dataset)
    if not (folder / MANIFEST).exists():
        return None
    try:
        results = open_precomputed(folder)
    except CropvizError:
        return None
    manifest = results.manifest
    if manifest.get("checkpoint_sha256") != classifier.info.sha256 or \
            manifest.get("dataset") != dataset_fingerprint(dataset) or manifest["settings"].get("seed") != seed \
            or manifest["settings"].get("precision", "float32") != "float32":
        return None
    return results


def precomputed_predictions(classifier: Classifier, dataset: BreizhCropsDataset,
                            seed: int = 0) -> pd.DataFrame | None:
    """Predictions of every parcel from :func:`find_precomputed` results (None: absent, or a subset)."""
    results = find_precomputed(classifier, dataset, seed)
    if results is None or results.manifest["settings"].get("ids") is not None:
        return None
    return results.predictions()
