"""The server's garbage collections: a freeze after runs that imported many modules, not otherwise."""

from __future__ import annotations

import gc
import sys
import types
import weakref

import pytest

from app_support import memory


class _Node:
    """An object that can sit in a reference cycle and be weakly referenced."""


def test_a_freeze_follows_many_new_imports_only_and_collects_the_garbage_first(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(memory, "_modules_at_freeze", len(sys.modules))
    frozen_before = gc.get_freeze_count()
    try:
        assert not memory.freeze_after_new_imports()  # nothing imported since
        for k in range(memory.NEW_MODULES - 1):
            monkeypatch.setitem(sys.modules, f"_cropviz_test_module_{k}", types.ModuleType(f"m{k}"))
        assert not memory.freeze_after_new_imports()  # one module short
        monkeypatch.setitem(sys.modules, "_cropviz_test_module_last", types.ModuleType("last"))
        cycle = _Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        garbage = weakref.ref(cycle)
        del cycle
        assert garbage() is not None  # only a collection frees a cycle
        assert memory.freeze_after_new_imports()
        assert garbage() is None  # collected before the freeze, not frozen for ever
        assert gc.get_freeze_count() > frozen_before
        assert not memory.freeze_after_new_imports()
    finally:
        gc.unfreeze()
