"""Recognising Sentinel-2 band names and acquisition dates in column and file names.

``canonical_band('S2-L2A-B02') == 'B2'``, ``canonical_band('B08') == 'B8'``,
``canonical_band('sentinel2_B8A') == 'B8A'``, ``canonical_band('red') == 'B4'``; names that look
like a band but are not one (``B13``) raise through :func:`looks_like_band`; anything else is not a
band (``None``). Dates: ``20170315``, ``2017-03-15``, ``20170315T105031`` inside names.
"""

from __future__ import annotations

import re

import numpy as np

from cropviz.data.bands import SPECTRAL_BANDS

#: The 13 Sentinel-2 bands in wavelength order.
S2_BANDS: tuple[str, ...] = SPECTRAL_BANDS["L1C"]

#: Common words for Sentinel-2 bands.
BAND_WORDS: dict[str, str] = {
    "coastal": "B1", "aerosol": "B1", "blue": "B2", "green": "B3", "red": "B4",
    "rededge1": "B5", "re1": "B5", "rededge2": "B6", "re2": "B6", "rededge3": "B7", "re3": "B7",
    "nir": "B8", "nir08": "B8A", "nir1": "B8", "narrownir": "B8A", "nir2": "B8A", "rededge4": "B8A",
    "nir09": "B9", "watervapour": "B9", "watervapor": "B9", "wv": "B9", "cirrus": "B10",
    "swir1": "B11", "swir16": "B11", "swir2": "B12", "swir22": "B12",
}

_PREFIX = re.compile(r"^(?:(?:sentinel[-_ ]?2[ab]?|s2[ab]?|msi|l1c|l2a|boa|toa|refl(?:ectance)?)[-_ .]*)+",
                     re.IGNORECASE)
_SUFFIX = re.compile(r"(?:[-_ .]*(?:\d{2}m|mean|median|avg|refl|dn|boa|toa))+$", re.IGNORECASE)
_BAND = re.compile(r"^b(?:and)?[-_ ]?0*(\d{1,2})(a?)$", re.IGNORECASE)
#: A band token inside a file name, e.g. ``..._B04_10m.tif`` or ``..._B8A.tif``.
_BAND_IN_NAME = re.compile(r"(?:^|[-_.])(B(?:0?[1-9]|1[0-2]|0?8A))(?=$|[-_.])", re.IGNORECASE)
_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?:T\d{6})?(?!\d)")


def canonical_band(name: str) -> str | None:
    """The Sentinel-2 band (``B1`` ... ``B12``, ``B8A``) a column name stands for, or None."""
    text = _SUFFIX.sub("", _PREFIX.sub("", str(name).strip()))
    word = re.sub(r"[-_ ]", "", text).lower()
    if word in BAND_WORDS:
        return BAND_WORDS[word]
    match = _BAND.match(text)
    if not match:
        return None
    band = f"B{int(match.group(1))}{match.group(2).upper()}"
    return band if band in S2_BANDS else None


def looks_like_band(name: str) -> bool:
    """True for names shaped like a band (``B13``, ``B0``, ``S2_B14``) whether or not valid."""
    text = _SUFFIX.sub("", _PREFIX.sub("", str(name).strip()))
    return bool(_BAND.match(text))


def band_in_filename(name: str) -> str | None:
    """The band token of a file name (``T30UVU_20170315T105031_B04_10m.tif`` -> ``B4``), or None."""
    stem = re.sub(r"\.(tif|tiff|jp2|vrt)$", "", name, flags=re.IGNORECASE)
    found = _BAND_IN_NAME.findall(stem)
    return canonical_band(found[-1]) if found else None


def date_in_name(name: str) -> np.datetime64 | None:
    """The first date ``YYYYMMDD`` / ``YYYY-MM-DD`` in a name, or None."""
    match = _DATE_IN_NAME.search(name)
    if not match:
        return None
    try:
        return np.datetime64(f"{match.group(1)}-{match.group(2)}-{match.group(3)}", "ns")
    except ValueError:
        return None


def split_band_date(name: str) -> tuple[str, np.datetime64] | None:
    """Split a wide-form column such as ``B2_20170315`` or ``2017-03-15_NDVI`` into (token, date)."""
    match = _DATE_IN_NAME.search(name)
    if not match:
        return None
    rest = (name[:match.start()] + "\0" + name[match.end():]).strip("-_ .\0")
    rest = re.sub(r"[-_ .]*\0[-_ .]*", "_", rest).strip("_")
    date = date_in_name(name)
    if not rest or date is None:
        return None
    return rest, date
