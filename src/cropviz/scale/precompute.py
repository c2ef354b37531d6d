"""Region-wide predictions and explanations precomputed on a Dask cluster, stored as Parquet parts.

:func:`precompute` splits a region's parcel ids into partitions; each partition is one Dask task
that opens the dataset and the model in its worker (once per worker process), runs the model in
batches (on the worker's GPU when it has one), optionally summarises attention and attributes the
predicted class, and writes ``part-<k>.parquet`` atomically (temporary name, then ``os.replace``).
Nothing gathers the region in one process: the client only sees small per-part summaries.

The output folder::

    manifest.json        what the parts were computed from (model, checkpoint sha256, cropviz
                         version, dataset fingerprint, settings, partitions and their id ranges)
    part-00000.parquet   id, true, pred, confidence, prob_<class>..., dates, cloudy and, per
    part-00001.parquet   explanation, list columns of per-observation values
    _last_run.json       what the latest run computed and skipped (per-part seconds, peak memory)

Reruns skip the parts already written for the same manifest (resumable after a crash).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import cropviz
from cropviz.errors import ConfigurationError, CropvizError
from cropviz.types import IntArray

ATTENTION = "attention"
MANIFEST = "manifest.json"
LAST_RUN = "_last_run.json"
FORMAT = 1
#: Default parcels per partition: predictions (~2 ms per parcel per core) and attributions
#: (~0.2 s per parcel for integrated gradients), so a task lasts seconds to a minute.
PARTITION_SIZE = {"predictions": 2000, "attributions": 250}
#: Manifest keys that must agree for a folder's parts to be reused.
IDENTITY_KEYS = ("format", "model", "checkpoint_sha256", "cropviz_version", "dataset", "settings",
                 "partitions")


class ClusterError(CropvizError):
    """The Dask scheduler cannot be reached or its workers cannot run this cropviz."""


def part_name(index: int) -> str:
    """File name of partition ``index``: ``part-00012.parquet``."""
    return f"part-{index:05d}.parquet"


def partition_ids(ids: np.ndarray, partition_size: int) -> list[np.ndarray]:
    """Consecutive slices of ``partition_size`` ids (the last one shorter)."""
    return [ids[start:start + partition_size] for start in range(0, len(ids), partition_size)]


# --------------------------------------------------------------------------------- worker side
_WORKER_CACHE: dict[tuple, Any] = {}


def _cached(key: tuple, make: Any) -> Any:
    """One object per worker process and key (models, datasets); kept for the process lifetime."""
    if key not in _WORKER_CACHE:
        _WORKER_CACHE[key] = make()
    return _WORKER_CACHE[key]


def _worker_threads() -> int:
    try:
        from distributed import get_worker
        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


def _rollout_batch(layers: list[np.ndarray]) -> np.ndarray:
    """Per-observation attention rollout of N parcels from per-layer N x H x T x T maps -> N x T."""
    T = layers[0].shape[-1]
    eye = np.eye(T)
    result = np.broadcast_to(eye, (layers[0].shape[0], T, T)).copy()
    for layer in layers:
        a = layer.astype(np.float64).mean(axis=1) + eye
        a /= a.sum(axis=-1, keepdims=True)
        result = a @ result
    return result.mean(axis=1).astype(np.float32)


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise mean of ``values`` over ``mask`` (N x T); NaN where a row has no masked entry."""
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (values * mask).sum(axis=1) / count, np.nan).astype(np.float32)


def _list_column(values: np.ndarray) -> pa.Array:
    """N x T array -> Arrow list<...> column of N rows."""
    n, t = values.shape[:2]
    offsets = pa.array(np.arange(0, n * t + 1, t, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))


