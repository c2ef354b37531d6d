"""The ``cropviz`` command line: demo, download, info, train, evaluate, predict."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from cropviz.errors import CropvizError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Explore and explain crop-type classifiers on Sentinel-2 parcel time series.")
download_app = typer.Typer(no_args_is_help=True, help="Download public datasets.")
app.add_typer(download_app, name="download")

ROOT = typer.Option(..., "--root", help="Dataset root folder (BreizhCrops layout).")


def _fail(error: Exception) -> None:
    typer.echo(f"cropviz: error: {error}", err=True)
    raise typer.Exit(code=2)


@app.command()
def demo(root: Path = typer.Option(Path("data/demo"), "--root", help="Where to write the demo."),
         parcels: Optional[int] = typer.Option(None, help="Parcels in all four regions (default: demo size)."),
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
         year: int = 2017, level: str = "L1C",
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
          val: str = typer.Option("frh03", help="Validation region."),
          year: int = 2017, level: str = "L1C",
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
    from cropviz.training import TrainConfig, train as run_training

    try:
        config = TrainConfig(model=model, root=str(root), train_regions=train_regions.split(","),
                             val_region=val, year=year, level=level, epochs=epochs,
                             batch_size=batch_size, learning_rate=lr, seed=seed,
                             shuffle_time=shuffle_time, device=device, alpha=alpha,
                             full_season=full_season,
                             hparams=_parse_hparams(hparam))
        path, best = run_training(config, out)
    except CropvizError as error:
        _fail(error)
    typer.echo(f"wrote {path}: validation OA {best['overall_accuracy']:.3f}, macro F1 {best['macro_f1']:.3f}")


def _parse_hparams(items: list[str]) -> dict[str, Any]:
    from cropviz.errors import ConfigurationError

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


def _classifier_and_data(model: str, arch: Optional[str], root: Path, region: str, year: int,
                         level: str, device: str) -> tuple[Any, Any]:
    from cropviz.data import open_breizhcrops
    from cropviz.models.classifier import Classifier

    classifier = Classifier.open(model, arch=arch, device=device)
    dataset = open_breizhcrops(root, region, year=year, level=level)
    classifier.check_fits(dataset)
    return classifier, dataset


@app.command()
def evaluate(model: str = typer.Option(..., help="Registry name (shipped weights) or checkpoint."),
             root: Path = ROOT, region: str = typer.Option(..., help="Region to evaluate on."),
             arch: Optional[str] = typer.Option(None, help="Architecture of a published checkpoint."),
             year: int = 2017, level: str = "L1C", device: str = "auto",
             cache: Optional[Path] = typer.Option(None, help="Prediction cache folder."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Overall accuracy, kappa, macro F1, per-class scores and confusion matrix on a region."""
    from cropviz.metrics import metrics_from_predictions
    from cropviz.predictions import region_predictions

    try:
        classifier, dataset = _classifier_and_data(model, arch, root, region, year, level, device)
        predictions = region_predictions(classifier, dataset, cache_dir=cache)
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
            arch: Optional[str] = typer.Option(None, help="Architecture of a published checkpoint."),
            year: int = 2017, level: str = "L1C", device: str = "auto", batch_size: int = 512,
            cache: Optional[Path] = typer.Option(None, help="Prediction cache folder.")) -> None:
    """One row per parcel: id, true, pred, confidence and prob_<class>."""
    from tqdm.auto import tqdm

    from cropviz.predictions import region_predictions

    try:
        classifier, dataset = _classifier_and_data(model, arch, root, region, year, level, device)
        with tqdm(total=len(dataset), desc=f"predict {classifier.name}", unit="parcel") as bar:
            def advance(done: int, total: int) -> None:
                bar.update(done - bar.n)

            predictions = region_predictions(classifier, dataset, cache_dir=cache,
                                             batch_size=batch_size, progress=advance)
    except CropvizError as error:
        _fail(error)
    out.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(out, index=False)
    typer.echo(f"wrote {len(predictions)} predictions to {out} (device {classifier.device})")


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="cropviz")


if __name__ == "__main__":
    main()
