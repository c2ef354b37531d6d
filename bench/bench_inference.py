"""Inference throughput of the cropviz zoo against the breizhcrops package, on CPU (or ``--device cuda``).

For each model (published hyper-parameters, random weights), a batch of random N x 45 x 13
inputs runs in eval mode under ``torch.inference_mode``; after a warm-up the median of several
timed repeats gives parcels per second. Ours and the reference alternate repeat by repeat so that
load from other processes affects both alike. Prints a markdown table.

    python bench/bench_inference.py [--threads 2] [--batch 1024] [--repeats 5] [--models lstm,...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from cropviz.models import registry

T, D, C = 45, 13, 9


def reference_model(name: str) -> nn.Module:
    """The breizhcrops package's class with its published defaults."""
    import breizhcrops.models as reference

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "transformer": lambda: reference.TransformerModel(D, C),
            "lstm": lambda: reference.LSTM(D, C),
            "tempcnn": lambda: reference.TempCNN(D, C, T),
            "msresnet": lambda: reference.MSResNet(input_dim=D, num_classes=C),
            "inceptiontime": lambda: reference.InceptionTime(C, D),
            "starrnn": lambda: reference.StarRNN(D, C),
            "omniscalecnn": lambda: reference.OmniScaleCNN(D, C, T),
        }[name]()


def _eval(model: nn.Module) -> nn.Module:
    for module in model.modules():
        module.eval()
    for module in [*getattr(model, "inception_modules_list", [])]:  # the reference's plain lists
        for sub in [module, *getattr(module, "convolutions", [])]:
            sub.eval()
    return model.eval()


def _time(model: nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode():
        start = time.perf_counter()
        model(x)
        if x.is_cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start


def measure(name: str, batch: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median parcels/s of (ours, reference)."""
    torch.manual_seed(0)
    ours = _eval(registry.build(name, num_classes=C, input_dim=D)).to(device)
    theirs = _eval(reference_model(name)).to(device)
    x = torch.rand(batch, T, D, device=device)
    runs: dict[str, list[float]] = {"ours": [], "theirs": []}
    models: dict[str, Callable] = {"ours": ours, "theirs": theirs}
    for key in models:  # warm-up
        _time(models[key], x)
    for _ in range(repeats):
        for key in models:
            runs[key].append(_time(models[key], x))
    return batch / statistics.median(runs["ours"]), batch / statistics.median(runs["theirs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(registry.names(registry.ZOO)))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"batch {args.batch} x {T} x {D}, {args.device}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, "
          f"load average {load} on {os.cpu_count()} cores\n")
    print("| model | cropviz parcels/s | breizhcrops parcels/s | ratio |")
    print("|---|---:|---:|---:|")
    for name in args.models.split(","):
        ours, theirs = measure(name, args.batch, args.repeats, torch.device(args.device))
        print(f"| {name} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
