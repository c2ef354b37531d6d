"""Download one BreizhCrops region into the on-disk layout the reader expects.

The files live on the BreizhCrops bucket under a fixed pattern (same addresses as the
breizhcrops package): ``<year>/<level>/<region>.csv`` (index), ``<year>/<level>/<region>.h5.tar.gz``
(arrays), ``<year>/shp/<region>.tar.gz`` (polygons), ``codes.csv`` and ``classmapping.csv``.
Transfers stream into ``<file>.part`` and resume with an HTTP Range request when run again.
"""

from __future__ import annotations

import shutil
import tarfile
from os import PathLike
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3
from tqdm import tqdm

from cropviz.data.bands import LEVELS
from cropviz.errors import ConfigurationError, DownloadError

#: Where the BreizhCrops files are published.
BREIZHCROPS_BASE_URL = "https://breizhcrops.s3.eu-central-1.amazonaws.com"

#: Path patterns under the base URL, filled with year, level and region.
REMOTE_PATHS: dict[str, str] = {
    "index": "{year}/{level}/{region}.csv",
    "h5": "{year}/{level}/{region}.h5.tar.gz",
    "geometry": "{year}/shp/{region}.tar.gz",
    "codes": "codes.csv",
    "classmapping": "classmapping.csv",
}

#: Published sizes in bytes of the extracted h5 files (facts from the breizhcrops package).
H5_SIZES: dict[tuple[int, str, str], int] = {
    (2017, "L1C", "frh01"): 2559635960, (2017, "L1C", "frh02"): 2253658856,
    (2017, "L1C", "frh03"): 2493572704, (2017, "L1C", "frh04"): 1555075632,
    (2017, "L1C", "belle-ile"): 17038944, (2017, "L1C", "kermaux"): 1259784,
    (2017, "L2A", "frh01"): 987259904, (2017, "L2A", "frh02"): 803457960,
    (2017, "L2A", "frh03"): 890027448, (2017, "L2A", "frh04"): 639215848,
    (2017, "L2A", "belle-ile"): 8037952,
    (2018, "L1C", "frh01"): 9878839310, (2018, "L1C", "frh02"): 8567550069,
    (2018, "L1C", "frh03"): 10196638286, (2018, "L1C", "frh04"): 6270634169,
}

CHUNK_SIZE = 1 << 20
TIMEOUT_S = 30.0


def download_breizhcrops(root: str | PathLike[str], region: str, year: int = 2017,
                         level: str = "L1C", base_url: str = BREIZHCROPS_BASE_URL,
                         progress: bool = True, expected_h5_size: int | None = None,
                         geometry: bool = True) -> dict[str, Path]:
    """Fetch one region (index, h5, polygons) and the shared codes/classmapping into ``root``.

    Files already complete on disk are kept. The extracted h5 is checked against its published
    size (``expected_h5_size`` overrides it; unknown regions are checked by Content-Length only).
    Returns the local path of each part. Raises :class:`DownloadError` on any failure.
    """
    if level not in LEVELS:
        raise ConfigurationError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    root = Path(root)
    level_dir = root / str(year) / level
    level_dir.mkdir(parents=True, exist_ok=True)
    base = base_url.rstrip("/")

    def url(part: str) -> str:
        return f"{base}/{REMOTE_PATHS[part].format(year=year, level=level, region=region)}"

    h5_size = expected_h5_size if expected_h5_size is not None else H5_SIZES.get(
        (int(year) if str(year).isdigit() else -1, level, region))
    out: dict[str, Path] = {}
    for part, target in (("codes", root / "codes.csv"),
                         ("classmapping", root / "classmapping.csv"),
                         ("index", level_dir / f"{region}.csv")):
        if not target.exists():
            _fetch(url(part), target, progress)
        out[part] = target

    h5_path = level_dir / f"{region}.h5"
    if not (h5_path.exists() and (h5_size is None or h5_path.stat().st_size == h5_size)):
        archive = level_dir / f"{region}.h5.tar.gz"
        _fetch(url("h5"), archive, progress)
        _extract(archive, level_dir, wanted=(".h5",))
        if not h5_path.exists():
            raise DownloadError(f"{archive}: archive holds no {h5_path.name}")
        archive.unlink()
        if h5_size is not None and h5_path.stat().st_size != h5_size:
            got = h5_path.stat().st_size
            h5_path.unlink()
            raise DownloadError(f"{h5_path}: size mismatch after extraction: expected {h5_size} "
                                f"bytes, got {got}; removed it, run again to download anew")
    out["h5"] = h5_path

    if geometry:
        shp_path = root / str(year) / f"{region}.shp"
        if not shp_path.exists():
            archive = root / str(year) / f"{region}.tar.gz"
            _fetch(url("geometry"), archive, progress)
            _extract(archive, root / str(year), wanted=(".shp", ".shx", ".dbf", ".prj", ".cpg"))
            archive.unlink()
            if not shp_path.exists():
                raise DownloadError(f"{archive}: archive holds no {shp_path.name}")
        out["geometry"] = shp_path
    return out


def _fetch(url: str, target: Path, progress: bool) -> Path:
    """Stream ``url`` to ``target`` through ``target.part``, resuming a partial download."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # byte ranges refer to the stored bytes
    if offset:
        headers["Range"] = f"bytes={offset}-"
    host = urlsplit(url).netloc
    try:
        response = requests.get(url, headers=headers, stream=True, timeout=TIMEOUT_S)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise DownloadError(f"cannot reach {host}: are you offline? ({url})") from exc
    with response:
        if response.status_code == 416 and offset:  # the .part already holds the whole file
            total = _total_from_content_range(response.headers.get("Content-Range"))
            if total == offset:
                part.replace(target)
                return target
            part.unlink()
            raise DownloadError(f"{url}: server refused to resume {part.name} "
                                f"({offset} bytes, remote {total}); removed it, run again")
        if response.status_code == 206:
            total = _total_from_content_range(response.headers.get("Content-Range"))
            mode = "ab"
        elif response.status_code == 200:
            offset, mode = 0, "wb"  # no range support: start over
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        else:
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")

        written = offset
        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=target.name, disable=not progress, leave=False)
        try:
            with open(part, mode) as fh:
                # read1 hands over what arrived so far, so an interrupted transfer keeps it
                while chunk := response.raw.read1(CHUNK_SIZE, decode_content=False):
                    fh.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise DownloadError(f"{url}: transfer interrupted after {written} of {total} bytes; "
                                f"run again to resume from {part}") from exc
        finally:
            bar.close()

    if total is not None and written != total:
        if written > total:
            part.unlink()
        raise DownloadError(f"{url}: size mismatch: expected {total} bytes, got {written}"
                            + ("; removed the partial file" if written > total
                               else f"; run again to resume from {part}"))
    part.replace(target)
    return target


def _total_from_content_range(value: str | None) -> int | None:
    """Total size from a ``Content-Range: bytes a-b/total`` header (None when unknown)."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _extract(archive: Path, folder: Path, wanted: tuple[str, ...]) -> None:
    """Extract the regular files of a .tar.gz whose names end in ``wanted`` flat into ``folder``."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if not member.isreg() or not name.lower().endswith(wanted):
                    continue
                source = tar.extractfile(member)
                if source is None:
                    continue
                tmp = folder / (name + ".extracting")
                with source, open(tmp, "wb") as fh:
                    shutil.copyfileobj(source, fh, CHUNK_SIZE)
                tmp.replace(folder / name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{archive}: not a readable .tar.gz archive ({type(exc).__name__}); "
                            "removed it, run again") from exc
