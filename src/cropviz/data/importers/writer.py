"""Writing imported parcels in the BreizhCrops layout, aside first and moved into place at the end.

Everything goes to a temporary folder next to ``root`` (``.<root>.import-<pid>``); only a complete
import is moved into ``root``, so a failed import leaves ``root`` as it was. A region already in
``root`` is replaced only with ``overwrite=True``. Several regions may be imported into one root
(train / validation splits): their class mappings are merged (existing ids kept, new codes
appended) and their level definitions must agree.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from cropviz.data.bands import LEVELS
from cropviz.data.breizhcrops import SCL_CLOUDY_CODES
from cropviz.data.geometry import GEOMETRY_SUFFIXES
from cropviz.errors import ConfigurationError, DatasetError

OTHER = "other"
_H5OPTS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_SHAPEFILE_PARTS = (".dbf", ".shx", ".prj", ".cpg")


def command_text(function: str, args: dict[str, Any]) -> str:
    """The command that made an import, on one short line: the cropviz command line (a run of
    more than three file arguments, as a shell glob expands them, shortened to the first, the
    count and the last), else the Python call."""
    if sys.argv and Path(sys.argv[0]).name == "cropviz":
        words: list[str] = []
        run: list[str] = []
        for word in [*sys.argv[1:], "--"]:
            if not word.startswith("-") and (words and words[-1].startswith("--") or run):
                run.append(word)
                continue
            words += run if len(run) <= 3 else [run[0], f"... ({len(run) - 2} more)", run[-1]]
            run = []
            words.append(word)
        return " ".join(["cropviz", *words[:-1]])
    return f"cropviz.data.importers.{function}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def check_target(root: Path, region: str, overwrite: bool) -> dict[str, Any]:
    """Refuse to import into a root that is not an import, or over a region without ``overwrite``.

    Returns the root's metadata (empty dict when the root is new)."""
    meta_path = root / "cropviz.json"
    metadata: dict[str, Any] = {}
    if meta_path.exists():
        try:
            metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(meta_path, f"not valid JSON ({exc})") from exc
    if root.exists() and any(root.iterdir()) and metadata.get("source") != "imported":
        raise DatasetError(root, "holds data that cropviz import did not write (BreizhCrops or demo); "
                                 "import into another root")
    existing = [p for p in root.glob(f"*/*/{region}.h5")] if root.exists() else []
    if existing and not overwrite:
        raise DatasetError(existing[0], f"region {region!r} already exists; pass overwrite=True to replace it")
    return metadata


