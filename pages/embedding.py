"""Embedding view: every parcel as the model sees it (penultimate layer, UMAP), linked to the selection."""

import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, require, select_parcel
from app_support.widgets import show_diagnosis_table, show_figure
from cropviz.viz.diagnosis import embedding_figure
from cropviz.viz.maps import parcel_deck

COLOR_BY = {"True class": "true_class", "Predicted class": "pred_class", "Verdict": "verdict"}

ctx = context()
st.title("Embedding view")
banner(ctx)
if require(ctx):
    model, ds = ctx.classifier, ctx.dataset
    with shown_errors("Cannot embed this region"):
        frame = cache.diagnosis_overview(model, ds)
        coords = cache.embedding_2d(model, ds).merge(frame[["id", "true_class", "pred_class"]], on="id")
    st.caption("Each point is a parcel: the input of the model's classification layer, projected to 2-D with "
               "UMAP (seed 0). Click a point to select the parcel on every page; lasso a group to list it "
               "and see it on the map." + ("" if model.differentiable else
                                            " This model is no neural network: its class probabilities stand "
                                            "in for an embedding."))
    choice = st.radio("Colour by", list(COLOR_BY), horizontal=True, key="embedding_color")
    lassoed = st.session_state.get("embedding_lasso", [])
    if choice == "Verdict":  # verdicts need the region's diagnosis with integrated gradients
        with shown_errors("Cannot diagnose this region"):
            coords = coords.merge(cache.diagnosis(model, ds)[["id", "verdict"]], on="id")
    fig = embedding_figure(coords[["x", "y"]].to_numpy(), coords["id"], coords[COLOR_BY[choice]],
                           "verdict" if choice == "Verdict" else "class",
                           selected_id=ctx.selected_id, highlighted=lassoed,
                           title=f"{model.label}: embedding of {len(coords)} parcels")
    event = show_figure(fig, "embedding", key="embedding_chart", on_select="rerun",
                        selection_mode=("points", "lasso", "box"))
    points = [int(p["customdata"]) for p in (event.selection.points if event is not None else [])
              if p.get("customdata") is not None]
    if len(points) == 1 and points[0] != ctx.selected_id:
        select_parcel(points[0])
        st.rerun()
    if len(points) > 1:
        st.session_state["embedding_lasso"] = points
        with shown_errors("Cannot diagnose this region"):
            frame = cache.diagnosis(model, ds)
        group = frame[frame["id"].isin(points)][["id", "true_class", "pred_class", "verdict", "reason"]]
        st.subheader(f"{len(group)} lassoed parcels")
        records = cache.map_layer_records(ctx, "true")
        chosen = records[records["id"].isin(points)]
        if len(chosen):  # offline: no map style is fetched
            st.pydeck_chart(parcel_deck(chosen, height=320), key="embedding_map")
        show_diagnosis_table(group, "embedding-selection", key="embedding_table")
