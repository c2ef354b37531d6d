"""Benchmark of cropviz.scale.precompute: parcels/s with 1 and 2 local Dask workers.

Measures, on a generated (streamed) demo region, the throughput of region-wide predictions and
of integrated gradients, the scaling efficiency from 1 to N workers and the peak memory of each
worker; splits one worker's time into reading/preparing parcels and running the model; and
extrapolates the worker-hours and cluster size that precompute France (``--target`` parcels,
10 million) in under an hour. GPU figures are NOT measured here (no GPU): they follow from the
measured per-parcel preparation time plus the model time divided by an assumed GPU speed-up
(``--gpu-speedup``).

Run: ``python bench/bench_precompute.py --root /tmp/cropviz-bench --parcels 200000``
(generates the region when absent: ~145 s per 20,000 parcels; an existing root is reused).
The model defaults to an untrained transformer with the published hyper-parameters
(throughput does not depend on the weights). The machine may be shared: timings are noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


def ensure_region(root: Path, region: str, parcels: int) -> None:
    """Generate the benchmark region under ``root`` unless it exists (an existing root is reused)."""
    from cropviz.data.demo import generate_demo

    if (root / "2017" / "L1C" / f"{region}.h5").exists():
        return
    start = time.perf_counter()
    generate_demo(root, parcels={region: parcels}, regions=[region], patches=False, progress=True)
    print(f"generated {parcels} parcels in {time.perf_counter() - start:.0f} s")


def default_model(root: Path, region: str) -> Path:
    """An untrained transformer with the published hyper-parameters (d_model 64, 5 layers)."""
    from cropviz.data import open_breizhcrops
    from cropviz.data.bands import band_order
    from cropviz.models import checkpoint, registry
    from cropviz.models.checkpoint import ModelInfo

    path = root / "bench-transformer.pt"
    if not path.exists():
        ds = open_breizhcrops(root, region)
        bands = list(band_order("L1C", "breizhcrops"))
        hparams = dict(registry.spec("transformer").defaults)
        model = registry.build("transformer", num_classes=len(ds.classes), input_dim=len(bands), **hparams)
        checkpoint.save(path, model.eval(), ModelInfo(arch="transformer", classes=list(ds.classes),
                                                      bands=bands, hparams=hparams, trained_on="untrained (bench)"))
    return path


def stage_times(root: Path, region: str, model: Path, n: int, ig_n: int) -> dict[str, float]:
    """One process, one thread: seconds per parcel to read+prepare, predict, and run IG."""
    import torch

    from cropviz.data import open_breizhcrops
    from cropviz.explain import attribute_batch
    from cropviz.models.classifier import Classifier

    torch.set_num_threads(1)
    ds = open_breizhcrops(root, region)
    clf = Classifier.open(model, device="cpu")
    ids = ds.index["id"].to_numpy()[:n]
    t0 = time.perf_counter()
    prepared = clf.inputs(ds, ids)
    t1 = time.perf_counter()
    clf.log_probs(prepared.x)
    t2 = time.perf_counter()
    attribute_batch(clf.model, prepared.x[:ig_n], "integrated_gradients", batch_size=32, device="cpu")
    t3 = time.perf_counter()
    return {"prepare_s_per_parcel": (t1 - t0) / n, "predict_s_per_parcel": (t2 - t1) / n,
            "ig_s_per_parcel": (t3 - t2) / ig_n}


def run(root: Path, region: str, model: Path, workers: int, explain: tuple[str, ...],
        partition_size: int, out: Path, ids: np.ndarray | None) -> dict[str, float]:
    """Time one precompute on a fresh, warmed-up LocalCluster of ``workers`` processes."""
    import distributed

    from cropviz.scale import precompute

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, memory_limit="2GiB") as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: __import__("cropviz.scale.precompute") and __import__("cropviz.explain"))
        start = time.perf_counter()
        precompute(root, region, model, explain=explain, out=out, scheduler=client, overwrite=True,
                   partition_size=partition_size, ids=ids, progress=False)
        wall = time.perf_counter() - start
    last = json.loads((out / "_last_run.json").read_text())
    parcels = sum(t["rows"] for t in last["tasks"])
    peak = {}
    for t in last["tasks"]:
        peak[t["pid"]] = max(peak.get(t["pid"], 0.0), t["peak_rss_mb"])
    return {"workers": workers, "parcels": parcels, "wall_s": wall, "parcels_per_s": parcels / wall,
            "task_s": sum(t["seconds"] for t in last["tasks"]), "peak_rss_mb_per_worker": max(peak.values())}


def france(per_worker_per_s: float, target: int, efficiency: float) -> tuple[float, int]:
    """(worker-hours, workers for < 1 h) at ``per_worker_per_s`` parcels/s, scaled by ``efficiency``."""
    hours = target / (per_worker_per_s * efficiency) / 3600
    return hours, max(1, math.ceil(hours))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/cropviz-bench"))
    parser.add_argument("--region", default="frh01")
    parser.add_argument("--parcels", type=int, default=200_000, help="parcels of the prediction region")
    parser.add_argument("--ig-parcels", type=int, default=2_000, help="parcels attributed (the region's first)")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--partition-size", type=int, default=2000)
    parser.add_argument("--ig-partition-size", type=int, default=250)
    parser.add_argument("--target", type=int, default=10_000_000, help="parcels to extrapolate to (France)")
    parser.add_argument("--gpu-speedup", type=float, default=30.0,
                        help="ASSUMED model speed-up of one GPU over one CPU core (not measured)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from cropviz.data import open_breizhcrops

    ensure_region(args.root, args.region, args.parcels)
    ig_ids = open_breizhcrops(args.root, args.region).index["id"].to_numpy()[:args.ig_parcels]
    model = args.model or default_model(args.root, args.region)
    stages = stage_times(args.root, args.region, model, n=1000, ig_n=64)
    rows = []
    for w in [int(x) for x in args.workers.split(",")]:
        for label, explain, size, ids in (("predict", (), args.partition_size, None),
                                          ("integrated_gradients", ("integrated_gradients",), args.ig_partition_size,
                                           ig_ids)):
            r = run(args.root, args.region, model, w, explain, size, args.root / "precomputed" / f"{label}-{w}", ids)
            rows.append({"task": label, **r})
            print(f"{label:22s} workers={w}: {r['parcels']} parcels in {r['wall_s']:.1f} s = "
                  f"{r['parcels_per_s']:.0f} parcels/s; peak RSS per worker {r['peak_rss_mb_per_worker']:.0f} MiB")
    print(f"one process, one thread: prepare {stages['prepare_s_per_parcel'] * 1e3:.2f} ms/parcel, predict "
          f"{stages['predict_s_per_parcel'] * 1e3:.2f} ms/parcel, IG {stages['ig_s_per_parcel'] * 1e3:.1f} ms/parcel")
    summary = {"stages": stages, "runs": rows, "france": {}}
    for label, model_s in (("predict", stages["predict_s_per_parcel"]), ("integrated_gradients", stages["ig_s_per_parcel"])):
        mine = [r for r in rows if r["task"] == label]
        one = next(r for r in mine if r["workers"] == 1)
        most = max(mine, key=lambda r: r["workers"])
        eff = most["parcels_per_s"] / (most["workers"] * one["parcels_per_s"])
        # Partition tasks share nothing, so across nodes throughput adds up per core; the 1 -> N
        # efficiency measured on one (possibly shared) machine is reported, not applied.
        cpu_h, cpu_n = france(one["parcels_per_s"], args.target, 1.0)
        gpu_rate = 1.0 / (stages["prepare_s_per_parcel"] + model_s / args.gpu_speedup)
        gpu_h, gpu_n = france(gpu_rate, args.target, 1.0)
        summary["france"][label] = {"scaling_efficiency": eff, "cpu_worker_hours": cpu_h, "cpu_workers_1h": cpu_n,
                                    "gpu_parcels_per_s_assumed": gpu_rate, "gpu_worker_hours": gpu_h,
                                    "gpu_workers_1h": gpu_n}
        print(f"{label}: scaling efficiency 1->{most['workers']} workers {eff:.2f}; France ({args.target:,} parcels): "
              f"{cpu_h:.1f} CPU worker-hours -> {cpu_n} single-core workers for < 1 h; GPU (assumed "
              f"{args.gpu_speedup:.0f}x model speed-up, measured preparation): {gpu_rate:.0f} parcels/s per worker, "
              f"{gpu_h:.2f} worker-hours -> {gpu_n} GPU workers")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
