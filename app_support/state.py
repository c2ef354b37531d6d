"""The shared sidebar and the state every page reads: dataset, model, predictions, selected parcel.

The choice of dataset, model and parcel lives in the URL's query parameters, so a view can be
bookmarked and sent to a colleague; widgets are initialised from them and write them back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app_support import cache
from cropviz.errors import CropvizError

DEMO = "Simulated demo"
FOLDER = "Dataset folder"
UPLOAD = "Upload a checkpoint..."
DEMO_ROLES = {"frh01": "train", "frh02": "train", "frh03": "validation", "frh04": "test"}


@dataclass
class AppContext:
    """What the sidebar chose, shared by every page."""

    dataset: Any = None
    simulated: bool = False
    dataset_label: str = ""
    classifier: Any = None
    model_error: str | None = None
    data_error: str | None = None
    predictions: pd.DataFrame | None = None
    table: pd.DataFrame | None = None  # index joined with predictions
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.dataset is not None

    @property
    def selected_id(self) -> int | None:
        value = st.session_state.get("parcel")
        return int(value) if value is not None else None


def query(name: str, default: Any = None) -> Any:
    """A query parameter's value, or ``default``."""
    return st.query_params.get(name, default)


def set_query(**values: Any) -> None:
    """Write values to the query parameters (None removes a key)."""
    for key, value in values.items():
        if value is None:
            st.query_params.pop(key, None)
        elif st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)


def select_parcel(parcel_id: int | None) -> None:
    """Make ``parcel_id`` the selected parcel of every page (and of the URL)."""
    st.session_state["parcel"] = None if parcel_id is None else int(parcel_id)
    set_query(parcel=parcel_id)


def _index_of(options: list[str], value: Any, default: int = 0) -> int:
    return options.index(value) if value in options else default


def shipped_models() -> list[str]:
    """Shipped weights in ``models/`` (registry models, then variants such as shuffled twins)."""
    from cropviz.models.checkpoint import shipped_names

    return shipped_names()


# --------------------------------------------------------------------------- serving to a group

#: The app's own settings (dataset folders allowed, upload limits), beside Streamlit's config.toml.
APP_CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "cropviz.toml"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class AppSettings:
    """What the app lets its users reach: dataset folders and upload sizes (MB)."""

    data_roots: tuple[Path, ...] = ()
    checkpoint_upload_mb: int = 50
    results_upload_mb: int = 5


def app_settings() -> AppSettings:
    """Settings from $CROPVIZ_APP_CONFIG (else .streamlit/cropviz.toml); $CROPVIZ_DATA_ROOTS
    (folders separated by the OS path separator) replaces the file's data roots."""
    import tomllib  # standard library from Python 3.11, as Streamlit itself needs

    path = Path(os.environ.get("CROPVIZ_APP_CONFIG", APP_CONFIG))
    try:
        raw = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as error:
        raise CropvizError(f"{path}: not valid TOML ({error})") from error
    data, uploads = raw.get("data", {}), raw.get("uploads", {})
    roots = [r for r in os.environ.get("CROPVIZ_DATA_ROOTS", "").split(os.pathsep) if r] or data.get("roots", [])
    return AppSettings(data_roots=tuple(Path(r).expanduser().resolve() for r in roots),
                       checkpoint_upload_mb=int(uploads.get("checkpoint_mb", 50)),
                       results_upload_mb=int(uploads.get("results_mb", 5)))


def served_to_a_group() -> bool:
    """Whether the server listens on an address other than loopback (others can reach it)."""
    return str(st.get_option("server.address") or "0.0.0.0") not in LOOPBACK


def folder_refusal(root: str, settings: AppSettings, group: bool) -> str | None:
    """Why the dataset folder ``root`` may not be opened, or None when it may.

    With data roots configured, only those folders and folders inside them are allowed (after
    resolving '..' and links); without, any folder when the app serves this machine only, none
    when it serves a group."""
    if not settings.data_roots:
        return None if not group else (
            f"{root}: this server is shared, and its configuration allows no dataset folder; "
            f"ask its administrator to list folders under [data] roots in {APP_CONFIG.name}.")
    path = Path(root).expanduser().resolve()
    if any(path == allowed or allowed in path.parents for allowed in settings.data_roots):
        return None
    return (f"{root}: not an allowed dataset folder; this server opens only folders inside "
            + ", ".join(str(r) for r in settings.data_roots) + ".")


