"""Batched explanations against plain Captum parcel by parcel, in the same run, on CPU (or GPU).

For integrated gradients (50 steps), saliency, input x gradient and DeepLift on the transformer
(published hyper-parameters, random weights): plain Captum called once per parcel, on the
breizhcrops package's ``TransformerModel`` and on the cropviz transformer with the same weights,
against ``cropviz.explain.attribute_batch`` over a batch of parcels. Rows run round-robin
(repeat by repeat), so load from other processes hits every row alike; medians are reported,
with the ratio, the largest difference from Captum's values, the FLOPs counted by
``torch.utils.flop_counter`` and the GFLOP/s reached. ``--clock cpu`` times the CPU time of this
process (``time.process_time``) instead of wall time: on a machine shared with other jobs it
leaves out the time spent waiting for a core (use it with ``--threads 1``). Then integrated
gradients over a whole demo region with its trained transformer (when the demo data are
present), wall and CPU time.

    python bench/bench_explain.py [--parcels 32] [--single 4] [--repeats 3] [--threads 1] [--clock cpu]
                                  [--root data/demo --region frh04 --model models/transformer.pt]
    # on a GPU: add --device cuda (Captum rows then run on the GPU too)
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from cropviz.explain import attribute_batch
from cropviz.explain.methods import TABLE

T, D, C = 45, 13, 9
HPARAMS: dict[str, Any] = {"input_dim": D, "num_classes": C, "d_model": 64, "n_head": 2, "n_layers": 5, "d_inner": 128}
METHODS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"n_steps": 50}, "saliency": {}, "input_x_gradient": {}, "deeplift": {}}


def captum_per_parcel(model: nn.Module, method: str, X: torch.Tensor, targets: torch.Tensor,
                      options: dict) -> np.ndarray:
    """Plain Captum, one call per parcel (zero baselines, as cropviz's default)."""
    explainer = TABLE[method].captum()(model)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(X)):
            kwargs = {"baselines": torch.zeros_like(X[i:i + 1])} if TABLE[method].needs_baseline else {}
            values = explainer.attribute(X[i:i + 1].requires_grad_(True), target=targets[i:i + 1],
                                         **kwargs, **options)
            out.append(values.detach().cpu().numpy())
    return np.concatenate(out)


