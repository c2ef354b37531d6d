"""Parcel inspector: band and index trajectories, class envelopes, probabilities, image chips."""

import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, query, require, set_query
from app_support.widgets import parcel_picker, show_figure
from cropviz.viz.chips import chip_strip
from cropviz.viz.colors import class_hex
from cropviz.viz.trajectories import probability_bar, trajectory_figure

ctx = context()
st.title("Parcel inspector")
banner(ctx)
if require(ctx, predictions=False):
    ds, table = ctx.dataset, ctx.table
    parcel_picker(ctx, "inspector_parcel")
    with shown_errors(f"Cannot read parcel {ctx.selected_id}"):
        parcel = ds.parcel(ctx.selected_id)
    row = table[table["id"] == parcel.id].iloc[0]
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
        series = parcel.series(chosen)
        envelopes, envelope_colors = {}, {}
        if len(chosen) == 1:
            classes = [parcel.classname] + ([predicted] if predicted and predicted != parcel.classname else [])
            # one cached entry per class, so stepping through parcels reuses every class seen before
            found = {c: env for c in classes for env in [cache.envelopes(ds, chosen[0], [c]).get(c)] if env is not None}
            envelopes = {f"{c} ({'true' if c == parcel.classname else 'predicted'}) mean ± std":
                         (env.index, env["mean"].to_numpy(), env["std"].to_numpy())
                         for c, env in found.items()}
            envelope_colors = {label: class_hex(label.split(" (")[0]) for label in envelopes}
        else:
            st.caption("Pick a single band or index to see the class envelopes behind it.")
        fig = trajectory_figure(parcel.dates, series, cloudy=parcel.cloudy, envelopes=envelopes,
                                envelope_colors=envelope_colors,
                                hide_cloudy=view == "clear only", title=f"Parcel {parcel.id}",
                                yaxis_title=chosen[0] if len(chosen) == 1 else "value")
        show_figure(fig, f"parcel-{parcel.id}-trajectory", key="inspector_trajectory")
    if ctx.predictions is not None:
        probs = ctx.predictions.set_index("id").loc[parcel.id]
        values = [float(probs[f"prob_{c}"]) for c in ctx.classifier.classes]
        show_figure(probability_bar(ctx.classifier.classes, values, true=parcel.classname,
                                    title=f"{ctx.classifier.name}: class probabilities"),
                    f"parcel-{parcel.id}-probabilities", key="inspector_probs")
    patches = ds.patches()
    if patches is not None and parcel.id in set(patches.ids):
        st.subheader("Image chips (true colour, read with rasterio)")
        show_figure(chip_strip(patches.read(parcel.id), patches.dates), f"parcel-{parcel.id}-chips",
                    key="inspector_chips")
    elif patches is not None:
        st.caption("This parcel has no image patch (the demo stores patches for a subset of parcels).")
