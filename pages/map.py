"""Parcel map: every parcel of the region, coloured and filtered; clicking one selects it."""

import streamlit as st

from app_support import cache
from app_support.state import banner, context, query, require, select_parcel, set_query
from cropviz.explore import filter_parcels
from cropviz.viz.maps import fit_view, legend_items, parcel_deck, record_bounds

COLOR_LABELS = {"true": "True class", "pred": "Predicted class", "correct": "Correct or wrong",
                "confidence": "Confidence"}

ctx = context()
st.title("Parcel map")
banner(ctx)
if require(ctx, predictions=False):
    table = ctx.table
    classes = list(ctx.dataset.classes)
    modes = list(COLOR_LABELS) if ctx.predictions is not None else ["true"]
    left, right = st.columns([3, 1])
    with right:
        color_by = st.radio("Colour by", modes, format_func=COLOR_LABELS.get,
                            index=modes.index(query("color", "true")) if query("color", "true") in modes else 0,
                            key="map_color")
        true_filter = st.multiselect("True class", classes, key="map_true")
        pred_filter, pair, only_wrong, conf = [], None, False, None
        if ctx.predictions is not None:
            pred_filter = st.multiselect("Predicted class", classes, key="map_pred")
            pair_text = st.selectbox("Confusion pair (true -> predicted)",
                                     ["(any)"] + [f"{a} -> {b}" for a in classes for b in classes if a != b],
                                     key="map_pair")
            pair = None if pair_text == "(any)" else tuple(pair_text.split(" -> "))
            only_wrong = st.toggle("Only misclassified", key="map_wrong")
            conf = st.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="map_conf")
        zoom = st.toggle("Zoom to the selected parcel", key="map_zoom")
        set_query(color=color_by)
    shown = filter_parcels(table, true=true_filter, predicted=pred_filter, pair=pair,
                           only_wrong=only_wrong, confidence=conf)
    with left:
        try:
            records = cache.map_records(ctx, color_by)
        except Exception as error:  # geometry problems must not take the app down
            st.error(f"Cannot draw the map: {error}")
            records = None
        if records is not None:
            records = records[records["id"].isin(shown["id"])]
            caption = f"{shown['id'].nunique()} of {len(table)} parcels shown"
            if len(records) > cache.MAX_DRAWN:
                keep = records["id"] == ctx.selected_id
                records = records[keep | records.index.isin(records[~keep].sample(
                    cache.MAX_DRAWN, random_state=0).index)]
                caption += f"; drawing a sample of {cache.MAX_DRAWN:,} (filter to narrow down)"
            st.caption(caption)
            if len(records):
                focus = query("focus")  # a shared link can centre the view on a parcel
                focused = records[records["id"] == int(focus)] if focus and focus.isdigit() else records[:0]
                if len(focused):
                    view = fit_view(*record_bounds(focused))
                else:
                    view = None if zoom else cache.region_view(ctx)
                deck = parcel_deck(records, selected_id=ctx.selected_id, view=view,
                                   points=len(records) > cache.POINTS_ABOVE)
                event = st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object",
                                        key="parcel_map", height=560)
                picked = (event.selection.get("objects", {}) or {}).get("parcels", []) if event else []
                if picked and int(picked[0]["id"]) != ctx.selected_id:
                    select_parcel(int(picked[0]["id"]))
                    st.rerun()
            else:
                st.info("No parcel matches these filters.")
    with right:
        st.markdown("**Legend**")
        for label, color in legend_items(color_by, classes):
            st.markdown(f"<span style='color:{color}'>■</span> {label}", unsafe_allow_html=True)
        if ctx.selected_id is not None:
            row = table[table["id"] == ctx.selected_id]
            if len(row):
                st.markdown(f"**Selected parcel {ctx.selected_id}**: {row['classname'].iloc[0]}"
                            + (f", predicted {row['predicted'].iloc[0]} ({row['confidence'].iloc[0]:.2f})"
                               if "predicted" in row else ""))
        st.download_button("Parcels shown (CSV)", shown.to_csv(index=False).encode(),
                           file_name=f"parcels-{ctx.dataset.region}.csv", mime="text/csv")