class DatasetWriter:
    """Write one region: ``add`` parcels (T x C float64 arrays in ``columns`` order), then ``finish``."""

    def __init__(self, root: str | Path, region: str, level: str, columns: Sequence[str],
                 spectral: Sequence[str], flags: Sequence[str], extra: Sequence[str], cloud_kind: str,
                 overwrite: bool = False) -> None:
        self.root = Path(root).absolute()
        self.region, self.level = region, level
        self.columns = list(columns)
        self.level_spec = {"columns": self.columns, "spectral": list(spectral), "flags": list(flags),
                           "extra": list(extra), "cloud": cloud_kind}
        self.metadata = check_target(self.root, region, overwrite)
        old = self.metadata.get("levels", {}).get(level)
        if old is not None and old != self.level_spec:
            raise ConfigurationError(f"{self.root}: level {level!r} already holds other columns "
                                     f"({', '.join(old['columns'])}); import with another --level name")
        self.tmp = self.root.parent / f".{self.root.name}.import-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        (self.tmp / "h5").mkdir(parents=True)
        self._h5 = h5py.File(self.tmp / "h5" / f"{region}.h5", "w", libver="latest")
        self._group = self._h5.create_group(region)
        self._rows: list[tuple[int, str, int, float]] = []
        self._cloud = self.columns.index("CLD") if "CLD" in self.columns else None
        self._cloud_kind = cloud_kind

    def add(self, parcel_id: int, array: np.ndarray) -> None:
        """Store one parcel's (T, C) array (rows sorted by date)."""
        key = f"{self.region}/{int(parcel_id)}"
        self._group.create_dataset(str(int(parcel_id)), data=np.asarray(array, dtype=np.float64), **_H5OPTS)
        mean_cld = np.nan
        if self._cloud is not None and self._cloud_kind != "unknown" and len(array):
            cld = array[:, self._cloud]
            if self._cloud_kind == "probability":
                mean_cld = float(np.nanmean(cld)) if not np.isnan(cld).all() else np.nan
            elif self._cloud_kind == "boolean":
                mean_cld = 100.0 * float((cld > 0.5).mean())
            else:
                mean_cld = 100.0 * float(np.isin(cld, SCL_CLOUDY_CODES).mean())
        self._rows.append((int(parcel_id), key, len(array), mean_cld))

    @property
    def ids(self) -> list[int]:
        """Parcel ids written so far."""
        return [row[0] for row in self._rows]

    @property
    def parcels(self) -> int:
        """Number of parcels written so far."""
        return len(self._rows)

    def abort(self) -> None:
        """Remove everything written aside."""
        try:
            self._h5.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def finish(self, year: int, codes: dict[int, str | None], classmapping: pd.DataFrame,
               geometry: Any | None, region_meta: dict[str, Any], id_table: pd.DataFrame | None = None) -> Path:
        """Write the index, class mapping, codes, geometry and metadata, then move into ``root``.

        ``codes``: parcel id -> label code (None: unlabelled). ``classmapping``: columns id,
        classname, code for this import's codes (merged with the root's own mapping)."""
        self._h5.close()
        year_dir = self.tmp / str(year)
        (year_dir / self.level).mkdir(parents=True)
        rows = pd.DataFrame(self._rows, columns=["id", "path", "sequencelength", "meanCLD"]).sort_values("id")
        index = pd.DataFrame({"idx": np.arange(len(rows)), "id": rows["id"].to_numpy(),
                              "CODE_CULTU": [codes.get(i) for i in rows["id"]],
                              "path": rows["path"].to_numpy(), "meanCLD": rows["meanCLD"].to_numpy(),
                              "sequencelength": rows["sequencelength"].to_numpy()})
        if id_table is not None:  # source_id (ids that were not integers), group (grouped splits)
            index = index.merge(id_table, on="id", how="left")
        index.to_csv(year_dir / self.level / f"{self.region}.csv", index=False)
        os.replace(self.tmp / "h5" / f"{self.region}.h5", year_dir / self.level / f"{self.region}.h5")
        mapping = _merge_classmapping(self.root / "classmapping.csv", classmapping)
        mapping[["id", "classname", "code"]].to_csv(self.tmp / "classmapping.csv")
        mapping[["code", "classname"]].rename(columns={"classname": "description"}).to_csv(
            self.tmp / "codes.csv", sep=";", index=False)
        if geometry is not None:
            geometry.to_file(year_dir / f"{self.region}.gpkg", driver="GPKG")
        if id_table is not None:  # source ids that were not integers -> the int ids of the layout
            id_table.to_csv(year_dir / f"{self.region}_ids.csv", index=False)
        meta = dict(self.metadata)
        meta.update({"simulated": False, "source": "imported"})
        meta.pop("command", None)  # provenance is per region (regions.<name>.command)
        meta["default"] = {"year": int(year), "level": self.level, "region": self.region}
        meta.setdefault("levels", {})[self.level] = self.level_spec
        meta.setdefault("regions", {})[self.region] = {"year": int(year), "level": self.level, **region_meta}
        (self.tmp / "cropviz.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        self._move_into_place(year)
        return self.root

    def _move_into_place(self, year: int) -> None:
        root, year_dir = self.root, self.root / str(year)
        (year_dir / self.level).mkdir(parents=True, exist_ok=True)
        for suffix in (*GEOMETRY_SUFFIXES, *_SHAPEFILE_PARTS, "_ids.csv"):  # older files of the region
            (year_dir / f"{self.region}{suffix}").unlink(missing_ok=True)
        moves = [(self.tmp / str(year) / self.level / f"{self.region}{s}", year_dir / self.level / f"{self.region}{s}")
                 for s in (".h5", ".csv")]
        moves += [(self.tmp / str(year) / f"{self.region}{s}", year_dir / f"{self.region}{s}")
                  for s in (".gpkg", "_ids.csv")]
        moves += [(self.tmp / name, root / name) for name in ("classmapping.csv", "codes.csv", "cropviz.json")]
        for src, dst in moves:
            if src.exists():
                os.replace(src, dst)
        shutil.rmtree(self.tmp, ignore_errors=True)


def build_classmapping(labels: pd.Series, min_class_size: int | None = None) -> pd.DataFrame:
    """Class mapping from label values (one per parcel, None = unlabelled): classes sorted
    (numerically when all codes are numbers), ids 0..K-1; classes with fewer than
    ``min_class_size`` parcels folded into one class 'other' (last id)."""
    counts = labels.dropna().value_counts()
    codes = list(counts.index)
    numeric = all(_is_number(c) for c in codes)
    codes.sort(key=(lambda c: float(c)) if numeric else str)
    small = {c for c in codes if min_class_size and counts[c] < min_class_size}
    kept = [c for c in codes if c not in small]
    rows = [(i, c, c) for i, c in enumerate(kept)]
    rows += [(len(kept), OTHER, c) for c in codes if c in small]
    return pd.DataFrame(rows, columns=["id", "classname", "code"])


#: Column names of a user's code table: the code, and the class name it stands for.
CODE_COLUMNS = ("code", "code_cultu", "crop_code", "class_code", "classcode")
CLASSNAME_COLUMNS = ("classname", "class_name", "name", "description", "label", "libelle", "crop", "class")


def read_classmapping_file(path: str | Path) -> pd.DataFrame:
    """A user class mapping or code table (CSV with a code column such as code or CODE_CULTU,
    a name column such as classname or description, optional id; read by name)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep=None, engine="python", dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"not a readable class mapping ({type(exc).__name__})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    code = next((lower[n] for n in CODE_COLUMNS if n in lower), None)
    name = next((lower[n] for n in CLASSNAME_COLUMNS if n in lower), None)
    if code is None or name is None:
        raise DatasetError(path, f"class mapping (--classmapping) needs a code column and a class name column "
                                 f"such as classname or description (found {', '.join(table.columns)})")
    out = pd.DataFrame({"code": table[code].astype(str).str.strip(),
                        "classname": table[name].astype(str).str.strip()})
    if "id" in lower:
        out["id"] = pd.to_numeric(table[lower["id"]], errors="coerce")
        if out["id"].isna().any():
            raise DatasetError(path, "column id is not integer")
        out["id"] = out["id"].astype(int)
    else:
        names = sorted(out["classname"].unique())
        out["id"] = out["classname"].map({n: i for i, n in enumerate(names)})
    return out[["id", "classname", "code"]].drop_duplicates("code")


def _merge_classmapping(existing_path: Path, new: pd.DataFrame) -> pd.DataFrame:
    if not existing_path.exists():
        return new.reset_index(drop=True)
    old = pd.read_csv(existing_path, dtype={"code": str})[["id", "classname", "code"]]
    names = dict(zip(old["classname"], old["id"], strict=True))
    extra = new.loc[~new["code"].isin(old["code"])]
    rows = []
    for _, row in extra.iterrows():
        if row["classname"] not in names:
            names[row["classname"]] = len(names)
        rows.append((names[row["classname"]], row["classname"], row["code"]))
    merged = pd.concat([old, pd.DataFrame(rows, columns=["id", "classname", "code"])], ignore_index=True)
    return merged.reset_index(drop=True)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def stock_level(spectral: Sequence[str], extra: Sequence[str]) -> str | None:
    """'L2A' when the bands present are exactly L2A's, else None (a custom level)."""
    from cropviz.data.bands import SPECTRAL_BANDS

    if set(spectral) == set(SPECTRAL_BANDS["L2A"]):
        return "L2A"
    return None


def level_columns(level: str, spectral: Sequence[str], has_cloud: bool,
                  extra: Sequence[str]) -> tuple[list[str], list[str]]:
    """(h5 columns, flag columns) of an imported level: L2A's own columns (+ extras) for L2A,
    else doa, the present bands in wavelength order, CLD (when a cloud column exists), extras."""
    from cropviz.data.bands import FLAG_COLUMNS, H5_COLUMNS

    if level in LEVELS:
        return [*H5_COLUMNS[level], *extra], list(FLAG_COLUMNS[level])
    flags = ["CLD"] if has_cloud else []
    return ["doa", *spectral, *flags, *extra], flags
