"""The ``cropviz`` command line: demo, download, import, extract, info, train, evaluate, predict,
precompute, reproduce."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from cropviz.errors import ConfigurationError, CropvizError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Explore and explain crop-type classifiers on Sentinel-2 parcel time series.")
download_app = typer.Typer(no_args_is_help=True, help="Download public datasets.")
app.add_typer(download_app, name="download")
reproduce_app = typer.Typer(no_args_is_help=True, help="Reproduce published experiments on any dataset.")
app.add_typer(reproduce_app, name="reproduce")
import_app = typer.Typer(no_args_is_help=True, help="Bring your own data into the BreizhCrops layout.")
app.add_typer(import_app, name="import")

ROOT = typer.Option(..., "--root", help="Dataset root folder (BreizhCrops layout).")
YEAR_HELP = "Year (default: the one recorded at import, else 2017)."
LEVEL_HELP = "Level (default: the one recorded at import, else L1C)."


def _fail(error: Exception) -> None:
    typer.echo(f"cropviz: error: {error}", err=True)
    raise typer.Exit(code=2)


@app.command()
def demo(root: Path = typer.Option(Path("data/demo"), "--root", help="Where to write the demo."),
         parcels: int | None = typer.Option(None, help="Parcels in all four regions (default: demo size)."),
         seed: int = typer.Option(0, help="Random seed; the same seed gives the same demo."),
         overwrite: bool = typer.Option(False, help="Replace an existing demo.")) -> None:
    """Write the simulated Brittany-like demo in the BreizhCrops layout."""
    from cropviz.data.demo import generate_demo

    try:
        summary = generate_demo(root, parcels=parcels, seed=seed, overwrite=overwrite, progress=True)
    except CropvizError as error:
        _fail(error)
    typer.echo(json.dumps(summary, indent=2, default=str))


@download_app.command("breizhcrops")
def download_breizhcrops(region: str = typer.Option(..., help="frh01..frh04, belle-ile or kermaux."),
                         level: str = typer.Option("L1C", help="L1C or L2A."),
                         year: int = typer.Option(2017, help="2017 or 2018."),
                         root: Path = ROOT) -> None:
    """Fetch a BreizhCrops region (index, h5, polygons, codes, class mapping) with resume."""
    from cropviz.data.download import download_breizhcrops as download

    try:
        download(root, region=region, year=year, level=level, progress=True)
    except CropvizError as error:
        _fail(error)


@app.command()
def info(root: Path = ROOT, region: str = typer.Option(..., help="Region name."),
         year: int | None = typer.Option(None, help=YEAR_HELP),
         level: str | None = typer.Option(None, help=LEVEL_HELP),
         as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Summarise a dataset: parcels per class, sequence lengths, cloud share, skipped rows."""
    from cropviz.data import open_breizhcrops
    from cropviz.data.breizhcrops import summarize

    try:
        summary = summarize(open_breizhcrops(root, region, year=year, level=level))
    except CropvizError as error:
        _fail(error)
    typer.echo(json.dumps(summary, indent=None if as_json else 2, default=str))


