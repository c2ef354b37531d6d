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
seconds are printed too. ``--bf16`` adds ours on a bfloat16 copy of the model
(``cropviz.models.fast.bfloat16_inference``, ``cropviz precompute --bf16``; CPUs with AVX512-BF16
or AMX, and GPUs), and compiled too with ``--compile``. ``--demo ROOT`` then also prints what
bfloat16 changes: each shipped zoo checkpoint on the demo's test region (frh04) in float32 and in
bfloat16, with the share of parcels whose class stays, overall accuracy and macro F1.

    python bench/bench_inference.py --threads 2 --rounds 5 --compile --bf16 --demo data/demo
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from cropviz.models import registry
from cropviz.models.fast import EVAL_ROWS, bfloat16_inference, compiled_inference

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
            clock: Callable[[], float] = time.perf_counter, compiled: bool = False,
            bfloat16: bool = False) -> dict[str, float]:
    """Median parcels/s of ours, ours on the whole batch, the reference, the reference in blocks
    (and ours compiled, with ``compile_seconds``: the CPU seconds of its first call; ours in
    bfloat16, and compiled in bfloat16 with ``compiled``)."""
    torch.manual_seed(0)
    torch._dynamo.reset()  # each model and round compiles afresh (else Dynamo's recompile limit falls back to eager)
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
    if bfloat16:
        models["ours_bf16"] = bfloat16_inference(ours)
        if compiled:
            fast_bf16 = bfloat16_inference(ours, compiled=True)

            def run_compiled_bf16(rows: torch.Tensor) -> torch.Tensor:
                with torch.inference_mode(False):
                    return fast_bf16(rows)

            run_compiled_bf16(x[:1])
            models["ours_bf16_compiled"] = run_compiled_bf16
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


def bfloat16_accuracy(root: str, names: list[str]) -> None:
    """Each shipped checkpoint of ``names`` on the demo's test region in float32 and bfloat16."""
    from cropviz.data import open_breizhcrops
    from cropviz.metrics import classification_metrics
    from cropviz.models.classifier import Classifier

    dataset = open_breizhcrops(root, "frh04")
    print(f"\nbfloat16 against float32: shipped weights on {root} frh04 ({len(dataset.index)} parcels; "
          "the demo is simulated, not BreizhCrops)\n")
    print("| model | same class | OA float32 | OA bfloat16 | macro F1 float32 | macro F1 bfloat16 | "
          "largest probability change |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        exact, lowered = Classifier.open(name, device="cpu"), Classifier.open(name, device="cpu").compile(False, True)
        prepared = exact.inputs(dataset, exact.parcel_ids(dataset))
        a, b = exact.log_probs(prepared.x), lowered.log_probs(prepared.x)
        ma, mb = (classification_metrics(prepared.labels, p.argmax(1), exact.classes) for p in (a, b))
        print(f"| {name} | {(a.argmax(1) == b.argmax(1)).mean():.2%} | {ma['overall_accuracy']:.4f} "
              f"| {mb['overall_accuracy']:.4f} | {ma['macro_f1']:.4f} | {mb['macro_f1']:.4f} "
              f"| {abs(np.exp(a) - np.exp(b)).max():.3f} |", flush=True)


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
    parser.add_argument("--bf16", action="store_true", help="also time ours in bfloat16 (native bfloat16 only)")
    parser.add_argument("--demo", default=None, help="with --bf16: the demo folder, to compare the shipped "
                                                     "weights' accuracy in float32 and bfloat16")
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
    lowered = (" ratio, bfloat16 |" + (" ratio, bfloat16 compiled |" if args.compile else "")) if args.bf16 else ""
    print(f"| model | cropviz parcels/s | breizhcrops parcels/s | ratio | ratio, cropviz on the whole "
          f"batch | ratio to breizhcrops in blocks of {EVAL_ROWS} |{compiled}{lowered}")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * (3 * args.compile + args.bf16 * (1 + args.compile)))
    names = args.models.split(",")
    for name in names:
        rounds = [measure(name, args.batch, args.repeats, torch.device(args.device), clock, args.compile, args.bf16)
                  for _ in range(max(args.rounds, 1))]
        rate = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}

        extra = (f" {rate['ours_compiled']:,.0f} | {_ratio(rounds, 'ours_compiled', 'theirs')} "
                 f"| {rate['compile_seconds']:.1f} |" if args.compile else "")
        if args.bf16:
            extra += f" {_ratio(rounds, 'ours_bf16', 'theirs')} |"
            extra += f" {_ratio(rounds, 'ours_bf16_compiled', 'theirs')} |" if args.compile else ""
        print(f"| {name} | {rate['ours']:,.0f} | {rate['theirs']:,.0f} | {_ratio(rounds, 'ours', 'theirs')} "
              f"| {_ratio(rounds, 'ours_whole', 'theirs')} | {_ratio(rounds, 'ours', 'theirs_blocked')} |{extra}",
              flush=True)
    if args.bf16 and args.demo:
        bfloat16_accuracy(args.demo, names)


if __name__ == "__main__":
    main()
