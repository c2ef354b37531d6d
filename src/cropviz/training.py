"""Training any registry model on a BreizhCrops-layout dataset, keeping the best validation epoch."""

from __future__ import annotations

import copy
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from cropviz.data.bands import band_order
from cropviz.devices import resolve_device
from cropviz.early.elects import ElectsModel, early_metrics, elects_loss
from cropviz.errors import ConfigurationError
from cropviz.metrics import classification_metrics
from cropviz.models import checkpoint, registry
from cropviz.models.checkpoint import ModelInfo
from cropviz.models.classifier import Classifier, normalize_patches, patch_normalization
from cropviz.models.forest import RandomForest
from cropviz.models.inputs import ModelInput, from_series, prepare, read_series, readable_ids


@dataclass
class TrainConfig:
    """Everything that determines a training run (recorded in the model card)."""

    model: str
    root: str
    train_regions: Sequence[str]
    val_region: str | None = None  # None: frh03 when the root has it, else val_fraction of the training parcels
    year: int | None = None  # None: recorded at import (dataset_defaults), else 2017
    level: str | None = None  # None: recorded at import, else L1C
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-6
    seed: int = 0
    shuffle_time: bool = False
    device: str = "auto"
    hparams: dict[str, Any] = field(default_factory=dict)
    alpha: float = 0.5  # ELECTS accuracy/earliness trade-off
    epsilon: float = 10.0  # ELECTS smoothing
    full_season: bool = False  # ELECTS backbone trained on the last step only (reference)
    val_fraction: float | None = None  # share of training parcels held out (default 0.2 without val_region)
    group_col: str | None = None  # index column whose groups stay together in the split
    preset: str = "demo"  # hyper-parameters: demo (small) or paper (published)


def _open(root: str, region: str, year: int | None, level: str | None) -> Any:
    from cropviz.data import open_breizhcrops

    return open_breizhcrops(root, region, year=year, level=level)


def _labelled(dataset: Any, ids: Any) -> np.ndarray:
    """The parcels among ``ids`` that have a label (imported data may have unlabelled ones)."""
    labelled = set(dataset.index.loc[dataset.index["classid"] >= 0, "id"])
    return np.array([i for i in ids if i in labelled], dtype=np.int64)


def _concat(parts: list[ModelInput]) -> ModelInput:
    return ModelInput(ids=np.concatenate([p.ids for p in parts]), x=np.concatenate([p.x for p in parts]),
                      dates=np.concatenate([p.dates for p in parts]),
                      cloudy=None if parts[0].cloudy is None else np.concatenate([p.cloudy for p in parts]),
                      labels=np.concatenate([p.labels for p in parts]))


def _dataset_description(datasets: Sequence[Any]) -> str:
    """What the training data are: simulated, imported (the training regions' source files) or BreizhCrops."""
    metadata = getattr(datasets[0], "metadata", {}) or {}
    if metadata.get("simulated"):
        return "cropviz simulated demo (not BreizhCrops)"
    if metadata.get("source") == "imported":
        regions = metadata.get("regions", {})
        files = [str(f) for ds in datasets for f in regions.get(ds.region, {}).get("source_files", [])]
        return f"imported data ({', '.join(dict.fromkeys(files)) or 'cropviz import'})"
    return "BreizhCrops-layout data"


#: Hyper-parameter presets: the small demo ones, or the published ones (FIELD.md section 2).
PRESETS = ("demo", "paper")


def preset_hparams(spec: registry.ModelSpec, preset: str) -> dict[str, Any]:
    """The hyper-parameters of ``preset`` for a registry model: 'demo' (small, shipped demo
    weights) or 'paper' (the published architecture)."""
    if preset not in PRESETS:
        raise ConfigurationError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if preset == "paper":
        return dict(spec.defaults)
    return dict(spec.demo_hparams or spec.defaults)


def resolve_data(config: TrainConfig) -> TrainConfig:
    """``config`` with the year and level recorded by the dataset and the validation plan decided:
    the validation region, or (none given, no frh03 in the root) a 0.2 validation fraction."""
    from cropviz.data.breizhcrops import dataset_defaults, list_regions

    year, level = dataset_defaults(config.root, config.train_regions[0] if config.train_regions else None)
    config = replace(config, year=year if config.year is None else config.year, level=config.level or level)
    if config.val_region is not None:
        if config.val_fraction is not None:
            raise ConfigurationError("give a validation region (--val) or --val-fraction, not both")
        return config
    if config.val_fraction is not None:
        if not 0.0 < config.val_fraction < 1.0:
            raise ConfigurationError(f"--val-fraction must lie between 0 and 1, got {config.val_fraction}")
        return config
    regions = {(str(y), lv, r) for y, lv, r in list_regions(config.root)}
    if (str(config.year), config.level, "frh03") in regions and "frh03" not in config.train_regions:
        return replace(config, val_region="frh03")
    return replace(config, val_fraction=0.2)


