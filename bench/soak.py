"""Soak the app: several browser sessions clicking through pages and parcels; errors and memory.

    python bench/soak.py [--sessions 4] [--minutes 10] [--port 8634] [--demo data/demo]

Starts `streamlit run app.py` on the demo and ``--sessions`` headless Chromium browsers, each in a
thread doing, over and over with its own seeded random choices: open a page (with a random parcel in
the URL, as a shared link would), or on inspector / attributions / attention click "next
misclassified". After every action it waits for the page to finish and records any exception or
error box. Every ``--every`` seconds it samples the server's resident memory (RSS, with child
processes). Prints the RSS curve, actions and errors per session; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_pages import PATHS, PICKER_PAGES, chromium, wait_done  # noqa: E402

PAGES = ["map", "inspector", "explorer", "phenology", "attention", "attributions", "early", "order", "space_time",
         "diagnosis", "dossier", "embedding"]


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
                    driver.get(f"{base}/{PATHS.get(page, page)}?parcel={rng.choice(ids)}")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8634)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between memory samples")
    parser.add_argument("--demo", type=Path, default=REPO / "data" / "demo")
    args = parser.parse_args()
    from cropviz.data import open_breizhcrops

    ids = [int(i) for i in open_breizhcrops(args.demo, "frh04").index["id"]]
    pages = [p for p in PAGES if (REPO / "pages" / f"{p}.py").exists()]
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1", "--server.port",
         str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env={**os.environ, "CROPVIZ_DEMO_ROOT": str(args.demo.resolve())},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        watched = psutil.Process(server.pid)
        started = time.time()
        stop_at = started + args.minutes * 60
        log: dict[int, dict] = {}
        threads = [threading.Thread(target=session, args=(k, base, ids, pages, stop_at, log), daemon=True)
                   for k in range(args.sessions)]
        for thread in threads:
            thread.start()
        samples = [(0.0, rss_mb(watched), os.getloadavg()[0])]
        while any(t.is_alive() for t in threads):
            time.sleep(min(args.every, max(0.5, stop_at + 600 - time.time())))
            samples.append((time.time() - started, rss_mb(watched), os.getloadavg()[0]))
            print(f"{samples[-1][0]:7.0f} s  server RSS {samples[-1][1]:7.0f} MB  load {samples[-1][2]:.1f}  "
                  f"actions {sum(r['actions'] for r in log.values())}", flush=True)
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\n{args.sessions} sessions, {args.minutes:g} min, {len(pages)} pages; {os.cpu_count()} CPUs")
    print("| time (s) | server RSS (MB) | load (1 min) |\n|---|---|---|")
    for when, rss, load in samples:
        print(f"| {when:.0f} | {rss:.0f} | {load:.1f} |")
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
    first_half = [rss for when, rss, _ in samples if when <= samples[-1][0] / 2]
    print(f"RSS: start {samples[0][1]:.0f} MB, peak {max(s[1] for s in samples):.0f} MB, end {samples[-1][1]:.0f} MB; "
          f"growth over the second half {samples[-1][1] - max(first_half):+.0f} MB")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
