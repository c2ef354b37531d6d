from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cropviz.data import open_breizhcrops
from cropviz.errors import ConfigurationError
from cropviz.models import Classifier
from cropviz.store import Store, cache_key, dataset_fingerprint, settings_key


def _counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_values_are_computed_once_then_read_from_disk(tmp_path):
    frame = pd.DataFrame({"id": [1, 2, 3], "p": [0.1, 0.5, 0.9]})
    compute, calls = _counting(frame)
    store = Store(tmp_path)
    pd.testing.assert_frame_equal(store.get("predictions", "k1", compute), frame)
    assert store.contains("predictions", "k1") and not store.contains("predictions", "k2")
    # a new Store on the same folder (another process, a restarted server) reads it back
    pd.testing.assert_frame_equal(Store(tmp_path).get("predictions", "k1", compute), frame)
    assert len(calls) == 1
    Store(tmp_path).get("predictions", "k2", compute)
    assert len(calls) == 2


def test_without_a_folder_nothing_is_kept(tmp_path):
    compute, calls = _counting(np.arange(3))
    store = Store(None)
    store.get("x", "k", compute)
    store.get("x", "k", compute)
    assert len(calls) == 2 and store.size() == 0 and not store.contains("x", "k")


def test_a_damaged_entry_is_recomputed_never_read(tmp_path):
    compute, calls = _counting({"a": list(range(100))})
    store = Store(tmp_path)
    store.get("x", "k", compute)
    (output,) = list(tmp_path.rglob("output.pkl"))
    output.write_bytes(output.read_bytes()[:20])  # truncated, as by a full disk
    assert store.get("x", "k", compute) == {"a": list(range(100))}
    assert len(calls) == 2
    assert store.get("x", "k", compute) == {"a": list(range(100))} and len(calls) == 2


def test_a_process_killed_while_writing_leaves_nothing_readable(tmp_path):
    """SIGKILL in the middle of writing a large value: the next read recomputes it."""
    script = textwrap.dedent(f"""
        import numpy as np, sys, time
        from cropviz.store import Store
        print("start", flush=True)
        Store({str(tmp_path)!r}).get("big", "k", lambda: np.ones(400_000_000 // 8))
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "start"
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.is_file() and p.stat().st_size > 1_000_000
                                             for p in tmp_path.rglob("*")):
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not Store(tmp_path).contains("big", "k")
    compute, calls = _counting(np.arange(5))
    np.testing.assert_array_equal(Store(tmp_path).get("big", "k", compute), np.arange(5))
    assert len(calls) == 1


def test_the_folder_is_kept_under_its_size_bound(tmp_path):
    store = Store(tmp_path, bytes_limit=3_000_000)
    for k in range(6):
        store.get("chunk", f"k{k}", lambda: np.ones(1_000_000 // 8))
        time.sleep(0.01)  # distinct access times: the oldest entries go first
    assert store.size() <= 3_000_000 + 100_000
    assert store.contains("chunk", "k5") and not store.contains("chunk", "k0")


def test_keys_change_with_data_weights_seed_and_settings(demo_root, tmp_path):
    import shutil

    ds = open_breizhcrops(demo_root, "frh04")
    tf, lstm = Classifier.open("transformer", device="cpu"), Classifier.open("lstm", device="cpu")
    key = cache_key(tf, ds)
    assert key == cache_key(tf, open_breizhcrops(demo_root, "frh04"))
    assert len({key, cache_key(lstm, ds), cache_key(tf, ds, seed=1), cache_key(tf, open_breizhcrops(
        demo_root, "frh03"))}) == 4
    copy = tmp_path / "copy"
    shutil.copytree(demo_root, copy)
    h5 = copy / "2017" / "L1C" / "frh04.h5"
    os.utime(h5, (1_000_000_000, 1_000_000_000))  # the file changed: a new fingerprint
    assert dataset_fingerprint(open_breizhcrops(copy, "frh04"))["files"][".h5"][1] == 1_000_000_000
    assert cache_key(tf, open_breizhcrops(copy, "frh04")) != key
    assert settings_key(a=1, b="x") == settings_key(b="x", a=1) != settings_key(a=2, b="x")


def test_an_unwritable_folder_is_a_clear_error_at_first_use():
    store = Store(Path("/proc/cannot-write-here"))  # the constructor touches nothing
    compute, calls = _counting(42)
    with pytest.raises(ConfigurationError, match="cache folder /proc/cannot-write-here cannot be created.*"
                                                 "CROPVIZ_CACHE_DIR"):
        store.get("x", "k", compute)
    assert not calls
