"""The app's in-memory caches are bounded: a long session, or many users, cannot grow them without limit."""

from __future__ import annotations

import inspect

import pytest
from streamlit.runtime.caching.cache_utils import CachedFunc

from app_support import cache

#: Caches that may stay unbounded, and why they hold one entry only.
UNBOUNDED = {"store": "no arguments", "ensure_demo": "keyed by the demo folder ($CROPVIZ_DEMO_ROOT)"}


def _cached_functions() -> dict[str, CachedFunc]:
    return {name: value for name, value in vars(cache).items() if isinstance(value, CachedFunc)}


def _max_entries(cached: CachedFunc) -> int | None:
    return cached._info.max_entries  # Streamlit keeps the decorator's settings there


def test_the_module_has_its_caches():
    names = set(_cached_functions())
    assert {"_attribution", "_predictions", "_workspace", "store"} <= names
    assert len(names) >= 30


def test_every_cache_but_the_single_entry_ones_has_max_entries():
    unbounded = sorted(name for name, cached in _cached_functions().items() if _max_entries(cached) is None)
    assert unbounded == sorted(UNBOUNDED)


def test_parcel_keyed_caches_keep_the_recent_parcels_and_no_more_than_256():
    keyed = {name: _max_entries(cached) for name, cached in _cached_functions().items()
             if "parcel_id" in inspect.signature(cached._info.func).parameters}
    assert {"_attribution", "_decisive", "_mc_dropout", "_order_view", "_parcel_animation"} <= set(keyed)
    assert all(entries is not None and 32 <= entries <= 256 for entries in keyed.values()), keyed


class _CountingWorkspace:
    """Stands in for a Workspace: counts the attributions it computes."""

    def __init__(self) -> None:
        self.computed: list[int] = []

    def attribution(self, parcel_id: int, method: str, **options: object) -> tuple[int, str]:
        self.computed.append(parcel_id)
        return parcel_id, method


@pytest.mark.filterwarnings("ignore")
def test_attribution_cache_drops_the_least_recent_parcel_beyond_its_bound():
    bound = _max_entries(cache._attribution)
    assert bound is not None
    ws = _CountingWorkspace()
    cache._attribution.clear()
    try:
        def get(parcel: int) -> tuple[int, str]:
            return cache._attribution("model", parcel, "saliency", 0, None, None, (), ws)

        for parcel in range(bound + 1):  # one more parcel than the cache keeps
            assert get(parcel) == (parcel, "saliency")
        assert len(ws.computed) == bound + 1
        assert get(bound) == (bound, "saliency")  # the newest is still there
        assert len(ws.computed) == bound + 1
        assert get(0) == (0, "saliency")  # the oldest was dropped: computed again
        assert ws.computed[-1] == 0 and len(ws.computed) == bound + 2
    finally:
        cache._attribution.clear()
