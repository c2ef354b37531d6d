"""Reader of the BreizhCrops on-disk layout (FIELD.md section 1, CONTRACTS.md "On-disk layout").

Opening a region reads the index CSV, the class mapping and the list of h5 keys, never the
arrays; arrays are read on demand through one read-only h5 handle (reopened after a fork or
unpickling) or all at once with ``preload=True``. Index rows that cannot be used are listed in
``.skipped`` with a reason; problems with whole files raise :class:`DatasetError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from cropviz.data.bands import (
    BREIZHCROPS_SEQUENCE_LENGTH,
    FLAG_COLUMNS,
    H5_COLUMNS,
    LEVELS,
    PATCH_BANDS,
    QA60_CIRRUS_BIT,
    QA60_OPAQUE_BIT,
    REFLECTANCE_SCALE,
    SPECTRAL_BANDS,
    band_order,
    register_level,
)
from cropviz.data.geometry import GEOMETRY_SUFFIXES, read_parcel_geometries
from cropviz.errors import ConfigurationError, DatasetError, UnknownParcelError

if TYPE_CHECKING:
    import h5py

#: Index columns a region's CSV must have (pristine and rewritten forms alike).
REQUIRED_INDEX_COLUMNS: tuple[str, ...] = ("id", "CODE_CULTU", "path", "sequencelength")

#: Class-mapping columns, read by name.
REQUIRED_CLASSMAPPING_COLUMNS: tuple[str, ...] = ("id", "classname", "code")

#: L2A cloud probability (percent) above which an observation counts as cloudy.
L2A_CLOUD_PROBABILITY_THRESHOLD = 50.0

#: Sentinel-2 scene-classification (SCL) codes counted as cloudy: shadow, cloud medium/high, cirrus.
SCL_CLOUDY_CODES: tuple[int, ...] = (3, 8, 9, 10)

#: How the cloud flag column of a level defined in cropviz.json is read (imported data).
CLOUD_KINDS: tuple[str, ...] = ("probability", "boolean", "scl", "unknown")

#: Class name of parcels without a label in imported data (class id -1, kept in the index).
UNLABELLED = "unlabelled"

_SCALE = 1.0 / REFLECTANCE_SCALE


class RawSeries(NamedTuple):
    """One parcel as arrays: id, class id, dates (T), band values in DN (T x D), cloudy mask (T)."""

    id: int
    classid: int
    dates: np.ndarray
    values: np.ndarray
    cloudy: np.ndarray


@dataclass
class Parcel:
    """One parcel's time series, sorted by date, NaN rows removed; band values in DN."""

    id: int
    code: str
    classid: int
    classname: str
    level: str
    dates: np.ndarray
    bands: pd.DataFrame
    flags: pd.DataFrame
    cloudy: np.ndarray
    extra: pd.DataFrame | None = None  # extra per-date columns of imported data (radar, weather)

    @property
    def label(self) -> int:
        """The class id (training target)."""
        return self.classid

    def __len__(self) -> int:
        return len(self.dates)

    def series(self, names: Sequence[str]) -> pd.DataFrame:
        """One column per band (as reflectance) or index name; index = dates."""
        from cropviz.data.series import parcel_series

        return parcel_series(self, names)

    def reflectance(self, order: str = "breizhcrops") -> np.ndarray:
        """Return T x D float32 reflectances (DN x 1e-4) with bands in ``order``."""
        columns = list(band_order(self.level, order))
        return (self.bands[columns].to_numpy(dtype=np.float64) * _SCALE).astype(np.float32)


