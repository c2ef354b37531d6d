"""Reproduce every shipped model in models/: train on the demo, evaluate on its test region.

    python scripts/train_models.py [--root data/demo] [--jobs 2] [--only NAME ...]

Each model is trained with ``cropviz train`` (so its card records that command) on frh01+frh02,
validated on frh03, then evaluated on frh04; the table of test metrics is written to
models/README.md between the RESULTS markers. Deterministic: seed 0 everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"

# name -> (registry model, epochs, extra CLI arguments)
SEQ = ["--batch-size", "128", "--lr", "0.002"]
PATCH = ["--batch-size", "32"]
ELECTS = ["--batch-size", "128", "--lr", "0.005"]
JOBS: dict[str, tuple[str, int, list[str]]] = {
    "transformer": ("transformer", 40, SEQ),
    "lstm": ("lstm", 40, SEQ),
    "tempcnn": ("tempcnn", 40, SEQ),
    "msresnet": ("msresnet", 40, SEQ),
    "inceptiontime": ("inceptiontime", 40, SEQ),
    "starrnn": ("starrnn", 40, SEQ),
    "omniscalecnn": ("omniscalecnn", 40, SEQ),
    "gru": ("gru", 30, PATCH),
    "cnn": ("cnn", 15, PATCH),
    "cnn_gru7": ("cnn_gru7", 15, PATCH),
    "cnn_gru8": ("cnn_gru8", 15, PATCH),
    "cnn_gru9": ("cnn_gru9", 15, PATCH),
    "convlstm": ("convlstm", 15, PATCH),
    "elects": ("elects", 40, [*ELECTS, "--alpha", "0.5"]),
    "random_forest": ("random_forest", 1, []),
    "transformer_shuffled": ("transformer", 40, [*SEQ, "--shuffle-time"]),
    "lstm_shuffled": ("lstm", 40, [*SEQ, "--shuffle-time"]),
    "tempcnn_shuffled": ("tempcnn", 40, [*SEQ, "--shuffle-time"]),
    "gru_shuffled": ("gru", 30, [*PATCH, "--shuffle-time"]),
    "cnn_gru9_shuffled": ("cnn_gru9", 15, [*PATCH, "--shuffle-time"]),
    "convlstm_shuffled": ("convlstm", 15, [*PATCH, "--shuffle-time"]),
    "elects_alpha03": ("elects", 40, [*ELECTS, "--alpha", "0.3"]),
    "elects_alpha07": ("elects", 40, [*ELECTS, "--alpha", "0.7"]),
    "elects_alpha09": ("elects", 40, [*ELECTS, "--alpha", "0.9"]),
    "elects_fullseason": ("elects", 40, [*ELECTS, "--full-season"]),
}


def run(name: str, root: Path, threads: int, retrain: bool) -> dict:
    """Train one job, evaluate it on frh04 and record the test metrics in its card."""
    model, epochs, extra = JOBS[name]
    suffix = ".npz" if model == "random_forest" else ".pt"
    out = MODELS / f"{name}{suffix}"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if retrain or not out.exists():
        subprocess.run(["cropviz", "train", "--model", model, "--root", str(root), "--train", "frh01,frh02",
                        "--val", "frh03", "--epochs", str(epochs), "--seed", "0", "--device", "cpu",
                        *extra, "--out", str(out.relative_to(REPO))], check=True, env=env, cwd=REPO)
    result = subprocess.run(["cropviz", "evaluate", "--model", str(out), "--root", str(root),
                             "--region", "frh04", "--device", "cpu", "--json"], check=True, env=env,
                            cwd=REPO, capture_output=True, text=True)
    metrics = json.loads(result.stdout)
    card_path = out.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["test"] = {"region": "frh04 (simulated demo)",
                    **{k: metrics[k] for k in ("overall_accuracy", "kappa", "macro_f1")},
                    "per_class_f1": {row["classname"]: row["f1"] for row in metrics["per_class"]}}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card


def table_rows() -> list[dict]:
    """One row per shipped model with a test entry in its card, in JOBS order."""
    rows = []
    for name in JOBS:
        card_path = MODELS / f"{name}.json"
        if not card_path.exists():
            continue
        card = json.loads(card_path.read_text())
        if "test" in card:
            checkpoint = MODELS / card["checkpoint"]
            rows.append({"name": name, "model": card["model"], "size_kb": checkpoint.stat().st_size // 1024,
                         "val_epoch": card.get("validation", {}).get("epoch"), **card["test"],
                         "train_minutes": round(card.get("train_seconds", 0) / 60, 1)})
    return rows


def write_table(rows: list[dict]) -> None:
    """Put the results table into models/README.md between the RESULTS markers."""
    lines = ["| weights | model | test OA | kappa | macro F1 | best epoch | size (KB) | train min |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row['name']}` | {row['model']} | {row['overall_accuracy']:.3f} | {row['kappa']:.3f} | "
                     f"{row['macro_f1']:.3f} | {row['val_epoch']} | {row['size_kb']} | "
                     f"{row.get('train_minutes', '-')} |")
    readme = MODELS / "README.md"
    text = readme.read_text()
    start, end = "<!-- RESULTS START -->", "<!-- RESULTS END -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    readme.write_text(head + start + "\n" + "\n".join(lines) + "\n" + end + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once (one thread each)")
    parser.add_argument("--only", nargs="*", help="names of JOBS to run (default: all)")
    parser.add_argument("--table-only", action="store_true", help="only rewrite the README table")
    parser.add_argument("--retrain", action="store_true", help="train again when a checkpoint exists")
    args = parser.parse_args()
    if not (args.root / "cropviz.json").exists():
        subprocess.run(["cropviz", "demo", "--root", str(args.root)], check=True)
    names = [] if args.table_only else args.only or list(JOBS)
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    def attempt(name: str) -> None:
        try:
            run(name, args.root, threads, args.retrain)
        except subprocess.CalledProcessError as error:
            print(f"{name}: failed ({error})", file=sys.stderr)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(attempt, names))
    rows = table_rows()
    write_table(rows)
    print("\n".join(f"{r['name']:<22} OA {r['overall_accuracy']:.3f} F1 {r['macro_f1']:.3f}" for r in rows))

if __name__ == "__main__":
    sys.exit(main())