class OperatorFlops(TorchDispatchMode):
    """The FLOPs of every operator run, by ``torch.utils.flop_counter``'s formulas, without
    ``FlopCounterMode``'s module tracking (whose hooks refuse ``torch.autograd.grad`` on a leaf, as
    the explanations call it)."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.flops += count(*args, **kwargs, out_val=out)
        return out


def batched_gflop(model: nn.Module, method: str, X: torch.Tensor, targets: torch.Tensor, options: dict,
                  device: torch.device) -> float:
    """FLOPs per parcel of one batched call, counted as :func:`counted_gflop` counts (DeepLift
    against a shared baseline evaluates the baseline once per batch, not once per parcel)."""
    with OperatorFlops() as counter:
        attribute_batch(model, X, method, targets=targets.cpu().numpy(), device=device, **options)
    return counter.flops / 1e9 / len(X)


def counted_gflop(model: nn.Module, method: str, options: dict, device: torch.device,
                  shape: tuple[int, int] = (T, D)) -> float:
    """FLOPs of one parcel's attribution (forward and backward passes), counted by PyTorch."""
    frozen = copy.deepcopy(model)
    for p in frozen.parameters():  # as autograd.grad: no weight gradients
        p.requires_grad_(False)
    rows = TABLE[method].cost(shape[0], **options)
    x = torch.rand(rows, *shape, device=device, requires_grad=True)
    with OperatorFlops() as counter:
        frozen(x)[:, 0].sum().backward()
    return counter.flops / 1e9


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, clock: str = "wall") -> dict[str, float]:
    """Median seconds (of ``clock``) of each function, run round-robin after one warm-up call each."""
    now = CLOCKS[clock]
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = now()
            fn()
            times[name].append(now() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def per_parcel_table(args: argparse.Namespace, device: torch.device) -> None:
    from breizhcrops.models import TransformerModel as ReferenceTransformer

    from cropviz.models.zoo.transformer import TransformerModel

    torch.manual_seed(0)
    ours = TransformerModel(**HPARAMS).eval().to(device)
    with warnings.catch_warnings():  # the reference warns that it is not batch-first
        warnings.simplefilter("ignore")
        reference = ReferenceTransformer(**HPARAMS).eval().to(device)
    reference.load_state_dict(ours.state_dict())
    X = torch.as_tensor(np.random.default_rng(0).uniform(0, 0.6, (args.parcels, T, D)).astype(np.float32),
                        device=device)
    with torch.no_grad():
        targets = ours(X).argmax(dim=1)
    single = X[:args.single]
    print(f"| method | Captum, breizhcrops model (ms/parcel) | Captum, cropviz model | cropviz batched "
          f"({args.parcels} parcels) | speed-up vs each | max abs diff | GFLOP/parcel Captum / batched | GFLOP/s "
          f"Captum (cropviz model) / batched |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for method, options in METHODS.items():
        fns: dict[str, Callable[[], object]] = {
            "reference": functools.partial(captum_per_parcel, reference, method, single, targets, options),
            "captum": functools.partial(captum_per_parcel, ours, method, single, targets, options),
            "batched": functools.partial(attribute_batch, ours, X, method, targets=targets.cpu().numpy(),
                                         device=device, **options),
        }
        if method == "deeplift":  # the reference reuses one ReLU module, which DeepLift refuses
            del fns["reference"]
        seconds = interleaved(fns, args.repeats, args.clock)
        ms = {"reference": seconds.get("reference", float("nan")) / args.single * 1e3,
              "captum": seconds["captum"] / args.single * 1e3, "batched": seconds["batched"] / args.parcels * 1e3}
        got = attribute_batch(ours, X[:args.single], method, targets=targets[:args.single].cpu().numpy(),
                              device=device, **options).values
        diff = float(np.abs(got - captum_per_parcel(ours, method, single, targets, options)).max())
        gflop = counted_gflop(ours, method, options, device)
        batched = batched_gflop(ours, method, X, targets, options, device)
        print(f"| {method} | {ms['reference']:.1f} | {ms['captum']:.1f} | {ms['batched']:.1f} | "
              f"{ms['reference'] / ms['batched']:.2f}x / {ms['captum'] / ms['batched']:.2f}x | {diff:.1e} | "
              f"{gflop:.3f} / {batched:.3f} | {gflop / ms['captum'] * 1e3:.1f} / {batched / ms['batched'] * 1e3:.1f} |",
              flush=True)


def region_ig(args: argparse.Namespace, device: torch.device) -> None:
    from cropviz.data import open_breizhcrops
    from cropviz.models.classifier import Classifier

    classifier = Classifier.open(args.model, device=device)
    dataset = open_breizhcrops(args.root, args.region)
    ids = classifier.parcel_ids(dataset)
    if args.region_parcels:
        ids = ids[:args.region_parcels]
    prepared = classifier.inputs(dataset, ids)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    start, cpu = time.perf_counter(), time.process_time()
    result = attribute_batch(classifier.model, prepared.x, "integrated_gradients", device=device, n_steps=50)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    gflop = counted_gflop(classifier.model, "integrated_gradients", {"n_steps": 50}, device,
                          shape=prepared.x.shape[1:])
    print(f"\nintegrated gradients (50 steps) of {len(ids)} parcels of demo region {args.region} with "
          f"{classifier.label} ({classifier.info.arch}), {torch.get_num_threads()} threads: wall {seconds:.1f} s "
          f"({seconds / len(ids) * 1e3:.1f} ms/parcel), CPU {cpu:.1f} s ({cpu / len(ids) * 1e3:.1f} ms/parcel), "
          f"load average before {load}; {gflop:.3f} GFLOP/parcel counted, {gflop * len(ids) / cpu:.1f} GFLOP/s "
          f"of CPU time; largest |delta| {np.abs(np.asarray(result.delta)).max():.1e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=32, help="parcels in the batched call")
    parser.add_argument("--single", type=int, default=4, help="parcels explained one by one with Captum")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: CPU time of this process (a shared machine)")
    parser.add_argument("--root", default="data/demo")
    parser.add_argument("--region", default="frh04")
    parser.add_argument("--model", default="models/transformer.pt")
    parser.add_argument("--region-parcels", type=int, default=0, help="limit the region run (0: all parcels)")
    args = parser.parse_args()
    if args.clock == "cpu" and args.device != "cpu":
        parser.error("--clock cpu measures this process's CPU time; it misses the GPU's (use --clock wall)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, load average {load} on "
          f"{os.cpu_count()} cores; {args.clock} clock; transformer d_model 64, 5 layers, parcels {T} x {D}\n")
    per_parcel_table(args, device)
    if Path(args.root).is_dir() and Path(args.model).is_file():
        region_ig(args, device)


if __name__ == "__main__":
    main()