def _groups(dataset: Any, ids: np.ndarray, group_col: str | None) -> np.ndarray:
    """Group key of each parcel: ``group_col`` of the region's index CSV (default: the group
    recorded at import), else the parcel itself."""
    recorded = (dataset.metadata.get("regions", {}) or {}).get(dataset.region, {}).get("group_column")
    column = "group" if group_col is None or group_col == recorded else group_col
    if group_col is None and recorded is None:
        return np.array([f"{dataset.region}/{i}" for i in ids], dtype=object)
    raw = pd.read_csv(dataset.index_path)
    if column not in raw.columns:
        raise ConfigurationError(f"--group-col {group_col!r}: not a column of {dataset.index_path} "
                                 f"(columns: {', '.join(map(str, raw.columns))})")
    keys = raw.drop_duplicates("id").set_index("id", drop=False)[column]
    return np.array([f"{dataset.region}/{keys.get(i)}" for i in ids], dtype=object)


def validation_split(datasets: Sequence[Any], fraction: float, seed: int,
                     group_col: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Training and validation parcel ids per region: ``fraction`` of the labelled parcels held out,
    whole groups at a time (scikit-learn's GroupShuffleSplit, ``seed``)."""
    from sklearn.model_selection import GroupShuffleSplit

    ids = [_labelled(ds, ds.index["id"]) for ds in datasets]
    groups = np.concatenate([_groups(ds, i, group_col) for ds, i in zip(datasets, ids, strict=True)])
    if len(set(groups)) < 2:
        raise ConfigurationError(f"--val-fraction needs at least two parcels or groups; found {len(set(groups))}")
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train_pos, val_pos = next(splitter.split(np.zeros(len(groups)), groups=groups))
    region_of = np.concatenate([[ds.region] * len(i) for ds, i in zip(datasets, ids, strict=True)])
    all_ids = np.concatenate(ids)
    train = {ds.region: np.sort(all_ids[train_pos][region_of[train_pos] == ds.region]) for ds in datasets}
    val = {ds.region: np.sort(all_ids[val_pos][region_of[val_pos] == ds.region]) for ds in datasets}
    return train, val


def train(config: TrainConfig, out: str | Path, progress: bool = True,
          on_epoch: Callable[[int, int], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Train ``config.model`` and write the best-validation checkpoint and card to ``out``.

    ``on_epoch(done, total)`` runs after each epoch (a progress bar); an exception raised in it
    cancels the run before anything is written. Returns the checkpoint path and the validation
    metrics of the kept epoch.
    """
    spec = registry.spec(config.model)
    config = resolve_data(config)
    year, level = config.year or 2017, config.level or "L1C"  # both set by resolve_data
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_sets = [_open(config.root, r, config.year, config.level) for r in config.train_regions]
    val_set = (train_sets[0] if config.val_region is None
               else _open(config.root, config.val_region, config.year, config.level))
    classes = list(val_set.classes)
    for ds in train_sets:
        if list(ds.classes) != classes:
            raise ConfigurationError(f"region {ds.region} has other classes than {val_set.region}")
    if config.val_region is None:
        train_ids, val_ids = validation_split(train_sets, float(config.val_fraction or 0.2), config.seed,
                                              config.group_col)
        val_parts = [(ds, val_ids[ds.region]) for ds in train_sets]
        recorded = {(ds.metadata.get("regions", {}) or {}).get(ds.region, {}).get("group_column")
                    for ds in train_sets} - {None}
        grouped_by = config.group_col or ", ".join(sorted(recorded))
        validation = f"validation {config.val_fraction:g} of their parcels (seed {config.seed}" + (
            f", grouped by {grouped_by})" if grouped_by else ")")
    else:
        train_ids = {ds.region: _labelled(ds, ds.index["id"]) for ds in train_sets}
        val_parts = [(val_set, _labelled(val_set, val_set.index["id"]))]
        validation = f"validation {config.val_region}"
    order = spec.band_order
    bands = list(band_order(level, order))
    hparams = {**preset_hparams(spec, config.preset), **config.hparams}
    info = ModelInfo(arch=spec.name, classes=classes, level=level, band_order=order,
                     bands=bands, sequence_length=spec.sequence_length, hparams=hparams,
                     shuffle_time=config.shuffle_time, shuffle_seed=config.seed,
                     trained_on=f"{_dataset_description(train_sets)}: train {'+'.join(config.train_regions)}, "
                                f"{validation}, {config.year} "
                                f"{'parcel patches' if spec.input_form == registry.PATCH else config.level}")

    def patch_inputs(ds: Any, ids: np.ndarray) -> ModelInput:
        return prepare(ds, np.intersect1d(ids, readable_ids(ds, spec.input_form)).tolist(), spec.input_form,
                       shuffle_time=config.shuffle_time,
                       shuffle_seed=config.seed)

    raw_train: list[Any] = []
    raw_val: list[Any] | None = None
    if spec.input_form != registry.PATCH:  # read every parcel once; each epoch only draws new observations
        raw_train = [s for ds in train_sets for s in read_series(ds, train_ids[ds.region].tolist(), order)]
        raw_val = [s for ds, ids in val_parts for s in read_series(ds, ids.tolist(), order)]

    def sequences(raw: list, seed: int) -> ModelInput:
        return from_series(raw, spec.input_form, year=year, sequence_length=spec.sequence_length,
                           seed=seed, shuffle_time=config.shuffle_time, shuffle_seed=config.seed)

    started = time.time()
    val = (_concat([patch_inputs(ds, ids) for ds, ids in val_parts]) if raw_val is None
           else sequences(raw_val, seed=0))
    if spec.input_form == registry.GRID:
        train_data = sequences(raw_train, seed=0)
        model: Any = RandomForest(num_classes=len(classes), input_dim=len(bands), seed=config.seed, **hparams)
        model.fit(train_data.x, train_data.labels)
        if on_epoch is not None:
            on_epoch(1, 1)
        val_pred = model.predict_proba(val.x).argmax(axis=1)
        best = classification_metrics(val.labels, val_pred, classes)
        history = [dict(epoch=1, **{k: best[k] for k in ("overall_accuracy", "kappa", "macro_f1")})]
    else:
        fixed_train = None
        if spec.input_form == registry.PATCH:
            fixed_train = _concat([patch_inputs(ds, train_ids[ds.region]) for ds in train_sets])
            info.normalization = patch_normalization(fixed_train.x)
            fixed_train.x = normalize_patches(fixed_train.x, info.normalization)
            val.x = normalize_patches(val.x, info.normalization)
        device = resolve_device(config.device)
        model = registry.build(spec.name, num_classes=len(classes), input_dim=len(bands),
                               sequence_length=spec.sequence_length, **hparams).to(device)
        fixed = None if fixed_train is None else (fixed_train.x, fixed_train.labels)

        def epoch_data(epoch: int) -> tuple[np.ndarray, np.ndarray]:
            if fixed is not None:
                return fixed
            drawn = sequences(raw_train, seed=config.seed * 1000 + epoch)
            return drawn.x, drawn.labels

        epochs_done = [0]

        def validate(m: nn.Module) -> dict[str, Any]:
            metrics = _validate(m, info, device, val, classes, config)
            epochs_done[0] += 1
            if on_epoch is not None:
                on_epoch(epochs_done[0], config.epochs)
            return metrics

        fitted = fit(model, epoch_data, validate,
                     epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
                     weight_decay=config.weight_decay, rng=rng, device=device,
                     loss=lambda m, x, y: _loss(m, x, y, config), progress=progress, label=f"train {spec.name}")
        best, history = fitted.best, fitted.history
    info.card = {
        "model": spec.name, "family": spec.family, "description": spec.description,
        "data": info.trained_on, "simulated_data": bool(val_set.metadata.get("simulated", False)),
        "root": str(config.root), "train_regions": list(config.train_regions),
        "val_region": config.val_region, "val_fraction": config.val_fraction, "group_col": config.group_col,
        "preset": config.preset, "year": config.year, "level": config.level,
        "classes": classes, "bands": bands, "band_order": order, "hyperparameters": hparams,
        "seed": config.seed, "epochs": config.epochs, "batch_size": config.batch_size,
        "learning_rate": config.learning_rate, "shuffle_time": config.shuffle_time,
        **({"alpha": config.alpha, "epsilon": config.epsilon, "full_season": config.full_season}
           if spec.name == "elects" else {}),
        "selection": "epoch with the best validation " + ("harmonic mean of accuracy and 1 - earliness"
                                                          if "early_harmonic_mean" in best else "macro F1"),
        "validation": {k: v for k, v in best.items() if isinstance(v, float)} | {"epoch": best.get("epoch", 1)},
        "history": history, "train_seconds": round(time.time() - started, 1),
        "command": " ".join(shlex.quote(a) for a in ["cropviz", *sys.argv[1:]]) if sys.argv else "",
    }
    path = checkpoint.save(out, model, info)
    return path, best


@dataclass
class FitResult:
    """The kept epoch's validation metrics (with ``epoch``) and one history row per epoch."""

    best: dict[str, Any]
    history: list[dict[str, Any]]


LossFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def _nll(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(model(x), y)


def fit(model: nn.Module, epoch_data: Callable[[int], tuple[np.ndarray, np.ndarray]],
        validate: Callable[[nn.Module], dict[str, Any]], *, epochs: int, batch_size: int, learning_rate: float,
        rng: np.random.Generator, weight_decay: float = 0.0, device: torch.device | None = None,
        loss: LossFunction = _nll, progress: bool = False, label: str = "train",
        patience: int | None = None) -> FitResult:
    """The one training loop: Adam over shuffled mini-batches of ``epoch_data(epoch)`` (inputs,
    labels), ``validate(model)`` after each epoch, and the weights of the epoch with the highest
    ``score`` (a tuple in the metrics) loaded back into ``model``, which is left in eval mode.

    Float metrics go into each epoch's history row beside ``epoch`` and ``train_loss``. Batches of
    one parcel are skipped (BatchNorm needs two). ``patience``: stop once that many epochs in a
    row have not improved the best score (early stopping; None trains all ``epochs``).
    """
    if patience is not None and patience < 1:
        raise ConfigurationError(f"{label}: patience must be at least 1 epoch (got {patience})")
    device = device or torch.device("cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    best: dict[str, Any] | None = None
    best_state: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    bar = tqdm(range(1, epochs + 1), desc=label, disable=not progress, leave=False)
    for epoch in bar:
        x, y = epoch_data(epoch)
        model.train()
        order, losses = rng.permutation(len(x)), []
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            if len(batch) < 2:
                continue
            value = loss(model, torch.from_numpy(x[batch]).to(device), torch.from_numpy(y[batch]).to(device))
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            losses.append(value.item())
        metrics = validate(model.eval())
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None,
                        **{k: v for k, v in metrics.items() if isinstance(v, float)}})
        bar.set_postfix(loss=f"{np.mean(losses) if losses else float('nan'):.3f}")
        if best is None or metrics["score"] > best["score"]:
            best, best_state = dict(metrics, epoch=epoch), copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - best["epoch"] >= patience:
            break
    if best is None:
        raise ConfigurationError(f"{label}: no epoch to train (epochs={epochs})")
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best, history)


def _validate(model: torch.nn.Module, info: ModelInfo, device: torch.device, val: ModelInput,
              classes: list[str], config: TrainConfig) -> dict[str, Any]:
    """Validation metrics and the selection score: macro F1, or for ELECTS the harmonic mean
    of accuracy and (1 - earliness) with deterministic stopping."""
    log_probs = Classifier(model, info, device).log_probs(val.x)
    metrics = classification_metrics(val.labels, log_probs.argmax(axis=1), classes)
    metrics["score"] = (metrics["macro_f1"],)
    if isinstance(model, ElectsModel) and not config.full_season:
        early = model.predict_early(torch.from_numpy(val.x).to(device))
        summary = early_metrics(early.stop_step, early.prediction, val.labels, val.x.shape[1])
        for key in ("accuracy", "macro_f1", "earliness", "harmonic_mean"):
            metrics[f"early_{key}"] = float(summary[key])
        # ties (e.g. a model that never stops early: harmonic mean 0) go to the more accurate epoch
        metrics["score"] = (metrics["early_harmonic_mean"], metrics["early_accuracy"])
    return metrics


def _loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    if isinstance(model, ElectsModel) and not config.full_season:
        log_probs, delta = model.forward_steps(x)
        return elects_loss(log_probs, delta, y, alpha=config.alpha, epsilon=config.epsilon)
    return F.nll_loss(model(x), y)
