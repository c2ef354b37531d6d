"""precompute on a 2-worker LocalCluster equals single-process results; resumes; fails clearly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import distributed
import numpy as np
import pandas as pd
import pytest

import cropviz
from cropviz.devices import native_bfloat16
from cropviz.errors import ConfigurationError
from cropviz.scale import ClusterError, open_precomputed, precompute
from cropviz.scale.precompute import MANIFEST, part_name
from cropviz.scale.results import find_precomputed, precomputed_folder
from cropviz.store import dataset_fingerprint

REGION = "frh01"
PARTS = 4  # of TINY_PARCELS = 40 parcels


def _run(demo_root, model, out, cluster, **kw):
    kw.setdefault("partition_size", 40 // PARTS)
    return precompute(demo_root, REGION, model, out=out, scheduler=cluster.scheduler_address,
                      progress=False, **kw)


def _last_run(out: Path) -> dict:
    return json.loads((out / "_last_run.json").read_text())


@pytest.mark.timeout(180)
def test_predictions_and_explanations_equal_single_process(demo_root, models, cluster, tmp_path):
    from cropviz.data import open_breizhcrops
    from cropviz.explain import attention, attribute_batch
    from cropviz.models.classifier import Classifier

    ds = open_breizhcrops(demo_root, REGION)
    rf_out = _run(demo_root, models["rf"], tmp_path / "rf", cluster)
    expected = Classifier.open(models["rf"], device="cpu").predict(ds)
    got = open_precomputed(rf_out).predictions()
    pd.testing.assert_frame_equal(got.sort_values("id").reset_index(drop=True), expected)
    assert _last_run(rf_out)["computed"] == PARTS and len(list(rf_out.glob("part-*.parquet"))) == PARTS

    out = _run(demo_root, models["tf"], tmp_path / "tf", cluster, explain=("attention", "integrated_gradients"))
    res = open_precomputed(out)
    clf = Classifier.open(models["tf"], device="cpu")
    expected = clf.predict(ds)
    got = res.predictions().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["id", "true", "pred"]], expected[["id", "true", "pred"]])
    np.testing.assert_allclose(got.filter(like="prob_"), expected.filter(like="prob_"), atol=1e-6)
    assert res.manifest["checkpoint_sha256"] == clf.info.sha256
    assert res.manifest["partitions"]["count"] == PARTS

    full = res.predictions(columns=["id", "integrated_gradients", "attention_rollout", "dates", "cloudy",
                                    "integrated_gradients_top_dates", "attention_cloudy"])
    full = full.sort_values("id").reset_index(drop=True)
    prepared = clf.inputs(ds, full["id"].to_numpy())
    ig = attribute_batch(clf.model, prepared.x, "integrated_gradients", device="cpu")
    np.testing.assert_allclose(np.stack(full["integrated_gradients"]), ig.per_observation, atol=1e-4)
    assert (np.stack(full["dates"]) == prepared.dates).all()
    k = 7
    single = attention(clf.model, prepared.x[k])
    np.testing.assert_allclose(full["attention_rollout"][k], single.rollout, atol=1e-5)
    top = np.argmax(np.abs(ig.per_observation[k]))
    assert full["integrated_gradients_top_dates"][k][0] == prepared.dates[k][top]

    one = res.parcel(int(full["id"][k]))
    np.testing.assert_allclose(one["integrated_gradients"], full["integrated_gradients"][k])
    agg = res.class_aggregate("integrated_gradients", by="pred")
    preds = expected["pred"].to_numpy()
    c = int(np.bincount(preds).argmax())
    assert agg["count"].sum() == len(ds) and agg["count"].iloc[c] == (preds == c).sum()
    np.testing.assert_allclose(agg.iloc[c, 1:].to_numpy(float), ig.per_observation[preds == c].mean(axis=0),
                               atol=1e-4)


@pytest.mark.skipif(shutil.which("g++") is None, reason="TorchInductor writes C++ for the CPU: needs g++")
@pytest.mark.timeout(300)
def test_compiled_workers_predict_as_the_eager_model(demo_root, models, cluster, tmp_path):
    from cropviz.data import open_breizhcrops
    from cropviz.models.classifier import Classifier

    out = _run(demo_root, models["tf"], tmp_path / "tf", cluster, compiled=True)
    expected = Classifier.open(models["tf"], device="cpu").predict(open_breizhcrops(demo_root, REGION))
    got = open_precomputed(out).predictions().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["id", "true", "pred"]], expected[["id", "true", "pred"]])
    np.testing.assert_allclose(got.filter(like="prob_"), expected.filter(like="prob_"), rtol=0, atol=1e-5)
    assert _last_run(out)["computed"] == PARTS


@pytest.mark.timeout(120)
def test_rerun_skips_finished_parts_and_completes_the_rest(demo_root, models, cluster, tmp_path):
    out = _run(demo_root, models["rf"], tmp_path / "out", cluster)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    (out / part_name(2)).unlink()  # as if the run had crashed before writing it
    (out / f".{part_name(2)}.123.abc.tmp").write_bytes(b"half")  # a half-written part
    _run(demo_root, models["rf"], out, cluster)
    run = _last_run(out)
    assert (run["skipped"], run["computed"]) == (PARTS - 1, 1)
    assert all((out / n).stat().st_mtime_ns == t for n, t in mtimes.items() if n != part_name(2))
    assert not list(out.glob(".*.tmp"))
    assert len(open_precomputed(out)) == 40


@pytest.mark.timeout(180)
def test_killed_worker_still_yields_complete_result(demo_root, models, cluster, tmp_path):
    out = tmp_path / "out"
    done: dict = {}

    def target() -> None:
        try:
            done["path"] = _run(demo_root, models["rf"], out, cluster, partition_size=10, task_delay=1.0)
        except BaseException as error:  # re-raised below
            done["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    with distributed.Client(cluster.scheduler_address) as client:
        deadline = time.time() + 60
        while time.time() < deadline and not any(client.processing().values()):
            time.sleep(0.1)
        time.sleep(0.5)
        busy = [w for w, tasks in client.processing().items() if tasks]
        killed = client.run(os.getpid)[busy[0]]
        os.kill(killed, signal.SIGKILL)
    thread.join(150)
    assert "error" not in done, done.get("error")
    run = _last_run(out)
    assert run["computed"] == PARTS and killed not in {t["pid"] for t in run["tasks"]}
    ids = open_precomputed(done["path"]).predictions(columns=["id"])["id"]
    from cropviz.data import open_breizhcrops
    assert sorted(ids) == sorted(open_breizhcrops(demo_root, REGION).index["id"])
    assert ids.is_unique and not list(out.glob(".*.tmp"))


@pytest.mark.timeout(120)
def test_other_model_in_folder_is_refused_unless_overwrite(demo_root, models, cluster, tmp_path):
    out = _run(demo_root, models["rf"], tmp_path / "out", cluster)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    with pytest.raises(ConfigurationError, match="holds precomputed results of model random_forest"):
        _run(demo_root, models["tf"], out, cluster)
    with pytest.raises(ConfigurationError, match="holds precomputed results"):
        _run(demo_root, models["rf"], out, cluster, seed=1)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")} == before
    _run(demo_root, models["tf"], out, cluster, overwrite=True, partition_size=20)
    res = open_precomputed(out)
    assert res.manifest["model"] == "transformer" and len(list(out.glob("part-*.parquet"))) == 2


def test_unreachable_scheduler_fails_fast(demo_root, models, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.time()
    with pytest.raises(ClusterError, match=rf"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        precompute(demo_root, REGION, models["rf"], out=tmp_path / "out", progress=False,
                   scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=2)
    assert time.time() - start < 30


def test_worker_with_other_cropviz_version_is_refused(demo_root, models, cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(cropviz, "__version__", "9.9.9")
    with pytest.raises(ClusterError, match=r"workers run another cropviz than this client \(9.9.9\): tcp://.*0.1.0"):
        _run(demo_root, models["rf"], tmp_path / "out", cluster)


def test_bfloat16_is_refused_before_a_local_cluster_starts_where_it_is_not_native(demo_root, models, tmp_path,
                                                                                 monkeypatch):
    from cropviz import devices

    monkeypatch.setattr(devices, "native_bfloat16", lambda device: False)
    with pytest.raises(ConfigurationError, match=r"this machine's CPU has no native bfloat16 .*run without --bf16"):
        precompute(demo_root, REGION, models["tf"], out=tmp_path / "o", bfloat16=True, progress=False)
    with pytest.raises(ConfigurationError, match="Random Forest has no bfloat16"):
        precompute(demo_root, REGION, models["rf"], out=tmp_path / "o", bfloat16=True, progress=False)
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not native_bfloat16("cpu"), reason="bfloat16 workers need a CPU with AVX512-BF16 or AMX")
@pytest.mark.timeout(180)
def test_bfloat16_workers_keep_the_classes_and_the_manifest_says_so(demo_root, models, cluster, tmp_path):
    from cropviz.data import open_breizhcrops
    from cropviz.models.classifier import Classifier

    out = _run(demo_root, models["tf"], tmp_path / "tf", cluster, bfloat16=True)
    expected = Classifier.open(models["tf"], device="cpu").predict(open_breizhcrops(demo_root, REGION))
    got = open_precomputed(out).predictions().sort_values("id").reset_index(drop=True)
    assert (got["pred"] == expected["pred"]).mean() >= 0.95
    assert 0 < np.abs(got.filter(like="prob_").to_numpy() - expected.filter(like="prob_").to_numpy()).max() < 0.05
    assert json.loads((out / MANIFEST).read_text())["settings"]["precision"] == "bfloat16"
    shutil.copytree(demo_root, tmp_path / "demo")  # in the folder the app looks in, the app ignores them
    dataset = open_breizhcrops(tmp_path / "demo", REGION)
    model = Classifier.open(models["tf"], device="cpu")
    found = precomputed_folder(model, dataset)
    shutil.copytree(out, found)
    manifest = json.loads((found / MANIFEST).read_text())
    manifest["dataset"] = dataset_fingerprint(dataset)  # computed from the copy's files
    (found / MANIFEST).write_text(json.dumps(manifest))
    assert find_precomputed(model, dataset) is None
    del manifest["settings"]["precision"]  # the same results said to be float32 would be read
    (found / MANIFEST).write_text(json.dumps(manifest))
    assert find_precomputed(model, dataset) is not None
    with pytest.raises(ConfigurationError, match="holds precomputed results"):  # float32 results are others
        _run(demo_root, models["tf"], tmp_path / "tf", cluster)


def test_bad_explain_options(demo_root, models, tmp_path):
    with pytest.raises(ConfigurationError, match="has no attention"):
        precompute(demo_root, REGION, models["rf"], out=tmp_path / "o", explain=("attention",), progress=False)
    with pytest.raises(ConfigurationError, match="unknown explanation"):
        precompute(demo_root, REGION, models["tf"], out=tmp_path / "o", explain=("magic",), progress=False)


@pytest.mark.timeout(120)
def test_ids_subset(demo_root, models, cluster, tmp_path):
    from cropviz.data import open_breizhcrops

    ids = open_breizhcrops(demo_root, REGION).index["id"].to_numpy()[::3]
    out = _run(demo_root, models["rf"], tmp_path / "out", cluster, ids=ids)
    res = open_precomputed(out)
    assert sorted(res.predictions(columns=["id"])["id"]) == sorted(ids)
    assert res.manifest["settings"]["ids"]["count"] == len(ids)
    with pytest.raises(ConfigurationError, match="not in frh01"):
        _run(demo_root, models["rf"], tmp_path / "other", cluster, ids=[1, 2])


@pytest.mark.timeout(120)
def test_command_line_sends_work_to_a_scheduler(demo_root, models, cluster, tmp_path):
    from typer.testing import CliRunner

    from cropviz.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["precompute", "--root", str(demo_root), "--region", REGION, "--model",
                                      str(models["tf"]), "--explain", "saliency", "--out", str(out),
                                      "--scheduler", cluster.scheduler_address, "--partition-size", "25",
                                      "--top-k", "3", "--explain-batch-size", "4", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    res = open_precomputed(out)
    assert res.manifest["settings"]["top_k"] == 3 and res.manifest["partitions"]["count"] == 2
    frame = res.predictions(columns=["id", "saliency", "saliency_top_dates"])
    assert len(frame) == 40 and frame["id"].is_unique
    assert all(len(dates) == 3 for dates in frame["saliency_top_dates"])
    bad = CliRunner().invoke(app, ["precompute", "--root", str(demo_root), "--region", REGION, "--model",
                                   str(models["tf"]), "--out", str(tmp_path / "bad"), "--scheduler", "localhost:1"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "tcp://HOST:8786" in bad.output and bad.output.strip().count("\n") == 0
    assert not (tmp_path / "bad").exists()
