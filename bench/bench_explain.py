"""Benchmark of cropviz.explain on CPU (or GPU when available): one-parcel integrated gradients
on the transformer with published hyper-parameters, against plain Captum on the breizhcrops
package's TransformerModel, and batched class-aggregated attributions.

Run: ``python bench/bench_explain.py [--parcels 1000] [--repeats 20] [--threads N]``. Timings are medians
(and minima) of ``repeats`` round-robin runs after warm-up; the machine may be shared, so they are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from captum.attr import IntegratedGradients

from cropviz.explain import attribute, attribute_batch

T, D, C = 45, 13, 9
HPARAMS = dict(input_dim=D, num_classes=C, d_model=64, n_head=2, n_layers=5, d_inner=128)


def interleaved_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median and minimum wall time (ms) of each function, run round-robin after a warm-up,
    so that load changes on a shared machine hit every row alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from breizhcrops.models import TransformerModel as ReferenceTransformer

    from cropviz.models.zoo.transformer import TransformerModel

    torch.manual_seed(0)
    model = TransformerModel(**HPARAMS).eval()
    with warnings.catch_warnings():  # the reference warns that it is not batch-first
        warnings.simplefilter("ignore")
        reference = ReferenceTransformer(**HPARAMS).eval()
    reference.load_state_dict(model.state_dict())
    x = torch.rand(1, T, D)
    target = int(model(x).argmax())
    n = args.steps
    ig_ref = IntegratedGradients(reference)
    ig_ours = IntegratedGradients(model)
    fns: dict[str, Callable[[], object]] = {
        f"cropviz attribute IG n_steps={n} (cropviz transformer)":
            lambda: attribute(model, x, "integrated_gradients", target=target, n_steps=n),
        f"cropviz attribute IG n_steps={n}, target=None":
            lambda: attribute(model, x, "integrated_gradients", n_steps=n),
        f"plain Captum IG n_steps={n} (breizhcrops TransformerModel)":
            lambda: ig_ref.attribute(x, target=target, n_steps=n),
        f"plain Captum IG n_steps={n} (cropviz transformer)":
            lambda: ig_ours.attribute(x, target=target, n_steps=n),
    }
    for method in ("saliency", "deeplift", "occlusion", "feature_ablation"):
        fns[f"cropviz attribute {method}"] = lambda m=method: attribute(model, x, m, target=target)
    rows = interleaved_ms(fns, args.repeats)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device for batches: {'cuda' if torch.cuda.is_available() else 'cpu'}; parcel {T} x {D}, "
          "transformer d_model 64, 5 layers (timings noisy: shared CPU)")
    print(f"{'one parcel':<66} {'median ms':>10} {'min ms':>8}")
    for name, (med, low) in rows.items():
        print(f"{name:<66} {med:>10.1f} {low:>8.1f}", flush=True)

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 0.6, size=(args.parcels, T, D)).astype(np.float32)
    print(f"\n{'batch of ' + str(args.parcels) + ' parcels, class-aggregated':<66} {'total s':>10} {'ms/parcel':>10}")
    for method, opts in (("integrated_gradients", {"n_steps": n}), ("saliency", {})):
        start = time.perf_counter()
        batch = attribute_batch(model, X, method, batch_size=args.batch_size, **opts)
        means, counts = batch.by_class(C)
        total = time.perf_counter() - start
        label = f"attribute_batch {method} {opts or ''} batch_size={args.batch_size} + by_class"
        print(f"{label:<66} {total:>10.2f} {total / args.parcels * 1e3:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
