"""Short full garbage collections in the app server.

The server runs with ``runner.postScriptGC = false`` (``.streamlit/config.toml``): Streamlit's
``gc.collect(2)`` after every script run walked every object of torch, pandas, plotly and the
rest (about 356,000) and held up each rerun by 0.2-0.5 s. Python's own collector still runs a full
collection now and then, and it would walk them all too. :func:`freeze_after_new_imports` moves
what is alive after a run that imported many modules (the app's first run; torch, captum or
geopandas on first use) into the collector's permanent generation, so that later full
collections walk only what the app made since.
"""

from __future__ import annotations

import gc
import sys
import threading

#: Modules a run must have imported since the last freeze to freeze again (the first page run
#: imports hundreds; a page that only reuses loaded modules imports none).
NEW_MODULES = 50

_lock = threading.Lock()
_modules_at_freeze = 0


def freeze_after_new_imports() -> bool:
    """After at least :data:`NEW_MODULES` new imports, collect once and freeze what is alive.

    Returns whether it froze. What is frozen is never examined for reference cycles again; that
    is the modules' functions, classes and constants, plus whatever the sessions held at that
    moment, a bounded amount since freezes follow imports only (a handful per process).
    """
    global _modules_at_freeze
    with _lock:
        if len(sys.modules) < _modules_at_freeze + NEW_MODULES:
            return False
        gc.collect()
        gc.freeze()
        _modules_at_freeze = len(sys.modules)
        return True
