"""A fixed input sequence for the explanation tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.explain.toys import D, T


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.0, 0.6, size=(T, D)).astype(np.float32)
