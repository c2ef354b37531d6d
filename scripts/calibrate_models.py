"""Fit a temperature for every shipped model on the demo's validation region and store it in its card.

Temperature scaling (``cropviz.calibration``) is fitted on frh03 (validation, never the test
region) and written into ``models/<name>.json`` under ``"calibration"`` with the expected
calibration error and negative log-likelihood before and after. Checkpoint files are not
touched (their sha256 and every cache keyed on it stay valid).

Run: ``python scripts/calibrate_models.py --root data/demo [--names transformer,lstm]``
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/demo"))
    parser.add_argument("--region", default="frh03", help="Validation region the temperature is fitted on.")
    parser.add_argument("--names", default="", help="Comma-separated shipped weights (default: all).")
    args = parser.parse_args()

    import torch

    from cropviz.calibration import calibrate, store_calibration
    from cropviz.data import open_breizhcrops
    from cropviz.errors import CropvizError
    from cropviz.models import Classifier
    from cropviz.models.checkpoint import shipped_names

    torch.set_num_threads(1)
    names = [n for n in args.names.split(",") if n] or shipped_names()
    for name in names:
        model = Classifier.open(name, device="cpu")
        card_val = (model.info.card or {}).get("val_region")
        if card_val and card_val != args.region:
            print(f"{name}: validation region is {card_val}, not {args.region}; skipped")
            continue
        try:
            ds = open_breizhcrops(args.root, args.region, level=model.info.level)
            result = calibrate(model, ds)
        except CropvizError as error:
            print(f"{name}: {error}")
            continue
        store_calibration(model.info.path, result)
        print(f"{name}: T={result['temperature']:.3f}  ECE {result['ece_before']:.3f} -> {result['ece_after']:.3f}  "
              f"NLL {result['nll_before']:.3f} -> {result['nll_after']:.3f}")


if __name__ == "__main__":
    main()
