"""The shared type aliases accept what the library's callers pass and reject what they must not."""

from __future__ import annotations

import re

from mypy import api

SNIPPET = """\
import numpy as np
from cropviz.types import IntArray


def take(ids: IntArray) -> None: ...


take([1, 2])
take((3,))
take(np.arange(4))
take(range(5))
take("12")
take([1.5])
"""


def test_ids_are_lists_tuples_ranges_or_arrays_not_strings_or_floats(tmp_path):
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET)
    out, _, _ = api.run([str(source), "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "--config-file", ""])
    rejected = {int(line) for line in re.findall(r"snippet\.py:(\d+): error", out)}
    lines = SNIPPET.splitlines()
    assert rejected == {lines.index('take("12")') + 1, lines.index("take([1.5])") + 1}, out