class PatchSet:
    """Parcel patches of a region: ``<root>/<year>/patches/<region>.csv`` and its GeoTIFFs."""

    def __init__(self, root: Path, index_path: Path, dates_path: Path) -> None:
        self.root = root
        self.index_path = index_path
        try:
            index = pd.read_csv(index_path)
            dates = pd.read_csv(dates_path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DatasetError(index_path, f"unreadable patch index ({type(exc).__name__})") from exc
        missing = [c for c in ("id", "path", "classid") if c not in index.columns]
        if missing:
            raise DatasetError(index_path, f"patch index lacks columns {', '.join(missing)}")
        if "date" not in dates.columns:
            raise DatasetError(dates_path, "no column 'date'")
        index["id"] = index["id"].astype("int64")
        self.index = index.set_index("id", drop=False)
        self.dates = pd.to_datetime(dates["date"]).to_numpy(dtype="datetime64[ns]")

    @property
    def ids(self) -> np.ndarray:
        """Parcel ids that have a patch."""
        return self.index["id"].to_numpy()

    def path(self, parcel_id: int) -> Path:
        """Path of the GeoTIFF of ``parcel_id``."""
        if parcel_id not in self.index.index:
            raise UnknownParcelError(self.index_path, f"parcel {parcel_id} has no patch")
        return self.root / str(self.index.at[parcel_id, "path"])

    def read(self, parcel_id: int) -> np.ndarray:
        """Return T x 10 x H x W float32 reflectances of one parcel's patch (date-major bands)."""
        import rasterio
        from rasterio.errors import RasterioIOError

        path = self.path(parcel_id)
        try:
            with rasterio.open(path) as src:
                data = src.read()
        except RasterioIOError as exc:
            raise DatasetError(path, "not a readable GeoTIFF") from exc
        n_dates, n_bands = len(self.dates), len(PATCH_BANDS)
        if data.shape[0] != n_dates * n_bands:
            raise DatasetError(path, f"expected {n_dates * n_bands} bands ({n_dates} dates x "
                                     f"{n_bands}), got {data.shape[0]}")
        cube = data.reshape(n_dates, n_bands, data.shape[1], data.shape[2])
        return (cube.astype(np.float64) * _SCALE).astype(np.float32)


class BreizhCropsDataset:
    """One region of a BreizhCrops-layout folder; see :func:`open_breizhcrops`."""

    def __init__(self, root: str | PathLike[str], region: str, year: int | str = 2017,
                 level: str = "L1C", preload: bool = False) -> None:
        self.root = Path(root)
        self.metadata: dict[str, Any] = _read_metadata(self.root) if self.root.is_dir() else {"simulated": False}
        spec = _level_spec(self.root, self.metadata, level)
        if level not in LEVELS and spec is None:
            defined = [*LEVELS, *self.metadata.get("levels", {})]
            raise ConfigurationError(f"unknown level {level!r}; use one of {', '.join(defined)}")
        self.region = str(region)
        self.year = year
        self.level = level
        #: Columns of the h5 arrays; spectral, flag and extra columns; how the cloud flag reads.
        self.columns: tuple[str, ...] = H5_COLUMNS.get(level, ())
        self.spectral_bands: tuple[str, ...] = SPECTRAL_BANDS.get(level, ())
        self.flag_columns: tuple[str, ...] = FLAG_COLUMNS.get(level, ())
        self.extra_columns: tuple[str, ...] = ()
        self.cloud_kind = "qa60" if level == "L1C" else "probability"
        self.imported = False  # True for levels defined in cropviz.json (imported data)
        if spec is not None:
            self.columns = tuple(spec["columns"])
            self.spectral_bands = tuple(b for b in SPECTRAL_BANDS["L1C"] if b in spec["spectral"])
            self.flag_columns = tuple(spec.get("flags", ()))
            self.extra_columns = tuple(spec.get("extra", ()))
            self.cloud_kind = str(spec.get("cloud", "unknown"))
            self.imported = True
            register_level(level, self.columns, self.spectral_bands, self.flag_columns)
        self.h5_path, self.index_path = _locate_region(self.root, self.region, str(year), level)
        self._mapping, self.classes = _read_classmapping(self.root / "classmapping.csv")
        self.codes = _read_codes(self.root / "codes.csv")
        self.cloud_share_source = "index"
        #: Parcels without a polygon, counted by the last geodataframe() call.
        self.missing_geometry: int | None = None
        #: NaN rows dropped so far, per parcel id (filled as parcels are read).
        self.nan_rows: dict[int, int] = {}
        self._handle: h5py.File | None = None
        self._patch_set: PatchSet | None = None
        self._handle_pid: int | None = None
        self._cache: dict[int, np.ndarray] | None = None
        self._positions: tuple[pd.DataFrame, dict[int, int]] | None = None
        self.index, self.skipped = self._build_index()
        if preload:
            self.validate(keep_in_memory=True)

    # ------------------------------------------------------------------ index
    def _build_index(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        raw = _read_index_csv(self.index_path)
        skipped: list[tuple[Any, str]] = []

        ids = pd.to_numeric(raw["id"], errors="coerce")
        bad_id = ids.isna() | (ids != ids.round())
        skipped += [(v, "invalid parcel id") for v in raw.loc[bad_id, "id"]]
        raw = raw.loc[~bad_id].copy()
        raw["id"] = ids[~bad_id].astype("int64")

        dup = raw["id"].duplicated()
        skipped += [(i, "duplicate id in index") for i in raw.loc[dup, "id"]]
        raw = raw.loc[~dup]

        unlabelled = raw["CODE_CULTU"].isna().to_numpy() & self.imported
        raw["code"] = raw["CODE_CULTU"].astype(str).str.strip().where(~unlabelled, "")
        known = raw["code"].isin(self._mapping.index) | unlabelled
        skipped += [(i, f"code {c} not in classmapping")
                    for i, c in zip(raw.loc[~known, "id"], raw.loc[~known, "code"], strict=False)]
        raw = raw.loc[known]
        labelled = raw["code"].isin(self._mapping.index).to_numpy()
        classid = np.full(len(raw), -1, dtype=np.int64)
        classname = np.full(len(raw), UNLABELLED, dtype=object)
        classid[labelled] = self._mapping.loc[raw.loc[labelled, "code"], "id"].to_numpy(dtype=np.int64)
        classname[labelled] = self._mapping.loc[raw.loc[labelled, "code"], "classname"].to_numpy(dtype=object)
        raw = raw.assign(classid=classid, classname=classname)

        length = pd.to_numeric(raw["sequencelength"], errors="coerce").fillna(0)
        empty = length <= 0
        skipped += [(i, "zero-length sequence") for i in raw.loc[empty, "id"]]
        raw = raw.loc[~empty].copy()
        raw["sequencelength"] = length[~empty].astype("int64")

        raw["path"] = raw["path"].astype(str)
        present = self._in_h5(raw["path"].to_numpy(dtype=object))
        skipped += [(i, "missing in h5") for i in raw.loc[~present, "id"]]
        raw = raw.loc[present]

        index = pd.DataFrame({
            "id": raw["id"].to_numpy(dtype=np.int64),
            "code": raw["code"].to_numpy(dtype=object),
            "classid": raw["classid"].to_numpy(dtype=np.int64),
            "classname": raw["classname"].to_numpy(dtype=object),
            "sequencelength": raw["sequencelength"].to_numpy(dtype=np.int64),
            "cloud_share": self._index_cloud_share(raw),
            "path": raw["path"].to_numpy(dtype=object),
        })
        skipped_df = pd.DataFrame(skipped, columns=["id", "reason"])
        return index.reset_index(drop=True), skipped_df

    def _index_cloud_share(self, raw: pd.DataFrame) -> np.ndarray:
        """Approximate cloud share from the index's mean cloud column (exact after validate())."""
        column = next((c for c in ("meanQA60", "meanCLD") if c in raw.columns), None)
        if column is None or self.cloud_kind == "unknown":
            return np.full(len(raw), np.nan)
        mean = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=np.float64)
        if self.level == "L1C":  # mean QA60 bitmask: 1024 = every date opaque cloud
            share = mean / float(1 << QA60_OPAQUE_BIT)
        else:  # mean cloud probability in percent
            share = mean / 100.0
        return np.clip(share, 0.0, 1.0)

    def _in_h5(self, paths: np.ndarray) -> np.ndarray:
        """Whether each index path names an object in the h5 file. Each parent group's members are
        listed once (visiting every object of a 200k-parcel file took 2 s, listing its group 0.3 s)."""
        import h5py

        split = [str(p).lstrip("/").rpartition("/") for p in paths]
        rows_of: dict[str, list[int]] = {}
        for row, (parent, _, _) in enumerate(split):
            rows_of.setdefault(parent, []).append(row)
        present = np.zeros(len(split), dtype=bool)
        try:
            handle = self._file()
            for parent, rows in rows_of.items():
                group = handle.get(parent) if parent else handle
                if isinstance(group, h5py.Group):
                    members = set(group.keys())
                    present[rows] = [split[r][2] in members for r in rows]
        except (OSError, RuntimeError, KeyError) as exc:
            raise DatasetError(self.h5_path, "not a readable HDF5 file (truncated or corrupt?)") from exc
        return present

    # ------------------------------------------------------------------ h5 handle
    def _file(self) -> h5py.File:
        if self._handle is None or self._handle_pid != os.getpid() or not self._handle.id.valid:
            try:
                import h5py  # imported on first read: opening a dataset stays cheap

                self._handle = h5py.File(self.h5_path, "r")
            except OSError as exc:
                raise DatasetError(self.h5_path,
                                   "not a readable HDF5 file (truncated or corrupt?)") from exc
            self._handle_pid = os.getpid()
        return self._handle

    def close(self) -> None:
        """Close the h5 handle (it reopens on the next read)."""
        if self._handle is not None and self._handle_pid == os.getpid():
            self._handle.close()
        self._handle = None

    def __enter__(self) -> BreizhCropsDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_handle_pid"] = None
        state["_positions"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return (f"BreizhCropsDataset(root={str(self.root)!r}, region={self.region!r}, "
                f"year={self.year!r}, level={self.level!r}, parcels={len(self)}, "
                f"skipped={len(self.skipped)})")

    def band_order(self, order: str = "breizhcrops") -> tuple[str, ...]:
        """Model-input band order of this dataset's level (for a level defined in cropviz.json,
        its present bands; re-registered so :func:`cropviz.data.bands.band_order` agrees)."""
        if self.level not in LEVELS:
            register_level(self.level, self.columns, self.spectral_bands, self.flag_columns)
        return band_order(self.level, order)

    @property
    def ids(self) -> np.ndarray:
        """Usable parcel ids in index order."""
        return self.index["id"].to_numpy()

    def _row(self, parcel_id: int) -> pd.Series:
        if self._positions is None or self._positions[0] is not self.index:
            self._positions = (self.index, dict(zip(self.index["id"].tolist(), range(len(self.index)), strict=False)))
        pos = self._positions[1].get(int(parcel_id))
        if pos is None:
            why = self.skipped.loc[self.skipped["id"] == parcel_id, "reason"]
            detail = f" (skipped: {why.iloc[0]})" if len(why) else ""
            raise UnknownParcelError(self.index_path, f"parcel {parcel_id} is not in the index{detail}")
        return self.index.iloc[pos]

    def _read_array(self, parcel_id: int, key: str) -> np.ndarray:
        """Raw (T, C) float64 array of one parcel, NaN rows dropped, sorted by date."""
        if self._cache is not None and parcel_id in self._cache:
            return self._cache[parcel_id]
        try:
            data = np.asarray(self._file()[key][()], dtype=np.float64)
        except (OSError, RuntimeError) as exc:
            raise DatasetError(self.h5_path, f"parcel {parcel_id}: unreadable array at {key!r} "
                                             "(truncated or corrupt?)") from exc
        if data.ndim != 2 or data.shape[1] != len(self.columns):
            got = data.shape[1] if data.ndim == 2 else f"shape {data.shape}"
            raise DatasetError(self.h5_path, f"parcel {parcel_id}: expected {len(self.columns)} "
                                             f"columns for {self.level}, got {got}")
        checked = data if not self.imported else \
            data[:, [self.columns.index(c) for c in ("doa", *self.spectral_bands)]]  # imported: flags/extras may be NaN
        finite = ~np.isnan(checked).any(axis=1)
        if not finite.all():
            self.nan_rows[int(parcel_id)] = int((~finite).sum())
            data = data[finite]
        if len(data) == 0:
            raise DatasetError(self.h5_path, f"parcel {parcel_id}: no valid observations "
                                             "(zero rows or all rows NaN)")
        doa = data[:, self.columns.index("doa")]
        return data[np.argsort(doa, kind="stable")]

    def _dates(self, data: np.ndarray) -> np.ndarray:
        doa = data[:, self.columns.index("doa")]
        return np.rint(doa).astype(np.int64).view("datetime64[ns]")

    def _cloudy(self, data: np.ndarray) -> np.ndarray:
        """Cloudy mask: QA60 bits (L1C), CLD > 50 % (L2A, 'probability'), CLD > 0.5 ('boolean'),
        CLD in SCL_CLOUDY_CODES ('scl'); all False when the cloud state is 'unknown'."""
        kind = self.cloud_kind
        if kind == "qa60":
            qa = data[:, self.columns.index("QA60")].astype(np.int64)
            return ((qa >> QA60_OPAQUE_BIT) & 1).astype(bool) | ((qa >> QA60_CIRRUS_BIT) & 1).astype(bool)
        if kind == "unknown" or "CLD" not in self.columns:
            return np.zeros(len(data), dtype=bool)
        cld = data[:, self.columns.index("CLD")]
        if kind == "boolean":
            return cld > 0.5
        if kind == "scl":
            return np.isin(cld, SCL_CLOUDY_CODES)
        return cld > L2A_CLOUD_PROBABILITY_THRESHOLD

    @property
    def series_names(self) -> list[str]:
        """What a parcel's series can show: the indices computable from the bands, then the bands."""
        from cropviz.data.series import series_names

        return series_names(self.spectral_bands)

    def parcel(self, parcel_id: int) -> Parcel:
        """Return one parcel's time series (sorted by date, NaN rows dropped)."""
        row = self._row(parcel_id)
        data = self._read_array(int(row["id"]), row["path"])
        dates = self._dates(data)
        date_index = pd.DatetimeIndex(dates, name="date")
        spectral = [self.columns.index(b) for b in self.spectral_bands]
        flag_cols = [self.columns.index(b) for b in self.flag_columns]
        extra_cols = [self.columns.index(b) for b in self.extra_columns]
        return Parcel(
            id=int(row["id"]), code=str(row["code"]), classid=int(row["classid"]),
            classname=str(row["classname"]), level=self.level, dates=dates,
            bands=pd.DataFrame(data[:, spectral], index=date_index,
                               columns=list(self.spectral_bands)),
            flags=pd.DataFrame(data[:, flag_cols], index=date_index,
                               columns=list(self.flag_columns)),
            cloudy=self._cloudy(data),
            extra=pd.DataFrame(data[:, extra_cols], index=date_index,
                               columns=list(self.extra_columns)) if extra_cols else None,
        )

    def parcels(self, ids: Iterable[int] | None = None) -> Iterator[Parcel]:
        """Yield the parcels ``ids`` (all if None) in that order, through one h5 handle."""
        for parcel_id in self.ids if ids is None else ids:
            yield self.parcel(int(parcel_id))

    def raw_series(self, ids: Iterable[int], bands: Iterable[str]) -> Iterator[RawSeries]:
        """Yield the parcels ``ids`` as plain arrays (no pandas): fast path for model inputs."""
        columns = [self.columns.index(b) for b in bands]
        for parcel_id in ids:
            row = self._row(int(parcel_id))
            data = self._read_array(int(row["id"]), row["path"])
            yield RawSeries(int(row["id"]), int(row["classid"]), self._dates(data),
                            data[:, columns], self._cloudy(data))

    def model_input(self, ids: Iterable[int] | None = None, order: str = "breizhcrops",
                    sequence_length: int | None = BREIZHCROPS_SEQUENCE_LENGTH,
                    seed: int = 0) -> np.ndarray | list[np.ndarray]:
        """Model input of the breizhcrops default transform for ``ids`` (all parcels if None).

        Reflectance (DN x 1e-4) in the band ``order``; ``sequence_length`` observations drawn
        without replacement (with replacement when a parcel has fewer), kept in time order,
        with ``np.random.RandomState(parcel_seed(seed, id)).choice``. Returns N x L x D float32,
        or a list of T_i x D arrays (all observations) when ``sequence_length`` is None.
        """
        ids = self.ids if ids is None else np.asarray(list(ids), dtype=np.int64)
        columns = [self.columns.index(b) for b in self.band_order(order)]
        paths = self.index.set_index("id")["path"]
        unknown = np.setdiff1d(ids, paths.index.to_numpy())
        if len(unknown):
            raise UnknownParcelError(self.index_path, f"parcels not in the index: {', '.join(map(str, unknown[:10]))}"
                                     + (" ..." if len(unknown) > 10 else ""))
        rows = paths.loc[ids]
        out: list[np.ndarray] = []
        rng = np.random.RandomState(0)  # reseeded per parcel
        for parcel_id, key in zip(ids, rows.to_numpy(), strict=False):
            x = self._read_array(int(parcel_id), key)[:, columns] * _SCALE
            if sequence_length is not None:
                x = x[sample_indices(len(x), sequence_length, seed, int(parcel_id), rng)]
            out.append(x.astype(np.float32))
        if sequence_length is None:
            return out
        if not out:
            return np.zeros((0, sequence_length, len(columns)), dtype=np.float32)
        return np.stack(out)

    def labels(self, ids: Iterable[int] | None = None) -> np.ndarray:
        """Class ids of ``ids`` (all parcels if None)."""
        if ids is None:
            return self.index["classid"].to_numpy()
        return self.index.set_index("id").loc[list(ids), "classid"].to_numpy()

    def validate(self, keep_in_memory: bool = False) -> BreizhCropsDataset:
        """Read every array once: move unreadable parcels (all rows NaN) to ``.skipped`` and
        replace the index's approximate cloud share and sequence length with exact values."""
        cache: dict[int, np.ndarray] = {}
        bad: list[tuple[int, str]] = []
        lengths = self.index["sequencelength"].to_numpy().copy()
        shares = self.index["cloud_share"].to_numpy(dtype=np.float64).copy()
        for pos, (parcel_id, key) in enumerate(zip(self.index["id"].to_numpy(),
                                                   self.index["path"].to_numpy(), strict=False)):
            try:
                data = self._read_array(int(parcel_id), key)
            except DatasetError as exc:
                if "no valid observations" not in exc.problem:
                    raise
                bad.append((int(parcel_id), "all rows NaN"))
                continue
            lengths[pos] = len(data)
            shares[pos] = float(self._cloudy(data).mean())
            if keep_in_memory:
                cache[int(parcel_id)] = data
        index = self.index.assign(sequencelength=lengths, cloud_share=shares)
        bad_ids = {i for i, _ in bad}
        self.index = index.loc[~index["id"].isin(bad_ids)].reset_index(drop=True)
        if bad:
            self.skipped = pd.concat([self.skipped, pd.DataFrame(bad, columns=["id", "reason"])],
                                     ignore_index=True)
        self.cloud_share_source = "computed"
        if keep_in_memory:
            self._cache = cache
        return self

    # ------------------------------------------------------------------ geometry, patches
    @property
    def geometry_path(self) -> Path | None:
        """The polygon file beside the region (.shp, .gpkg, .parquet, .geojson), or None."""
        for suffix in GEOMETRY_SUFFIXES:
            candidate = self.root / str(self.year) / f"{self.region}{suffix}"
            if candidate.exists():
                return candidate
        return None

    def geodataframe(self) -> Any:
        """GeoDataFrame of the usable parcels: id, code, classid, classname, geometry (file CRS).

        Parcels without a polygon keep an empty geometry; their count is in
        ``gdf.attrs['missing_geometry']`` and ``self.missing_geometry``.
        """
        import geopandas as gpd

        path = self.geometry_path
        if path is None:
            expected = self.root / str(self.year) / f"{self.region}{{{','.join(GEOMETRY_SUFFIXES)}}}"
            raise DatasetError(expected, "no parcel geometry file")
        polygons = read_parcel_geometries(path).drop_duplicates("id").set_index("id")
        table = self.index[["id", "code", "classid", "classname"]]
        geometry = polygons.geometry.reindex(table["id"].to_numpy())
        gdf = gpd.GeoDataFrame(table.reset_index(drop=True),
                               geometry=gpd.GeoSeries(geometry.to_numpy(), crs=polygons.crs))
        self.missing_geometry = int(gdf.geometry.isna().sum())
        gdf.attrs["missing_geometry"] = self.missing_geometry
        return gdf

    def patches(self) -> PatchSet | None:
        """The region's parcel patches (index read once), or None when the root has no patch form."""
        if self._patch_set is None:
            folder = self.root / str(self.year) / "patches"
            index_path = folder / f"{self.region}.csv"
            dates_path = folder / "dates.csv"
            if not index_path.exists() or not dates_path.exists():
                return None
            self._patch_set = PatchSet(self.root, index_path, dates_path)
        return self._patch_set


def sample_indices(length: int, sequence_length: int, seed: int, parcel_id: int,
                   rng: np.random.RandomState | None = None) -> np.ndarray:
    """Sorted observation indices of the breizhcrops transform, deterministic for (seed, id).

    Draws with ``RandomState(parcel_seed(seed, parcel_id)).choice`` like the breizhcrops package
    draws with ``np.random.choice``; pass ``rng`` to reuse (reseed) one RandomState in loops.
    """
    if rng is None:
        rng = np.random.RandomState(0)  # reseeded per parcel
    rng.seed(parcel_seed(seed, parcel_id))
    idxs = rng.choice(length, sequence_length, replace=length < sequence_length)
    idxs.sort()
    return idxs


def parcel_seed(seed: int, parcel_id: int) -> int:
    """32-bit seed derived from a global seed and a parcel id."""
    return int(np.random.SeedSequence([int(seed), abs(int(parcel_id))]).generate_state(1)[0])


def open_breizhcrops(root: str | PathLike[str], region: str, year: int | str | None = None,
                     level: str | None = None, preload: bool = False) -> BreizhCropsDataset:
    """Open one region of a BreizhCrops-layout folder (no arrays read unless ``preload``).

    ``year`` and ``level`` default to those the dataset records (:func:`dataset_defaults`)."""
    default_year, default_level = dataset_defaults(root, region)
    return BreizhCropsDataset(root, region, year=default_year if year is None else year,
                              level=level or default_level, preload=preload)


def dataset_defaults(root: str | PathLike[str], region: str | None = None) -> tuple[int, str]:
    """The year and level recorded in ``<root>/cropviz.json`` at import or extraction: those of
    ``region``, else of the root's last import; 2017 and L1C (BreizhCrops) when none is recorded."""
    meta_path = Path(root) / "cropviz.json"
    if not meta_path.exists():
        return 2017, "L1C"
    metadata = _read_metadata(Path(root))
    regions = metadata.get("regions")
    entry = regions.get(region) if isinstance(regions, dict) and region is not None else None
    for candidate in (entry, metadata.get("default")):
        if isinstance(candidate, dict) and "year" in candidate and "level" in candidate:
            return int(candidate["year"]), str(candidate["level"])
    return 2017, "L1C"


def list_regions(root: str | PathLike[str]) -> list[tuple[int | str, str, str]]:
    """(year, level, region) of every region with an index CSV and an h5 file under ``root``."""
    root = Path(root)
    found: list[tuple[int | str, str, str]] = []
    if not root.is_dir():
        return found
    custom = list(_read_metadata(root).get("levels", {})) if (root / "cropviz.json").exists() else []
    for year_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for level in dict.fromkeys([*LEVELS, *custom]):
            level_dir = year_dir / level
            if not level_dir.is_dir():
                continue
            for csv in sorted(level_dir.glob("*.csv")):
                if csv.with_suffix(".h5").exists():
                    year: int | str = int(year_dir.name) if year_dir.name.isdigit() else year_dir.name
                    found.append((year, level, csv.stem))
    return found


def summarize(ds: BreizhCropsDataset) -> dict[str, Any]:
    """Summary for ``cropviz info``: parcels per class, sequence lengths, clouds, skipped rows."""
    counts = ds.index["classname"].value_counts()
    lengths = ds.index["sequencelength"]
    cloud = ds.index["cloud_share"]
    reasons = ds.skipped["reason"].value_counts()
    return {
        "root": str(ds.root), "region": ds.region, "year": ds.year, "level": ds.level,
        "simulated": bool(ds.metadata.get("simulated", False)),
        "parcels": len(ds),
        "parcels_per_class": {name: int(counts.get(name, 0)) for name in ds.classes},
        "sequence_length": ({"min": int(lengths.min()), "median": float(lengths.median()),
                             "mean": float(lengths.mean()), "max": int(lengths.max())}
                            if len(lengths) else None),
        "cloud_share": None if cloud.isna().all() else float(cloud.mean()),
        "cloud_share_source": ds.cloud_share_source,
        "cloud": ds.cloud_kind,
        "unlabelled": int((ds.index["classid"] < 0).sum()),
        "skipped": {str(k): int(v) for k, v in reasons.items()},
        "skipped_total": int(len(ds.skipped)),
        "nan_rows_dropped": int(sum(ds.nan_rows.values())),
    }


# ---------------------------------------------------------------------- helpers
def _regions_text(root: Path) -> str:
    regions = list_regions(root)
    if not regions:
        return "no regions on disk"
    return "regions on disk: " + ", ".join(f"{y}/{lv}/{r}" for y, lv, r in regions)


def _locate_region(root: Path, region: str, year: str, level: str) -> tuple[Path, Path]:
    if not root.is_dir():
        raise DatasetError(root, "dataset folder does not exist")
    for folder in (root / year, root / year / level):
        if not folder.is_dir():
            raise DatasetError(folder, f"folder does not exist; {_regions_text(root)}")
    h5_path = root / year / level / f"{region}.h5"
    index_path = root / year / level / f"{region}.csv"
    for path in (index_path, h5_path):
        if not path.is_file():
            raise DatasetError(path, f"file does not exist; {_regions_text(root)}")
    return h5_path, index_path


def _read_metadata(root: Path) -> dict[str, Any]:
    path = root / "cropviz.json"
    if not path.exists():
        return {"simulated": False}
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(path, f"not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict):
        raise DatasetError(path, "expected a JSON object")
    metadata["simulated"] = bool(metadata.get("simulated", False))
    return metadata


def _level_spec(root: Path, metadata: dict[str, Any], level: str) -> dict[str, Any] | None:
    """The definition of ``level`` in cropviz.json ("levels": {name: {columns, spectral, ...}}), or None."""
    spec = metadata.get("levels", {})
    spec = spec.get(level) if isinstance(spec, dict) else None
    if spec is None:
        return None
    where = root / "cropviz.json"
    if not isinstance(spec, dict) or not isinstance(spec.get("columns"), list) \
            or not isinstance(spec.get("spectral"), list):
        raise DatasetError(where, f"level {level!r} needs lists 'columns' and 'spectral'")
    missing = [c for c in ("doa", *spec["spectral"], *spec.get("flags", []), *spec.get("extra", []))
               if c not in spec["columns"]]
    if missing:
        raise DatasetError(where, f"level {level!r}: columns lack {', '.join(missing)}")
    if spec.get("cloud", "unknown") not in CLOUD_KINDS:
        raise DatasetError(where, f"level {level!r}: cloud must be one of {', '.join(CLOUD_KINDS)}")
    return spec


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except FileNotFoundError as exc:
        raise DatasetError(path, "file does not exist") from exc
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"not a readable CSV file ({type(exc).__name__})") from exc


def _read_classmapping(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Code -> (id, classname) table and class names in id order; columns read by name."""
    table = _read_csv(path)
    missing = [c for c in REQUIRED_CLASSMAPPING_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(path, f"missing columns {', '.join(missing)} "
                                 f"(found {', '.join(map(str, table.columns))})")
    table = table[list(REQUIRED_CLASSMAPPING_COLUMNS)].dropna()
    table["code"] = table["code"].astype(str).str.strip()
    try:
        table["id"] = table["id"].astype("int64")
    except (ValueError, TypeError) as exc:
        raise DatasetError(path, "column id is not integer") from exc
    conflicting = table.groupby("code")["id"].nunique()
    if (conflicting > 1).any():
        raise DatasetError(path, f"codes mapped to several class ids: "
                                 f"{', '.join(conflicting[conflicting > 1].index)}")
    names = table.sort_values("id", kind="stable").groupby("id")["classname"].first()
    if list(names.index) != list(range(len(names))):
        raise DatasetError(path, f"class ids must be 0..{len(names) - 1}, got "
                                 f"{', '.join(map(str, names.index))}")
    mapping = table.drop_duplicates("code").set_index("code")
    mapping["classname"] = names.loc[mapping["id"]].to_numpy()
    return mapping, [str(n) for n in names]


def _read_codes(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    return _read_csv(path, sep=";")


def _read_index_csv(path: Path) -> pd.DataFrame:
    table = _read_csv(path)
    table = table.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED_INDEX_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(path, f"index lacks required columns {', '.join(missing)} "
                                 f"(found {', '.join(table.columns)})")
    return table
