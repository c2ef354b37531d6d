"""Figure and table display with downloads: every figure as PNG and interactive HTML, tables as CSV."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from cropviz.errors import ConfigurationError, CropvizError
from cropviz.viz.export import figure_to_html, figure_to_png, table_to_csv

if TYPE_CHECKING:
    from cropviz.ablation import Seed004Study


def _png(fig: Any) -> bytes:
    try:
        return figure_to_png(fig)
    except ConfigurationError as error:  # no Chrome for kaleido: say so in the file
        return str(error).encode()


def show_figure(fig: Any, name: str, key: str | None = None, **chart_options: Any) -> Any:
    """Draw a plotly figure with PNG and HTML download buttons (built only when clicked)."""
    event = st.plotly_chart(fig, key=key, **chart_options)
    buttons = st.container(horizontal=True)  # each button as wide as its label, also in a narrow column
    buttons.download_button("PNG", data=lambda: _png(fig), file_name=f"{name}.png", mime="image/png",
                         key=f"{key or name}-png", on_click="ignore")
    buttons.download_button("HTML", data=lambda: figure_to_html(fig), file_name=f"{name}.html",
                          mime="text/html", key=f"{key or name}-html", on_click="ignore")
    return event


def show_table(frame: pd.DataFrame, name: str, key: str | None = None, decimals: int | None = None,
               **options: Any) -> Any:
    """Draw a table with a CSV download button; ``decimals``: every float column shown with that
    many decimals (Streamlit drops trailing zeros, so 0.39 stood beside 0.402)."""
    if decimals is not None:
        floats = {c: st.column_config.NumberColumn(format=f"%.{decimals}f") for c in frame.columns
                  if pd.api.types.is_float_dtype(frame[c])}
        options["column_config"] = {**floats, **options.get("column_config", {})}
    event = st.dataframe(frame, key=key, **options)
    st.download_button("CSV", data=lambda: table_to_csv(frame), file_name=f"{name}.csv",
                       mime="text/csv", key=f"{key or name}-csv", on_click="ignore")
    return event


def _diagnosis_columns() -> dict[str, Any]:
    """Headings and number formats of the diagnosis's columns (``cropviz.diagnose.diagnose``)."""
    number = st.column_config.NumberColumn
    return {
        "id": st.column_config.NumberColumn("parcel", format="%d"), "true_class": "labelled",
        "pred_class": "predicted", "confidence": number("confidence", format="%.2f"),
        "margin": number("margin", format="%.2f", help="top probability minus the second"),
        "second_class": "second class", "label_quality": number("label quality", format="%.3f"),
        "knn_agreement": number("neighbours agreeing", format="%.2f",
                                help="share of the 10 nearest neighbours in the model's embedding with this label"),
        "cloud_attribution_share": number("cloud share of |IG|", format="%.2f"),
        "flips_without_clouds": "flips without clouds", "pred_without_clouds": "predicted without clouds",
        "atypicality": number("atypicality", format="%.2f"), "clear_observations": "clear observations",
    }


def show_diagnosis_table(frame: pd.DataFrame, name: str, key: str, **options: Any) -> Any:
    """A table of diagnosis rows with readable headings and verdicts (the CSV keeps the same rows)."""
    from cropviz.viz.diagnosis import verdict_label

    shown = frame.copy()
    if "verdict" in shown:
        shown["verdict"] = shown["verdict"].map(verdict_label)
    columns = {c: spec for c, spec in _diagnosis_columns().items() if c in shown.columns}
    return show_table(shown, name, key=key, hide_index=True, column_config=columns, **options)


def view_picker(views: dict[str, str], key: str, label: str = "View") -> str:
    """A row of buttons choosing the one view of a page to draw (``views``: URL name -> label); only
    the chosen view's results are computed and its figures sent. The choice lives in the URL (query
    parameter ``key``), so a shared link opens the same view."""
    from app_support.state import query, set_query

    wanted = query(key)
    chosen = st.segmented_control(label, list(views), format_func=views.__getitem__, required=True, key=key,
                                  default=wanted if wanted in views else next(iter(views)))
    set_query(**{key: chosen})
    return str(chosen)


