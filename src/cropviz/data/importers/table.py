"""Importing a user's parcel table (CSV or Parquet, long or wide form) into the BreizhCrops layout.

Two passes in bounded memory: pass 1 reads the table in chunks, turns each chunk into long-form
rows (id, date, DN bands, cloud flag, extra columns), drops nodata observations and appends the rows
to bucket files on disk (bucket = hash of the parcel id); pass 2 reads one bucket at a time, sorts
by (id, date) and writes one h5 array per parcel. Labels, lon/lat and the year's date counts are
collected per parcel on the way (one small row per parcel).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cropviz.data.bands import LEVELS, REFLECTANCE_SCALE, SPECTRAL_BANDS
from cropviz.data.breizhcrops import CLOUD_KINDS
from cropviz.data.importers.bandnames import canonical_band, looks_like_band, split_band_date
from cropviz.data.importers.writer import (
    DatasetWriter,
    build_classmapping,
    check_target,
    command_text,
    level_columns,
    read_classmapping_file,
    stock_level,
)
from cropviz.errors import ConfigurationError, DatasetError

ID_NAMES = ("id", "parcel_id", "parcelid", "id_parcel", "field_id", "fid", "parcel")
DATE_NAMES = ("date", "doa", "acquisition_date", "acq_date", "datetime", "time", "timestamp")
LABEL_NAMES = ("label", "class", "classname", "crop", "crop_type", "croptype", "code", "code_cultu",
               "code_group", "classid", "landcover")
CLOUD_NAMES = ("cloud", "cld", "clouds", "cloudy", "cloud_prob", "cloud_probability", "cloud_mask",
               "clm", "scl", "cloud_share")
LON_NAMES = ("lon", "longitude", "x", "lng")
LAT_NAMES = ("lat", "latitude", "y")
DEFAULT_NODATA = (np.nan, 65535, -9999)
DEFAULT_CHUNKSIZE = 1_000_000
CUSTOM_LEVEL = "CUSTOM"
_DATE_RE = r"(?:19|20)\d{2}-?[01]\d-?[0-3]\d"


def import_table(file: str | PathLike[str], root: str | PathLike[str], region: str, *,
                 form: str | None = None, id_col: str | None = None, date_col: str | None = None,
                 label_col: str | None = None, wide_pattern: str | None = None,
                 dates: Sequence[Any] | None = None, nodata: Sequence[float] = DEFAULT_NODATA,
                 scale: str = "auto", cloud_col: str | None = None, cloud_kind: str | None = None,
                 classmapping: str | PathLike[str] | None = None, min_class_size: int | None = None,
                 geometry: str | PathLike[str] | None = None, lon_col: str | None = None,
                 lat_col: str | None = None, year: int | None = None, level: str | None = None,
                 duplicates: str = "error", chunksize: int = DEFAULT_CHUNKSIZE, overwrite: bool = False,
                 start_date_col: str | None = None, step: str | None = None, bands: Sequence[str] | None = None,
                 row_id: bool = False, group_col: str | None = None,
                 progress: bool = True, _provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Import a parcel table (CSV or Parquet) as region ``region`` of a BreizhCrops-layout ``root``.

    ``form``: 'long' (one row per parcel and date), 'wide' (one row per parcel, columns like
    ``B2_20170315``; ``wide_pattern`` such as '{band}_{date}' or 't{index}_{band}' with ``dates``),
    or None to detect. Column names are guessed case-insensitively when not given. Bands in any
    common Sentinel-2 naming; other numeric columns are kept as extra columns. Band values equal
    to ``nodata`` (or NaN) make the observation missing (dropped, counted). ``scale``: 'auto'
    (median < 2 means reflectance 0-1), 'dn', 'reflectance' or a number N for reflectance x N
    (e.g. '1000'; 'dn' is reflectance x 10000). ``cloud_kind``: 'probability'
    (0-1 or 0-100), 'boolean', 'scl' or None (detect); no cloud column means 'unknown'.
    Labels as codes or names; ``classmapping`` (CSV code,classname[,id]) or classes built from the
    values; ``min_class_size`` folds smaller classes into 'other'; parcels without a label are kept
    as unlabelled. ``geometry``: polygon file joined on the id, or ``lon_col``/``lat_col`` points.
    ``duplicates``: 'error', 'first' or 'mean' for repeated (id, date) rows.

    Wide patterns: ``{band}``, ``{date}``, ``{index}`` and ``{*}`` (any text, e.g. ``-10m``), such as
    'OPTICAL-{band}-ts{index}-{*}'. ``start_date_col`` with ``step`` (a pandas offset: '1MS',
    '10D'): each row's own calendar, step ``{index}`` i at start + (i - first index) x step. A
    pattern without ``{band}`` is positional: ``bands`` names the band of each position (for
    ``{index}``: index k is date k // len(bands), band k % len(bands), k counted from 0, or from 1
    when the names start at 1 such as x1, x2...); with ``{band}``, ``bands``
    keeps only those bands. A pattern that leaves band-like columns out is an error unless
    ``bands`` is given. ``row_id``: every row is its own series (a pixel table), numbered 1..N;
    ``group_col`` (e.g. the polygon id) is kept in the index as ``group`` for grouped splits.
    Ids that are not integers are numbered and kept in the index as ``source_id``. Returns a summary.
    """
    started = time.perf_counter()
    path = Path(file)
    root = Path(root)
    if not path.is_file():
        raise DatasetError(path, "file does not exist")
    _scale_factor(scale)  # a bad --scale fails before any reading
    if cloud_kind is not None and cloud_kind not in CLOUD_KINDS:
        raise ConfigurationError(f"cloud_kind must be one of {', '.join(CLOUD_KINDS)}, got {cloud_kind!r}")
    if duplicates not in ("error", "first", "mean"):
        raise ConfigurationError(f"--duplicates must be 'error', 'first' or 'mean', got {duplicates!r}")
    offset = _step_offset(start_date_col, step)
    if level == "L1C":
        raise ConfigurationError("imported data cannot be level L1C (no QA60 flags); leave level unset")
    check_target(root.absolute(), region, overwrite)
    chunksize = max(int(chunksize), 1)
    chunks = _read_chunks(path, chunksize)
    first = next(chunks, None)
    if first is None or first.empty:
        raise DatasetError(path, "table has no rows")
    plan = _Plan.make(path, first, form=form, id_col=id_col, date_col=date_col, label_col=label_col,
                      wide_pattern=wide_pattern, dates=dates, cloud_col=cloud_col, lon_col=lon_col,
                      lat_col=lat_col, nodata=nodata, scale=scale, cloud_kind=cloud_kind,
                      start_col=start_date_col, step=offset, bands=bands, row_id=row_id, group_col=group_col)
    level = level or stock_level(plan.bands, plan.extra) or CUSTOM_LEVEL
    if level in LEVELS and set(plan.bands) != set(SPECTRAL_BANDS[level]):
        raise ConfigurationError(f"level {level} needs bands {', '.join(SPECTRAL_BANDS[level])}; "
                                 f"{path} has {', '.join(plan.bands)}")
    columns, flags = level_columns(level, plan.bands, plan.cloud_col is not None, plan.extra)
    cloud_kind_out = plan.cloud_kind if plan.cloud_col is not None else "unknown"
    spool = root.absolute().parent / f".{root.name}.spool-{region}"
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir(parents=True)
    writer = None
    try:
        n_buckets = _bucket_count(path, chunksize)
        stats = _pass_one(path, first, chunks, plan, spool, n_buckets, progress)
        parcel_info = stats.pop("parcels")
        id_map = _id_map(parcel_info.index)
        writer = DatasetWriter(root, region, level, columns, plan.bands, flags, plan.extra,
                               cloud_kind_out, overwrite=overwrite)
        dup = _pass_two(spool, n_buckets, plan, columns, writer, id_map, duplicates, path, progress)
        labels = parcel_info["label"].where(parcel_info["label"].notna(), None)
        mapping = (read_classmapping_file(Path(classmapping)) if classmapping is not None
                   else build_classmapping(labels, min_class_size))
        codes = {int(id_map[k]) if id_map is not None else int(k): v for k, v in labels.items()}
        year = int(year) if year is not None else int(stats["years"].idxmax())
        gdf, missing_geometry = _geometry(geometry, plan, parcel_info, id_map, path)
        written = writer.ids
        counts = pd.Series([codes.get(i) for i in written], dtype=object).dropna().value_counts()
        summary = {
            "root": str(root), "region": region, "year": year, "level": level, "source_files": [str(path)],
            "form": plan.form, "rows": stats["rows"], "observations": stats["kept"],
            "nodata_rows_dropped": stats["nodata"], "duplicate_rows": dup, "parcels": writer.parcels,
            "unlabelled": int(sum(codes.get(i) is None for i in written)),
            "labels_not_in_classmapping": int((~counts.index.isin(mapping["code"])).sum()),
            "parcels_per_label": {str(k): int(v) for k, v in counts.items()},
            "bands": list(plan.bands), "absent_bands": [b for b in SPECTRAL_BANDS["L1C"] if b not in plan.bands],
            "extra": list(plan.extra), "column_names": plan.renamed, "ignored_columns": plan.ignored,
            "scale": plan.scale, "cloud": cloud_kind_out, "ids": "mapped" if id_map is not None else "integer",
            "geometry": None if gdf is None else ("points" if plan.lon is not None else "polygons"),
            "missing_geometry": missing_geometry, "row_ids": bool(row_id), "group_column": plan.group,
            "calendar": (None if plan.start_col is None else {"start_date_column": plan.start_col, "step": step}),
        }
        summary["command"] = command_text("import_table", {"file": str(path), "root": str(root), "region": region})
        summary.update(_provenance or {})
        id_table = _id_table(parcel_info, id_map)
        writer.finish(year, codes, mapping, gdf, {k: v for k, v in summary.items() if k not in ("root",)},
                      id_table=id_table)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary["rows_per_second"] = round(summary["rows"] / max(summary["seconds"], 1e-9))
    return summary


