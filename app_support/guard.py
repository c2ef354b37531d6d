"""Library errors shown on the page as one line, never as a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from cropviz.errors import CropvizError


@contextmanager
def shown_errors(prefix: str = "", *, stop: bool = True, show: Callable[[str], object] = st.error) -> Iterator[None]:
    """Run the block; on a cropviz error show ``prefix: message`` with ``show``, then stop the page
    (``stop=True``) or carry on after the block (``stop=False``)."""
    try:
        yield
    except CropvizError as error:
        show(f"{prefix}: {error}" if prefix else str(error))
        if stop:
            st.stop()
