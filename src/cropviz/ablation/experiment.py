"""Seed 004 experiments: train each model ordered and shuffled with the one training loop
(:func:`cropviz.training.fit`), aggregate folds, and write the results JSON."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import precision_recall_fscore_support
from tqdm.auto import tqdm

from cropviz import __version__
from cropviz.ablation.data import (
    AblationData,
    fold_splits,
    load_patches,
    load_sequences,
    model_inputs,
    open_region,
    region_split,
)
from cropviz.ablation.tables import ORDERS, PAPER_NAMES, RESULTS_FORMAT, SEED004_MODELS, command_line
from cropviz.devices import device_name, resolve_device
from cropviz.errors import ConfigurationError
from cropviz.metrics import classification_metrics
from cropviz.models import registry
from cropviz.models.classifier import patch_normalization
from cropviz.training import fit

#: Models re-trained on shuffled time order (every model with a temporal part).
SHUFFLED_MODELS: tuple[str, ...] = ("cnn_gru7", "cnn_gru8", "cnn_gru9", "gru", "convlstm")


#: BreizhCrops zoo sequence models of the time-shuffle ablation.
ZOO_SHUFFLE_MODELS: tuple[str, ...] = ("transformer", "lstm", "tempcnn")


PAPER_EPOCHS, PAPER_BATCH_SIZE, PAPER_LEARNING_RATE = 50, 32, 1e-3


#: The demo's (and BreizhCrops') usual split: train, validation and test regions.
DEMO_TRAIN, DEMO_VAL, DEMO_TEST = ("frh01", "frh02"), "frh03", "frh04"


QUICK_EPOCHS, QUICK_PATCHES, QUICK_SEQUENCES = 1, 24, 200


DEFAULT_EPOCHS = 15


def macro_summary(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """OA, kappa, macro F1/precision/recall (scikit-learn macro over classes present) and per-class F1."""
    metrics = classification_metrics(y_true, y_pred, classes)
    precision, recall, _, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    return {"overall_accuracy": metrics["overall_accuracy"], "kappa": metrics["kappa"],
            "macro_f1": metrics["macro_f1"], "precision": float(precision), "recall": float(recall),
            "per_class_f1": {c["classname"]: c["f1"] for c in metrics["per_class"]},
            "per_class_support": {c["classname"]: c["support"] for c in metrics["per_class"]},
            "n": metrics["n"]}


def _predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 64,
             device: torch.device | None = None) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            rows = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(device or "cpu")
            out.append(model(rows).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def train_and_test(name: str, data: AblationData, split: dict[str, np.ndarray], *, shuffled: bool,
                   epochs: int, seed: int = 0, batch_size: int = PAPER_BATCH_SIZE,
                   learning_rate: float = PAPER_LEARNING_RATE, progress: bool = False,
                   device: str | torch.device = "cpu", patience: int | None = None) -> dict[str, Any]:
    """Train registry model ``name`` on ``split['train']`` (Adam) on ``device`` ('auto': CUDA when
    present) for at most ``epochs`` (fewer when ``patience`` epochs pass without a better
    validation macro F1), keep the epoch of best validation macro F1, and return its test metrics
    with ``best_epoch``, ``epochs_run``, ``history`` and parameter counts."""
    spec = registry.spec(name)
    if spec.input_form != data.form:
        raise ConfigurationError(f"{name} takes {spec.input_form} inputs, the data holds {data.form}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y = {part: data.labels[index] for part, index in split.items()}
    normalization = None
    if data.form == registry.PATCH:
        normalization = patch_normalization(model_inputs(data, split["train"], shuffled, seed, 0, None))
    fixed = {part: model_inputs(data, index, shuffled, seed, 0, normalization) for part, index in split.items()
             if part != "train" or data.form == registry.PATCH}
    hparams = dict(spec.demo_hparams or spec.defaults)
    where = resolve_device(device)
    model = registry.build(name, num_classes=len(data.classes), sequence_length=spec.sequence_length,
                           **hparams).to(where)
    started = time.time()

    def epoch_data(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        x = fixed["train"] if "train" in fixed else model_inputs(data, split["train"], shuffled, seed,
                                                            seed * 1000 + epoch, None)
        return x, y["train"]

    def validate(trained: torch.nn.Module) -> dict[str, Any]:
        f1 = classification_metrics(y["val"], _predict(trained, fixed["val"], device=where),
                                    data.classes)["macro_f1"]
        return {"val_macro_f1": f1, "score": (f1,)}

    fitted = fit(model, epoch_data, validate, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                 rng=rng, progress=progress, label=f"{name} {'shuffled' if shuffled else 'ordered'}", device=where,
                 patience=patience)
    best, best_epoch = fitted.best["val_macro_f1"], fitted.best["epoch"]
    history = fitted.history
    result = macro_summary(y["test"], _predict(model, fixed["test"], device=where), data.classes)
    counts = _counts(model) if data.form == registry.PATCH else None
    result.update(best_epoch=best_epoch, epochs_run=len(history), val_macro_f1=best, history=history,
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
               epochs: int, fold_numbers: Sequence[int]) -> dict[str, Any]:
    """One results row: the mean over the folds run (``fold_numbers``, from 1), with the
    spread when there are several."""
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
    row["epochs_run"] = [r.get("epochs_run", epochs) for r in runs]
    row["train_seconds"] = float(sum(r["train_seconds"] for r in runs))
    row["test_parcels"] = int(sum(r["n"] for r in runs))
    if len(runs) > 1:
        row["folds"] = [{"fold": fold, **{k: r[k] for k in (*keys, "best_epoch", "n")}}
                        for fold, r in zip(fold_numbers, runs, strict=True)]
        row["spread"] = {f"{k}_std": float(np.std([r[k] for r in runs], ddof=1)) for k in keys} | {
            f"{k}_min": float(np.min([r[k] for r in runs])) for k in ("macro_f1", "overall_accuracy")} | {
            f"{k}_max": float(np.max([r[k] for r in runs])) for k in ("macro_f1", "overall_accuracy")}
    else:
        row["history"] = runs[0]["history"]
    return row


#: Version of the saved per-run files; a run saved under another version is trained again.
RUN_FORMAT = "cropviz seed004 run 1"


def default_runs_dir(out: str | Path) -> Path:
    """Where :func:`reproduce_time_space` keeps each finished run of ``out``: ``<out stem>.runs``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.runs")


