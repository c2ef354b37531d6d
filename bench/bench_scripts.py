"""Time the Streamlit script of each parcel page with AppTest (no browser): the server-side share of
what a user waits for.

    python bench/bench_scripts.py [--demo data/demo] [--repeats 3] [--pages inspector,attention]
                                  [--profile attributions:rerun]

Per page, in one process with the demo's caches warm (every page visited once first, untimed):
- first visit: the page opened from another page (the parcel seen before);
- cached rerun: the same page and parcel run again (the "r" key);
- new parcel: a parcel not seen before picked in the page's parcel box.
Each is the median of ``--repeats`` tries, a different new parcel (one with an image patch) each
time. ``--profile PAGE:STEP`` prints the most expensive functions (total time) of one try of that
step (yappi, wall clock, all threads). The load average before and after is printed: on a busy
machine the numbers are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAGES = ["inspector", "attributions", "attention", "dossier"]
PICKERS = {"inspector": "inspector_parcel", "attributions": "attr_parcel", "attention": "attention_parcel",
           "dossier": "dossier_parcel"}
#: Functions printed by --profile (most total time first).
PROFILE_ROWS = 60
STEPS = ("first visit", "cached rerun", "new parcel")


class _ScriptClock:
    """Adds up the time AppTest's script thread spends running app.py (the page included), the
    share of a rerun that the server spends too; AppTest's own bookkeeping around it is left out."""

    def __init__(self) -> None:
        from streamlit.runtime.scriptrunner import script_runner

        self.seconds = 0.0
        run = script_runner.exec_func_with_error_handling

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        script_runner.exec_func_with_error_handling = timed  # type: ignore[assignment]


def _timed(clock: _ScriptClock, at: Any, action: Any, profile: bool) -> tuple[float, float]:
    """(script seconds, AppTest wall seconds) of ``action``."""
    if profile:  # the script runs in AppTest's script thread: yappi sees every thread
        import yappi

        yappi.clear_stats()
        yappi.set_clock_type("wall")
        yappi.start()
    before, start = clock.seconds, time.perf_counter()
    action()
    seconds = clock.seconds - before, time.perf_counter() - start
    if profile:
        yappi.stop()
        for entry in list(yappi.get_func_stats().sort("ttot"))[:PROFILE_ROWS]:
            print(f"{entry.ttot:8.3f} {entry.tsub:8.3f} {entry.ncall:7d}  {entry.module}:{entry.lineno} {entry.name}")
    if at.exception:
        raise RuntimeError(f"the page failed: {[e.value for e in at.exception]}")
    return seconds


def _share_script_cache() -> None:
    """One compiled-script cache for every AppTest run, as a server keeps (AppTest compiles app.py
    and the page anew on each run otherwise, which a user never waits for)."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test

    shared = ScriptCache()
    app_test.ScriptCache = lambda: shared  # type: ignore[attr-defined]


def _new_app() -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    at.run()
    return at


def _patched_ids(demo: Path) -> list[int]:
    import pandas as pd

    return pd.read_csv(demo / "2017" / "patches" / "frh04.csv")["id"].astype(int).tolist()


def bench(pages: list[str], repeats: int, demo: Path,
          profile: tuple[str, str] | None) -> dict[str, list[tuple[float, float]]]:
    """Median (script, AppTest wall) seconds of each step of each page."""
    patched = _patched_ids(demo)
    _share_script_cache()
    clock = _ScriptClock()
    at = _new_app()
    for page in PAGES:  # warm-up: every page once (models, predictions, diagnosis, envelopes on disk)
        at.switch_page(f"pages/{page}.py")
        at.run()
    results = {}
    for page in pages:
        times: dict[str, list[tuple[float, float]]] = {step: [] for step in STEPS}
        for k in range(repeats):
            at = _new_app()  # a fresh session: the page's widgets start from the URL's parcel
            at.switch_page(f"pages/{page}.py")
            want = profile is not None and profile[0] == page and k == repeats - 1
            times["first visit"].append(_timed(clock, at, at.run, want and profile[1] == "first"))
            times["cached rerun"].append(_timed(clock, at, at.run, want and profile[1] == "rerun"))
            box = at.selectbox(key=PICKERS[page])
            target = patched[-1 - k - repeats * pages.index(page)]
            times["new parcel"].append(_timed(clock, at, box.select(target).run, want and profile[1] == "new"))
            if at.session_state["parcel"] != target:
                raise RuntimeError(f"{page}: parcel {target} was not selected")
        results[page] = [(statistics.median(t[0] for t in times[step]), statistics.median(t[1] for t in times[step]))
                         for step in STEPS]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pages", default=",".join(PAGES))
    parser.add_argument("--profile", default=None, help="PAGE:STEP with STEP first, rerun or new")
    args = parser.parse_args()
    os.environ.setdefault("CROPVIZ_DEMO_ROOT", str(args.demo.resolve()))
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    profile = tuple(args.profile.split(":")) if args.profile else None
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    results = bench(args.pages.split(","), args.repeats, args.demo, profile)  # type: ignore[arg-type]
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")
    for k, what in enumerate(("script seconds (app.py and the page, as the server runs them)",
                              "AppTest wall seconds (the script plus AppTest's bookkeeping)")):
        print(f"\n{what}, median of {args.repeats}, warm caches")
        print(f"{'page':<14}" + "".join(f"{step:>14}" for step in STEPS))
        for page, values in results.items():
            print(f"{page:<14}" + "".join(f"{v[k]:>14.3f}" for v in values))

if __name__ == "__main__":
    main()
