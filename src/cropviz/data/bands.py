"""Band names and orders of the BreizhCrops h5 files and of model inputs (FIELD.md sections 1-2)."""

from __future__ import annotations

from collections.abc import Sequence

#: Columns of one parcel's h5 array, per processing level, in file order.
H5_COLUMNS: dict[str, tuple[str, ...]] = {
    "L1C": ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
            "QA10", "QA20", "QA60", "doa"),
    "L2A": ("doa", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12",
            "CLD", "EDG", "SAT"),
}

#: Spectral bands per level in wavelength order.
SPECTRAL_BANDS: dict[str, tuple[str, ...]] = {
    "L1C": ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"),
    "L2A": ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"),
}

#: Quality / cloud flag columns per level.
FLAG_COLUMNS: dict[str, tuple[str, ...]] = {
    "L1C": ("QA10", "QA20", "QA60"),
    "L2A": ("CLD", "EDG", "SAT"),
}

#: Band order of the breizhcrops package's default transform, used by its published checkpoints.
BREIZHCROPS_ORDER: dict[str, tuple[str, ...]] = {
    "L1C": ("B1", "B10", "B11", "B12", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9"),
    "L2A": ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"),
}

#: The 10 bands of the parcel-patch form of seed 004 (no B1, B9, B10).
PATCH_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")

#: Observations sampled per parcel by the breizhcrops default transform.
BREIZHCROPS_SEQUENCE_LENGTH = 45

#: Digital numbers per unit reflectance.
REFLECTANCE_SCALE = 10000.0

#: QA60 bits of Sentinel-2 L1C: opaque cloud and cirrus.
QA60_OPAQUE_BIT = 10
QA60_CIRRUS_BIT = 11

LEVELS = ("L1C", "L2A")

#: Levels defined at run time by a dataset's cropviz.json (imported data): name -> columns.
CUSTOM_LEVELS: dict[str, dict[str, tuple[str, ...]]] = {}


def register_level(name: str, columns: tuple[str, ...] | list[str], spectral: tuple[str, ...] | list[str],
                   flags: tuple[str, ...] | list[str] = ()) -> None:
    """Define (or redefine) a level from a dataset's metadata so that :func:`band_order` and the
    band tables know it. The 'breizhcrops' order of a custom level is its spectral (wavelength)
    order, or the L1C package order when its bands are exactly L1C's; stock levels are not redefined."""
    if name in LEVELS:
        return
    spectral = tuple(b for b in SPECTRAL_BANDS["L1C"] if b in spectral)
    H5_COLUMNS[name] = tuple(columns)
    SPECTRAL_BANDS[name] = spectral
    FLAG_COLUMNS[name] = tuple(flags)
    BREIZHCROPS_ORDER[name] = (BREIZHCROPS_ORDER["L1C"] if set(spectral) == set(SPECTRAL_BANDS["L1C"])
                               else spectral)
    CUSTOM_LEVELS[name] = {"columns": tuple(columns), "spectral": spectral, "flags": tuple(flags)}


def wavelength_order(bands: Sequence[str]) -> list[int]:
    """Positions of ``bands`` sorted by Sentinel-2 wavelength (B1, B2, ..., B8, B8A, B9, ..., B12);
    names that are not Sentinel-2 bands follow, in their own order."""
    rank = {band: k for k, band in enumerate(SPECTRAL_BANDS["L1C"])}
    return sorted(range(len(bands)), key=lambda k: (rank.get(str(bands[k]), len(rank)), k))


def band_order(level: str, order: str = "breizhcrops") -> tuple[str, ...]:
    """Return the model-input band order named ``order`` ('breizhcrops' or 'spectral') for a level."""
    if level not in BREIZHCROPS_ORDER and order != "patch":
        raise KeyError(f"unknown level {level!r}: not L1C or L2A and no opened dataset defines it")
    if order == "breizhcrops":
        return BREIZHCROPS_ORDER[level]
    if order == "spectral":
        return SPECTRAL_BANDS[level]
    if order == "patch":
        return PATCH_BANDS
    raise ValueError(f"unknown band order {order!r}; use 'breizhcrops', 'spectral' or 'patch'")