@app.command()
def train(model: str = typer.Option(..., help="Registry model name."), root: Path = ROOT,
          train_regions: str = typer.Option("frh01,frh02", "--train", help="Comma-separated regions."),
          val: str | None = typer.Option(None, help="Validation region (default: frh03 when the root has it, "
                                                    "else --val-fraction of the training parcels)."),
          val_fraction: float | None = typer.Option(None, "--val-fraction",
                                                    help="Share of the training parcels held out for validation "
                                                         "(seeded; whole groups with --group-col). Default 0.2."),
          group_col: str | None = typer.Option(None, "--group-col",
                                               help="Index column grouping parcels for --val-fraction (default: "
                                                    "the group recorded at import, e.g. the polygon of pixels)."),
          preset: str = typer.Option("demo", help="Hyper-parameters: demo (small) or paper (published)."),
          year: int | None = typer.Option(None, help=YEAR_HELP),
          level: str | None = typer.Option(None, help=LEVEL_HELP),
          epochs: int = typer.Option(20, help="Epochs; the best validation epoch is kept."),
          batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
          shuffle_time: bool = typer.Option(False, "--shuffle-time", help="Permute observation order."),
          alpha: float = typer.Option(0.5, help="ELECTS accuracy/earliness trade-off."),
          full_season: bool = typer.Option(False, "--full-season",
                                           help="ELECTS backbone trained on the last step only (reference)."),
          hparam: list[str] = typer.Option([], help="Hyper-parameter override KEY=VALUE (JSON value)."),
          device: str = typer.Option("auto", help="auto, cpu or cuda."),
          out: Path = typer.Option(..., help="Checkpoint to write (.pt, or .npz for random_forest).")) -> None:
    """Train a registry model and write its checkpoint and model card."""
    from cropviz.training import TrainConfig
    from cropviz.training import train as run_training

    try:
        config = TrainConfig(model=model, root=str(root), train_regions=train_regions.split(","),
                             val_region=val, val_fraction=val_fraction, group_col=group_col, preset=preset,
                             year=year, level=level, epochs=epochs,
                             batch_size=batch_size, learning_rate=lr, seed=seed,
                             shuffle_time=shuffle_time, device=device, alpha=alpha,
                             full_season=full_season,
                             hparams=_parse_hparams(hparam))
        path, best = run_training(config, out)
    except CropvizError as error:
        _fail(error)
    typer.echo(f"wrote {path}: validation OA {best['overall_accuracy']:.3f}, macro F1 {best['macro_f1']:.3f}")