# ---------------------------------------------------------------------- reading
def _read_chunks(path: Path, chunksize: int) -> Iterator[pd.DataFrame]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunksize):
                yield batch.to_pandas()
            return
        with open(path, encoding="utf-8-sig") as f:
            header = f.readline()
        sep = max((";", ",", "\t"), key=header.count)
        yield from pd.read_csv(path, sep=sep, chunksize=chunksize, low_memory=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(path, f"not a readable CSV or Parquet table ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc


#: The command-line option that names each kind of column.
OPTION_OF = {"id": "--id-col", "date": "--date-col", "label": "--label-col", "cloud": "--cloud-col",
             "longitude": "--lon-col", "latitude": "--lat-col", "group": "--group-col",
             "start date": "--start-date-col"}


def _some(columns: Sequence[str], n: int = 20) -> str:
    return ", ".join(map(str, columns[:n])) + (f" ... ({len(columns)} columns)" if len(columns) > n else "")


def _guess(columns: Sequence[str], given: str | None, names: Sequence[str], what: str, path: Path,
           required: bool) -> str | None:
    option = OPTION_OF.get(what, what)
    if given is not None:
        if given not in columns:
            raise DatasetError(path, f"no {what} column {given!r} (given with {option}; columns: {_some(columns)})")
        return given
    lower = {str(c).lower(): c for c in columns}
    found = next((lower[n] for n in names if n in lower), None)
    if found is None and required:
        raise DatasetError(path, f"no {what} column (looked for {', '.join(names)}; columns: "
                                 f"{_some(columns)}); name it with {option}")
    return found


def _step_offset(start_date_col: str | None, step: str | None) -> Any:
    """The pandas offset of ``step`` ('1MS', '10D'), checked against ``start_date_col``."""
    if (start_date_col is None) != (step is None):
        raise ConfigurationError("--start-date-col and --step go together (e.g. --start-date-col start "
                                 "--step 1MS for monthly composites, 10D for 10-day ones)")
    if step is None:
        return None
    try:
        return pd.tseries.frequencies.to_offset(step)
    except ValueError as exc:
        raise ConfigurationError(f"--step {step!r} is not a pandas offset such as 1MS, 10D or 5D") from exc


def _id_table(info: pd.DataFrame, id_map: pd.Series | None) -> pd.DataFrame | None:
    """Id -> source_id (ids that were not integers) and group (``group_col``), or None."""
    table = pd.DataFrame({"id": (id_map.loc[info.index.astype(str)].to_numpy() if id_map is not None
                                 else info.index.to_numpy(np.int64))})
    if id_map is not None:
        table["source_id"] = info.index.astype(str)
    if "group" in info.columns:
        table["group"] = info["group"].to_numpy()
    return table.sort_values("id").reset_index(drop=True) if len(table.columns) > 1 else None


class _Plan:
    """How the columns of a table map to the imported level (decided on the first chunk)."""

    form: str
    id_col: str | None  # None: rows numbered (row_id)
    row_id: bool
    group: str | None
    start_col: str | None  # per-row calendars: wide keys are step indices
    step: Any
    date_col: str | None
    label: str | None
    lon: str | None
    lat: str | None
    cloud_col: str | None  # long form: column; wide form: token
    cloud_kind: str
    bands: list[str]  # canonical, wavelength order
    extra: list[str]
    source: dict[str, str]  # long form: canonical -> source column
    wide: dict[Any, dict[str, str]]  # wide form: date (or step index) -> {canonical: source column}
    renamed: dict[str, str]
    ignored: list[str]
    nodata: np.ndarray
    scale: str
    scale_auto: bool
    factor: float
    cloud_factor: float

    @classmethod
    def make(cls, path: Path, chunk: pd.DataFrame, *, form: str | None, id_col: str | None,
             date_col: str | None, label_col: str | None, wide_pattern: str | None, dates: Sequence[Any] | None,
             cloud_col: str | None, lon_col: str | None, lat_col: str | None, nodata: Sequence[float],
             scale: str, cloud_kind: str | None, start_col: str | None, step: Any,
             bands: Sequence[str] | None, row_id: bool, group_col: str | None) -> _Plan:
        self = cls()
        columns = [str(c) for c in chunk.columns]
        chunk.columns = columns
        self.row_id = bool(row_id)
        self.id_col = None if row_id else _guess(columns, id_col, ID_NAMES, "id", path, required=True)
        self.group = _guess(columns, group_col, (), "group", path, required=True) if group_col else None
        self.start_col = _guess(columns, start_col, (), "start date", path, required=True) if start_col else None
        self.step = step
        if form is None:
            guessed_date = _guess(columns, date_col, DATE_NAMES, "date", path, required=False)
            form = "long" if guessed_date is not None and self.start_col is None else "wide"
        if form not in ("long", "wide"):
            raise ConfigurationError(f"--form must be 'long' or 'wide', got {form!r}")
        if form == "long" and (row_id or self.start_col):
            raise ConfigurationError(f"{path}: --row-id and --start-date-col need a wide table (one row per "
                                     "pixel or parcel); this one is long (pass --form wide if it is not)")
        self.form = form
        self.label = _guess(columns, label_col, LABEL_NAMES, "label", path, required=False)
        self.lon = _guess(columns, lon_col, LON_NAMES, "longitude", path, required=False)
        self.lat = _guess(columns, lat_col, LAT_NAMES, "latitude", path, required=False)
        if (self.lon is None) != (self.lat is None):
            self.lon = self.lat = None
        self.nodata = np.array([v for v in nodata if not pd.isna(v)], dtype=np.float64)
        fixed = {self.id_col, self.label, self.lon, self.lat, self.group, self.start_col} - {None}
        if form == "long":
            self.date_col = _guess(columns, date_col, DATE_NAMES, "date", path, required=True)
            self.cloud_col = _guess(columns, cloud_col, CLOUD_NAMES, "cloud", path, required=False)
            fixed |= {self.date_col, self.cloud_col} - {None}
            tokens = {c: c for c in columns if c not in fixed}
            self.source, self.extra, self.renamed, self.ignored = _classify(path, chunk, tokens)
            self.bands = [b for b in SPECTRAL_BANDS["L1C"] if b in self.source]
            self.wide = {}
            sample = chunk[[self.source[b] for b in self.bands]]
            cloud_values = chunk[self.cloud_col] if self.cloud_col else None
        else:
            self.date_col = None
            per_date = _wide_columns(path, [c for c in columns if c not in fixed], wide_pattern, dates, bands,
                                     per_row=self.start_col is not None)
            token_cols = {tok: col for d in per_date.values() for tok, col in d.items()}
            wanted_cloud = cloud_col.lower() if cloud_col else None
            self.cloud_col = next((t for t in token_cols if (t.lower() == wanted_cloud if wanted_cloud
                                                            else t.lower() in CLOUD_NAMES)), None)
            tokens = {t: c for t, c in token_cols.items() if t != self.cloud_col}
            source, self.extra, self.renamed, self.ignored = _classify(path, chunk, tokens)
            if bands is not None:  # keep only the bands named with --bands
                keep = {canonical_band(b) or b for b in bands}
                dropped = [tok for canon, tok in source.items() if canon not in keep]
                source = {canon: tok for canon, tok in source.items() if canon in keep}
                self.ignored += [c for d in per_date.values() for t, c in d.items() if t in dropped]
            inverse = {tok: canon for canon, tok in source.items()}
            self.wide = {d: {inverse.get(t, t): c for t, c in cols.items()
                             if t in inverse or t in self.extra or t == self.cloud_col}
                         for d, cols in per_date.items()}
            self.source = source
            self.bands = [b for b in SPECTRAL_BANDS["L1C"] if b in source]
            static = set(columns) - fixed - {c for d in per_date.values() for c in d.values()}
            self.ignored += sorted(static)
            sample = pd.concat([chunk[[c for k, c in cols.items() if k in self.bands]].stack()
                                for cols in self.wide.values()]) if self.wide else pd.Series(dtype=float)
            cloud_values = (pd.concat([chunk[cols[self.cloud_col]] for cols in self.wide.values()
                                       if self.cloud_col in cols]) if self.cloud_col else None)
        if not self.bands:
            raise DatasetError(path, f"no Sentinel-2 band columns recognised (columns: "
                                     f"{', '.join(columns[:20])})")
        self.scale = _detect_scale(path, sample, self.nodata, scale)
        self.factor = _scale_factor(self.scale)
        self.scale_auto = scale == "auto"
        self.cloud_kind = cloud_kind or (_detect_cloud_kind(cloud_values, self.cloud_col)
                                         if cloud_values is not None else "unknown")
        self.cloud_factor = 1.0
        if self.cloud_kind == "probability" and cloud_values is not None:
            top = pd.to_numeric(pd.Series(cloud_values), errors="coerce").max()
            self.cloud_factor = 100.0 if pd.notna(top) and top <= 1.0 else 1.0
        return self


def _classify(path: Path, chunk: pd.DataFrame, tokens: dict[str, str]
              ) -> tuple[dict[str, str], list[str], dict[str, str], list[str]]:
    """Split column tokens into bands (canonical -> token), extra numeric tokens, renames, ignored."""
    source: dict[str, str] = {}
    extra, ignored, unknown = [], [], []
    renamed: dict[str, str] = {}
    for token, column in tokens.items():
        band = canonical_band(token)
        if band is not None:
            if band in source:
                raise DatasetError(path, f"columns {source[band]!r} and {token!r} are both band {band}")
            source[band] = token
            if band != token:
                renamed[token] = band
        elif looks_like_band(token):
            unknown.append(token)
        elif pd.api.types.is_numeric_dtype(chunk[column]) and not pd.api.types.is_bool_dtype(chunk[column]):
            if token not in extra:
                extra.append(token)
        elif token not in ignored:
            ignored.append(token)
    if unknown:
        raise DatasetError(path, f"{len(unknown)} columns look like bands but are not Sentinel-2 bands: "
                                 f"{', '.join(unknown[:10])}")
    bad = [t for t in extra if t in ("doa", "CLD", "EDG", "SAT") or canonical_band(t)]
    if bad:
        raise DatasetError(path, f"extra columns clash with reserved names: {', '.join(bad)}")
    return source, extra, renamed, ignored


def _wide_columns(path: Path, columns: list[str], pattern: str | None, dates: Sequence[Any] | None,
                  bands: Sequence[str] | None = None, per_row: bool = False) -> dict[Any, dict[str, str]]:
    """Date (or, with per-row calendars, step index) -> {token: column} of a wide table, from a
    pattern or from dates inside the names."""
    date_list = None if dates is None else list(pd.to_datetime(list(dates)).to_numpy("datetime64[ns]"))
    if pattern is None and per_row:
        raise ConfigurationError("--start-date-col needs --wide-pattern with {index}, e.g. '{band}_t{index}'")
    if pattern is None and date_list is None:
        result: dict[Any, dict[str, str]] = {}
        for column in columns:
            split = split_band_date(column)
            if split is not None:
                result.setdefault(split[1], {})[split[0]] = column
        if not result:
            raise DatasetError(path, "no date column and no wide-form columns such as B2_20170315 "
                                     "(name them with --date-col, or --wide-pattern and --dates)")
        return dict(sorted(result.items()))
    text = pattern or "{band}_{index}"
    regex = _pattern_regex(text)
    names = set(regex.groupindex)
    if "date" not in names and "index" not in names:
        raise ConfigurationError(f"--wide-pattern {text!r} has neither {{date}} nor {{index}}")
    if per_row and "index" not in names:
        raise ConfigurationError(f"--start-date-col needs {{index}} in --wide-pattern (got {text!r})")
    positional = "band" not in names
    if positional and not bands:
        raise ConfigurationError(f"--wide-pattern {text!r} has no {{band}}: name the band of each position "
                                 "with --bands, e.g. --bands B2,B3,B4,B8")
    matched: list[tuple[str, dict[str, str]]] = []
    left_out = []
    for column in columns:
        match = regex.match(column)
        if match is None and pattern is None:  # the first block of a date-major table: 'B2'
            match = re.match(r"^(?P<band>[^._]+)$", column)
        if match is None:
            if _band_like(column):
                left_out.append(column)
            continue
        matched.append((column, match.groupdict()))
    if left_out and bands is None:
        raise DatasetError(path, f"--wide-pattern {text!r} leaves out {len(left_out)} band-like columns "
                                 f"({_some(left_out, 5)}); widen it ({{*}} matches tokens such as -20m) "
                                 "or name the bands to keep with --bands")
    if not matched:
        raise DatasetError(path, f"no column matches --wide-pattern {text!r} (columns: {_some(columns)})")
    indices = [int(parts["index"]) for _, parts in matched if parts.get("index") is not None]
    first = min(indices) if indices else 0
    width = len(bands) if positional and bands else 1
    base = first % width  # positional names numbered from 1 (x1 = first band of the first date)
    result = {}
    seen: dict[Any, int] = {}
    for column, parts in matched:
        if parts.get("date") is not None:
            key: Any = pd.Timestamp(parts["date"]).to_datetime64()
        else:
            k = int(parts.get("index") or 0) - base
            k = k // width if positional else k
            if per_row:
                key = k - ((first - base) // width if positional else first)
            elif date_list is None or k >= len(date_list):
                raise DatasetError(path, f"column {column!r} has date index {k} but "
                                         f"{0 if date_list is None else len(date_list)} dates were given "
                                         "with --dates (or give each row its calendar with --start-date-col)")
            else:
                key = date_list[k]
        if positional and bands:
            slot = ((int(parts["index"]) - base) % width if parts.get("date") is None else seen.get(key, 0))
            if slot >= width:
                raise DatasetError(path, f"more columns than the {width} --bands at {column!r}")
            seen[key] = slot + 1
            token = str(bands[slot])
        else:
            token = parts["band"]
        result.setdefault(key, {})[token] = column
    return dict(sorted(result.items()))


def _band_like(column: str) -> bool:
    """True when a column name holds a Sentinel-2 band token (``OPTICAL-B05-ts3-20m``)."""
    return any(canonical_band(token) is not None for token in re.split(r"[-_ .]", column) if token)


def _pattern_regex(pattern: str) -> re.Pattern:
    for name in ("band", "date", "index"):
        if pattern.count("{" + name + "}") > 1:
            raise ConfigurationError(f"--wide-pattern {pattern!r} has {{{name}}} more than once")
    out = re.escape(pattern)
    for name, rx in (("band", r"(?P<band>.+?)"), ("date", rf"(?P<date>{_DATE_RE})"), ("index", r"(?P<index>\d+)"),
                     ("*", r"(?:.*?)")):
        out = out.replace(re.escape("{" + name + "}"), rx)
    return re.compile(f"^{out}$")


#: Below this median of the band medians (digital numbers, reflectance x 10000), values are not
#: plausibly Sentinel-2 DN of farmland (typically 800-2500) but reflectance x 1000 or another scale.
IMPLAUSIBLE_DN_MEDIAN = 300.0


def _scale_factor(scale: str) -> float:
    """The factor from the file's values to digital numbers (reflectance x 10000)."""
    if scale in ("auto", "dn"):
        return 1.0
    if scale == "reflectance":
        return REFLECTANCE_SCALE
    try:
        per = float(scale)
    except ValueError:
        per = 0.0
    if not np.isfinite(per) or per <= 0:
        raise ConfigurationError(f"--scale must be auto, dn, reflectance or a positive number N for "
                                 f"reflectance x N (e.g. 1000), got {scale!r}")
    return REFLECTANCE_SCALE / per


def _detect_scale(path: Path, values: pd.Series | pd.DataFrame, nodata: np.ndarray, scale: str) -> str:
    if scale != "auto":
        return scale
    array = np.asarray(values, dtype=np.float64)
    array = array.reshape(len(array), -1) if array.ndim > 1 else array[:, None]
    medians = []
    for col in array.T:
        col = col[np.isfinite(col) & ~np.isin(col, nodata)]
        if len(col):
            medians.append(float(np.median(col)))
    if not medians:
        raise DatasetError(path, "no valid band values in the first rows")
    kinds = {("reflectance" if m < 2 else "dn") for m in medians}
    if len(kinds) > 1:
        raise DatasetError(path, "mixed units: some bands look like reflectance 0-1 and others like "
                                 "digital numbers; pass --scale dn or --scale reflectance")
    kind = kinds.pop()
    if kind == "dn" and float(np.median(medians)) < IMPLAUSIBLE_DN_MEDIAN:
        raise DatasetError(path, f"band values (median {float(np.median(medians)):.0f}) are too low for digital "
                                 "numbers (reflectance x 10000): if they are reflectance x 1000 pass --scale 1000, "
                                 "if they really are digital numbers pass --scale dn")
    return kind


def _detect_cloud_kind(values: pd.Series, column: str | None) -> str:
    if column is not None and column.lower() == "scl":
        return "scl"
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=np.float64)
    if v.dtype == bool or (len(v) and np.isin(v, (0, 1)).all()):
        return "boolean"
    if len(v) and (v == np.round(v)).all() and v.max() <= 11:
        return "scl"
    return "probability"


# ---------------------------------------------------------------------- pass 1
def _bucket_count(path: Path, chunksize: int) -> int:
    size = path.stat().st_size * (4 if path.suffix.lower() in (".parquet", ".pq") else 1)
    return int(np.clip(np.ceil(size / 64e6), 1, 256))


def _long_rows(path: Path, chunk: pd.DataFrame, plan: _Plan, row0: int) -> pd.DataFrame:
    """Long-form rows of one chunk: id, doa, bands (DN), [CLD], extras; plus label/lon/lat."""
    if plan.form == "long":
        out = pd.DataFrame({"id": _row_ids(chunk, plan, row0), "doa": _parse_dates(path, chunk[plan.date_col], row0)})
        for band in plan.bands:
            out[band] = pd.to_numeric(chunk[plan.source[band]], errors="coerce").to_numpy(np.float64)
        if plan.cloud_col is not None:
            out["CLD"] = pd.to_numeric(chunk[plan.cloud_col], errors="coerce").to_numpy(np.float64)
        for name in plan.extra:
            out[name] = pd.to_numeric(chunk[name], errors="coerce").to_numpy(np.float64)
        for key, col in (("label", plan.label), ("lon", plan.lon), ("lat", plan.lat), ("group", plan.group)):
            if col is not None:
                out[key] = chunk[col].to_numpy()
        return out
    parts = []
    ids = _row_ids(chunk, plan, row0)
    start = (None if plan.start_col is None else
             pd.DatetimeIndex(_parse_dates(path, chunk[plan.start_col], row0).view("datetime64[ns]")))
    for key, cols in plan.wide.items():
        if start is not None:  # step index on each row's own calendar
            doa = (start + plan.step * int(key)).to_numpy("datetime64[ns]").astype(np.int64)
        else:
            doa = np.full(len(chunk), np.datetime64(key, "ns").astype(np.int64))
        part = pd.DataFrame({"id": ids, "doa": doa})
        for band in plan.bands:
            part[band] = (pd.to_numeric(chunk[cols[band]], errors="coerce").to_numpy(np.float64)
                          if band in cols else np.nan)
        if plan.cloud_col is not None:
            part["CLD"] = (pd.to_numeric(chunk[cols[plan.cloud_col]], errors="coerce").to_numpy(np.float64)
                           if plan.cloud_col in cols else np.nan)
        for name in plan.extra:
            part[name] = (pd.to_numeric(chunk[cols[name]], errors="coerce").to_numpy(np.float64)
                          if name in cols else np.nan)
        for key, col in (("label", plan.label), ("lon", plan.lon), ("lat", plan.lat), ("group", plan.group)):
            if col is not None:
                part[key] = chunk[col].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _row_ids(chunk: pd.DataFrame, plan: _Plan, row0: int) -> np.ndarray:
    """The parcel id of every row: the id column, or the row number (1-based) with ``row_id``."""
    if plan.id_col is None:
        return np.arange(row0 + 1, row0 + len(chunk) + 1, dtype=np.int64)
    return chunk[plan.id_col].to_numpy()


def _parse_dates(path: Path, values: pd.Series, row0: int) -> np.ndarray:
    if pd.api.types.is_integer_dtype(values) and values.between(19000101, 21001231).all():
        values = values.astype(str)
        parsed = pd.to_datetime(values, format="%Y%m%d", errors="coerce")
    else:
        try:
            parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
        except (ValueError, TypeError):
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DatasetError(path, f"{int(bad.sum())} rows have dates that do not parse in column "
                                 f"{values.name!r} (first: row {row0 + first + 1}, value {values.iloc[first]!r})")
    return parsed.to_numpy("datetime64[ns]").astype(np.int64)


def _normalize_ids(path: Path, ids: pd.Series, row0: int) -> pd.Series:
    """Parcel ids as int64 when all are integers, else as stripped strings."""
    if pd.api.types.is_integer_dtype(ids):
        return ids.astype(np.int64)
    if ids.isna().any():
        first = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DatasetError(path, f"{int(ids.isna().sum())} rows have no parcel id (first: row {row0 + first + 1})")
    numeric = pd.to_numeric(ids, errors="coerce")
    if numeric.notna().all() and (numeric == numeric.round()).all():
        return numeric.astype(np.int64)
    return ids.astype(str).str.strip()


def _pass_one(path: Path, first: pd.DataFrame, chunks: Iterator[pd.DataFrame], plan: _Plan, spool: Path,
              n_buckets: int, progress: bool) -> dict[str, Any]:
    rows = kept = nodata = 0
    years: dict[int, int] = {}
    info_parts: list[pd.DataFrame] = []
    id_kind = None
    bar = tqdm(desc=f"import {path.name}", unit=" rows", unit_scale=True, disable=not progress)
    for ci, chunk in enumerate(_chain(first, chunks)):
        chunk.columns = [str(c) for c in chunk.columns]
        long = _long_rows(path, chunk, plan, rows)
        long["id"] = _normalize_ids(path, long["id"], rows)
        kind = "int" if pd.api.types.is_integer_dtype(long["id"]) else "str"
        if id_kind is None:
            id_kind = kind
        elif kind != id_kind:
            if id_kind == "int":
                raise DatasetError(path, f"parcel ids are integers in the first rows but not from row {rows + 1}")
            long["id"] = long["id"].astype(str)
        band_values = long[plan.bands].to_numpy()
        missing = np.isnan(band_values).any(axis=1) | np.isin(band_values, plan.nodata).any(axis=1)
        if plan.scale_auto and ci > 0 and len(band_values[~missing]):
            now = "reflectance" if np.median(band_values[~missing]) < 2 else "dn"
            if now != plan.scale:
                raise DatasetError(path, f"mixed units: rows {rows + 1}-{rows + len(chunk)} look like "
                                         f"{now} but earlier rows are {plan.scale}; pass --scale dn or reflectance")
        info_cols = [c for c in ("label", "lon", "lat", "group") if c in long.columns]
        info_parts.append(long[["id", *info_cols]].drop_duplicates())
        long = long.loc[~missing].drop(columns=info_cols)
        for name in plan.extra:
            long.loc[np.isin(long[name].to_numpy(), plan.nodata), name] = np.nan
        long[plan.bands] = long[plan.bands] * plan.factor
        if "CLD" in long.columns and plan.cloud_factor != 1.0:
            long["CLD"] = long["CLD"] * plan.cloud_factor
        nodata += int(missing.sum())
        rows += len(chunk)
        kept += len(long)
        for y, n in pd.Series(long["doa"].to_numpy().view("datetime64[ns]")).dt.year.value_counts().items():
            years[int(y)] = years.get(int(y), 0) + int(n)
        bucket = (_hash_ids(long["id"]) % n_buckets)
        for b in np.unique(bucket):
            long.loc[bucket == b].reset_index(drop=True).to_feather(spool / f"b{b:03d}_{ci:06d}.feather")
        bar.update(len(chunk))
    bar.close()
    info = pd.concat(info_parts, ignore_index=True)
    if id_kind == "str":
        info["id"] = info["id"].astype(str)
    info = info.drop_duplicates()
    if "label" in info.columns:
        info["label"] = _label_strings(info["label"])
        conflicts = info.dropna(subset=["label"]).groupby("id")["label"].nunique()
        if (conflicts > 1).any():
            raise DatasetError(path, f"{int((conflicts > 1).sum())} parcels have several labels "
                                     f"(e.g. id {conflicts[conflicts > 1].index[0]})")
        info = info.sort_values("label", na_position="last").drop_duplicates("id")
    else:
        info = info.drop_duplicates("id").assign(label=None)
    if not years:
        raise DatasetError(path, f"no valid observations: all {rows} rows are nodata")
    return {"rows": rows, "kept": kept, "nodata": nodata, "years": pd.Series(years),
            "parcels": info.set_index("id")}


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def _hash_ids(ids: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(ids):
        return np.abs(ids.to_numpy(np.int64))
    return pd.util.hash_array(ids.to_numpy(dtype=object)).astype(np.uint64) % np.uint64(1 << 31)


def _label_strings(labels: pd.Series) -> pd.Series:
    """Labels as strings ('12.0' -> '12'); empty strings and NaN are missing."""
    def text(v: Any) -> Any:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        s = str(v).strip()
        return s or None
    return labels.map(text).astype(object)


def _id_map(source_ids: pd.Index) -> pd.Series | None:
    """Source id -> int64 parcel id (1..N in sorted order) when the source ids are not integers."""
    if pd.api.types.is_integer_dtype(source_ids):
        return None
    ordered = sorted(source_ids)
    return pd.Series(np.arange(1, len(ordered) + 1, dtype=np.int64), index=ordered)


# ---------------------------------------------------------------------- pass 2
def _pass_two(spool: Path, n_buckets: int, plan: _Plan, columns: list[str], writer: DatasetWriter,
              id_map: pd.Series | None, duplicates: str, path: Path, progress: bool) -> int:
    n_dup = 0
    bar = tqdm(total=n_buckets, desc="write h5", unit=" bucket", disable=not progress)
    for b in range(n_buckets):
        parts = sorted(spool.glob(f"b{b:03d}_*.feather"))
        bar.update(1)
        if not parts:
            continue
        frame = pd.concat([pd.read_feather(p) for p in parts], ignore_index=True)
        for p in parts:
            p.unlink()
        if id_map is not None:
            frame["id"] = id_map.loc[frame["id"].astype(str)].to_numpy()
        frame = frame.sort_values(["id", "doa"], kind="stable")
        dup = frame.duplicated(["id", "doa"], keep="first").to_numpy()
        if dup.any():
            n_dup += int(dup.sum())
            if duplicates == "error":
                first = frame.loc[dup, ["id", "doa"]].iloc[0]
                source = id_map.index[id_map.to_numpy() == first["id"]][0] if id_map is not None else int(first["id"])
                day = pd.Timestamp(int(first["doa"])).date()
                raise DatasetError(path, f"{int(dup.sum())} duplicate (id, date) rows, e.g. id {source} date {day}; "
                                         "pass --duplicates first or mean, or for a pixel table "
                                         "(many rows per id and date) --row-id with --group-col")
            if duplicates == "mean":
                frame = frame.groupby(["id", "doa"], sort=True, as_index=False).mean()
            else:
                frame = frame.loc[~dup]
        array = np.zeros((len(frame), len(columns)), dtype=np.float64)
        for k, name in enumerate(columns):
            if name == "doa":
                array[:, k] = frame["doa"].to_numpy(np.int64).astype(np.float64)
            elif name in frame.columns:
                array[:, k] = frame[name].to_numpy(np.float64)
            elif name == "CLD":
                array[:, k] = np.nan
        ids = frame["id"].to_numpy(np.int64)
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        ends = np.r_[starts[1:], len(ids)]
        for s, e in zip(starts, ends, strict=True):
            writer.add(int(ids[s]), array[s:e])
    bar.close()
    return n_dup


# ---------------------------------------------------------------------- geometry
def _geometry(geometry: str | PathLike[str] | None, plan: _Plan, info: pd.DataFrame,
              id_map: pd.Series | None, path: Path) -> tuple[Any, int | None]:
    import geopandas as gpd

    from cropviz.data.geometry import read_geometry_file

    def to_int(source_ids: pd.Index) -> np.ndarray:
        if id_map is None:
            return np.asarray(source_ids, dtype=np.int64)
        return id_map.loc[[str(s) for s in source_ids]].to_numpy()

    if geometry is not None:
        gpath = Path(geometry)
        gdf = read_geometry_file(gpath)
        cols = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        id_col = _guess(cols, plan.id_col if plan.id_col in cols else None, (*ID_NAMES, "id_parcel"),
                        "id", gpath, required=True)
        key = _normalize_ids(gpath, gdf[id_col], 0)
        if id_map is None:
            if not pd.api.types.is_integer_dtype(key):
                raise DatasetError(gpath, f"column {id_col} holds non-integer ids but the table's ids are integers")
        else:
            key = key.astype(str)
        known = key.isin(info.index)
        gdf = gdf.loc[known.to_numpy()]
        out = gpd.GeoDataFrame({"ID": to_int(pd.Index(key[known]))}, geometry=gdf.geometry.to_numpy(),
                               crs=gdf.crs).drop_duplicates("ID")
        return out, int(len(info) - len(out))
    if plan.lon is not None:
        pts = info.dropna(subset=["lon", "lat"])
        out = gpd.GeoDataFrame({"ID": to_int(pts.index)},
                               geometry=gpd.points_from_xy(pts["lon"].astype(float), pts["lat"].astype(float)),
                               crs="EPSG:4326")
        return out, int(len(info) - len(out))
    return None, None
