"""Training any registry model on a BreizhCrops-layout dataset, keeping the best validation epoch."""

from __future__ import annotations

import copy
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from cropviz.data.bands import band_order
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
    val_region: str
    year: int = 2017
    level: str = "L1C"
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


def _open(root: str, region: str, year: int, level: str) -> Any:
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


def _dataset_description(dataset: Any) -> str:
    metadata = getattr(dataset, "metadata", {}) or {}
    if metadata.get("simulated"):
        return "cropviz simulated demo (not BreizhCrops)"
    if metadata.get("source") == "imported":
        files = metadata.get("regions", {}).get(dataset.region, {}).get("source_files", [])
        return f"imported data ({', '.join(map(str, files)) or 'cropviz import'})"
    return "BreizhCrops-layout data"


def train(config: TrainConfig, out: str | Path, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Train ``config.model`` and write the best-validation checkpoint and card to ``out``.

    Returns the checkpoint path and the validation metrics of the kept epoch.
    """
    spec = registry.spec(config.model)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_sets = [_open(config.root, r, config.year, config.level) for r in config.train_regions]
    val_set = _open(config.root, config.val_region, config.year, config.level)
    classes = list(val_set.classes)
    for ds in train_sets:
        if list(ds.classes) != classes:
            raise ConfigurationError(f"region {ds.region} has other classes than {config.val_region}")
    order = spec.band_order
    bands = list(band_order(config.level, order))
    hparams = {**(spec.demo_hparams or spec.defaults), **config.hparams}
    info = ModelInfo(arch=spec.name, classes=classes, level=config.level, band_order=order,
                     bands=bands, sequence_length=spec.sequence_length, hparams=hparams,
                     shuffle_time=config.shuffle_time, shuffle_seed=config.seed,
                     trained_on=f"{_dataset_description(val_set)}: train {'+'.join(config.train_regions)}, "
                                f"validation {config.val_region}, {config.year} "
                                f"{'parcel patches' if spec.input_form == registry.PATCH else config.level}")

    def patch_inputs(ds: Any) -> ModelInput:
        return prepare(ds, _labelled(ds, readable_ids(ds, spec.input_form)), spec.input_form, shuffle_time=config.shuffle_time,
                       shuffle_seed=config.seed)

    if spec.input_form == registry.PATCH:
        raw_train, raw_val = None, None
    else:  # read every parcel once; each epoch only draws new observations from memory
        raw_train = [s for ds in train_sets for s in read_series(ds, _labelled(ds, ds.index["id"]), order)]
        raw_val = read_series(val_set, _labelled(val_set, val_set.index["id"]), order)

    def sequences(raw: list, seed: int) -> ModelInput:
        return from_series(raw, spec.input_form, year=config.year, sequence_length=spec.sequence_length,
                           seed=seed, shuffle_time=config.shuffle_time, shuffle_seed=config.seed)

    started = time.time()
    val = patch_inputs(val_set) if raw_val is None else sequences(raw_val, seed=0)
    if spec.input_form == registry.GRID:
        train_data = sequences(raw_train, seed=0)
        model: Any = RandomForest(num_classes=len(classes), input_dim=len(bands), seed=config.seed, **hparams)
        model.fit(train_data.x, train_data.labels)
        val_pred = model.predict_proba(val.x).argmax(axis=1)
        best = classification_metrics(val.labels, val_pred, classes)
        history = [dict(epoch=1, **{k: best[k] for k in ("overall_accuracy", "kappa", "macro_f1")})]
    else:
        fixed_train = None
        if spec.input_form == registry.PATCH:
            fixed_train = _concat([patch_inputs(ds) for ds in train_sets])
            info.normalization = patch_normalization(fixed_train.x)
            fixed_train.x = normalize_patches(fixed_train.x, info.normalization)
            val.x = normalize_patches(val.x, info.normalization)
        device = checkpoint.resolve_device(config.device)
        model = registry.build(spec.name, num_classes=len(classes), input_dim=len(bands),
                               sequence_length=spec.sequence_length, **hparams).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                     weight_decay=config.weight_decay)
        best, best_state, history = None, None, []
        epochs = tqdm(range(1, config.epochs + 1), desc=f"train {spec.name}", disable=not progress)
        for epoch in epochs:
            data = fixed_train or sequences(raw_train, seed=config.seed * 1000 + epoch)
            model.train()
            order_idx = rng.permutation(len(data.ids))
            losses = []
            for start in range(0, len(order_idx), config.batch_size):
                batch = order_idx[start:start + config.batch_size]
                if len(batch) < 2:
                    continue
                x = torch.from_numpy(data.x[batch]).to(device)
                y = torch.from_numpy(data.labels[batch]).to(device)
                loss = _loss(model, x, y, config)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            metrics = _validate(model.eval(), info, device, val, classes, config)
            history.append(dict(epoch=epoch, train_loss=float(np.mean(losses)),
                                **{k: v for k, v in metrics.items() if isinstance(v, float)}))
            epochs.set_postfix(loss=f"{np.mean(losses):.3f}", val_f1=f"{metrics['macro_f1']:.3f}")
            if best is None or metrics["score"] > best["score"]:
                best, best_state = dict(metrics, epoch=epoch), copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
        model.eval()
    info.card = {
        "model": spec.name, "family": spec.family, "description": spec.description,
        "data": info.trained_on, "simulated_data": bool(val_set.metadata.get("simulated", False)),
        "root": str(config.root), "train_regions": list(config.train_regions),
        "val_region": config.val_region, "year": config.year, "level": config.level,
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


def _validate(model: torch.nn.Module, info: ModelInfo, device: torch.device, val: ModelInput,
              classes: list[str], config: TrainConfig) -> dict[str, Any]:
    """Validation metrics and the selection score: macro F1, or for ELECTS the harmonic mean
    of accuracy and (1 - earliness) with deterministic stopping."""
    log_probs = Classifier(model, info, device).log_probs(val.x)
    metrics = classification_metrics(val.labels, log_probs.argmax(axis=1), classes)
    metrics["score"] = (metrics["macro_f1"],)
    if hasattr(model, "predict_early") and not config.full_season:
        from cropviz.early import early_metrics

        early = model.predict_early(torch.from_numpy(val.x).to(device))
        summary = early_metrics(early.stop_step, early.prediction, val.labels, val.x.shape[1])
        for key in ("accuracy", "macro_f1", "earliness", "harmonic_mean"):
            metrics[f"early_{key}"] = float(summary[key])
        # ties (e.g. a model that never stops early: harmonic mean 0) go to the more accurate epoch
        metrics["score"] = (metrics["early_harmonic_mean"], metrics["early_accuracy"])
    return metrics


def _loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    if hasattr(model, "forward_steps") and not config.full_season:
        from cropviz.early import elects_loss

        log_probs, delta = model.forward_steps(x)
        return elects_loss(log_probs, delta, y, alpha=config.alpha, epsilon=config.epsilon)
    return F.nll_loss(model(x), y)
