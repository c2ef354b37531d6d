"""Soak the app: several browser sessions clicking through pages and parcels; errors and memory.

    python bench/soak.py [--sessions 4] [--minutes 10] [--port 8634] [--demo data/demo] [--every 30]
                         [--tracemalloc] [--server-env MALLOC_ARENA_MAX=2]

Starts `streamlit run app.py` on the demo and ``--sessions`` headless Chromium browsers, each in a
thread doing, over and over with its own seeded random choices: open a page (with a random parcel in
the URL, as a shared link would), or on inspector / attributions / attention click "next
misclassified". After every action it waits for the page to finish and records any exception or
error box. Every ``--every`` seconds it samples the server's resident memory (RSS, with child
processes; the server's own split into heap and file-backed pages, i.e. loaded libraries, and its
threads) and Streamlit's cache metrics (``/_stcore/metrics``: bytes per ``st.cache_data``
function, entries per ``st.cache_resource`` function, session state). Prints the RSS curve, its
minimum / median / maximum per minute and its slope over the last five minutes, the caches at the
start and the end, actions and errors per session; exits 1 on any error. ``--tracemalloc`` runs the
server under tracemalloc and prints the source lines whose Python allocations grew most (slow:
for finding a leak, not for timings); ``--server-env`` sets variables for the server only.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_pages import PATHS, PICKER_PAGES, chromium, start_server, wait_done  # noqa: E402

#: Runs the server under tracemalloc: every 30 s it writes the 25 source lines whose allocations
#: grew most since the first snapshot (taken 60 s after start, once the first pages are warm).
TRACED_SERVER = """
import os, sys, threading, time, tracemalloc
tracemalloc.start(1)
def watch(path):
    time.sleep(60)
    first = tracemalloc.take_snapshot()
    while True:
        time.sleep(30)
        top = tracemalloc.take_snapshot().compare_to(first, "lineno")[:25]
        with open(path + ".tmp", "w") as out:
            out.write("\\n".join(str(line) for line in top))
        os.replace(path + ".tmp", path)
threading.Thread(target=watch, args=(sys.argv.pop(1),), daemon=True).start()
from streamlit.web.cli import main
del sys.argv[0]  # now: streamlit run app.py ...
main()
"""
METRIC = re.compile(r'^cache_memory_bytes\{cache_type="([^"]+)",cache="([^"]*)"\} (\d+)', re.M)

PAGES = ["map", "inspector", "explorer", "phenology", "attention", "attributions", "early", "order", "space_time",
         "diagnosis", "dossier", "embedding"]


def page_views(page: str) -> tuple[str, list[str]]:
    """The URL parameter of a page's view picker and its views (read from the page's ``VIEWS``
    table and ``view_picker`` call); ``("", [])`` for a page without one."""
    source = (REPO / "pages" / f"{page}.py").read_text()
    table = re.search(r"^VIEWS = \{(.*?)\}$", source, re.M | re.S)
    key = re.search(r"view_picker\(VIEWS, \"(\w+)\"\)", source)
    if not table or not key:
        return "", []
    return key.group(1), re.findall(r"\"(\w+)\":", table.group(1))


def problems(driver: Any) -> list[str]:
    """Exceptions and error boxes on the page."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    found += driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    return [element.text[:200] for element in found]


def session(number: int, base: str, ids: list[int], pages: list[str], stop_at: float, log: dict) -> None:
    """One user: random pages and parcels until ``stop_at``; appends to ``log[number]``."""
    from selenium.webdriver.common.by import By

    rng = random.Random(number)
    record: dict[str, Any] = {"actions": 0, "errors": [], "seconds": [], "dialogs": []}
    log[number] = record
    driver = chromium()
    try:
        while time.time() < stop_at:
            page = rng.choice(pages)
            started = time.perf_counter()
            try:
                if page in PICKER_PAGES and f"/{page}" in driver.current_url and rng.random() < 0.5:
                    button = driver.find_element(By.CSS_SELECTOR, f".st-key-{PICKER_PAGES[page]}_step1 button")
                    driver.execute_script("arguments[0].click();", button)
                    time.sleep(0.3)
                else:
                    key, views = page_views(page)  # a shared link may name any view of the page
                    view = f"&{key}={rng.choice(views)}" if views else ""
                    driver.get(f"{base}/{PATHS.get(page, page)}?parcel={rng.choice(ids)}{view}")
                record["seconds"].append(wait_done(driver, started, timeout=600, confirm=0.5))
                record["errors"] += [f"{page}: {p}" for p in problems(driver)]
                record["dialogs"] += [d.text[:200] for d in driver.find_elements(By.CSS_SELECTOR,
                                                                                 '[data-testid="stDialog"]')]
            except Exception as error:  # a timeout or a lost page is a finding, not the end of the soak
                record["errors"].append(f"{page}: {type(error).__name__}: {str(error)[:200]}")
            record["actions"] += 1
    finally:
        driver.quit()


def rss_mb(process: psutil.Process) -> float:
    """Resident memory of a process and its children, MB."""
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def breakdown(process: psutil.Process) -> tuple[float, float, int]:
    """The server process's anonymous (heap) and file-backed (loaded libraries) resident MB, and its threads."""
    info = process.memory_info()
    return (info.rss - info.shared) / 2**20, info.shared / 2**20, process.num_threads()


def cache_metrics(base: str) -> dict[str, int]:
    """Streamlit's memory metrics: ``{"<cache type> <function>": bytes (data) or entries (resource, and
    the keys of every session's state)}``."""
    try:
        text = urllib.request.urlopen(f"{base}/_stcore/metrics", timeout=30).read().decode()
    except OSError:
        return {}
    return {f"{kind} {name.rsplit('.', 1)[-1]}".strip(): int(value) for kind, name, value in METRIC.findall(text)}


