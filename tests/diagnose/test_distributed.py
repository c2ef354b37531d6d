"""The Dask step of the diagnosis gives what one process gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cropviz.data import open_breizhcrops
from cropviz.diagnose import diagnose


def test_dask_step_gives_the_local_diagnosis(planted, model, cluster, tmp_path):
    from cropviz.diagnose.distributed import diagnose_region

    out = tmp_path / "dask.parquet"
    frame = diagnose_region(planted[0], "frh04", "transformer", out, scheduler=cluster.scheduler_address,
                            partition_size=15, device="cpu")
    local = diagnose(model, open_breizhcrops(planted[0], "frh04"))
    assert pd.read_parquet(out)["id"].tolist() == local["id"].tolist()
    assert frame["verdict"].tolist() == local["verdict"].tolist()
    np.testing.assert_allclose(frame["label_quality"], local["label_quality"], atol=1e-5)
