"""Named exceptions with messages a user understands.

Every error raised on bad input carries one line that names the file (or object) and what is
wrong with it; the CLI and the app print ``str(error)`` instead of a traceback.
"""

from __future__ import annotations

from os import PathLike


class CropvizError(Exception):
    """Base class of every error cropviz raises on bad input or bad state."""


class DatasetError(CropvizError):
    """A dataset folder or one of its files is missing, malformed or inconsistent."""

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnknownParcelError(DatasetError, KeyError):
    """A parcel id that the dataset's index does not hold (a ``KeyError`` too, for lookups)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return f"{self.path}: {self.problem}"


class CheckpointError(CropvizError):
    """A checkpoint cannot be loaded safely or does not fit the model or the data."""

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DownloadError(CropvizError):
    """A download failed (offline, server error, size mismatch)."""


class ConfigurationError(CropvizError):
    """An option or argument has a value cropviz cannot use."""