def _choose_dataset(ctx: AppContext) -> None:
    from cropviz.data import list_regions

    source = st.sidebar.radio("Data", [DEMO, FOLDER], index=_index_of([DEMO, FOLDER], query("source")),
                              key="source_widget", horizontal=True)
    if source == DEMO:
        root = cache.ensure_demo(str(cache.demo_root()))
    else:
        root = st.sidebar.text_input("Root folder (BreizhCrops layout: downloaded or imported)",
                                     value=query("root", ""), key="root_widget", placeholder="/data/breizhcrops")
        if not root:
            ctx.data_error = "Type the path of a BreizhCrops root folder (the one holding classmapping.csv)."
            set_query(source=source)
            return
        try:
            refusal = folder_refusal(root, app_settings(), served_to_a_group())
        except CropvizError as error:
            refusal = str(error)
        if refusal:
            ctx.data_error = refusal
            set_query(source=source, root=None)
            return
    try:
        found = list_regions(root)
    except CropvizError as error:
        ctx.data_error = str(error)
        return
    if not found:
        ctx.data_error = f"{root}: no BreizhCrops regions found (expected <root>/<year>/<level>/<region>.csv)"
        return
    levels = sorted({level for _, level, _ in found})
    from cropviz.data.breizhcrops import dataset_defaults

    recorded = dataset_defaults(root)[1]  # the level an import recorded, else L1C
    level = st.sidebar.selectbox("Level", levels, index=_index_of(levels, query("level", recorded)), key="level_widget")
    regions = sorted({region for _, lv, region in found if lv == level})
    labels = [f"{r} ({DEMO_ROLES[r]})" if source == DEMO and r in DEMO_ROLES else r for r in regions]
    default = query("region", "frh04")
    choice = st.sidebar.selectbox("Region", labels, index=_index_of(regions, default, len(regions) - 1),
                                  key="region_widget")
    region = regions[labels.index(choice)]
    years = sorted({int(y) for y, lv, r in found if lv == level and r == region})
    year = years[-1] if len(years) == 1 else st.sidebar.selectbox("Year", years, key="year_widget")
    set_query(source=source, root=None if source == DEMO else root, region=region, level=level, year=year)
    try:
        ctx.dataset = cache.dataset(str(root), region, int(year), level)
    except CropvizError as error:
        ctx.data_error = str(error)
        return
    ctx.simulated = bool(ctx.dataset.metadata.get("simulated", False))
    metadata = ctx.dataset.metadata or {}
    if ctx.simulated:
        kind = "SIMULATED demo data (not BreizhCrops)"
    elif metadata.get("source") == "imported":
        origin = metadata.get("regions", {}).get(region, {}).get("source_files", [])
        kind = (f"Imported data (from {', '.join(map(str, origin)) or 'cropviz import'}; "
                f"`{metadata.get('regions', {}).get(region, {}).get('command', '')}`)")
    else:
        kind = "Real data (BreizhCrops layout)"
    ctx.dataset_label = f"{kind}: {region}, {year} {level}, {len(ctx.dataset)} parcels"


def _choose_model(ctx: AppContext) -> None:
    options = shipped_models() + [UPLOAD]
    default = query("model", "transformer")
    name = st.sidebar.selectbox("Model", options, index=_index_of(options, default), key="model_widget",
                                help="Registry models with shipped demo weights, or your own checkpoint.")
    source, arch = name, None
    if name == UPLOAD:
        from cropviz.models import names as model_names

        limit = app_settings().checkpoint_upload_mb
        upload = st.sidebar.file_uploader(f"Checkpoint (.pt/.pth, .npz; at most {limit} MB)",
                                          type=["pt", "pth", "npz"], key="upload", max_upload_size=limit)
        arch_choice = st.sidebar.selectbox("Architecture (for published BreizhCrops files)",
                                           ["(recorded in file)", *model_names()], key="arch_widget")
        if upload is None:
            ctx.model_error = "Upload a checkpoint to use it."
            return
        source = str(cache.save_upload(upload.getvalue(), upload.name))
        arch = None if arch_choice.startswith("(") else arch_choice
    else:
        set_query(model=name)
    try:
        ctx.classifier = cache.classifier(source, arch)
        if ctx.dataset is not None:
            ctx.classifier.check_fits(ctx.dataset)
    except CropvizError as error:
        ctx.model_error = str(error)
        ctx.classifier = None
        if name != UPLOAD:  # no shipped model fits: a model trained here, or the offer to train one
            from app_support import train_here

            train_here.use_or_offer(ctx)


