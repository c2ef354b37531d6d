"""Seed 004 ablations: spatial vs temporal structure, and ordered vs shuffled time.

:func:`reproduce_time_space` trains the paper's patch models (CNN, GRU, CNN+GRU7/8/9, ConvLSTM)
with the paper's protocol where feasible (Adam, lr 1e-3, batch 32, best validation epoch; 5-fold
cross-validation with 3:1:1 train/validation/test as an option), the temporal ones also on
time-shuffled inputs, plus the same shuffle ablation for sequence models of the BreizhCrops zoo,
and writes one JSON results file. The paper's own published numbers (real Sentinel-2 data, tile
T31TFM, Garnot et al. 2019) ship as data: :func:`paper_tables`.

Shuffling uses :func:`cropviz.models.inputs.time_permutation` per parcel, exactly as
:class:`cropviz.models.Classifier` does at inference for shuffled checkpoints.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from tqdm.auto import tqdm

from cropviz import __version__
from cropviz.data.bands import BREIZHCROPS_SEQUENCE_LENGTH, PATCH_BANDS
from cropviz.errors import ConfigurationError, DatasetError
from cropviz.metrics import classification_metrics
from cropviz.models import registry
from cropviz.models.classifier import normalize_patches, patch_normalization
from cropviz.models.inputs import from_series, prepare, read_series, time_permutation

#: The seed 004 patch models, in the paper's table order.
SEED004_MODELS: tuple[str, ...] = ("cnn", "cnn_gru7", "cnn_gru8", "cnn_gru9", "gru", "convlstm")
#: Models re-trained on shuffled time order (every model with a temporal part).
SHUFFLED_MODELS: tuple[str, ...] = ("cnn_gru7", "cnn_gru8", "cnn_gru9", "gru", "convlstm")
#: BreizhCrops zoo sequence models of the time-shuffle ablation.
ZOO_SHUFFLE_MODELS: tuple[str, ...] = ("transformer", "lstm", "tempcnn")
#: The paper's display names.
PAPER_NAMES: dict[str, str] = {"cnn": "CNN", "cnn_gru7": "CNN+GRU7", "cnn_gru8": "CNN+GRU8",
                               "cnn_gru9": "CNN+GRU9", "gru": "GRU", "convlstm": "ConvLSTM",
                               "random_forest": "RF"}
PAPER_EPOCHS, PAPER_BATCH_SIZE, PAPER_LEARNING_RATE = 50, 32, 1e-3
DEMO_SPLIT = {"train": ("frh01", "frh02"), "val": "frh03", "test": "frh04"}
QUICK_EPOCHS, QUICK_PATCHES, QUICK_SEQUENCES = 1, 24, 200
DEFAULT_EPOCHS = 15
ORDERS = ("ordered", "shuffled")
THEIRS = "theirs (real T31TFM data, Garnot et al.)"
RESULTS_FORMAT = "cropviz seed004 time-space results 1"


def command_line(root: str | Path = "DIR", out: str | Path = "FILE", folds: int = 1, quick: bool = False) -> str:
    """The CLI command that produces a results file."""
    extra = (" --quick" if quick else "") + (f" --folds {folds}" if folds > 1 else "")
    return f"cropviz reproduce time-space --root {root}{extra} --out {out}"


# --------------------------------------------------------------------------- paper tables

def paper_tables() -> pd.DataFrame:
    """The paper's published Tables 1-4 (real Sentinel-2 T31TFM data) as a long table:
    ``table, model, column, value`` (value is text for kernel lists, else a number) and ``source``."""
    with resources.files("cropviz.data.resources").joinpath("seed004_tables.csv").open("r") as handle:
        frame = pd.read_csv(handle, dtype={"value": str})
    frame["number"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


def paper_table(number: int) -> pd.DataFrame:
    """Paper table ``number`` (1-4) in its printed form: one row per model (per class for 3)."""
    frame = paper_tables()
    part = frame[frame["table"] == number]
    if part.empty:
        raise ConfigurationError(f"the seed 004 paper has tables 1-4, not {number}")
    values = part["number"].where(part["number"].notna(), part["value"])
    wide = part.assign(v=values).pivot(index="model", columns="column", values="v")
    order = list(dict.fromkeys(part["model"]))
    return wide.loc[order, list(dict.fromkeys(part["column"]))].rename_axis(
        "class" if number == 3 else "model").rename_axis(None, axis=1)


# --------------------------------------------------------------------------- data

@dataclass
class AblationData:
    """Parcels of one or more regions prepared once: ``payload`` is raw reflectance patches
    (N x T x 10 x 32 x 32) or a list of raw series (sequence models)."""

    ids: np.ndarray
    labels: np.ndarray
    regions: np.ndarray
    payload: Any
    classes: list[str]
    form: str
    year: int

    def __len__(self) -> int:
        return len(self.ids)


def _open(root: str | Path, region: str, year: int, level: str) -> Any:
    from cropviz.data import open_breizhcrops

    return open_breizhcrops(root, region, year=year, level=level)


def load_patches(root: str | Path, regions: Sequence[str], year: int = 2017, level: str = "L1C",
                 limit: int | None = None) -> AblationData:
    """Patch parcels of ``regions`` (at most ``limit`` per region, first in index order)."""
    parts, classes = [], None
    for region in regions:
        ds = _open(root, region, year, level)
        patches = ds.patches()
        if patches is None:
            raise DatasetError(Path(root) / str(year) / "patches", f"no patches for region {region} "
                               "(seed 004 models need <root>/<year>/patches/<region>.csv)")
        have = set(int(i) for i in patches.ids)
        ids = np.array([i for i in ds.index["id"] if int(i) in have], dtype=np.int64)[:limit]
        if classes is None:
            classes = list(ds.classes)
        elif list(ds.classes) != classes:
            raise DatasetError(ds.root, f"region {region} has other classes than {regions[0]}")
        prepared = prepare(ds, ids, registry.PATCH)
        parts.append((prepared, region))
    return AblationData(ids=np.concatenate([p.ids for p, _ in parts]),
                        labels=np.concatenate([p.labels for p, _ in parts]),
                        regions=np.concatenate([[r] * len(p.ids) for p, r in parts]),
                        payload=np.concatenate([p.x for p, _ in parts]), classes=classes or [],
                        form=registry.PATCH, year=year)


def load_sequences(root: str | Path, regions: Sequence[str], year: int = 2017, level: str = "L1C",
                   limit: int | None = None) -> AblationData:
    """Raw series of every parcel of ``regions`` (at most ``limit`` per region), BreizhCrops band order."""
    series, regs, classes = [], [], None
    for region in regions:
        ds = _open(root, region, year, level)
        if classes is None:
            classes = list(ds.classes)
        elif list(ds.classes) != classes:
            raise DatasetError(ds.root, f"region {region} has other classes than {regions[0]}")
        ids = ds.index["id"].to_numpy()[:limit]
        part = read_series(ds, ids, "breizhcrops")
        series += part
        regs += [region] * len(part)
    return AblationData(ids=np.array([s.id for s in series], dtype=np.int64),
                        labels=np.array([s.classid for s in series], dtype=np.int64),
                        regions=np.array(regs), payload=series, classes=classes or [],
                        form=registry.SEQUENCE, year=year)


def shuffle_time(x: np.ndarray, ids: Sequence[int], seed: int) -> np.ndarray:
    """A copy of ``x`` (N x T x ...) with each parcel's time axis permuted by
    ``time_permutation(T, seed, id)``: the permutation shuffled checkpoints apply at inference."""
    ids = np.asarray(ids)
    if len(ids) != len(x):
        raise ConfigurationError(f"shuffle_time: {len(ids)} ids for {len(x)} parcels")
    out = np.empty_like(x)
    for row, parcel_id in enumerate(ids):
        out[row] = x[row][time_permutation(x.shape[1], seed, int(parcel_id))]
    return out


# --------------------------------------------------------------------------- splits

def fold_splits(labels: Sequence[int], folds: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Stratified, seeded cross-validation splits: fold k tests on part k, validates on part k+1
    and trains on the rest (3:1:1 for 5 folds). Returns index arrays ``train, val, test``."""
    labels = np.asarray(labels)
    if folds < 3:
        raise ConfigurationError(f"folds={folds}: cross-validation needs at least 3 folds (train, val, test)")
    if len(labels) < folds:
        raise ConfigurationError(f"folds={folds}: only {len(labels)} parcels")
    with warnings.catch_warnings():  # rare classes with fewer members than folds are expected
        warnings.simplefilter("ignore", UserWarning)
        parts = [test for _, test in StratifiedKFold(folds, shuffle=True, random_state=seed)
                 .split(np.zeros(len(labels)), labels)]
    splits = []
    for k in range(folds):
        val = parts[(k + 1) % folds]
        train = np.sort(np.concatenate([p for j, p in enumerate(parts) if j not in (k, (k + 1) % folds)]))
        splits.append({"train": train, "val": np.sort(val), "test": np.sort(parts[k])})
    return splits


