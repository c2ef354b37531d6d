"""What a fresh process pays to import cropviz and the modules the app imports at start.

Each module is imported in a new interpreter under ``python -X importtime``; the cumulative
import time of the module itself is read from its report (median of ``--repeats`` processes),
with the heavy packages the import pulled in. ``--src`` points at another source tree (e.g. an
older checkout's ``src``) to compare before and after in the same run; runs alternate between
the trees so that load from other processes hits both alike.

    python bench/bench_start.py [--repeats 5] [--src /tmp/before/src] [--modules cropviz,cropviz.explain]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

MODULES = ("cropviz", "cropviz.explain", "cropviz.models", "cropviz.data", "cropviz.data.bands", "cropviz.viz",
           "cropviz.viz.export", "cropviz.workspace", "app_support.state")
HEAVY = ("torch", "captum", "sklearn", "geopandas", "h5py", "plotly", "pydeck", "streamlit", "scipy")
REPO = Path(__file__).resolve().parents[1]


def import_once(module: str, src: Path) -> tuple[float, list[str]]:
    """Seconds to import ``module`` in a fresh interpreter, and the heavy packages it loaded
    (NaN when the module does not import from that tree)."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{REPO}"}
    code = f"import sys, {module}; print(','.join(p for p in {HEAVY!r} if p in sys.modules))"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)
    if done.returncode != 0:
        return float("nan"), ["(does not import)"]
    micros = 0
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            micros = int(parts[1])
    return micros / 1e6, [p for p in done.stdout.strip().split(",") if p]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--src", type=Path, default=None, help="another source tree to compare against")
    parser.add_argument("--modules", default=",".join(MODULES))
    args = parser.parse_args()
    trees = {"this tree": REPO / "src"}
    if args.src is not None:
        trees = {"--src tree": args.src, **trees}
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"python {sys.version.split()[0]}, load average {load} on {os.cpu_count()} cores, "
          f"median of {args.repeats} fresh processes\n")
    print("| module | " + " | ".join(f"{name} (s) | heavy packages loaded" for name in trees) + " |")
    print("|---|" + "---:|---|" * len(trees))
    for module in args.modules.split(","):
        times: dict[str, list[float]] = {name: [] for name in trees}
        heavy: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for name, src in trees.items():
                seconds, heavy[name] = import_once(module, src)
                times[name].append(seconds)
        cells = [f"{statistics.median(times[name]):.2f} | {', '.join(heavy[name]) or '-'}" for name in trees]
        print(f"| {module} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
