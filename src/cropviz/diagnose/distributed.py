"""The Dask step of a whole region's diagnosis: evidence per partition on workers, verdicts on the client.

The expensive part (model inputs, forward passes with embeddings, the prediction without clouds,
integrated gradients of the misclassified parcels) runs as one Dask task per partition of parcel
ids, like :mod:`cropviz.scale.precompute`; each task returns small arrays (an embedding of E
floats and 2 x C log-probabilities per parcel). The client then needs the whole region at once
for the region-level evidence (confident learning, nearest neighbours, class centroids, pair
confusions), computes the verdicts and writes one Parquet file.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from cropviz.diagnose.evidence import Evidence, parcel_evidence
from cropviz.errors import ConfigurationError
from cropviz.types import IntArray

#: Parcels per Dask task (integrated gradients of the misclassified ones dominate the cost).
PARTITION_SIZE = 500
_WORKER_CACHE: dict[tuple, Any] = {}


def evidence_task(spec: dict[str, Any], ids: IntArray) -> Evidence:
    """One Dask task: the evidence of parcels ``ids`` (model and dataset opened once per worker)."""
    import torch

    from cropviz.data import open_breizhcrops
    from cropviz.models import Classifier

    torch.set_num_threads(1)
    key = ("model", spec["model"], spec["device"])
    if key not in _WORKER_CACHE:
        _WORKER_CACHE[key] = Classifier.open(spec["model"], device=spec["device"])
    data_key = ("data", spec["root"], spec["region"], spec["year"], spec["level"])
    if data_key not in _WORKER_CACHE:
        _WORKER_CACHE[data_key] = open_breizhcrops(spec["root"], spec["region"], year=spec["year"],
                                                   level=spec["level"])
    return parcel_evidence(_WORKER_CACHE[key], _WORKER_CACHE[data_key], ids, seed=spec["seed"],
                           explain=spec["explain"])


def diagnose_region(root: str | Path, region: str, model: str, out: str | Path, *, year: int | None = None,
                    level: str | None = None, seed: int = 0, explain: str = "wrong",
                    scheduler: str | None = None, workers: int | None = None, memory_limit: str = "2GiB",
                    partition_size: int = PARTITION_SIZE, device: str = "auto",
                    progress: bool = False) -> pd.DataFrame:
    """Diagnose every parcel of ``region`` with the evidence computed on Dask; write ``out`` (Parquet).

    ``scheduler``: a ``tcp://HOST:PORT`` address, or None for a LocalCluster of ``workers``
    single-thread processes (default: one per core) without a dashboard. ``model`` and ``root``
    must be readable by every worker at the same path. Returns the diagnosis table.
    """
    from distributed import Client, LocalCluster

    from cropviz.data import open_breizhcrops
    from cropviz.diagnose.region import diagnosis_frame
    from cropviz.models import Classifier

    if scheduler is not None and "://" not in scheduler:
        raise ConfigurationError(f"scheduler must be a Dask address like tcp://HOST:8786, got {scheduler!r}")
    if partition_size < 1:
        raise ConfigurationError(f"partition_size must be >= 1, got {partition_size}")
    ds = open_breizhcrops(root, region, year=year, level=level)
    clf = Classifier.open(model, device="cpu")
    clf.check_fits(ds)
    ids = clf.parcel_ids(ds)
    spec = {"model": str(Path(clf.info.path).resolve()) if clf.info.path else str(model), "device": device,
            "root": str(Path(root).resolve()), "region": region, "year": int(ds.year), "level": ds.level, "seed": seed,
            "explain": explain}
    parts = [ids[start:start + partition_size] for start in range(0, len(ids), partition_size)]
    with ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       host="127.0.0.1", dashboard_address=None,
                                                       memory_limit=memory_limit))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler, timeout="10s"))
        futures = client.map(evidence_task, [spec] * len(parts), parts, pure=False)
        evidence = []
        for k, future in enumerate(futures):
            evidence.append(future.result())
            if progress:
                print(f"evidence: part {k + 1}/{len(parts)}", file=sys.stderr)
    frame = diagnosis_frame(clf, ds, Evidence.concat(evidence), seed=seed)
    write_diagnosis(frame, out)
    return frame


def write_diagnosis(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write a diagnosis table to Parquet (``.csv``: CSV without the neighbour lists), atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix.lower() == ".csv":
        frame.drop(columns=["neighbours"]).to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(out)
    return out
