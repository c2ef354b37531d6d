"""Time the first and the cached render of every app page on the demo (Streamlit AppTest).

    python bench/bench_pages.py [--demo data/demo] [--model transformer] [--repeats 3]

The first render of the first page includes opening the dataset, loading the model and the
region's predictions (cached on disk under a fresh cache folder); "cached" is the median of
later reruns of the same page, which is what a user waits for when clicking around.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = ["map", "inspector", "explorer", "phenology", "attention", "attributions", "early", "order", "space_time"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["CROPVIZ_DEMO_ROOT"] = str(args.demo.resolve())
    os.environ["CROPVIZ_CACHE_DIR"] = tempfile.mkdtemp(prefix="cropviz-bench-")
    os.chdir(REPO)
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    app.query_params["model"] = args.model
    rows = []
    for page in PAGES:
        app.switch_page(f"pages/{page}.py")
        started = time.perf_counter()
        app.run()
        first = time.perf_counter() - started
        cached = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            app.run()
            cached.append(time.perf_counter() - started)
        failures = len(app.exception) + len(app.error)
        rows.append((page, first, statistics.median(cached), failures))
    print(f"| page | first render (s) | cached rerun (s, median of {args.repeats}) | errors |")
    print("|---|---|---|---|")
    for page, first, cached, failures in rows:
        print(f"| {page} | {first:.2f} | {cached:.2f} | {failures} |")


if __name__ == "__main__":
    main()