def _parse_hparams(items: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigurationError(f"--hparam {item!r}: expected KEY=VALUE")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def _classifier_and_data(model: str, arch: str | None, root: Path, region: str, year: int | None,
                         level: str | None, device: str) -> tuple[Any, Any]:
    from cropviz.data import open_breizhcrops
    from cropviz.models.classifier import Classifier

    classifier = Classifier.open(model, arch=arch, device=device)
    dataset = open_breizhcrops(root, region, year=year, level=level)
    classifier.check_fits(dataset)
    return classifier, dataset


@app.command()
def evaluate(model: str = typer.Option(..., help="Registry name (shipped weights) or checkpoint."),
             root: Path = ROOT, region: str = typer.Option(..., help="Region to evaluate on."),
             arch: str | None = typer.Option(None, help="Architecture of a published checkpoint."),
             year: int | None = typer.Option(None, help=YEAR_HELP),
             level: str | None = typer.Option(None, help=LEVEL_HELP), device: str = "auto",
             cache: Path | None = typer.Option(None, help="Prediction cache folder."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Overall accuracy, kappa, macro F1, per-class scores and confusion matrix on a region."""
    from cropviz.metrics import metrics_from_predictions
    from cropviz.store import Store
    from cropviz.workspace import Workspace

    try:
        classifier, dataset = _classifier_and_data(model, arch, root, region, year, level, device)
        predictions = Workspace(dataset, classifier, Store(cache)).predictions()
    except CropvizError as error:
        _fail(error)
    metrics = metrics_from_predictions(predictions, classifier.classes)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    typer.echo(f"{classifier.name} on {region} ({metrics['n']} parcels; model trained on: "
               f"{classifier.info.trained_on})")
    typer.echo(f"overall accuracy {metrics['overall_accuracy']:.4f}  kappa {metrics['kappa']:.4f}  "
               f"macro F1 {metrics['macro_f1']:.4f}")
    for row in metrics["per_class"]:
        typer.echo(f"  {row['classname']:<18} P {row['precision']:.3f}  R {row['recall']:.3f}  "
                   f"F1 {row['f1']:.3f}  n {row['support']}")


@app.command()
def predict(model: str = typer.Option(..., help="Registry name (shipped weights) or checkpoint."),
            root: Path = ROOT, region: str = typer.Option(..., help="Region to predict."),
            out: Path = typer.Option(..., help="Parquet file to write."),
            arch: str | None = typer.Option(None, help="Architecture of a published checkpoint."),
            year: int | None = typer.Option(None, help=YEAR_HELP),
            level: str | None = typer.Option(None, help=LEVEL_HELP), device: str = "auto", batch_size: int = 512,
            cache: Path | None = typer.Option(None, help="Prediction cache folder.")) -> None:
    """One row per parcel: id, true, pred, confidence and prob_<class>."""
    from tqdm.auto import tqdm

    from cropviz.store import Store
    from cropviz.workspace import Workspace

    try:
        classifier, dataset = _classifier_and_data(model, arch, root, region, year, level, device)
        with tqdm(total=len(dataset), desc=f"predict {classifier.name}", unit="parcel") as bar:
            def advance(done: int, total: int) -> None:
                bar.update(done - bar.n)

            predictions = Workspace(dataset, classifier, Store(cache)).predictions(
                batch_size=batch_size, progress=advance)
    except CropvizError as error:
        _fail(error)
    out.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(out, index=False)
    typer.echo(f"wrote {len(predictions)} predictions to {out} (device {classifier.device})")


@import_app.command("table")
def import_table_cmd(file: Path = typer.Argument(..., help="CSV or Parquet table (long or wide form)."),
                     root: Path = ROOT, region: str = typer.Option(..., help="Region name to write."),
                     form: str | None = typer.Option(None, help="long or wide (default: detect)."),
                     id_col: str | None = None, date_col: str | None = None, label_col: str | None = None,
                     wide_pattern: str | None = typer.Option(
                         None, help="e.g. '{band}_{date}', 't{index}_{band}' or 'OPTICAL-{band}-ts{index}-{*}' "
                                    "({*}: any text)."),
                     dates: str | None = typer.Option(None, help="Comma-separated dates for '{index}' patterns."),
                     start_date_col: str | None = typer.Option(None, help="Column with each row's first date "
                                                                          "('{index}' steps from it)."),
                     step: str | None = typer.Option(None, help="Step of '{index}' with --start-date-col: a pandas "
                                                                "offset such as 1MS (monthly) or 10D."),
                     bands: str | None = typer.Option(None, help="Comma-separated bands: the band of each position "
                                                                 "of a pattern without {band}, or the bands to keep."),
                     row_id: bool = typer.Option(False, "--row-id", help="Every row is its own series (pixel "
                                                                         "tables), numbered 1..N."),
                     group_col: str | None = typer.Option(None, help="Column kept as the parcel's group, e.g. the "
                                                                     "polygon id of a pixel table."),
                     scale: str = typer.Option("auto", help="auto, dn, reflectance, or N for reflectance x N "
                                                      "(e.g. 1000)."),
                     cloud_col: str | None = None,
                     cloud_kind: str | None = typer.Option(None, help="probability, boolean, scl (default: detect)."),
                     classmapping: Path | None = typer.Option(None, help="CSV code,classname[,id]."),
                     min_class_size: int | None = typer.Option(None, help="Fold smaller classes into 'other'."),
                     geometry: Path | None = typer.Option(None, help="Polygons joined on the id."),
                     lon_col: str | None = None, lat_col: str | None = None,
                     year: int | None = None, level: str | None = typer.Option(None, help="Default: L2A or CUSTOM."),
                     duplicates: str = typer.Option("error", help="error, first or mean."),
                     chunksize: int = 1_000_000, overwrite: bool = False) -> None:
    """Import a parcel table as a region (then open it with --level from the summary)."""
    from cropviz.data.importers import import_table

    try:
        summary = import_table(file, root, region, form=form, id_col=id_col, date_col=date_col,
                               label_col=label_col, wide_pattern=wide_pattern,
                               dates=dates.split(",") if dates else None, scale=scale, cloud_col=cloud_col,
                               cloud_kind=cloud_kind, classmapping=classmapping, min_class_size=min_class_size,
                               geometry=geometry, lon_col=lon_col, lat_col=lat_col, year=year, level=level,
                               duplicates=duplicates, chunksize=chunksize, overwrite=overwrite,
                               start_date_col=start_date_col, step=step,
                               bands=bands.split(",") if bands else None, row_id=row_id, group_col=group_col,
                               progress=True)
    except CropvizError as error:
        _fail(error)
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def extract(rasters: list[str] | None = typer.Option(None, "--rasters", help="Folder, glob or files (repeat)."),
            stac: str | None = typer.Option(None, "--stac", help="STAC API URL or static catalog.json instead of "
                                                                 "--rasters (with --start and --end)."),
            collection: str = typer.Option("sentinel-2-l2a", help="STAC collection (with --stac)."),
            start: str | None = typer.Option(None, help="First day, e.g. 2017-01-01 (with --stac)."),
            end: str | None = typer.Option(None, help="Last day, e.g. 2017-12-31 (with --stac)."),
            assets: str | None = typer.Option(None, help="Comma-separated STAC asset keys (default: every band)."),
            max_cloud_cover: float | None = typer.Option(None, help="Skip STAC items with more eo:cloud_cover."),
            parcels: Path = typer.Option(..., help="Polygon file with an id (and label) column."),
            root: Path = ROOT, region: str = typer.Option(..., help="Region name to write."),
            layout: str | None = typer.Option(None, help="per-date or per-band (default: detect)."),
            dates_csv: Path | None = None,
            band_names: str | None = typer.Option(None, help="Comma-separated layer band names."),
            id_col: str | None = None, label_col: str | None = None,
            cloud_band: str | None = typer.Option(None, help="Layer/file token of the cloud layer (default: one "
                                                             "named like SCL, CLM or cloud; 'none': no masking)."),
            cloud_kind: str | None = typer.Option(None, help="scl, boolean or probability (default: from the "
                                                             "values)."),
            patches: bool = typer.Option(False, "--patches", help="Also write 32x32 parcel patches."),
            workers: int = 2, year: int | None = None, level: str | None = None,
            overwrite: bool = False) -> None:
    """Extract per-parcel, per-date band statistics from Sentinel-2 rasters (or a STAC catalog) as a region."""
    from cropviz.data.importers import extract_rasters
    from cropviz.errors import ConfigurationError

    try:
        if (stac is None) == (not rasters):
            raise ConfigurationError("give either --rasters or --stac (with --start and --end)")
        if stac is not None:
            from cropviz.data.stac import extract_stac

            if start is None or end is None:
                raise ConfigurationError("--stac needs --start and --end, e.g. --start 2017-01-01 --end 2017-12-31")
            summary = extract_stac(stac, parcels, root, region, start=start, end=end, collection=collection,
                                   bands=assets.split(",") if assets else None, max_cloud_cover=max_cloud_cover,
                                   id_col=id_col, label_col=label_col, workers=workers, year=year, level=level,
                                   overwrite=overwrite, progress=True)
            typer.echo(json.dumps(summary, indent=2, default=str))
            return
        rasters = rasters or []
        summary = extract_rasters(rasters[0] if len(rasters) == 1 else rasters, parcels, root, region,
                                  layout=layout, dates_csv=dates_csv,
                                  band_names=band_names.split(",") if band_names else None, id_col=id_col,
                                  label_col=label_col, cloud_band=cloud_band, cloud_kind=cloud_kind,
                                  patches=patches, workers=workers, year=year, level=level,
                                  overwrite=overwrite, progress=True)
    except CropvizError as error:
        _fail(error)
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def precompute(root: Path = ROOT, region: str = typer.Option(..., help="Region to precompute, e.g. frh01."),
               model: str = typer.Option(..., help="Registry model name or checkpoint path."),
               explain: str = typer.Option("", help="Comma-separated: attention and/or attribution methods."),
               out: Path | None = typer.Option(None, help="Output folder (default <root>/precomputed/"
                                                            "<region>-<year>-<level>-<model>)."),
               scheduler: str | None = typer.Option(None, help="Dask scheduler tcp://HOST:PORT; default: "
                                                                  "a local cluster."),
               partition_size: int | None = typer.Option(None, help="Parcels per task / Parquet part "
                                                                       "(default 2000; 250 with attributions)."),
               workers: int | None = typer.Option(None, help="Local workers (default: one per core)."),
               memory_limit: str = typer.Option("2GiB", help="Memory limit per local worker."),
               batch_size: int = typer.Option(512, help="Parcels per model call (raise it on GPU workers)."),
               explain_batch_size: int = typer.Option(8, help="Parcels per attribution call (each runs the "
                                                              "model once per IG step; raise it on GPU workers)."),
               top_k: int = typer.Option(5, help="Decisive dates kept per parcel and attribution method."),
               compiled: bool = typer.Option(False, "--compile",
                                            help="Compile the model with TorchInductor on each CPU worker "
                                                 "(faster predictions after ~10 s; needs g++)."),
               bfloat16: bool = typer.Option(False, "--bf16",
                                             help="Predict in bfloat16 (CPUs with AVX512-BF16 or AMX, GPUs): "
                                                  "faster; a few parcels in a thousand may change class "
                                                  "(bench/bench_inference.py --bf16 --demo)."),
               year: int = 2017, level: str = "L1C", seed: int = 0,
               overwrite: bool = typer.Option(False, "--overwrite",
                                              help="Replace results of another model or dataset in --out.")) -> None:
    """Precompute region-wide predictions (and explanations) on Dask into a Parquet dataset."""
    from cropviz.scale import precompute as run_precompute

    try:
        path = run_precompute(root, region, model, year=year, level=level,
                              explain=[m.strip() for m in explain.split(",") if m.strip()], out=out,
                              scheduler=scheduler, partition_size=partition_size, workers=workers,
                              memory_limit=memory_limit, seed=seed, overwrite=overwrite, batch_size=batch_size,
                              explain_batch_size=explain_batch_size, top_k=top_k, compiled=compiled,
                              bfloat16=bfloat16)
    except CropvizError as error:
        _fail(error)
    typer.echo(f"wrote {path}")


@reproduce_app.command("time-space")
def reproduce_time_space(
        root: Path = ROOT, out: Path = typer.Option(..., help="Results JSON file to write."),
        quick: bool = typer.Option(False, "--quick", help="1 epoch, 24 patches and 200 sequences per region."),
        folds: int = typer.Option(1, help="1: region split frh01+frh02 / frh03 / frh04; 5: the paper's 5-fold "
                                          "cross-validation (3:1:1)."),
        epochs: int | None = typer.Option(None, help="Epochs (default 15, quick 1; the paper used 50)."),
        zoo_epochs: int | None = typer.Option(None, help="Epochs of the zoo models (default: --epochs)."),
        seed: int = typer.Option(0, help="Seed of training, folds and time shuffling."),
        models: str = typer.Option("cnn,cnn_gru7,cnn_gru8,cnn_gru9,gru,convlstm",
                                   help="Seed 004 patch models trained on ordered time ('' for none)."),
        shuffled: str = typer.Option("cnn_gru7,cnn_gru8,cnn_gru9,gru,convlstm",
                                     help="Patch models also trained on shuffled time ('' for none)."),
        zoo: str = typer.Option("transformer,lstm,tempcnn",
                                help="Zoo sequence models of the shuffle ablation ('' for none)."),
        device: str = typer.Option("cpu", help="Where the models train: cpu, cuda, cuda:1 or auto (CUDA when "
                                               "present)."),
        runs: Path | None = typer.Option(None, help="Folder of finished runs, reused when the command is run "
                                                    "again (default: <out stem>.runs beside --out)."),
        patience: int | None = typer.Option(None, help="Stop a training after this many epochs without a better "
                                                       "validation macro F1 (--epochs is then the most)."),
        only_folds: str = typer.Option("", help="Run only these folds of the --folds split, e.g. 1,2 (default: "
                                                "all); the results are means over them.")) -> None:
    """Seed 004 (Garnot et al.): spatial vs temporal models, ordered vs shuffled time. Resumable:
    every finished model and fold is kept under --runs and not trained again."""
    from cropviz.ablation import reproduce_time_space as run

    def names(text: str) -> list[str]:
        return [m.strip() for m in text.split(",") if m.strip()]

    try:
        fold_numbers = [int(k) for k in names(only_folds)] or None
    except ValueError:
        _fail(ConfigurationError(f"--only-folds {only_folds!r}: give fold numbers such as 1,2"))
    try:
        results = run(root, out, quick=quick, folds=folds, seed=seed, epochs=epochs, zoo_epochs=zoo_epochs,
                      models=names(models), shuffled=names(shuffled), zoo=names(zoo), progress=True,
                      device=device, runs_dir=runs, patience=patience,
                      only_folds=fold_numbers)
    except CropvizError as error:
        _fail(error)
    for row in results["results"]:
        typer.echo(f"{row['model']:>12} {row['order']:>8}  OA {row['overall_accuracy']:.3f}  "
                   f"macro F1 {row['macro_f1']:.3f}")
    typer.echo(f"wrote {out}")


@app.command()
def diagnose(model: str = typer.Option(..., help="Registry model name or checkpoint path."),
             root: Path = ROOT, region: str = typer.Option(..., help="Region to diagnose, e.g. frh04."),
             out: Path = typer.Option(Path("diagnosis.parquet"), help="Output table (.parquet, or .csv)."),
             level: str | None = typer.Option(None, help="Level (default: the dataset's, else L1C)."),
             year: int | None = typer.Option(None, help="Year (default: the dataset's, else 2017)."), seed: int = 0,
             explain: str = typer.Option("wrong", help="Parcels attributed with integrated gradients: "
                                                       "wrong, all or none."),
             dask: bool = typer.Option(False, "--dask", help="Compute the evidence on Dask (whole regions)."),
             scheduler: str | None = typer.Option(None, help="Dask scheduler tcp://HOST:PORT (implies --dask); "
                                                                "default: a local cluster."),
             workers: int | None = typer.Option(None, help="Local Dask workers (default: one per core)."),
             partition_size: int = typer.Option(500, help="Parcels per Dask task.")) -> None:
    """Why is each parcel wrong? Label error, clouds, ambiguity, atypical parcel or model error."""
    try:
        if dask or scheduler is not None:
            from cropviz.diagnose.distributed import diagnose_region

            frame = diagnose_region(root, region, model, out, year=year, level=level, seed=seed, explain=explain,
                                    scheduler=scheduler, workers=workers, partition_size=partition_size,
                                    progress=True)
        else:
            from cropviz.data import open_breizhcrops
            from cropviz.diagnose import diagnose as run_diagnose
            from cropviz.diagnose.distributed import write_diagnosis
            from cropviz.models import Classifier

            frame = run_diagnose(Classifier.open(model), open_breizhcrops(root, region, year=year, level=level),
                                 seed=seed, explain=explain)
            write_diagnosis(frame, out)
    except CropvizError as error:
        _fail(error)
    counts = frame["verdict"].value_counts()
    typer.echo(", ".join(f"{verdict} {int(n)}" for verdict, n in counts.items()))
    typer.echo(f"wrote {out} ({len(frame)} parcels)")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="cropviz")


if __name__ == "__main__":
    main()