def _data_fingerprint(data: AblationData) -> str:
    digest = hashlib.sha256()
    for array in (data.ids, data.labels):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    digest.update("|".join(data.classes).encode())
    return digest.hexdigest()[:16]


def _saved_run(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """A finished run saved under the same key (model, order, fold, protocol, data), else None."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != key or not isinstance(saved.get("result"), dict):
        return None
    return saved["result"]


def _write_json(path: Path, value: Any, indent: int | None = None) -> None:
    """Write ``value`` as JSON through a temporary file, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=indent))
    tmp.replace(path)


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
                         train_regions: Sequence[str] = DEMO_TRAIN, val_region: str = DEMO_VAL,
                         test_region: str = DEMO_TEST, year: int = 2017,
                         level: str = "L1C", device: str | torch.device = "cpu",
                         runs_dir: str | Path | None = None, patience: int | None = None,
                         only_folds: Sequence[int] | None = None) -> dict[str, Any]:
    """Reproduce seed 004 (Tables 2-4) on the patches under ``root`` and write the JSON to ``out``.

    Every model of ``models`` is trained on ordered inputs, those of ``shuffled`` also on
    per-parcel shuffled time order, and the zoo sequence models ``zoo`` both ways (region split
    or the same folds over all parcels). ``folds=1``: train ``train_regions``, keep the best
    epoch on ``val_region``, test on ``test_region``; ``folds>=3``: stratified seeded folds over
    the union of those regions (3:1:1 for 5). ``quick``: 1 epoch, at most 24 patches and 200
    sequences per region (a smoke run). ``device``: where the models train ('auto': CUDA when
    present; recorded in the protocol). ``patience``: stop a training once that many epochs
    pass without a better validation macro F1 (``epochs`` is then the most). ``only_folds``
    (numbers from 1): run only those folds of the ``folds``-fold split; the rows are then means
    over them and the protocol says which ran. Each finished (model, order, fold) run is saved under
    ``runs_dir`` (default :func:`default_runs_dir`) and reused by a later call with the same
    data and protocol, so an interrupted study resumes where it stopped and one study can be
    spread over several processes or sessions. Returns the results dict written to ``out``.
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
    fold_numbers = sorted(set(only_folds)) if only_folds else list(range(1, folds + 1))
    if not set(fold_numbers) <= set(range(1, folds + 1)):
        raise ConfigurationError(f"folds to run {fold_numbers}: a {folds}-fold study has folds 1 to {folds}")
    if patience is not None and patience < 1:
        raise ConfigurationError(f"patience must be at least 1 epoch (got {patience})")
    epochs = epochs or (QUICK_EPOCHS if quick else DEFAULT_EPOCHS)
    zoo_epochs = zoo_epochs or epochs
    if epochs < 1 or zoo_epochs < 1:
        raise ConfigurationError(f"epochs must be at least 1 (got {epochs}, zoo {zoo_epochs})")
    regions = [*train_regions, val_region, test_region]
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(out)
    reused = 0
    started = time.time()
    meta = open_region(root, test_region, year, level).metadata
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
        data_info[form] = {"parcels": int(len(data)),
                           "per_region": {r: int((data.regions == r).sum()) for r in regions},
                           "classes": data.classes, "class_counts": {c: int((data.labels == k).sum())
                                                                     for k, c in enumerate(data.classes)}}
        if form == registry.PATCH:
            data_info[form]["dates"] = int(data.payload.shape[1])
        for name, order in part_plan:
            bar.set_postfix_str(f"{name} {order}")
            runs = []
            for fold in fold_numbers:
                key = {"format": RUN_FORMAT, "model": name, "order": order, "fold": fold, "folds": folds,
                       "seed": seed, "epochs": n_epochs, "patience": patience, "batch_size": batch_size,
                       "learning_rate": learning_rate, "regions": regions, "year": year, "level": level,
                       "quick": quick, "data": _data_fingerprint(data)}
                path = runs_dir / f"{name}-{order}-fold{fold}of{folds}.json"
                run = _saved_run(path, key)
                if run is None:
                    run = train_and_test(name, data, splits[fold - 1], shuffled=order == "shuffled",
                                         epochs=n_epochs, seed=seed, batch_size=batch_size,
                                         learning_rate=learning_rate, progress=progress, device=device,
                                         patience=patience)
                    _write_json(path, _clean({"key": key, "result": run}))
                else:
                    reused += 1
                runs.append(run)
            rows.append(_aggregate(name, order, family, runs, seed, n_epochs, fold_numbers))
            bar.update(1)
    bar.close()
    split_text = (f"regions: train {'+'.join(train_regions)}, validation {val_region}, test {test_region}"
                  if folds == 1 else f"{folds}-fold stratified cross-validation (seed {seed}) over the parcels of "
                  f"{'+'.join(regions)}: per fold test = part k, validation = part k+1, train = the rest" + (
                      f"; folds run: {', '.join(map(str, fold_numbers))} of {folds}"
                      if len(fold_numbers) < folds else ""))
    results = {
        "format": RESULTS_FORMAT, "cropviz_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": (" ".join(shlex.quote(a) for a in ["cropviz", *sys.argv[1:]])
                    if sys.argv and Path(sys.argv[0]).name == "cropviz" else None),
        "equivalent_command": command_line(root, out, folds, quick) + (
            f" --epochs {epochs}" if epochs != (QUICK_EPOCHS if quick else DEFAULT_EPOCHS) else "") + (
            f" --zoo-epochs {zoo_epochs}" if zoo_epochs != epochs else "") + (f" --seed {seed}" if seed else "") + (
            f" --patience {patience}" if patience else "") + (
            f" --only-folds {','.join(map(str, fold_numbers))}" if len(fold_numbers) < folds else "") + "".join(
            f" --{option} {','.join(chosen) or repr('')}" for option, chosen, default in (
                ("models", models, SEED004_MODELS), ("shuffled", shuffled, SHUFFLED_MODELS),
                ("zoo", zoo, ZOO_SHUFFLE_MODELS)) if tuple(chosen) != tuple(default)),
        "data": {"root": str(root), "simulated": simulated,
                 "description": ("cropviz SIMULATED demo (not real Sentinel-2 data)" if simulated
                                 else "BreizhCrops-layout data (real unless stated otherwise)"),
                 "source": meta.get("source", ""), "year": year, "level": level, "split": split_text,
                 "patches": data_info.get(registry.PATCH), "sequences": data_info.get(registry.SEQUENCE)},
        "protocol": {"optimizer": "Adam", "learning_rate": learning_rate, "batch_size": batch_size,
                     "epochs": epochs, "zoo_epochs": zoo_epochs, "paper_epochs": PAPER_EPOCHS,
                     "selection": "epoch with the best validation macro F1, evaluated on the test part",
                     "folds": folds, "folds_run": fold_numbers, "patience": patience, "seed": seed,
                     "quick": quick,
                     "shuffle": "per-parcel permutation of the time axis, seeded by (seed, parcel id), "
                                "the same at training, validation and test",
                     "device": device_name(device),
                     "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "results": rows, "seconds": round(time.time() - started, 1), "reused_runs": reused,
    }
    results = _clean(results)
    _write_json(Path(out), results, indent=1)
    return results
