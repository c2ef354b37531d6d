"""Inference throughput of the cropviz zoo against the breizhcrops package, on CPU (or ``--device cuda``).

For each model (published hyper-parameters, random weights), a batch of random N x 45 x 13
inputs runs in eval mode under ``torch.inference_mode``; after a warm-up the median of several
timed repeats gives parcels per second. Ours and the reference alternate repeat by repeat so that
load from other processes affects both alike. Ours runs the batch in cache-sized blocks of
``cropviz.models.fast.EVAL_ROWS`` rows (its inference fast path); the last column feeds the
reference the same blocks and "whole batch" runs ours without blocks (as before the fast path),
which tells the blocking's share of the gain from the rest. ``--clock cpu`` times the process's
CPU seconds instead of wall-clock seconds: with one thread on a shared, busy machine that is
what stays comparable between runs. Prints a markdown table.

    python bench/bench_inference.py [--threads 2] [--batch 1024] [--repeats 5] [--models lstm,...]
                                    [--clock wall|cpu] [--compile] [--rounds 3]

``--compile`` adds ours compiled by TorchInductor (``cropviz.models.fast.compiled_inference``, the
backend of ``cropviz precompute --compile``; CPU only), timed after its compilation, whose CPU
seconds are printed too.
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from cropviz.models import registry
from cropviz.models.fast import EVAL_ROWS, compiled_inference

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


def _time(model: Callable, x: torch.Tensor, clock: Callable[[], float]) -> float:
    with torch.inference_mode():
        start = clock()
        model(x)
        if x.is_cuda:
            torch.cuda.synchronize()
        return clock() - start


def measure(name: str, batch: int, repeats: int, device: torch.device,
            clock: Callable[[], float] = time.perf_counter, compiled: bool = False) -> dict[str, float]:
    """Median parcels/s of ours, ours on the whole batch, the reference, the reference in blocks
    (and ours compiled, with ``compile_seconds``: the CPU seconds of its first call)."""
    torch.manual_seed(0)
    ours = _eval(registry.build(name, num_classes=C, input_dim=D)).to(device)
    theirs = _eval(reference_model(name)).to(device)
    x = torch.rand(batch, T, D, device=device)
    models: dict[str, Callable] = {
        "ours": ours, "ours_whole": lambda rows: inspect.unwrap(type(ours).forward)(ours, rows),
        "theirs": theirs,
        "theirs_blocked": lambda rows: torch.cat([theirs(part) for part in rows.split(EVAL_ROWS)]),
    }
    compile_seconds = {}
    if compiled:
        fast = compiled_inference(ours)

        def run_compiled(rows: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(False):  # the compiled graph runs under no_grad
                return fast(rows)

        started = time.process_time()
        run_compiled(x[:1])
        compile_seconds["compile_seconds"] = time.process_time() - started
        models["ours_compiled"] = run_compiled
    runs: dict[str, list[float]] = {key: [] for key in models}
    for key in models:  # warm-up
        _time(models[key], x, clock)
    for _ in range(repeats):
        for key in models:
            runs[key].append(_time(models[key], x, clock))
    return {**{key: batch / statistics.median(times) for key, times in runs.items()}, **compile_seconds}


def _ratio(rounds: list[dict[str, float]], num: str, den: str) -> str:
    """'1.85x', or over several rounds 'median (min-max)', e.g. '1.85x (1.59-2.06)'."""
    values = [r[num] / r[den] for r in rounds]
    spread = f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
    return f"{statistics.median(values):.2f}x{spread}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(registry.names(registry.ZOO)))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall-clock seconds, or this process's CPU seconds (one thread, busy machine)")
    parser.add_argument("--compile", action="store_true", help="also time ours compiled by TorchInductor (CPU)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure each model this many times; ratios are then 'median (min-max)' over rounds")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"batch {args.batch} x {T} x {D}, {args.device}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, "
          f"load average {load} on {os.cpu_count()} cores, {args.clock} clock\n")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    compiled = " compiled parcels/s | ratio, compiled | compilation (CPU s) |" if args.compile else ""
    print(f"| model | cropviz parcels/s | breizhcrops parcels/s | ratio | ratio, cropviz on the whole "
          f"batch | ratio to breizhcrops in blocks of {EVAL_ROWS} |{compiled}")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * (3 if args.compile else 0))
    for name in args.models.split(","):
        rounds = [measure(name, args.batch, args.repeats, torch.device(args.device), clock, args.compile)
                  for _ in range(max(args.rounds, 1))]
        rate = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}

        extra = (f" {rate['ours_compiled']:,.0f} | {_ratio(rounds, 'ours_compiled', 'theirs')} "
                 f"| {rate['compile_seconds']:.1f} |" if args.compile else "")
        print(f"| {name} | {rate['ours']:,.0f} | {rate['theirs']:,.0f} | {_ratio(rounds, 'ours', 'theirs')} "
              f"| {_ratio(rounds, 'ours_whole', 'theirs')} | {_ratio(rounds, 'ours', 'theirs_blocked')} |{extra}",
              flush=True)


if __name__ == "__main__":
    main()
