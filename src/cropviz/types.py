"""Type aliases shared by the library's signatures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np

#: Parcel ids or class ids: a list, or a numpy integer array.
IntArray: TypeAlias = Sequence[int] | np.ndarray
