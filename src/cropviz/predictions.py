"""Region-wide predictions, computed once per (model, dataset) and cached on disk as Parquet."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cropviz.models.classifier import Classifier, ProgressCallback

if TYPE_CHECKING:
    from cropviz.scale.results import PrecomputedResults


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
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


def cache_key(classifier: Classifier, dataset: Any, seed: int = 0) -> str:
    """A key that changes when the model weights, the dataset files or the sampling seed change."""
    payload = {"model": classifier.info.sha256 or classifier.info.arch, "data": dataset_fingerprint(dataset),
               "seed": seed, "format": 1}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def precomputed_folder(classifier: Classifier, dataset: Any) -> Path:
    """Where ``cropviz precompute`` writes by default for this model and region."""
    stem = Path(classifier.info.path or classifier.name).stem
    return Path(dataset.root) / "precomputed" / f"{dataset.region}-{dataset.year}-{dataset.level}-{stem}"


def find_precomputed(classifier: Classifier, dataset: Any, seed: int = 0) -> PrecomputedResults | None:
    """Complete results of ``cropviz precompute`` for this model, these dataset files and seed, if any.

    They lie in :func:`precomputed_folder` (precompute's default ``--out``); results of other
    weights, changed data or another seed are ignored.
    """
    from cropviz.errors import CropvizError
    from cropviz.scale.results import open_precomputed

    folder = precomputed_folder(classifier, dataset)
    if not (folder / "manifest.json").exists():
        return None
    try:
        results = open_precomputed(folder)
    except CropvizError:
        return None
    manifest = results.manifest
    if manifest.get("checkpoint_sha256") != classifier.info.sha256 or \
            manifest.get("dataset") != dataset_fingerprint(dataset) or manifest["settings"].get("seed") != seed:
        return None
    return results


def precomputed_predictions(classifier: Classifier, dataset: Any, seed: int = 0) -> pd.DataFrame | None:
    """Predictions of every parcel from :func:`find_precomputed` results (None: absent, or a subset)."""
    results = find_precomputed(classifier, dataset, seed)
    if results is None or results.manifest["settings"].get("ids") is not None:
        return None
    return results.predictions()


def region_predictions(classifier: Classifier, dataset: Any, cache_dir: str | Path | None = None,
                       seed: int = 0, batch_size: int = 512,
                       progress: ProgressCallback | None = None) -> pd.DataFrame:
    """Predictions for every parcel of ``dataset``: precomputed on Dask, cached in ``cache_dir``, or
    computed now."""
    precomputed = precomputed_predictions(classifier, dataset, seed)
    if precomputed is not None:
        return precomputed
    if cache_dir is None:
        return classifier.predict(dataset, seed=seed, batch_size=batch_size, progress=progress)
    path = Path(cache_dir) / "predictions" / f"{classifier.name}-{dataset.region}-{cache_key(classifier, dataset, seed)}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    frame = classifier.predict(dataset, seed=seed, batch_size=batch_size, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return frame
