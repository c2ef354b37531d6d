"""Validation of ``cropviz.diagnose`` on the simulated demo: planted label errors and planted clouds.

1. Label errors: copies of a region whose index gives ``--share`` (default 8 %) of the parcels
   another class's crop code (seeded). The ``label_quality`` threshold is chosen on the
   validation region (frh03) copy, then applied unchanged to the test region (frh04) copy, where
   precision and recall of the ``label_error`` verdict and the average precision of
   ``1 - label_quality`` (all parcels, planted = positive) are reported.
2. Clouds: a copy of the test region where, for correctly classified parcels (seeded sample), the
   ``--cloud-dates`` most decisive clear observations (largest |integrated gradients| of the
   predicted class) are overwritten with a bright opaque cloud spectrum and flagged in QA60. The
   parcels the model then gets wrong are the planted cloud cases; the recall of ``cloud_driven``
   among them is reported.
3. Timing: seconds of ``diagnose`` on each copy (evidence and verdicts, no cache), and on a
   training region (``--train``, frh01) the cost of its 5-fold cross-validated probabilities.

Run: ``python bench/bench_diagnose.py --root data/demo --model transformer --work /tmp/cropviz-diagnose``
(``--json FILE`` writes the numbers). Numbers are on SIMULATED demo data, not BreizhCrops.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def copy_region(root: Path, region: str, out: Path, level: str = "L1C", year: int = 2017,
                copy_h5: bool = False) -> None:
    """A dataset folder ``out`` holding only ``region`` of ``root`` (h5 linked unless ``copy_h5``)."""
    if out.exists():
        shutil.rmtree(out)
    (out / str(year) / level).mkdir(parents=True)
    for name in ("codes.csv", "classmapping.csv", "cropviz.json"):
        if (root / name).exists():
            shutil.copyfile(root / name, out / name)
    for path in (root / str(year)).glob(f"{region}.*"):
        shutil.copyfile(path, out / str(year) / path.name)
    shutil.copyfile(root / str(year) / level / f"{region}.csv", out / str(year) / level / f"{region}.csv")
    h5 = root / str(year) / level / f"{region}.h5"
    target = out / str(year) / level / f"{region}.h5"
    if copy_h5:
        shutil.copyfile(h5, target)
    else:
        target.symlink_to(h5.resolve())


def plant_label_errors(out: Path, region: str, share: float, seed: int, level: str = "L1C",
                       year: int = 2017) -> np.ndarray:
    """Give ``share`` of the parcels of ``out``'s index another class's crop code; return their ids."""
    index_path = out / str(year) / level / f"{region}.csv"
    index = pd.read_csv(index_path)
    mapping = pd.read_csv(out / "classmapping.csv", index_col=0)
    code_class = dict(zip(mapping["code"], mapping["id"], strict=True))
    first_code = mapping.groupby("id")["code"].first()
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(index), int(round(share * len(index))), replace=False)
    for row in rows:
        given = code_class.get(index.at[row, "CODE_CULTU"])
        others = [k for k in first_code.index if k != given]
        index.at[row, "CODE_CULTU"] = first_code[rng.choice(others)]
    index.to_csv(index_path, index=False)
    return index.loc[rows, "id"].to_numpy(np.int64)


def plant_clouds(out: Path, region: str, model: Any, ids: np.ndarray, n_dates: int, level: str = "L1C",
                 year: int = 2017) -> None:
    """Overwrite the ``n_dates`` most decisive clear inputs of parcels ``ids`` with a flagged cloud."""
    import h5py

    from cropviz.data import open_breizhcrops
    from cropviz.data.bands import H5_COLUMNS, QA60_OPAQUE_BIT, REFLECTANCE_SCALE
    from cropviz.explain import attribute_batch
    from cropviz.explain.attribution import cloud_spectrum

    ds = open_breizhcrops(out, region, year=year, level=level)
    prepared = model.inputs(ds, ids)
    attribution = attribute_batch(model.model, prepared.x, "integrated_gradients", n_steps=32, batch_size=16,
                                  device=model.device)
    weight = np.abs(attribution.per_observation)
    weight[prepared.cloudy] = -1.0
    columns = H5_COLUMNS[level]
    bands = [c for c in columns if c.startswith("B")]
    cloud = cloud_spectrum(bands) * REFLECTANCE_SCALE
    paths = ds.index.set_index("id").loc[ids, "path"]
    ds.close()
    with h5py.File(out / str(year) / level / f"{region}.h5", "r+") as h5:
        for row, parcel_id in enumerate(ids):
            top = np.argsort(-weight[row])[:n_dates]
            dates = prepared.dates[row, top].astype("datetime64[ns]").astype(np.int64)
            data = h5[paths.loc[parcel_id]][()]
            hit = np.isin(data[:, columns.index("doa")].astype(np.int64), dates)
            for j, band in enumerate(bands):
                data[hit, columns.index(band)] = cloud[j]
            data[hit, columns.index("QA60")] = 1 << QA60_OPAQUE_BIT
            h5[paths.loc[parcel_id]][...] = data


def label_error_scores(frame: pd.DataFrame, planted: np.ndarray) -> dict[str, float]:
    """Precision and recall of label_error and average precision of 1 - label_quality."""
    from sklearn.metrics import average_precision_score

    truth = frame["id"].isin(planted).to_numpy()
    flagged = (frame["verdict"] == "label_error").to_numpy()
    tp = int((truth & flagged).sum())
    return {"planted": int(truth.sum()), "flagged": int(flagged.sum()), "true_positives": tp,
            "precision": tp / max(int(flagged.sum()), 1), "recall": tp / max(int(truth.sum()), 1),
            "average_precision": float(average_precision_score(truth, 1.0 - frame["label_quality"].to_numpy())),
            "planted_misclassified": int((truth & (frame["true"] != frame["pred"]).to_numpy()).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/demo"))
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cropviz-diagnose"))
    parser.add_argument("--validation", default="frh03")
    parser.add_argument("--test", default="frh04")
    parser.add_argument("--train", default="frh01")
    parser.add_argument("--share", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cloud-parcels", type=int, default=200)
    parser.add_argument("--cloud-dates", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from cropviz.data import open_breizhcrops
    from cropviz.diagnose import Thresholds, diagnose
    from cropviz.diagnose.verdict import choose_label_quality_threshold
    from cropviz.models import Classifier

    torch.set_num_threads(1)
    if not (args.root / "cropviz.json").exists():
        from cropviz.data.demo import generate_demo
        generate_demo(args.root, progress=False)
    model = Classifier.open(args.model, device="cpu")
    report: dict[str, Any] = {"model": args.model, "data": "SIMULATED cropviz demo (not BreizhCrops)",
                              "share": args.share, "seed": args.seed}

    # 1. label errors: choose the threshold on validation, apply it on test
    val_root = args.work / "val-labels"
    copy_region(args.root, args.validation, val_root)
    val_planted = plant_label_errors(val_root, args.validation, args.share, args.seed)
    val_ds = open_breizhcrops(val_root, args.validation)
    start = time.perf_counter()
    val_frame = diagnose(model, val_ds)
    report["seconds_validation"] = round(time.perf_counter() - start, 1)
    wrong = (val_frame["true"] != val_frame["pred"]).to_numpy()
    threshold = choose_label_quality_threshold(val_frame["label_quality"].to_numpy(), wrong,
                                               val_frame["id"].isin(val_planted).to_numpy())
    thresholds = Thresholds(label_quality=threshold)
    val_frame = diagnose(model, val_ds, thresholds=thresholds, evidence=None)
    report["label_quality_threshold"] = threshold
    report["validation"] = label_error_scores(val_frame, val_planted)

    test_root = args.work / "test-labels"
    copy_region(args.root, args.test, test_root)
    test_planted = plant_label_errors(test_root, args.test, args.share, args.seed + 1)
    test_ds = open_breizhcrops(test_root, args.test)
    start = time.perf_counter()
    test_frame = diagnose(model, test_ds, thresholds=thresholds)
    report["seconds_test"] = round(time.perf_counter() - start, 1)
    report["parcels_test"] = len(test_frame)
    report["test"] = label_error_scores(test_frame, test_planted)
    report["test_verdicts"] = test_frame["verdict"].value_counts().to_dict()

    # 2. clouds on decisive dates of correctly classified test parcels
    clean_ds = open_breizhcrops(args.root, args.test)
    clean = diagnose(model, clean_ds, thresholds=thresholds, explain="none")
    correct = clean.loc[clean["true"] == clean["pred"], "id"].to_numpy()
    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.choice(correct, min(args.cloud_parcels, len(correct)), replace=False))
    cloud_root = args.work / "test-clouds"
    copy_region(args.root, args.test, cloud_root, copy_h5=True)
    plant_clouds(cloud_root, args.test, model, chosen, args.cloud_dates)
    cloud_frame = diagnose(model, open_breizhcrops(cloud_root, args.test), thresholds=thresholds)
    broken = cloud_frame[cloud_frame["id"].isin(chosen) & (cloud_frame["true"] != cloud_frame["pred"])]
    report["clouds"] = {"parcels_clouded": int(len(chosen)), "dates_per_parcel": args.cloud_dates,
                        "became_misclassified": int(len(broken)),
                        "cloud_driven": int((broken["verdict"] == "cloud_driven").sum()),
                        "recall": float((broken["verdict"] == "cloud_driven").mean()) if len(broken) else float("nan"),
                        "their_verdicts": broken["verdict"].value_counts().to_dict()}
    # 3. a training region: k-fold cross-validated probabilities replace the model's own
    from cropviz.diagnose import region_evidence
    from cropviz.diagnose.label_quality import cross_validated_probs

    train_ds = open_breizhcrops(args.root, args.train)
    start = time.perf_counter()
    evidence = region_evidence(model, train_ds)
    report["seconds_train_region_evidence"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    cross_validated_probs(evidence.embedding, evidence.labels, len(model.classes))
    report["seconds_train_region_cv"] = round(time.perf_counter() - start, 2)
    train_frame = diagnose(model, train_ds, evidence=evidence, thresholds=thresholds, in_training=True)
    report["train_region"] = {"region": args.train, "parcels": len(train_frame),
                              "verdicts": train_frame["verdict"].value_counts().to_dict()}
    print(json.dumps(report, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