def _sidebar_status(ctx: AppContext) -> None:
    if ctx.data_error:
        st.sidebar.error(ctx.data_error)
    elif ctx.simulated:
        st.sidebar.warning("Simulated demo region: numbers here are not BreizhCrops results.")
    if ctx.model_error:
        st.sidebar.error(ctx.model_error)
    elif ctx.classifier is not None:
        device = ctx.classifier.device
        where = ("GPU " + _gpu_name() if device.type == "cuda"
                 else "CPU (no GPU found)" if device.type == "cpu" else str(device))
        st.sidebar.caption(f"Model trained on: {ctx.classifier.info.trained_on}")
        st.sidebar.caption(f"Runs on: {where}")


def _gpu_name() -> str:
    from cropviz.devices import device_name

    return device_name()


def sidebar() -> AppContext:
    """Draw the shared sidebar once per run and return the context the pages read."""
    ctx = AppContext()
    st.sidebar.title("cropviz")
    _choose_dataset(ctx)
    _choose_model(ctx)
    if "parcel" not in st.session_state and query("parcel") is not None:
        try:
            st.session_state["parcel"] = int(query("parcel"))
        except ValueError:
            st.session_state["parcel"] = None
    if ctx.dataset is not None and ctx.classifier is not None:
        try:
            ctx.predictions = cache.predictions(ctx.classifier, ctx.dataset)
        except CropvizError as error:
            ctx.model_error = str(error)
    if ctx.dataset is not None:
        ctx.table = _parcel_table(ctx)
        if ctx.selected_id is None or ctx.selected_id not in set(ctx.table["id"]):
            st.session_state["parcel"] = int(ctx.table["id"].iloc[0]) if len(ctx.table) else None
        # every page's URL names the selected parcel: sidebar navigation starts from a bare URL
        set_query(parcel=ctx.selected_id)
    _sidebar_status(ctx)
    st.session_state["context"] = ctx
    return ctx


def _parcel_table(ctx: AppContext) -> pd.DataFrame:
    table = ctx.dataset.index[["id", "code", "classid", "classname", "sequencelength", "cloud_share"]].copy()
    if ctx.predictions is not None:
        classes = ctx.classifier.classes
        pred = ctx.predictions[["id", "pred", "confidence"]].copy()
        pred["predicted"] = [classes[k] for k in pred["pred"]]
        table = table.merge(pred, on="id", how="left")
        table["correct"] = table["classid"] == table["pred"]
    return table


def route_through_app() -> None:
    """Make sure app.py's st.navigation runs, even on a server's first deep link.

    Until the first st.navigation call in a server process, Streamlit treats a ``pages/`` folder
    next to the main script as an old-style multipage app and runs ``pages/<name>.py`` directly
    (no shared sidebar). Switching that off and rerunning sends the run through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def context() -> AppContext:
    """The context drawn by the sidebar in this run."""
    route_through_app()
    return st.session_state.get("context") or AppContext()


def require(ctx: AppContext, predictions: bool = True) -> bool:
    """Show why a page cannot draw (no data, no model) and return whether it can."""
    if not ctx.ready:
        st.info(ctx.data_error or "Choose a dataset in the sidebar.")
        return False
    if predictions and ctx.predictions is None:
        st.info(ctx.model_error or "Choose a model in the sidebar.")
        return False
    return True


def banner(ctx: AppContext) -> None:
    """One line saying which data is shown and what the model was trained on."""
    if not ctx.ready:
        return
    model = f" | model {ctx.classifier.name}, trained on {ctx.classifier.info.trained_on}" if ctx.classifier else ""
    text = ctx.dataset_label + model
    (st.warning if ctx.simulated else st.caption)(text)


def repo_path(*parts: str) -> Path:
    """A path inside the repository."""
    return cache.REPO.joinpath(*parts)