def per_minute(samples: list[tuple[float, float, float]]) -> list[tuple[int, float, float, float]]:
    """(minute, min, median, max) of the RSS samples taken in each minute."""
    rows = []
    for minute in range(int(samples[-1][0] // 60) + 1):
        values = [rss for when, rss, _ in samples if minute * 60 <= when < (minute + 1) * 60]
        if values:
            rows.append((minute, min(values), statistics.median(values), max(values)))
    return rows


def slope_mb_per_minute(samples: list[tuple[float, float, float]], minutes: float) -> float:
    """Least-squares slope of RSS over the last ``minutes`` of samples (MB per minute)."""
    end = samples[-1][0]
    points = [(when / 60, rss) for when, rss, _ in samples if when >= end - minutes * 60]
    if len(points) < 2:
        return float("nan")
    return statistics.linear_regression([p[0] for p in points], [p[1] for p in points]).slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8634)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between memory samples")
    parser.add_argument("--demo", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--tracemalloc", action="store_true", help="find the lines whose allocations grow (slow)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server (repeatable), e.g. MALLOC_ARENA_MAX=2")
    args = parser.parse_args()
    from cropviz.data import open_breizhcrops

    ids = [int(i) for i in open_breizhcrops(args.demo, "frh04").index["id"]]
    pages = [p for p in PAGES if (REPO / "pages" / f"{p}.py").exists()]
    traced = Path(tempfile.mkdtemp(prefix="soak-")) / "tracemalloc.txt"
    launcher = [sys.executable, "-c", TRACED_SERVER, str(traced)] if args.tracemalloc else [sys.executable, "-m"]
    server = start_server(args.demo.resolve(), args.port, launcher,
                          dict(item.split("=", 1) for item in args.server_env))
    base = f"http://127.0.0.1:{args.port}"
    try:
        watched = psutil.Process(server.pid)
        started = time.time()
        stop_at = started + args.minutes * 60
        log: dict[int, dict] = {}
        threads = [threading.Thread(target=session, args=(k, base, ids, pages, stop_at, log), daemon=True)
                   for k in range(args.sessions)]
        for thread in threads:
            thread.start()
        samples = [(0.0, rss_mb(watched), os.getloadavg()[0])]
        details = [breakdown(watched)]
        caches = [cache_metrics(base)]
        while any(t.is_alive() for t in threads):
            time.sleep(min(args.every, max(0.5, stop_at + 600 - time.time())))
            samples.append((time.time() - started, rss_mb(watched), os.getloadavg()[0]))
            details.append(breakdown(watched))
            caches.append(cache_metrics(base) or caches[-1])
            print(f"{samples[-1][0]:7.0f} s  server RSS {samples[-1][1]:7.0f} MB (heap {details[-1][0]:.0f}, files "
                  f"{details[-1][1]:.0f}, {details[-1][2]} threads)  load {samples[-1][2]:.1f}  "
                  f"actions {sum(r['actions'] for r in log.values())}  "
                  f"cache_data {sum(v for k, v in caches[-1].items() if 'cache_data' in k) / 2**20:.1f} MB  "
                  f"session-state keys {caches[-1].get('st_session_state', 0)}", flush=True)
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\n{args.sessions} sessions, {args.minutes:g} min, {len(pages)} pages; {os.cpu_count()} CPUs")
    print("| time (s) | server RSS (MB) | heap (MB) | files (MB) | threads | load (1 min) |\n|---|---|---|---|---|---|")
    for (when, rss, load), (heap, files, threads_now) in zip(samples, details, strict=True):
        print(f"| {when:.0f} | {rss:.0f} | {heap:.0f} | {files:.0f} | {threads_now} | {load:.1f} |")
    errors = 0
    for number, record in sorted(log.items()):
        waits = record["seconds"] or [float("nan")]
        print(f"session {number}: {record['actions']} actions, median wait {statistics.median(waits):.2f} s, "
              f"max {max(waits):.2f} s, {len(record['errors'])} errors, {len(record['dialogs'])} dialogs")
        for dialog in sorted(set(record["dialogs"]))[:5]:
            print(f"    dialog: {dialog!r}")
        for error in record["errors"][:10]:
            print(f"    {error}")
        errors += len(record["errors"])
    print("\n| minute | RSS min (MB) | median | max |\n|---|---|---|---|")
    for minute, low, middle, high in per_minute(samples):
        print(f"| {minute} | {low:.0f} | {middle:.0f} | {high:.0f} |")
    print("\n| cache (data: bytes; resource: entries) | first sample | mid-run | end |\n|---|---|---|---|")
    middle_caches = caches[len(caches) // 2]
    for name in sorted(set(caches[0]) | set(middle_caches) | set(caches[-1])):
        print(f"| {name} | {caches[0].get(name, 0)} | {middle_caches.get(name, 0)} | {caches[-1].get(name, 0)} |")
    first_half = [rss for when, rss, _ in samples if when <= samples[-1][0] / 2]
    last = min(5.0, samples[-1][0] / 120)
    print(f"RSS: start {samples[0][1]:.0f} MB, peak {max(s[1] for s in samples):.0f} MB, end {samples[-1][1]:.0f} MB; "
          f"growth over the second half {samples[-1][1] - max(first_half):+.0f} MB; slope over the last "
          f"{last:.1f} min {slope_mb_per_minute(samples, last):+.1f} MB/min")
    if args.tracemalloc and traced.exists():
        print("\nPython allocations that grew most since the first minute (tracemalloc):\n" + traced.read_text())
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
