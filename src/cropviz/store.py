"""Fingerprints, cache keys and the one on-disk cache every derived result goes through.

The cache is a :class:`joblib.Memory`: each entry is written to a temporary file and renamed into
place, so a process killed mid-write leaves no entry that could be read; an entry that cannot be
loaded (truncated, corrupted) is recomputed. The folder is kept under a size bound, oldest
entries first. Keys are strings the caller builds from :func:`cache_key` and its own settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cropviz.errors import ConfigurationError

if TYPE_CHECKING:
    import joblib

    from cropviz.data.breizhcrops import BreizhCropsDataset
    from cropviz.models.classifier import Classifier

T = TypeVar("T")

#: Default size bound of a cache folder (bytes); oldest entries are removed beyond it.
DEFAULT_BYTES_LIMIT = 2 * 1024**3
#: Bump when the layout of cached values changes or a cached computation is corrected: older
#: entries are then never read (3: the embeddings of models that run large batches in blocks).
FORMAT = 3


def dataset_fingerprint(dataset: BreizhCropsDataset) -> dict[str, Any]:
    """What identifies a dataset's content cheaply: its location and its files' sizes and times."""
    base = Path(dataset.root) / str(dataset.year) / dataset.level / dataset.region
    files = {}
    for suffix in (".csv", ".h5"):
        path = base.with_suffix(suffix)
        if path.exists():
            stat = path.stat()
            files[suffix] = [stat.st_size, int(stat.st_mtime)]
    return {"root": str(Path(dataset.root).resolve()), "region": dataset.region,
            "year": int(dataset.year), "level": dataset.level, "files": files}


def cache_key(classifier: Classifier, dataset: BreizhCropsDataset, seed: int = 0) -> str:
    """A key that changes when the model weights, the dataset files or the sampling seed change."""
    payload = {"model": classifier.info.sha256 or classifier.info.arch, "data": dataset_fingerprint(dataset),
               "seed": seed, "format": 1}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def settings_key(**settings: Any) -> str:
    """A short stable key for keyword settings (JSON-serialisable values)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """$CROPVIZ_CACHE_DIR, else ``~/.cache/cropviz``."""
    return Path(os.environ.get("CROPVIZ_CACHE_DIR", Path.home() / ".cache" / "cropviz"))


def _computed(kind: str, key: str, format_version: int, compute: Callable[[], Any]) -> Any:
    """The cached function: joblib hashes ``kind``, ``key`` and the format, never ``compute``."""
    return compute()


class Store:
    """An on-disk cache of derived results under ``folder`` (None: compute every time, keep nothing)."""

    def __init__(self, folder: str | Path | None, bytes_limit: int = DEFAULT_BYTES_LIMIT) -> None:
        self.folder = None if folder is None else Path(folder)
        self.bytes_limit = bytes_limit
        self._memory: joblib.Memory | None = None
        self._cached: Any = None
        self._lock = threading.Lock()

    def _open(self) -> None:
        """Create the folder on first use (ConfigurationError naming it when it cannot be)."""
        if self.folder is None or self._memory is not None:
            return
        import joblib  # imported on first use: importing the store (and the app) stays cheap

        try:
            self._memory = joblib.Memory(self.folder / "joblib", verbose=0)
        except OSError as error:
            raise ConfigurationError(f"cache folder {self.folder} cannot be created ({error.strerror}); "
                                     "set CROPVIZ_CACHE_DIR to a writable folder") from None
        self._cached = self._memory.cache(_computed, ignore=["compute"])

    def get(self, kind: str, key: str, compute: Callable[[], T]) -> T:
        """The value of ``kind`` under ``key``: read from disk, else computed, written and returned."""
        self._open()
        if self._cached is None:
            return compute()
        computed = False

        def tracked() -> T:
            nonlocal computed
            computed = True
            return compute()

        value: T = self._cached(kind, key, FORMAT, tracked)
        if computed:
            self.reduce_size()
        return value

    def contains(self, kind: str, key: str) -> bool:
        """Whether a readable entry of ``kind`` under ``key`` is on disk."""
        if self.folder is None or not self.folder.exists():
            return False
        self._open()
        if self._cached is None:
            return False
        return bool(self._cached.check_call_in_cache(kind, key, FORMAT, None))

    def size(self) -> int:
        """Bytes the cache folder holds."""
        if self.folder is None or not self.folder.exists():
            return 0
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def reduce_size(self) -> None:
        """Remove the least recently used entries until the folder is within ``bytes_limit``."""
        self._open()
        if self._memory is not None:
            with self._lock:
                self._memory.reduce_size(bytes_limit=self.bytes_limit)

    def clear(self) -> None:
        """Remove every entry."""
        self._open()
        if self._memory is not None:
            self._memory.clear(warn=False)
