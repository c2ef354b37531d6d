"""Parcel inspector: band and index trajectories, class envelopes, probabilities, image chips."""

import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, query, require, set_query
from app_support.widgets import parcel_picker, show_figure

ctx = context()
st.title("Parcel inspector")
banner(ctx)
if require(ctx, predictions=False):
    ds, table = ctx.dataset, ctx.table
    parcel_picker(ctx, "inspector_parcel")
    with shown_errors(f"Cannot read parcel {ctx.selected_id}"):
        parcel = cache.parcel(ds, ctx.selected_id)
    row = table[table["id"].to_numpy() == parcel.id].iloc[0]
    names = ds.series_names
    default = [n for n in query("series", "NDVI").split(",") if n in names] or ["NDVI"]
    chosen = st.multiselect("Bands and indices", names, default=default, key="inspector_series")
    set_query(series=",".join(chosen))
    view = st.radio("Observations", ["clear (clouds marked)", "clear only"], horizontal=True, key="inspector_view",
                    help="The line joins the clear observations; cloud-flagged ones are grey x marks (or hidden).")
    predicted = row.get("predicted") if ctx.predictions is not None else None
    info = f"**Parcel {parcel.id}** · code {parcel.code} · true class **{parcel.classname}**"
    if predicted is not None:
        verdict = "correct" if predicted == parcel.classname else "WRONG"
        info += f" · predicted **{predicted}** ({row['confidence']:.2f}, {verdict})"
    info += f" · {len(parcel.dates)} observations, {parcel.cloudy.mean():.0%} cloud-flagged"
    st.markdown(info)
    if chosen:
        if len(chosen) > 1:
            st.caption("Pick a single band or index to see the class envelopes behind it.")
        fig = cache.parcel_trajectory(ds, parcel.id, chosen, hide_cloudy=view == "clear only", predicted=predicted)
        show_figure(fig, f"parcel-{parcel.id}-trajectory", key="inspector_trajectory")
    if ctx.predictions is not None:
        show_figure(cache.probability_figure(ctx, parcel.id, true_class=parcel.classname),
                    f"parcel-{parcel.id}-probabilities", key="inspector_probs")
    chips = cache.chips(ds, parcel.id)
    if chips is not None:
        st.subheader("Image chips (true colour, read with rasterio)")
        show_figure(chips, f"parcel-{parcel.id}-chips", key="inspector_chips")
    elif ds.patches() is not None:
        st.caption("This parcel has no image patch (the demo stores patches for a subset of parcels).")
