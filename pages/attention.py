"""Attention: per-layer, per-head maps with real dates, rollout over the trajectory, cloud use."""

import streamlit as st

from app_support import cache
from app_support.state import banner, context, require
from app_support.widgets import parcel_picker, show_figure, show_table, view_picker
from cropviz.viz.explain import month_name

#: The analyses below the rollout, one drawn at a time (URL name -> label).
VIEWS = {"maps": "Maps per layer and head", "clouds": "Attention on clouds across the region"}

ctx = context()
st.title("Self-attention")
banner(ctx)
if require(ctx):
    model = ctx.classifier
    if not model.has_attention:
        st.info(f"{model.name} has no self-attention. Pick the transformer (or a transformer checkpoint) "
                "in the sidebar; the Attributions page explains every neural model.")
        st.stop()
    parcel_picker(ctx, "attention_parcel")
    workspace = cache.workspace(model, ctx.dataset)
    parcel = workspace.parcel_input(ctx.selected_id)
    dates, cloudy = parcel.dates, parcel.cloudy
    result = workspace.attention(ctx.selected_id)
    row = ctx.table[ctx.table["id"].to_numpy() == ctx.selected_id].iloc[0]
    st.markdown(f"**Parcel {ctx.selected_id}**, {row['classname']}, predicted **{row['predicted']}** "
                f"({row['confidence']:.2f}). The model sees {len(dates)} observations sampled from the "
                f"season (dates on the axes); {int(cloudy.sum())} of them are cloud-flagged.")
    if model.info.shuffle_time:
        st.warning("This model was trained on time-shuffled sequences: the observations are in permuted order.")
    rollout = cache.attention_rollout(model, ctx.dataset, ctx.selected_id)
    show_figure(rollout, f"parcel-{ctx.selected_id}-rollout", key="attention_rollout")
    st.caption(f"Rollout weights sum to 1; uniform attention would give {1 / len(dates):.3f} per observation. "
               f"Cloud-flagged observations receive {result.rollout[cloudy].mean() * len(dates):.2f}x "
               f"and clear ones {result.rollout[~cloudy].mean() * len(dates):.2f}x the uniform share."
               if cloudy.any() and (~cloudy).any() else "")
    view = view_picker(VIEWS, "attention_view")
    if view == "maps":
        # one layer at a time, as BertViz's head view: drawing every layer cost a new parcel about 1 s more
        layers = len(result.matrices)
        layer = st.segmented_control("Layer", [*range(1, layers + 1), "all"], default=layers, required=True,
                                     key="attention_layer",
                                     format_func=lambda v: "all layers" if v == "all" else f"layer {v}")
        grid = cache.attention_maps(model, ctx.dataset, ctx.selected_id, None if layer == "all" else int(layer))
        show_figure(grid, f"parcel-{ctx.selected_id}-attention-{layer}", key="attention_grid")
        st.stop()
    st.header("Does the model ignore clouds? (region)")
    results = cache.precomputed(model, ctx.dataset)
    if results is not None and "attention_rollout" in results.columns:
        figure, per_class, by_month = cache.cloud_attention_view(model, ctx.dataset)
        st.caption(f"All {len(results):,} parcels, read from the results precomputed on Dask in "
                   f"`{results.path}`. Attention received per observation, as a multiple of the uniform "
                   "share (1.0 = average).")
    else:
        total = len(ctx.dataset)
        options = [n for n in (200, 500, 1000, 2000, 5000) if n < total] + [total]
        limit = st.select_slider("Parcels", options, value=min(1000, total), key="attention_parcels",
                                 format_func=lambda n: f"all {n:,}" if n == total else f"{n:,}")
        figure, per_class, by_month = cache.cloud_attention_view(model, ctx.dataset, max_parcels=limit)
        st.caption(f"The region's first {min(limit, len(ctx.dataset)):,} parcels, computed now (`cropviz "
                   "precompute --explain attention` covers every parcel once, for this page to read). "
                   "Attention received per observation, as a multiple of the uniform share (1.0 = average).")
    show_figure(figure, "attention-clouds", key="attention_clouds")
    show_table(per_class.round(3).rename_axis("class"), "attention-clouds-per-class",
               key="attention_cloud_table", decimals=3)
    by_month = by_month.round(3)
    by_month.index = [month_name(m) for m in by_month.index]
    show_table(by_month.rename_axis("month"), "attention-by-month", key="attention_month_table", decimals=3)
