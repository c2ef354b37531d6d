"""Benchmark of cropviz.scale.precompute: parcels/s with 1 and 2 local Dask workers.

Measures, on a generated (streamed) demo region, the throughput of region-wide predictions and
of integrated gradients, the scaling efficiency from 1 to N workers and the peak memory of each
worker; splits one worker's time into reading/preparing parcels and running the model; and
extrapolates the worker-hours and cluster size that precompute France (``--target`` parcels,
10 million) in under an hour. GPU figures are NOT measured here (no GPU): they are estimated from
the model's floating-point operations per parcel (counted here with torch's FlopCounterMode,
forward and, for IG, forward + backward at every step), NVIDIA's published peak FP32 throughput
of a T4, an A100 and an H100 (datasheets, ``GPU_PEAK_TFLOPS``) at an ASSUMED fraction of that
peak (``--gpu-utilisation``), and the measured CPU cost of reading and preparing a parcel, which
a GPU does not speed up.

Run: ``python bench/bench_precompute.py --root /tmp/cropviz-bench --parcels 200000``
(generates the region when absent: 11 min for 200,000 parcels on a quiet core; an existing root is
reused). ``--plan-from FILE`` recomputes only the sizing from a saved ``--json`` run.
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

#: Peak dense FP32 throughput (non-tensor-core), TFLOP/s, from NVIDIA's product datasheets:
#: T4 (PCIe, 70 W), A100 (SXM/PCIe, 40/80 GB), H100 (SXM5).
GPU_PEAK_TFLOPS = {"T4": 8.1, "A100": 19.5, "H100": 67.0}


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


def model_flops(model: Path, n_steps: int = 50, t: int = 45) -> dict[str, float]:
    """FLOPs per parcel of one prediction (forward) and of IG (``n_steps`` forward + backward).

    Counted by torch.utils.flop_counter on a batch of 32 parcels of ``t`` observations with the
    fused fast path off (the same arithmetic); elementwise work is not counted (a lower bound).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cropviz.models.classifier import Classifier

    clf = Classifier.open(model, device="cpu")
    net = clf.model.eval()
    x = torch.randn(32, t, len(clf.info.bands))
    with FlopCounterMode(display=False) as forward, torch.enable_grad():
        net(x)
    with FlopCounterMode(display=False) as both:
        xg = x.clone().requires_grad_(True)
        net(xg)[:, 0].sum().backward()
    return {"predict_flops": forward.get_total_flops() / 32,
            "ig_flops": n_steps * both.get_total_flops() / 32 + forward.get_total_flops() / 32}


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
    parser.add_argument("--gpu-utilisation", type=float, default=0.25,
                        help="ASSUMED fraction of a GPU's peak FP32 throughput the model reaches (not measured)")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements and the sizing here")
    parser.add_argument("--plan-from", type=Path, default=None,
                        help="only recompute the sizing from a saved --json file (no measuring)")
    args = parser.parse_args()
    if args.plan_from:
        plan(json.loads(args.plan_from.read_text()), args.target, args.gpu_utilisation)
        return

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
    flops = model_flops(model)
    measured = {"generated_parcels": args.parcels, "parcels": len(open_breizhcrops(args.root, args.region).index),
                "stages": stages, "flops": flops, "runs": rows}
    summary = {**measured, "france": plan(measured, args.target, args.gpu_utilisation)}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


def plan(measured: dict, target: int, utilisation: float) -> dict:
    """Print and return the France sizing from the measured stage times, FLOPs and cluster runs."""
    stages, flops, rows = measured["stages"], measured["flops"], measured["runs"]
    prepare_s = stages["prepare_s_per_parcel"]
    print(f"one process, one thread: prepare {prepare_s * 1e3:.2f} ms/parcel, predict "
          f"{stages['predict_s_per_parcel'] * 1e3:.2f} ms/parcel, IG {stages['ig_s_per_parcel'] * 1e3:.1f} ms/parcel")
    print(f"model work per parcel: predict {flops['predict_flops'] / 1e6:.1f} MFLOP, "
          f"IG {flops['ig_flops'] / 1e9:.2f} GFLOP"
          f" (one CPU core reaches {flops['predict_flops'] / stages['predict_s_per_parcel'] / 1e9:.1f} and "
          f"{flops['ig_flops'] / stages['ig_s_per_parcel'] / 1e9:.1f} GFLOP/s)")
    # Reading and preparing parcels stays on CPU whatever runs the model: its core-hours for France.
    reading_h = target * prepare_s / 3600
    result = {}
    for label, flops_per_parcel in (("predict", flops["predict_flops"]), ("integrated_gradients", flops["ig_flops"])):
        mine = [r for r in rows if r["task"] == label]
        one = next(r for r in mine if r["workers"] == 1)
        most = max(mine, key=lambda r: r["workers"])
        eff = most["parcels_per_s"] / (most["workers"] * one["parcels_per_s"])
        # Partition tasks share nothing, so across nodes throughput adds up per core; the 1 -> N
        # efficiency measured on one machine is reported, not applied.
        cpu_h, cpu_n = france(one["parcels_per_s"], target, 1.0)
        entry = {"scaling_efficiency": eff, "cpu_worker_hours": cpu_h, "cpu_workers_1h": cpu_n,
                 "reading_core_hours": reading_h, "gpu": {}}
        print(f"{label}: {one['parcels_per_s']:.1f} parcels/s with 1 worker, scaling efficiency 1->{most['workers']} "
              f"workers {eff:.2f}; France ({target:,} parcels) on CPU: {cpu_h:.1f} worker-hours -> {cpu_n} "
              f"single-core workers for < 1 h")
        for gpu, tflops in GPU_PEAK_TFLOPS.items():
            model_rate = tflops * 1e12 * utilisation / flops_per_parcel
            gpu_h, gpu_n = france(model_rate, target, 1.0)
            readers = max(1, math.ceil(reading_h))
            entry["gpu"][gpu] = {"model_parcels_per_s": model_rate, "gpu_hours": gpu_h, "gpus_1h": gpu_n,
                                 "reading_processes_1h": readers}
            print(f"  {gpu} (peak {tflops} TFLOP/s FP32 from NVIDIA's datasheet, {utilisation:.0%} of it ASSUMED): "
                  "model "
                  f"{model_rate:,.0f} parcels/s -> {gpu_h:.2f} GPU-hours; France < 1 h on {gpu_n} GPU(s) with "
                  f"{readers} worker processes reading ({reading_h:.1f} core-hours at {prepare_s * 1e3:.2f} ms/parcel)")
        result[label] = entry
    return result


if __name__ == "__main__":
    main()
