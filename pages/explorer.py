"""Misclassification explorer: metrics, per-class scores, confusion matrix, model comparison."""

import pandas as pd
import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, query, require, select_parcel, set_query, shipped_models
from app_support.widgets import show_figure, show_table, view_picker
from cropviz.viz.metrics import confusion_figure, model_comparison_figure, per_class_figure

#: Below the confusion matrix and its parcels, one drawn at a time (URL name -> label).
VIEWS = {"per_class": "Per-class scores", "compare": "Compare two models"}

ctx = context()
st.title("Misclassification explorer")
banner(ctx)
if require(ctx):
    classes = ctx.classifier.classes
    metrics, per_class = cache.metrics(ctx.classifier, ctx.dataset)
    cols = st.columns(4)
    cols[0].metric("Overall accuracy", f"{metrics['overall_accuracy']:.3f}")
    cols[1].metric("Cohen's kappa", f"{metrics['kappa']:.3f}")
    cols[2].metric("Macro F1", f"{metrics['macro_f1']:.3f}")
    cols[3].metric("Labelled parcels", metrics["n"])
    normalize = st.toggle("Row-normalised confusion matrix", value=True, key="explorer_normalize")
    event = show_figure(confusion_figure(metrics["confusion_matrix"], classes, normalize=normalize),
                        "confusion-matrix", key="explorer_confusion", on_select="rerun",
                        selection_mode="points")
    points = event.selection.get("points", []) if event else []
    if points:
        st.session_state["explorer_true"], st.session_state["explorer_pred"] = points[0]["y"], points[0]["x"]
    left, right = st.columns(2)
    # open on the most frequent confusion (a cell with parcels), unless the link names a cell
    confusions = ctx.table[ctx.table["classname"] != ctx.table["predicted"]].dropna(subset=["predicted"])
    biggest = (confusions.groupby(["classname", "predicted"]).size().idxmax() if len(confusions)
               else (classes[0], classes[0]))
    true_default, pred_default = query("cell_true", biggest[0]), query("cell_pred", biggest[1])
    true = left.selectbox("True class", classes, index=classes.index(true_default) if true_default in classes else 0,
                          key="explorer_true")
    pred = right.selectbox("Predicted class", classes,
                           index=classes.index(pred_default) if pred_default in classes else 0, key="explorer_pred")
    set_query(cell_true=true, cell_pred=pred)
    cell = cache.confusion_cell(ctx.table, true, pred)
    st.markdown(f"**{len(cell)} parcels** of class *{true}* predicted as *{pred}*, most confident first. "
                "Select a row to open the parcel on the map and in the inspector.")
    shown = cell[["id", "code", "classname", "predicted", "confidence", "sequencelength", "cloud_share"]].rename(
        columns={"id": "parcel", "classname": "true class", "predicted": "predicted class",
                 "sequencelength": "observations", "cloud_share": "cloud-flagged share"})

    def pick_row() -> None:
        rows = st.session_state["explorer_cell_table"].selection.get("rows", [])
        if rows:
            select_parcel(int(shown.iloc[rows[0]]["parcel"]))

    show_table(shown, f"parcels-{true}-as-{pred}", key="explorer_cell_table",
               on_select=pick_row, selection_mode="single-row", hide_index=True,
               column_config={"parcel": st.column_config.NumberColumn(format="%d"),
                              "confidence": st.column_config.NumberColumn(format="%.2f"),
                              "cloud-flagged share": st.column_config.NumberColumn(format="%.2f")})
    if ctx.selected_id is not None:
        st.caption(f"Selected parcel: {ctx.selected_id}")
        links = st.columns(3)
        links[0].page_link("pages/map.py", label="Open on the map", icon=":material/map:")
        links[1].page_link("pages/inspector.py", label="Open in the inspector", icon=":material/search:")
        links[2].page_link("pages/attributions.py", label="Explain it (attributions)", icon=":material/explore:")

    if view_picker(VIEWS, "explorer_view") == "per_class":
        show_figure(per_class_figure(per_class, title="Per-class precision, recall and F1"),
                    "per-class-scores", key="explorer_per_class")
    else:
        others = [m for m in shipped_models() if m != ctx.classifier.label]
        other_name = st.selectbox("Second model", others, key="explorer_other") if others else None
        if other_name:
            comparison = None
            with shown_errors(stop=False):
                other = cache.classifier(other_name)
                other.check_fits(ctx.dataset)
                comparison, other_metrics, summary = cache.model_comparison(ctx.table, ctx.classifier, other,
                                                                            ctx.dataset)
            if comparison is not None:
                names = (ctx.classifier.label, other.label)
                scores = pd.DataFrame([{**{k: m[k] for k in ("overall_accuracy", "kappa", "macro_f1")}, "model": n}
                                       for n, m in zip(names, (metrics, other_metrics), strict=False)])
                show_figure(model_comparison_figure(scores), "model-comparison", key="explorer_compare_fig")
                st.markdown(f"The two models disagree on **{summary['disagree']}** of {summary['parcels']} parcels: "
                            f"only `{names[0]}` is right on {summary[f'only {names[0]} right']}, only `{names[1]}` "
                            f"on {summary[f'only {names[1]} right']}, neither on {summary['neither right']}.")
                a, b = names
                show_table(comparison.rename(columns={
                    "id": "parcel", "classid": "true class id", "classname": "true class",
                    f"confidence_{a}": f"confidence {a}", f"confidence_{b}": f"confidence {b}",
                    f"predicted_{a}": f"predicted by {a}", f"predicted_{b}": f"predicted by {b}",
                    "right": "right model"}), f"disagreements-{a}-{b}", key="explorer_compare", hide_index=True)