def _step_to_misclassified(table: pd.DataFrame, current: int | None, step: int) -> None:
    """Select the misclassified parcel ``step`` places from ``current`` (button callback)."""
    from app_support.state import select_parcel
    from cropviz.explore import step_misclassified

    target = step_misclassified(table, current, step)
    if target is None:
        st.toast("This model misclassifies no parcel here.")
    else:
        select_parcel(target)


def parcel_picker(ctx: Any, key: str) -> None:
    """The selected parcel as a box, with buttons to the previous and next misclassified parcel;
    a choice here selects the parcel on every page (and in the URL)."""
    from app_support.state import select_parcel

    ids = ctx.table["id"].tolist()
    top = st.columns([2, 1.6, 1.6, 1.8], vertical_alignment="bottom")
    st.session_state[key] = ctx.selected_id  # follow selections made on other pages
    top[0].selectbox("Parcel", ids, key=key, on_change=lambda: select_parcel(st.session_state[key]))
    if ctx.predictions is not None:
        for column, label, step in ((top[1], "◀ previous misclassified", -1), (top[2], "next misclassified ▶", 1)):
            column.button(label, key=f"{key}_step{step}", on_click=_step_to_misclassified,
                          args=(ctx.table, ctx.selected_id, step))


#: What a table shows for a missing value (a claim the results cannot check, a number the paper
#: does not give).
NOT_CHECKED = MISSING = "–"


def with_dashes(frame: pd.DataFrame, decimals: int | Mapping[str, int] | None = None) -> pd.DataFrame:
    """``frame`` with each missing value shown as :data:`MISSING` (Streamlit prints "None");
    columns without a missing value keep their type. Such a column turns to text: ``decimals``
    (for every column, or per column) writes its numbers with that many decimals, as
    :func:`show_table` shows the number columns beside it."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].isna().any():
            places = decimals.get(column) if isinstance(decimals, Mapping) else decimals
            shown[column] = [MISSING if pd.isna(v) else f"{v:.{places}f}"
                             if places is not None and isinstance(v, (int, float, np.number)) else v
                             for v in shown[column]]
    return shown
#: Columns of the paper-directions table and their headings.
DIRECTION_COLUMNS = {"claim": "claim", "paper": "paper", "paper_holds": "holds in the paper", "ours": "ours",
                     "ours_std": "ours std (folds)", "holds": "holds", "detail": "detail"}


def paper_directions(study: Seed004Study, claims: tuple[str, ...], key: str, caption: str) -> None:
    """'Does the paper's direction appear here?': the claims checked on the study's results, one
    warning per claim they do not show, and why."""
    st.header("Does the paper's direction appear here?")
    table = study.paper_directions(claims)[list(DIRECTION_COLUMNS)]
    for column in ("ours", "ours_std"):
        table[column] = [NOT_CHECKED if pd.isna(v) else f"{v:.1f}" for v in table[column]]
    for column in ("paper_holds", "holds"):
        table[column] = [NOT_CHECKED if pd.isna(v) else ("yes" if v else "no") for v in table[column]]
    show_table(table.rename(columns=DIRECTION_COLUMNS), f"seed004-directions-{key}", key=f"{key}_directions",
               hide_index=True)
    st.caption(caption)
    warnings = study.direction_warnings(claims)
    for line in warnings:
        st.warning(line)
    if warnings:
        st.caption(study.direction_reason(claims))


def seed004_results(key: str) -> Seed004Study:
    """The seed 004 study of the results file the user uploads, else of the shipped demo run (its
    ``results`` None when unreadable)."""
    from app_support import cache
    from app_support.state import app_settings
    from cropviz.ablation import Seed004Study, check_results

    limit = app_settings().results_upload_mb
    upload = st.file_uploader(f"Results file of `cropviz reproduce time-space` (default: the shipped demo run; "
                              f"at most {limit} MB)", type=["json"], key=key, max_upload_size=limit)
    try:
        return Seed004Study(check_results(json.loads(upload.getvalue()), upload.name) if upload is not None
                            else cache.seed004_results())
    except (CropvizError, json.JSONDecodeError, UnicodeDecodeError) as error:
        st.error(f"Cannot read the results: {error}")
        return Seed004Study(None)