def region_split(data: AblationData, train: Sequence[str], val: str, test: str) -> dict[str, np.ndarray]:
    """Index arrays of a split by region."""
    split = {"train": np.flatnonzero(np.isin(data.regions, list(train))),
             "val": np.flatnonzero(data.regions == val), "test": np.flatnonzero(data.regions == test)}
    for part, index in split.items():
        if len(index) == 0:
            raise ConfigurationError(f"the {part} part of the split ({train}/{val}/{test}) has no parcels")
    return split


# --------------------------------------------------------------------------- training

def macro_summary(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """OA, kappa, macro F1/precision/recall (scikit-learn macro over classes present) and per-class F1."""
    metrics = classification_metrics(y_true, y_pred, classes)
    precision, recall, _, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    return {"overall_accuracy": metrics["overall_accuracy"], "kappa": metrics["kappa"],
            "macro_f1": metrics["macro_f1"], "precision": float(precision), "recall": float(recall),
            "per_class_f1": {c["classname"]: c["f1"] for c in metrics["per_class"]},
            "per_class_support": {c["classname"]: c["support"] for c in metrics["per_class"]},
            "n": metrics["n"]}


def _inputs(data: AblationData, index: np.ndarray, shuffled: bool, seed: int, draw: int,
            normalization: dict | None) -> np.ndarray:
    if data.form == registry.PATCH:
        x = data.payload[index]
        x = shuffle_time(x, data.ids[index], seed) if shuffled else x
        return x if normalization is None else normalize_patches(x, normalization)
    return from_series([data.payload[i] for i in index], registry.SEQUENCE, year=data.year,
                       sequence_length=BREIZHCROPS_SEQUENCE_LENGTH, seed=draw, shuffle_time=shuffled, shuffle_seed=seed).x


def _predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            out.append(model(torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size]))).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def train_and_test(name: str, data: AblationData, split: dict[str, np.ndarray], *, shuffled: bool,
                   epochs: int, seed: int = 0, batch_size: int = PAPER_BATCH_SIZE,
                   learning_rate: float = PAPER_LEARNING_RATE, progress: bool = False) -> dict[str, Any]:
    """Train registry model ``name`` on ``split['train']`` (Adam), keep the epoch of best validation
    macro F1, and return its test metrics with ``best_epoch``, ``history`` and parameter counts."""
    spec = registry.spec(name)
    if spec.input_form != data.form:
        raise ConfigurationError(f"{name} takes {spec.input_form} inputs, the data holds {data.form}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y = {part: data.labels[index] for part, index in split.items()}
    normalization = None
    if data.form == registry.PATCH:
        normalization = patch_normalization(_inputs(data, split["train"], shuffled, seed, 0, None))
    fixed = {part: _inputs(data, index, shuffled, seed, 0, normalization) for part, index in split.items()
             if part != "train" or data.form == registry.PATCH}
    hparams = dict(spec.demo_hparams or spec.defaults)
    model = registry.build(name, num_classes=len(data.classes), sequence_length=spec.sequence_length, **hparams)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    best, best_state, history = None, None, []
    started = time.time()
    label = f"{name} {'shuffled' if shuffled else 'ordered'}"
    for epoch in tqdm(range(1, epochs + 1), desc=label, disable=not progress, leave=False):
        x = fixed["train"] if "train" in fixed else _inputs(data, split["train"], shuffled, seed,
                                                            seed * 1000 + epoch, None)
        model.train()
        order, losses = rng.permutation(len(x)), []
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            if len(batch) < 2:  # BatchNorm needs two samples
                continue
            loss = F.nll_loss(model(torch.from_numpy(x[batch])), torch.from_numpy(y["train"][batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        val_f1 = classification_metrics(y["val"], _predict(model, fixed["val"]), data.classes)["macro_f1"]
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None,
                        "val_macro_f1": val_f1})
        if best is None or val_f1 > best:
            best, best_epoch, best_state = val_f1, epoch, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    result = macro_summary(y["test"], _predict(model, fixed["test"]), data.classes)
    counts = _counts(model) if data.form == registry.PATCH else None
    result.update(best_epoch=best_epoch, val_macro_f1=best, history=history,
                  train_seconds=round(time.time() - started, 1),
                  parameters=int(sum(p.numel() for p in model.parameters())),
                  **({"temporal_share": counts["temporal_share"], "parameters_spatial": counts["spatial"],
                      "parameters_temporal": counts["temporal"], "parameters_head": counts["head"]}
                     if counts else {"temporal_share": None}))
    return result


def _counts(model: torch.nn.Module) -> dict[str, float]:
    from cropviz.models.spatiotemporal import parameter_counts

    return parameter_counts(model)


def _aggregate(name: str, order: str, family: str, runs: list[dict[str, Any]], seed: int,
               epochs: int) -> dict[str, Any]:
    """One results row: the mean over folds, with the spread when there are several."""
    keys = ("overall_accuracy", "kappa", "macro_f1", "precision", "recall")
    row: dict[str, Any] = {"model": name, "paper_name": PAPER_NAMES.get(name, name), "order": order,
                           "family": family, "seed": seed, "epochs": epochs,
                           **{k: float(np.mean([r[k] for r in runs])) for k in keys}}
    classes = list(runs[0]["per_class_f1"])
    row["per_class_f1"] = {c: float(np.mean([r["per_class_f1"][c] for r in runs])) for c in classes}
    row["per_class_support"] = {c: int(sum(r["per_class_support"][c] for r in runs)) for c in classes}
    for key in ("parameters", "temporal_share", "parameters_spatial", "parameters_temporal", "parameters_head"):
        if key in runs[0]:
            row[key] = runs[0][key]
    row["best_epoch"] = [r["best_epoch"] for r in runs]
    row["train_seconds"] = float(sum(r["train_seconds"] for r in runs))
    row["test_parcels"] = int(sum(r["n"] for r in runs))
    if len(runs) > 1:
        row["folds"] = [{k: r[k] for k in (*keys, "best_epoch", "n")} for r in runs]
        row["spread"] = {f"{k}_std": float(np.std([r[k] for r in runs], ddof=1)) for k in keys} | {
            f"{k}_min": float(np.min([r[k] for r in runs])) for k in ("macro_f1", "overall_accuracy")} | {
            f"{k}_max": float(np.max([r[k] for r in runs])) for k in ("macro_f1", "overall_accuracy")}
    else:
        row["history"] = runs[0]["history"]
    return row


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def reproduce_time_space(root: str | Path, out: str | Path, quick: bool = False, folds: int = 1,
                         seed: int = 0, epochs: int | None = None, progress: bool = True, *,
                         models: Sequence[str] = SEED004_MODELS, shuffled: Sequence[str] = SHUFFLED_MODELS,
                         zoo: Sequence[str] = ZOO_SHUFFLE_MODELS, zoo_epochs: int | None = None,
                         batch_size: int = PAPER_BATCH_SIZE, learning_rate: float = PAPER_LEARNING_RATE,
                         train_regions: Sequence[str] = DEMO_SPLIT["train"], val_region: str = DEMO_SPLIT["val"],
                         test_region: str = DEMO_SPLIT["test"], year: int = 2017,
                         level: str = "L1C") -> dict[str, Any]:
    """Reproduce seed 004 (Tables 2-4) on the patches under ``root`` and write the JSON to ``out``.

    Every model of ``models`` is trained on ordered inputs, those of ``shuffled`` also on
    per-parcel shuffled time order, and the zoo sequence models ``zoo`` both ways (region split
    or the same folds over all parcels). ``folds=1``: train ``train_regions``, keep the best
    epoch on ``val_region``, test on ``test_region``; ``folds>=3``: stratified seeded folds over
    the union of those regions (3:1:1 for 5). ``quick``: 1 epoch, at most 24 patches and 200
    sequences per region (a smoke run). Returns the results dict written to ``out``.
    """
    unknown = [m for m in (*models, *shuffled, *zoo) if m.lower() not in registry.names()]
    if unknown:
        raise ConfigurationError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(registry.names())}")
    wrong = [m for m in (*models, *shuffled) if registry.spec(m).input_form != registry.PATCH]
    wrong += [m for m in zoo if registry.spec(m).input_form != registry.SEQUENCE]
    if wrong:
        raise ConfigurationError(f"model(s) {', '.join(wrong)} do not take the input form of their part "
                                 "(patch models: seed 004; zoo: sequence models)")
    if folds != 1 and folds < 3:
        raise ConfigurationError(f"folds={folds}: use 1 (region split) or at least 3 (3:1:1 for 5)")
    epochs = epochs or (QUICK_EPOCHS if quick else DEFAULT_EPOCHS)
    zoo_epochs = zoo_epochs or epochs
    if epochs < 1 or zoo_epochs < 1:
        raise ConfigurationError(f"epochs must be at least 1 (got {epochs}, zoo {zoo_epochs})")
    regions = [*train_regions, val_region, test_region]
    started = time.time()
    meta = _open(root, test_region, year, level).metadata
    simulated = bool(meta.get("simulated", False))
    plan = [(m, "ordered") for m in models] + [(m, "shuffled") for m in shuffled]
    zoo_plan = [(m, o) for m in zoo for o in ORDERS]
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(plan) + len(zoo_plan), desc="seed 004 ablation", disable=not progress)
    data_info: dict[str, Any] = {}
    for form, part_plan, loader, limit, n_epochs, family in (
            (registry.PATCH, plan, load_patches, QUICK_PATCHES if quick else None, epochs, "seed 004"),
            (registry.SEQUENCE, zoo_plan, load_sequences, QUICK_SEQUENCES if quick else None, zoo_epochs,
             "BreizhCrops zoo")):
        if not part_plan:
            continue
        data = loader(root, regions, year=year, level=level, limit=limit)
        splits = ([region_split(data, train_regions, val_region, test_region)] if folds == 1
                  else fold_splits(data.labels, folds, seed))
        data_info[form] = {"parcels": int(len(data)), "per_region": {r: int((data.regions == r).sum()) for r in regions},
                           "classes": data.classes, "class_counts": {c: int((data.labels == k).sum())
                                                                     for k, c in enumerate(data.classes)}}
        if form == registry.PATCH:
            data_info[form]["dates"] = int(data.payload.shape[1])
        for name, order in part_plan:
            bar.set_postfix_str(f"{name} {order}")
            runs = [train_and_test(name, data, split, shuffled=order == "shuffled", epochs=n_epochs, seed=seed,
                                   batch_size=batch_size, learning_rate=learning_rate, progress=progress)
                    for split in splits]
            rows.append(_aggregate(name, order, family, runs, seed, n_epochs))
            bar.update(1)
    bar.close()
    split_text = (f"regions: train {'+'.join(train_regions)}, validation {val_region}, test {test_region}"
                  if folds == 1 else f"{folds}-fold stratified cross-validation (seed {seed}) over the parcels of "
                  f"{'+'.join(regions)}: per fold test = part k, validation = part k+1, train = the rest")
    results = {
        "format": RESULTS_FORMAT, "cropviz_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": (" ".join(shlex.quote(a) for a in ["cropviz", *sys.argv[1:]])
                    if sys.argv and Path(sys.argv[0]).name == "cropviz" else None),
        "equivalent_command": command_line(root, out, folds, quick) + (
            f" --epochs {epochs}" if epochs != (QUICK_EPOCHS if quick else DEFAULT_EPOCHS) else "") + (
            f" --zoo-epochs {zoo_epochs}" if zoo_epochs != epochs else "") + (f" --seed {seed}" if seed else ""),
        "data": {"root": str(root), "simulated": simulated,
                 "description": ("cropviz SIMULATED demo (not real Sentinel-2 data)" if simulated
                                 else "BreizhCrops-layout data (real unless stated otherwise)"),
                 "source": meta.get("source", ""), "year": year, "level": level, "split": split_text,
                 "patches": data_info.get(registry.PATCH), "sequences": data_info.get(registry.SEQUENCE)},
        "protocol": {"optimizer": "Adam", "learning_rate": learning_rate, "batch_size": batch_size,
                     "epochs": epochs, "zoo_epochs": zoo_epochs, "paper_epochs": PAPER_EPOCHS,
                     "selection": "epoch with the best validation macro F1, evaluated on the test part",
                     "folds": folds, "seed": seed, "quick": quick,
                     "shuffle": "per-parcel permutation of the time axis, seeded by (seed, parcel id), "
                                "the same at training, validation and test",
                     "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "results": rows, "seconds": round(time.time() - started, 1),
    }
    results = _clean(results)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(out)
    return results


# --------------------------------------------------------------------------- reading results

def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results file written by :func:`reproduce_time_space`."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(path, f"no results file; produce one with `{command_line(out=path)}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(path, f"not a JSON results file ({error})") from None
    return check_results(results, path)


def check_results(results: Any, where: str | Path = "results") -> dict[str, Any]:
    """Validate the shape of a results dict; DatasetError naming ``where`` otherwise."""
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT or not isinstance(
            results.get("results"), list):
        raise DatasetError(where, f"not a cropviz seed 004 results file (expected format {RESULTS_FORMAT!r})")
    return results


def results_frame(results: dict[str, Any]) -> pd.DataFrame:
    """One row per (model, order): metrics, parameters, temporal share, epochs, family."""
    columns = ["model", "paper_name", "family", "order", "overall_accuracy", "macro_f1", "precision", "recall",
               "kappa", "parameters", "temporal_share", "epochs", "seed", "test_parcels"]
    frame = pd.DataFrame(results["results"])
    for column in columns:
        if column not in frame:
            frame[column] = np.nan
    frame["macro_f1_std"] = [r.get("spread", {}).get("macro_f1_std", np.nan) for r in results["results"]]
    return frame[columns + ["macro_f1_std"]]


def order_table(results: dict[str, Any]) -> pd.DataFrame:
    """Table 4 form (percent): per model macro F1 ordered, shuffled and the difference."""
    frame = results_frame(results)
    both = frame.pivot_table(index="model", columns="order", values="macro_f1", aggfunc="first")
    both = both.reindex(columns=list(ORDERS))
    both = both.dropna(subset=["shuffled"]) * 100
    both["delta"] = both["shuffled"] - both["ordered"]
    family = frame.drop_duplicates("model").set_index("model")["family"]
    both.insert(0, "family", family.reindex(both.index))
    order = [m for m in frame["model"].drop_duplicates() if m in both.index]
    return both.loc[order].round(1).rename_axis("model").reset_index().rename_axis(None, axis=1)


def space_time_table(results: dict[str, Any]) -> pd.DataFrame:
    """Tables 1 and 2 form for the seed 004 models, ordered inputs: OA, F1, precision, recall
    (percent), parameters and temporal share."""
    frame = results_frame(results)
    frame = frame[(frame["family"] == "seed 004") & (frame["order"] == "ordered")].copy()
    rank = {m: k for k, m in enumerate(SEED004_MODELS)}
    frame = frame.sort_values("model", key=lambda s: s.map(lambda m: rank.get(m, len(rank))), kind="stable")
    for column in ("overall_accuracy", "macro_f1", "precision", "recall"):
        frame[column] = (frame[column] * 100).round(1)
    frame["macro_f1_std"] = (frame["macro_f1_std"] * 100).round(1)
    keep = ["model", "paper_name", "overall_accuracy", "macro_f1", "precision", "recall", "parameters",
            "temporal_share", "macro_f1_std"]
    return frame[keep].reset_index(drop=True)


def per_class_table(results: dict[str, Any], models: Sequence[str] = ("cnn", "gru", "cnn_gru9", "convlstm"),
                    order: str = "ordered") -> pd.DataFrame:
    """Table 3 form (percent): per-class test F1, one column per model."""
    rows = {r["model"]: r for r in results["results"] if r["order"] == order and r["family"] == "seed 004"}
    columns = {PAPER_NAMES.get(m, m): pd.Series(rows[m]["per_class_f1"]) * 100 for m in models if m in rows}
    return pd.DataFrame(columns).round(1)


def per_class_order_differences(results: dict[str, Any], model: str) -> pd.DataFrame:
    """Per-class F1 (percent) of ``model`` ordered and shuffled, the difference and the test support."""
    rows = {r["order"]: r for r in results["results"] if r["model"] == model}
    if set(rows) != set(ORDERS):
        raise ConfigurationError(f"{model}: the results hold no ordered and shuffled runs")
    frame = pd.DataFrame({"ordered": pd.Series(rows["ordered"]["per_class_f1"]) * 100,
                          "shuffled": pd.Series(rows["shuffled"]["per_class_f1"]) * 100})
    frame["delta"] = frame["shuffled"] - frame["ordered"]
    frame["support"] = pd.Series(rows["ordered"].get("per_class_support", {}))
    return frame.round(1).rename_axis("class")


def paper_comparison(results: dict[str, Any]) -> pd.DataFrame:
    """Macro F1 and temporal share per seed 004 model, theirs (Tables 1-2) and ours, long form
    ``source, model, macro_f1, temporal_share, share_note``."""
    theirs = paper_table(2)
    shares = paper_table(1)["temporal_ratio"]
    ours = space_time_table(results).set_index("paper_name")
    rows = []
    for name in [m for m in theirs.index if m != "RF"]:  # the RF baseline has no spatial/temporal parts
        share, note = shares.get(name), "Table 1"
        if not isinstance(share, (int, float)) or pd.isna(share):
            share = float(ours["temporal_share"].get(name, np.nan)) if name in ours.index else np.nan
            note = "not in the paper: cropviz's count for the same architecture"
        rows.append({"source": THEIRS, "model": name, "macro_f1": float(theirs.loc[name, "F-score"]),
                     "temporal_share": float(share), "share_note": note})
    label = ours_label(results)
    for name, row in ours.iterrows():
        rows.append({"source": label, "model": name, "macro_f1": float(row["macro_f1"]),
                     "temporal_share": float(row["temporal_share"]), "share_note": "cropviz parameter count"})
    return pd.DataFrame(rows)


def ours_label(results: dict[str, Any]) -> str:
    """'ours (simulated demo)' or 'ours (real data)' from a results file's data description."""
    return "ours (simulated demo)" if results.get("data", {}).get("simulated") else "ours (real data)"


def card_order_table(cards: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Table 4 form (percent) from model cards: for each ``X`` with a ``X_shuffled`` card, the test
    macro F1 (``card['test']``) ordered, shuffled and the difference."""
    rows = []
    for name, card in cards.items():
        twin = cards.get(f"{name}_shuffled")
        if name.endswith("_shuffled") or twin is None:
            continue
        ordered, shuffled = (c.get("test", {}).get("macro_f1") for c in (card, twin))
        if ordered is None or shuffled is None:
            continue
        rows.append({"model": name, "family": card.get("family", ""), "ordered": 100 * ordered,
                     "shuffled": 100 * shuffled, "delta": 100 * (shuffled - ordered),
                     "epochs": card.get("epochs"), "test region": card.get("test", {}).get("region", "")})
    return pd.DataFrame(rows, columns=["model", "family", "ordered", "shuffled", "delta", "epochs",
                                       "test region"]).round(1)


# --------------------------------------------------------------------------- one parcel, both orders

def input_ndvi(classifier: Any, dataset: Any, parcel_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(dates, NDVI) of the model input sequence of one parcel *in input order* (shuffled for a
    shuffled checkpoint); for patches, the mean NDVI over pixels inside the parcel."""
    info = classifier.info
    raw = prepare(dataset, [int(parcel_id)], classifier.spec.input_form, order=info.band_order,
                  sequence_length=info.sequence_length, shuffle_time=info.shuffle_time,
                  shuffle_seed=info.shuffle_seed)
    bands = list(PATCH_BANDS if classifier.spec.input_form == registry.PATCH else info.bands)
    if "B4" not in bands or "B8" not in bands:
        raise ConfigurationError(f"{classifier.name}: inputs have no B4 and B8 band, no NDVI")
    red, nir = raw.x[0][:, bands.index("B4")], raw.x[0][:, bands.index("B8")]
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    if ndvi.ndim == 3:  # T x H x W patches: mean over in-parcel pixels
        inside = (raw.x[0] != 0).any(axis=1)
        ndvi = np.array([np.nanmean(v[m]) if m.any() else np.nan for v, m in zip(ndvi, inside, strict=False)])
    return raw.dates[0], ndvi.astype(np.float32)


class _Flat(torch.nn.Module):
    """Makes a patch model take N x T x (C*H*W) so sequence attribution methods apply."""

    def __init__(self, model: torch.nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.model, self.shape = model, shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], x.shape[1], *self.shape))


def explain_input(classifier: Any, dataset: Any, parcel_id: int, method: str = "integrated_gradients",
                  target: int | None = None, **options: Any) -> Any:
    """Attribution (``cropviz.explain.attribute``) of one parcel's model input, in input order.
    Patch inputs are flattened per date, so ``values`` is T x (C*H*W) and ``per_observation`` T."""
    from cropviz.explain import attribute

    if not classifier.differentiable:
        raise ConfigurationError(f"{classifier.name}: gradient attributions need a neural network")
    x = classifier.inputs(dataset, [int(parcel_id)]).x[0]
    model = classifier.model
    if x.ndim == 4:
        model, x = _Flat(model, x.shape[1:]), x.reshape(x.shape[0], -1)
    return attribute(model, x, method, target=target, **options)

