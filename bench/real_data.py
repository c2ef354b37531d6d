"""cropviz's TempCNN against the BreizhCrops package's TempCNN (and a Random Forest) on real data.

    OMP_NUM_THREADS=1 python bench/real_data.py --root /tmp/realdata/dsr --train train --test test
    OMP_NUM_THREADS=1 python bench/real_data.py --root ROOT --train train --test test \\
        --seeds 0,1,2 --epochs 20 --presets demo,paper --json /tmp/realdata/real_data.json

Reads regions imported with ``cropviz import table`` (any BreizhCrops-layout root). For each seed
and preset it trains

- ``cropviz``: ``cropviz.training.train`` exactly as ``cropviz train --model tempcnn --preset P``
  (validation: ``--val-fraction 0.2``, grouped by the group recorded at import, e.g. the polygon);
- ``breizhcrops``: ``breizhcrops.models.TempCNN`` with the same hyper-parameters, the same
  training/validation parcels, the same per-epoch observation draws (``from_series``, seed
  ``seed * 1000 + epoch``), Adam with the same learning rate and weight decay, the same batch size
  and epochs, in a plain loop that keeps the epoch with the best validation macro F1;
- ``cropviz`` ``random_forest`` (the preset's hyper-parameters), once per seed;

and evaluates every model on ``--test`` with the inputs ``cropviz evaluate`` uses (sampling seed
0). Prints OA, kappa and macro F1 per run and their mean and standard deviation over seeds, and
training seconds (wall; say the machine's load when you quote them).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cropviz.data import open_breizhcrops
from cropviz.metrics import classification_metrics
from cropviz.models import registry
from cropviz.models.classifier import Classifier
from cropviz.models.inputs import from_series, read_series
from cropviz.training import TrainConfig, preset_hparams, resolve_data, train, validation_split

KEYS = ("overall_accuracy", "kappa", "macro_f1")


def scores(labels: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict[str, float]:
    """OA, kappa and macro F1 of predictions ``pred`` against ``labels``."""
    metrics = classification_metrics(labels, pred, classes)
    return {k: float(metrics[k]) for k in KEYS}


def run_cropviz(config: TrainConfig, test: Any) -> dict[str, Any]:
    """Train with ``cropviz.training.train`` and score the kept weights on ``test``."""
    with tempfile.TemporaryDirectory() as folder:
        suffix = ".npz" if config.model == "random_forest" else ".pt"
        started = time.perf_counter()
        path, _ = train(config, Path(folder) / f"model{suffix}", progress=False)
        seconds = time.perf_counter() - started
        classifier = Classifier.open(path, device="cpu")
        predictions = classifier.predict(test, seed=0)
    return dict(seconds=seconds, **scores(predictions["true"].to_numpy(), predictions["pred"].to_numpy(),
                                           classifier.classes))


def run_breizhcrops(config: TrainConfig, test: Any) -> dict[str, Any]:
    """Train ``breizhcrops.models.TempCNN`` on cropviz's split and draws in a plain loop."""
    from breizhcrops.models import TempCNN

    config = resolve_data(config)
    spec = registry.spec("tempcnn")
    year = int(config.year or 2017)
    train_sets = [open_breizhcrops(config.root, r, year=config.year, level=config.level)
                  for r in config.train_regions]
    classes = list(train_sets[0].classes)
    train_ids, val_ids = validation_split(train_sets, float(config.val_fraction or 0.2), config.seed,
                                          config.group_col)
    order = spec.band_order
    raw_train = [s for ds in train_sets for s in read_series(ds, train_ids[ds.region].tolist(), order)]
    raw_val = [s for ds in train_sets for s in read_series(ds, val_ids[ds.region].tolist(), order)]
    length = spec.sequence_length
    val = from_series(raw_val, spec.input_form, year=year, sequence_length=length, seed=0)
    test_input = from_series(read_series(test, test.index["id"].tolist(), order), spec.input_form,
                             year=year, sequence_length=length, seed=0)

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = TempCNN(input_dim=val.x.shape[2], num_classes=len(classes), sequencelength=length,
                    **preset_hparams(spec, config.preset))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    def predict(x: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(x)).argmax(dim=1).numpy()

    best_f1, best_state = -1.0, None
    for epoch in range(1, config.epochs + 1):
        drawn = from_series(raw_train, spec.input_form, year=year, sequence_length=length,
                            seed=config.seed * 1000 + epoch)
        model.train()
        order_ = rng.permutation(len(drawn.x))
        for start in range(0, len(order_), config.batch_size):
            batch = order_[start:start + config.batch_size]
            if len(batch) < 2:
                continue
            loss = F.nll_loss(model(torch.from_numpy(drawn.x[batch])), torch.from_numpy(drawn.labels[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        f1 = scores(val.labels, predict(val.x), classes)["macro_f1"]
        if f1 > best_f1:
            best_f1, best_state = f1, {k: v.clone() for k, v in model.state_dict().items()}
    seconds = time.perf_counter() - started
    if best_state is not None:
        model.load_state_dict(best_state)
    return dict(seconds=seconds, **scores(test_input.labels, predict(test_input.x), classes))


def summary(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Mean +- standard deviation over seeds of each score and of the seconds."""
    out = {}
    for key in (*KEYS, "seconds"):
        values = np.array([r[key] for r in rows], dtype=float)
        out[key] = f"{values.mean():.3f} +- {values.std():.3f}" if len(values) > 1 else f"{values[0]:.3f}"
    return out


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="BreizhCrops-layout root (from cropviz import table)")
    parser.add_argument("--train", default="train", help="training region(s), comma-separated")
    parser.add_argument("--test", default="test", help="held-out test region")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--presets", default="demo,paper", help="TempCNN presets (demo is train's default)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--no-forest", action="store_true", help="skip the Random Forest")
    parser.add_argument("--json", type=Path, default=None, help="write every run here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    test = open_breizhcrops(args.root, args.test)
    train_regions = args.train.split(",")
    runs: list[dict[str, Any]] = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for preset in args.presets.split(","):
            config = TrainConfig(model="tempcnn", root=args.root, train_regions=train_regions, epochs=args.epochs,
                                 seed=seed, preset=preset, device="cpu")
            for impl, run in (("cropviz", run_cropviz), ("breizhcrops", run_breizhcrops)):
                result = dict(model="tempcnn", implementation=impl, preset=preset, seed=seed, **run(config, test))
                runs.append(result)
                print(json.dumps(result), flush=True)
            if not args.no_forest:
                forest = TrainConfig(model="random_forest", root=args.root, train_regions=train_regions,
                                     seed=seed, preset=preset, device="cpu")
                result = dict(model="random_forest", implementation="cropviz", preset=preset, seed=seed,
                              **run_cropviz(forest, test))
                runs.append(result)
                print(json.dumps(result), flush=True)
    print(f"\n{'model':<14}{'implementation':<15}{'preset':<8}{'OA':<17}{'kappa':<17}{'macro F1':<17}train s")
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["model"], r["implementation"], r["preset"]), []).append(r)
    for (model, impl, preset), rows in groups.items():
        s = summary(rows)
        print(f"{model:<14}{impl:<15}{preset:<8}{s['overall_accuracy']:<17}{s['kappa']:<17}{s['macro_f1']:<17}"
              f"{s['seconds']}")
    if args.json is not None:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
