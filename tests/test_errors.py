"""Named errors: one line naming the file or option and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from cropviz.errors import CheckpointError, ConfigurationError, CropvizError, DatasetError, DownloadError


@pytest.mark.parametrize("cls", [DatasetError, CheckpointError])
def test_file_errors_name_the_file_and_the_problem(cls):
    error = cls(Path("/data/frh04.h5"), "missing in the index")
    assert str(error) == "/data/frh04.h5: missing in the index" and "\n" not in str(error)
    assert error.path == "/data/frh04.h5" and error.problem == "missing in the index"
    assert isinstance(error, CropvizError)


def test_every_error_is_a_cropviz_error():
    for cls in (ConfigurationError, DownloadError):
        with pytest.raises(CropvizError, match="bad value"):
            raise cls("bad value")