def compute_part(spec: dict[str, Any], index: int, ids: np.ndarray) -> dict[str, Any]:
    """The Dask task of one partition: predict (and explain) ``ids``, write the part atomically.

    Returns a small summary (part, rows, seconds, worker, device, peak memory); skips a part that
    exists already (a rescheduled task after its first worker died mid-way, or a concurrent run).
    """
    start = time.perf_counter()
    out = Path(spec["out"])
    final = out / part_name(index)
    summary = {"part": index, "rows": int(len(ids)), "host": socket.gethostname(), "pid": os.getpid()}
    if final.exists():
        return {**summary, "skipped": True, "seconds": 0.0, "device": None,
                "peak_rss_mb": _peak_rss_mb()}
    if cropviz.__version__ != spec["cropviz_version"]:
        raise ClusterError(f"worker {socket.gethostname()} (pid {os.getpid()}) runs cropviz "
                           f"{cropviz.__version__}, the client {spec['cropviz_version']}")
    if spec.get("task_delay"):
        time.sleep(spec["task_delay"])
    import torch

    from cropviz.data import open_breizhcrops
    from cropviz.explain import attribute_batch
    from cropviz.models.classifier import predictions_frame

    torch.set_num_threads(_worker_threads())
    clf = _cached(("model", spec["model_path"], spec["device"], spec["compiled"], spec["bfloat16"]),
                  lambda: _open_classifier(spec["model_path"], spec["device"], spec["compiled"], spec["bfloat16"]))
    if clf.info.sha256 != spec["checkpoint_sha256"]:
        raise ClusterError(f"{spec['model_path']}: worker {socket.gethostname()} has a checkpoint with "
                           f"sha256 {clf.info.sha256}, the manifest {spec['checkpoint_sha256']}")
    ds = _cached(("data", spec["root"], spec["region"], spec["year"], spec["level"]),
                 lambda: open_breizhcrops(spec["root"], spec["region"], year=spec["year"], level=spec["level"]))
    chunks, columns = [], {}
    extra: dict[str, list[np.ndarray]] = {}
    batch_size = spec["batch_size"]
    for b in range(0, len(ids), batch_size):
        prepared = clf.inputs(ds, ids[b:b + batch_size], seed=spec["seed"])
        log_probs = clf.log_probs(prepared.x, batch_size)
        chunks.append((prepared.ids, prepared.labels, np.exp(log_probs)))
        if prepared.cloudy is None:  # patch models: no per-observation explanations
            continue
        cloudy = prepared.cloudy.astype(bool)
        extra.setdefault("dates", []).append(prepared.dates.astype("datetime64[ns]"))
        extra.setdefault("cloudy", []).append(cloudy)
        for method in spec["explain"]:
            if method == ATTENTION:
                clf.model.eval()
                with torch.inference_mode():
                    xt = torch.from_numpy(np.ascontiguousarray(prepared.x)).to(clf.device)
                    layers = [a.float().cpu().numpy() for a in clf.model.attention_weights(xt)]
                roll = _rollout_batch(layers)
                extra.setdefault("attention_rollout", []).append(roll)
                extra.setdefault("attention_cloudy", []).append(_masked_mean(roll, cloudy))
                extra.setdefault("attention_clear", []).append(_masked_mean(roll, ~cloudy))
                continue
            attr = attribute_batch(clf.model, prepared.x, method, targets=log_probs.argmax(axis=1),
                                   batch_size=spec["explain_batch_size"], device=clf.device)
            per_obs = attr.per_observation.astype(np.float32)
            k = min(spec["top_k"], per_obs.shape[1])
            top = np.argsort(-np.abs(per_obs), axis=1, kind="stable")[:, :k]
            extra.setdefault(method, []).append(per_obs)
            extra.setdefault(f"{method}_top_dates", []).append(
                np.take_along_axis(prepared.dates.astype("datetime64[ns]"), top, axis=1))
            if attr.delta is not None:
                extra.setdefault(f"{method}_delta", []).append(attr.delta.astype(np.float32))
    frame = predictions_frame(chunks, clf.classes)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name, parts in extra.items():
        values = np.concatenate(parts)
        columns[name] = _list_column(values) if values.ndim == 2 else pa.array(values)
    for name, column in columns.items():
        table = table.append_column(name, column)
    table = table.replace_schema_metadata({"cropviz.part": str(index),
                                           "cropviz.manifest_sha": spec["manifest_sha"]})
    tmp = out / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    import pyarrow.parquet as pq  # imported where a part is written: importing cropviz.scale stays cheap

    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return {**summary, "skipped": False, "seconds": time.perf_counter() - start,
            "device": str(clf.device), "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux: VmHWM of /proc/self/status (ru_maxrss would include the parent's peak when a worker
    was forked and exec'd); elsewhere ru_maxrss (macOS reports bytes)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --------------------------------------------------------------------------------- client side
def _check_versions(client: Any) -> dict[str, str | None]:
    """Cropviz version of every connected worker; ClusterError listing them when one differs."""
    def probe() -> str | None:  # nested: cloudpickled by value, runs even without cropviz.scale
        try:
            import cropviz as worker_cropviz
            return worker_cropviz.__version__
        except ImportError:
            return None

    versions = client.run(probe)
    wrong = {w: v for w, v in versions.items() if v != cropviz.__version__}
    if wrong:
        listing = ", ".join(f"{w}: {v or 'not installed'}" for w, v in sorted(wrong.items()))
        raise ClusterError(f"Dask workers run another cropviz than this client ({cropviz.__version__}): {listing}")
    return versions


def _connect(stack: ExitStack, scheduler: Any, workers: int | None, memory_limit: str,
             dashboard_address: str | None, timeout: float, progress: bool) -> Any:
    """A distributed Client: to ``scheduler`` (address or Client) or to a new LocalCluster."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler
    if scheduler is None:
        if workers is not None and workers < 1:
            raise ConfigurationError(f"workers must be >= 1, got {workers}")
        n = workers or os.cpu_count() or 1
        cluster = stack.enter_context(LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, memory_limit=memory_limit,
            host="127.0.0.1", dashboard_address=dashboard_address))
        client = stack.enter_context(Client(cluster))
        if progress and dashboard_address is not None:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        return client
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: "
                           f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    return stack.enter_context(client)


def _read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{path}: not a cropviz precompute manifest ({error})") from None


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(tmp, path)


def _identity(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: manifest.get(k) for k in IDENTITY_KEYS}


def _describe(manifest: dict[str, Any]) -> str:
    data = manifest.get("dataset") or {}
    return (f"model {manifest.get('model')} (sha256 {str(manifest.get('checkpoint_sha256'))[:12]}), "
            f"{data.get('region')} {data.get('year')} {data.get('level')}, cropviz "
            f"{manifest.get('cropviz_version')}, settings {manifest.get('settings')}")


def _clear_outputs(out: Path) -> None:
    """Remove what precompute wrote in ``out`` (parts, temporaries, manifest), nothing else."""
    for path in list(out.glob("part-*.parquet")) + list(out.glob(".part-*.tmp")):
        path.unlink(missing_ok=True)
    for name in (MANIFEST, LAST_RUN):
        (out / name).unlink(missing_ok=True)


def _prepare_out(out: Path, manifest: dict[str, Any], overwrite: bool) -> None:
    """Check ``out`` against ``manifest`` (raise on mismatch unless ``overwrite``); write it."""
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    old = _read_manifest(out)
    orphan_parts = old is None and any(out.glob("part-*.parquet"))
    mismatch = old is not None and _identity(old) != _identity(manifest) or orphan_parts
    if mismatch and not overwrite:
        held = "Parquet parts without a manifest" if orphan_parts or old is None else _describe(old)
        raise ConfigurationError(f"{out}: holds precomputed results of {held}, not of "
                                 f"{_describe(manifest)}; choose another folder or pass overwrite=True")
    if overwrite:
        _clear_outputs(out)
    for stale in out.glob(".part-*.tmp"):  # left by a run killed mid-write
        stale.unlink(missing_ok=True)
    if old is None or mismatch or overwrite:
        _write_json(out / MANIFEST, manifest)


def precompute(
    root: str | os.PathLike[str],
    region: str,
    model: str | os.PathLike[str],
    *,
    year: int = 2017,
    level: str = "L1C",
    explain: Sequence[str] = (),
    out: str | os.PathLike[str] | None = None,
    scheduler: Any = None,
    partition_size: int | None = None,
    workers: int | None = None,
    memory_limit: str = "2GiB",
    progress: bool = True,
    seed: int = 0,
    ids: IntArray | None = None,
    overwrite: bool = False,
    top_k: int = 5,
    batch_size: int = 512,
    explain_batch_size: int = 8,
    device: str = "auto",
    compiled: bool = False,
    bfloat16: bool = False,
    dashboard_address: str | None = "127.0.0.1:8787",
    connect_timeout: float = 10.0,
    task_delay: float = 0.0,
) -> Path:
    """Predict (and explain) every parcel of ``region`` on Dask; return the Parquet dataset folder.

    ``model``: registry name or checkpoint path (readable by every worker at that path, like
    ``root``). ``explain``: 'attention' (rollout per observation; mean attention received by
    cloudy and clear observations; models with attention only) and/or attribution methods of
    ``cropviz.explain.METHODS`` (per-observation values of the predicted class, their
    ``top_k`` decisive dates and convergence delta). ``out`` defaults to
    ``<root>/precomputed/<region>-<year>-<level>-<model>``. ``scheduler``: None starts a
    LocalCluster (``workers`` processes, default one per core, 1 thread each, ``memory_limit``
    each, dashboard on ``dashboard_address``); a ``tcp://HOST:PORT`` address or a
    ``distributed.Client`` uses that cluster. Parts already written for the same manifest are
    skipped; a folder holding other results raises ConfigurationError (nothing is touched).
    ``device`` is what each worker opens the model on ('auto': its GPU when it has one).
    ``compiled``: each CPU worker compiles the model once with TorchInductor
    (:meth:`Classifier.compile`: faster predictions after about 10 s of compilation; needs a C++
    compiler; workers on a GPU run it as it is). ``bfloat16``: workers predict with a bfloat16
    copy of the model (devices with native bfloat16 only: AVX512-BF16 or AMX CPUs, GPUs; checked
    here for a local cluster, by each worker otherwise); the manifest records the precision, and
    attributions stay float32.
    ``partition_size``: parcels per task and part (default 2000; 250 with attribution methods).
    ``overwrite`` deletes earlier parts first (a fresh run). ``ids`` restricts the run to those
    parcels (default: the whole region). ``task_delay`` makes each task sleep first (tests only).
    """
    from distributed import Client

    from cropviz.data import open_breizhcrops
    from cropviz.devices import device_name, native_bfloat16
    from cropviz.explain import METHODS
    from cropviz.models.classifier import Classifier
    from cropviz.store import dataset_fingerprint

    if scheduler is not None and not isinstance(scheduler, Client) and \
            (not isinstance(scheduler, str) or "://" not in scheduler):
        raise ConfigurationError(f"scheduler must be a Dask address like tcp://HOST:8786, got {scheduler!r}")
    explain = tuple(dict.fromkeys(explain))
    unknown = [m for m in explain if m != ATTENTION and m not in METHODS]
    if unknown:
        raise ConfigurationError(f"unknown explanation(s) {', '.join(unknown)}; use {ATTENTION} or one of "
                                 f"{', '.join(METHODS)}")
    if partition_size is None:
        partition_size = PARTITION_SIZE["attributions" if set(explain) - {ATTENTION} else "predictions"]
    if partition_size < 1 or batch_size < 1 or explain_batch_size < 1 or top_k < 0:
        raise ConfigurationError(f"partition_size, batch_size, explain_batch_size must be >= 1 and top_k >= 0; "
                                 f"got {partition_size}, {batch_size}, {explain_batch_size}, {top_k}")
    dataset = open_breizhcrops(root, region, year=year, level=level)
    clf = Classifier.open(model if isinstance(model, str) else Path(model), device="cpu")
    clf.check_fits(dataset)
    where = clf.info.path or clf.info.arch
    if explain and clf.spec.input_form == "patch":
        raise ConfigurationError(f"{where}: explanations are per observation of a parcel series; "
                                 f"{clf.name} takes patches (precompute its predictions only)")
    if ATTENTION in explain and not clf.has_attention:
        raise ConfigurationError(f"{where}: {clf.name} has no attention; drop '{ATTENTION}' from explain")
    if set(explain) - {ATTENTION} and not clf.differentiable:
        raise ConfigurationError(f"{where}: {clf.name} is not differentiable; attributions need a neural model")
    if bfloat16 and not clf.differentiable:
        raise ConfigurationError(f"{where}: the Random Forest has no bfloat16 form; run without --bf16")
    if bfloat16 and scheduler is None and not native_bfloat16(device):  # local workers: this machine
        raise ConfigurationError(f"{where}: this machine's {device_name(device)} has no native bfloat16 "
                                 "(AVX512-BF16 or AMX on a CPU), where it would be slower than float32; "
                                 "run without --bf16")
    all_ids = dataset.index["id"].to_numpy(dtype=np.int64)
    subset = None
    chosen = all_ids
    if ids is not None:
        chosen = np.asarray(ids, dtype=np.int64)
        unknown_ids = np.setdiff1d(chosen, all_ids)
        if len(unknown_ids) or len(np.unique(chosen)) != len(chosen) or not len(chosen):
            raise ConfigurationError(f"ids: {len(unknown_ids)} not in {region} (e.g. {unknown_ids[:3].tolist()}), "
                                     f"{len(chosen) - len(np.unique(chosen))} repeated, {len(chosen)} given")
        subset = {"count": int(len(chosen)), "sha256": hashlib.sha256(chosen.tobytes()).hexdigest()[:16]}
    parts = partition_ids(chosen, partition_size)
    out = Path(out) if out is not None else \
        Path(root) / "precomputed" / f"{region}-{year}-{level}-{Path(str(model)).stem}"
    manifest = {
        "format": FORMAT, "model": clf.name, "checkpoint": clf.info.path,
        "checkpoint_sha256": clf.info.sha256, "cropviz_version": cropviz.__version__,
        "dataset": dataset_fingerprint(dataset), "classes": clf.classes,
        "settings": {"explain": list(explain), "partition_size": partition_size, "seed": seed,
                     "top_k": top_k, "ids": subset,
                     # only when not float32, so that earlier float32 results keep their identity
                     **({"precision": "bfloat16"} if bfloat16 else {})},
        "partitions": {"count": len(parts), "parcels": int(len(chosen)),
                       "ranges": [[int(p[0]), int(p[-1]), int(len(p))] for p in parts]},
    }
    manifest_sha = json.dumps(_identity(manifest), sort_keys=True, default=str)
    _prepare_out(out, manifest, overwrite)
    todo = [k for k in range(len(parts)) if not (out / part_name(k)).exists()]
    run: dict[str, Any] = {"parts": len(parts), "skipped": len(parts) - len(todo), "computed": 0, "tasks": []}
    started = time.perf_counter()
    if todo:
        spec = {"out": str(out.resolve()), "model_path": str(Path(clf.info.path).resolve()) if clf.info.path
                else str(model), "checkpoint_sha256": clf.info.sha256, "device": device,
                "root": str(Path(root).resolve()), "region": region, "year": year, "level": level,
                "seed": seed, "explain": list(explain), "top_k": top_k, "batch_size": batch_size,
                "explain_batch_size": explain_batch_size, "cropviz_version": cropviz.__version__,
                "manifest_sha": hashlib.sha256(manifest_sha.encode()).hexdigest()[:16], "task_delay": task_delay,
                "compiled": compiled, "bfloat16": bfloat16}
        with ExitStack() as stack:
            client = _connect(stack, scheduler, workers, memory_limit, dashboard_address, connect_timeout, progress)
            run["workers"] = _check_versions(client)
            run["tasks"] = _run_tasks(client, spec, parts, todo, progress)
        run["computed"] = sum(not t["skipped"] for t in run["tasks"])
    for stale in out.glob(".part-*.tmp"):
        stale.unlink(missing_ok=True)
    missing = [k for k in range(len(parts)) if not (out / part_name(k)).exists()]
    if missing:
        raise ClusterError(f"{out}: parts {missing[:5]} missing after the run; rerun precompute to finish")
    run["seconds"] = time.perf_counter() - started
    _write_json(out / LAST_RUN, run)
    return out


def _open_classifier(path: str, device: str, compiled: bool, bfloat16: bool) -> Any:
    """A worker's model, compiled for the CPU when asked (a GPU worker runs it uncompiled), in
    bfloat16 when asked."""
    from cropviz.models.classifier import Classifier

    clf = Classifier.open(path, device=device)
    compiled = compiled and clf.device.type == "cpu"
    return clf.compile(compiled, bfloat16) if clf.differentiable and (compiled or bfloat16) else clf


def _run_tasks(client: Any, spec: dict[str, Any], parts: list[np.ndarray], todo: list[int],
               progress: bool) -> list[dict[str, Any]]:
    """Submit one task per partition in ``todo`` and collect their summaries as they finish."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = [client.submit(compute_part, spec, k, parts[k], key=f"cropviz-part-{k}-{uuid.uuid4().hex[:8]}",
                             pure=False) for k in todo]
    results = []
    bar = tqdm(total=len(parts), initial=len(parts) - len(todo), unit="part", desc="precompute",
               disable=not progress)
    try:
        for future in as_completed(futures):
            results.append(future.result())
            bar.update(1)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        bar.close()
    return sorted(results, key=lambda r: r["part"])
