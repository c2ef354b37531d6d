"""What a fresh process pays to import cropviz and the modules the app imports at start.

Each module is imported in a new interpreter under ``python -X importtime``; the cumulative
import time of the module itself is read from its report (median of ``--repeats`` processes),
with the heavy packages the import pulled in. ``--src`` points at another source tree (e.g. an
older checkout's ``src``) to compare before and after in the same run; runs alternate between
the trees so that load from other processes hits both alike.

By default the interpreters read compiled bytecode, as a deployed app does from its second start on
(Python writes ``__pycache__`` on the first): the bytecode goes to a private folder
(``PYTHONPYCACHEPREFIX``, so the checkout is not touched) filled by one untimed import per module
and tree. ``--no-bytecode`` compiles every source on every import instead, as under
``PYTHONDONTWRITEBYTECODE=1`` with no ``__pycache__``: a first start.

    python bench/bench_start.py [--repeats 5] [--src /tmp/before/src] [--modules cropviz,cropviz.explain]
                                [--no-bytecode]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MODULES = ("cropviz", "cropviz.explain", "cropviz.models", "cropviz.data", "cropviz.data.bands", "cropviz.viz",
           "cropviz.viz.export", "cropviz.workspace", "app_support.state")
HEAVY = ("torch", "captum", "sklearn", "geopandas", "h5py", "plotly", "pydeck", "streamlit", "scipy")
REPO = Path(__file__).resolve().parents[1]
PYCACHE = Path(tempfile.gettempdir()) / "cropviz-bench-pycache"


def import_once(module: str, src: Path, bytecode: bool = True) -> tuple[float, float, list[str]]:
    """Seconds to import ``module`` in a fresh interpreter, the CPU seconds of that whole process
    (less sensitive to other processes' load than the wall time), and the heavy packages it loaded
    (NaN when the module does not import from that tree)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env.update(PYTHONPATH=f"{src}{os.pathsep}{REPO}",
               **({"PYTHONPYCACHEPREFIX": str(PYCACHE)} if bytecode else {"PYTHONDONTWRITEBYTECODE": "1"}))
    code = f"import sys, {module}; print(','.join(p for p in {HEAVY!r} if p in sys.modules))"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        return float("nan"), float("nan"), ["(does not import)"]
    micros = 0
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            micros = int(parts[1])
    return micros / 1e6, cpu, [p for p in done.stdout.strip().split(",") if p]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--src", type=Path, default=None, help="another source tree to compare against")
    parser.add_argument("--modules", default=",".join(MODULES))
    parser.add_argument("--no-bytecode", dest="bytecode", action="store_false",
                        help="compile every source on every import (a first start)")
    args = parser.parse_args()
    trees = {"this tree": REPO / "src"}
    if args.src is not None:
        trees = {"--src tree": args.src, **trees}
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"python {sys.version.split()[0]}, load average {load} on {os.cpu_count()} cores, "
          f"median of {args.repeats} fresh processes, "
          + ("compiled bytecode read" if args.bytecode else "every source compiled (no bytecode)") + "\n")
    print("| module | " + " | ".join(f"{name} (s) | process CPU (s) | heavy packages loaded" for name in trees) + " |")
    print("|---|" + "---:|---:|---|" * len(trees), flush=True)
    for module in args.modules.split(","):
        times: dict[str, list[float]] = {name: [] for name in trees}
        cpus: dict[str, list[float]] = {name: [] for name in trees}
        heavy: dict[str, list[str]] = {}
        if args.bytecode:  # untimed: writes the bytecode this module and tree need
            for src in trees.values():
                import_once(module, src)
        for _ in range(args.repeats):
            for name, src in trees.items():
                seconds, cpu, heavy[name] = import_once(module, src, args.bytecode)
                times[name].append(seconds)
                cpus[name].append(cpu)
        cells = [f"{statistics.median(times[name]):.2f} | {statistics.median(cpus[name]):.2f} | "
                 f"{', '.join(heavy[name]) or '-'}" for name in trees]
        print(f"| {module} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
