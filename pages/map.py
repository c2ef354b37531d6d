"""Parcel map: every parcel of the region over its own imagery; a click selects a parcel and opens it."""

import streamlit as st

from app_support import cache
from app_support.state import banner, context, require, select_parcel
from cropviz.viz.maps import (
    TOOLTIP_CSS,
    basemap_layer,
    clickable_view,
    legend_items,
    outline_layer,
    parcel_deck,
    picked_parcel,
)

COLOR_LABELS = {"true": "True class", "pred": "Predicted class", "correct": "Correct or wrong",
                "confidence": "Confidence", "uncertainty": "Uncertainty (calibrated entropy)"}
IMAGERY = {"rgb": "True colour", "ndvi": "NDVI", "none": "No imagery"}
MAP_HEIGHT = 540

ctx = context()
st.title("Parcel map")
banner(ctx)
if require(ctx, predictions=False):
    st.markdown(TOOLTIP_CSS, unsafe_allow_html=True)
    table = ctx.table
    classes = list(ctx.dataset.classes)
    basemap = cache.basemap_of(ctx.dataset)
    modes = list(COLOR_LABELS) if ctx.predictions is not None else ["true"]
    left, right = st.columns([3, 1])
    card, legend_box, controls = right.container(), right.container(), right.container()
    below = st.container()
    with controls:
        color_by = st.radio("Colour parcels by", modes, format_func=COLOR_LABELS.get, key="map_color")
        imagery, date = "none", None
        if basemap is not None:
            imagery = st.radio("Imagery under the parcels", list(IMAGERY), format_func=IMAGERY.get,
                               horizontal=True, key="map_imagery")
            date = st.select_slider("Imagery date", list(basemap.dates), value=basemap.dates[len(basemap.dates) // 2],
                                    key="map_date", disabled=imagery == "none")
            opacity = st.slider("Parcel opacity", 0.0, 1.0, 0.75, step=0.05, key="map_opacity",
                                disabled=imagery == "none", help="Lower it to see the imagery inside the parcels.")
        else:
            opacity = 1.0
            st.caption("No imagery for this region yet.")
            if len(ctx.dataset) <= cache.BASEMAP_MAX_PARCELS and st.button(
                    "Draw imagery from the parcels' observations", help="Paints every parcel with its clear "
                    "observation nearest to the 15th of each month (a few seconds per thousand parcels)."):
                with st.spinner("Drawing the region's imagery..."):
                    cache.draw_basemap(ctx.dataset)
                st.rerun()
        whole = st.toggle("Whole region", key="map_whole", help="Fit every parcel in the view (parcels may "
                          "then be too small to click; a large region is drawn as one picture: zoom in to click).")
    with below, st.expander("Filters"):
        cols = st.columns(4)
        true_filter = cols[0].multiselect("True class", classes, key="map_true")
        pred_filter, pair, only_wrong, conf = [], None, False, None
        if ctx.predictions is not None:
            pred_filter = cols[1].multiselect("Predicted class", classes, key="map_pred")
            pair_text = cols[2].selectbox("Confusion pair (true -> predicted)",
                                          ["(any)"] + [f"{a} -> {b}" for a in classes for b in classes if a != b],
                                          key="map_pair")
            pair = None if pair_text == "(any)" else tuple(pair_text.split(" -> "))
            only_wrong = cols[3].toggle("Only misclassified", key="map_wrong")
            conf = cols[3].slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="map_conf")
    shown = cache.filter_parcels(table, true=true_filter, predicted=pred_filter, pair=pair,
                           only_wrong=only_wrong, confidence=conf)
    records = None
    with left:
        try:
            all_records = cache.map_layer_records(ctx, color_by)
            records = all_records[all_records["id"].isin(shown["id"])]
        except Exception as error:  # geometry problems must not take the app down
            if ctx.dataset.geometry_path is None:  # imported without polygons or points: a fact, not an error
                st.info("This region has no parcel geometry (import it with --geometry, or --lon-col and "
                        "--lat-col); the map needs one, the other pages do not.")
            else:
                st.error(f"Cannot draw the map: {error}")
        if records is not None and len(records):
            # centred on the selected parcel, except when it was picked on the map (the view stays put)
            if ctx.selected_id != st.session_state.get("map_clicked"):
                st.session_state["map_anchor"] = ctx.selected_id
            anchor = st.session_state.get("map_anchor")
            view_key = (str(ctx.dataset.root), ctx.dataset.region, whole, anchor)
            if st.session_state.get("map_view", (None,))[0] != view_key:
                view = (clickable_view(all_records, None, height_px=MAP_HEIGHT, min_px=0.0) if whole
                        else clickable_view(all_records, anchor, height_px=MAP_HEIGHT))
                st.session_state["map_view"] = (view_key, view)
            if basemap is not None and imagery != "none":
                under = basemap_layer(cache.basemap_image(basemap, imagery, date), basemap.bounds)
            else:
                under = outline_layer(cache.region_outline(ctx.dataset))
            tiles = cache.map_tiles(ctx, color_by, records)
            if tiles is None:
                records = cache.with_edges(records)
            overview = cache.map_overview(ctx, tiles, records) if whole and tiles is not None else None
            deck = parcel_deck(records, selected_id=ctx.selected_id, view=st.session_state["map_view"][1],
                               under=[under], tiles=tiles, overview=overview,
                               height=MAP_HEIGHT, opacity=opacity if imagery != "none" else 1.0)
            event = st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object",
                                    key="parcel_map", height=MAP_HEIGHT)
            picked = ((event or {}).get("selection", {}).get("objects", {}) or {}).get("parcels", [])
            clicked = picked_parcel(picked[0]) if picked else None
            if clicked is not None and clicked != ctx.selected_id:
                st.session_state["map_clicked"] = clicked
                select_parcel(clicked)
                st.rerun()
            st.caption(f"{shown['id'].nunique():,} of {len(table):,} parcels shown, every one drawn. "
                       "Click a parcel to select it; the box at the top left describes the parcel under "
                       "the pointer."
                       + (" The whole region is one picture of every parcel: zoom in (scroll) to point at "
                          "and click them." if overview is not None else "")
                       + (f" Imagery: {basemap.source}, {date}." if basemap is not None and imagery != "none"
                          else " Grey: where the region's parcels are."))
        elif records is not None:
            st.info("No parcel matches these filters.")
    with card:
        selected = table[table["id"] == ctx.selected_id] if ctx.selected_id is not None else table[:0]
        if len(selected):
            row = selected.iloc[0]
            st.markdown(f"**Selected parcel {ctx.selected_id}**  \n{row['classname']}"
                        + (f", predicted **{row['predicted']}** ({row['confidence']:.2f})"
                           if "predicted" in selected and isinstance(row["predicted"], str) else ""))
            links = {"pages/dossier.py": ("Open its dossier", ":material/assignment:"),
                     "pages/inspector.py": ("Open in the inspector", ":material/search:"),
                     "pages/attributions.py": ("Open its attributions", ":material/explore:")}
            params = {**st.query_params.to_dict(), "parcel": str(ctx.selected_id)}
            for page, (label, icon) in links.items():
                if (cache.REPO / page).exists():
                    st.page_link(page, label=label, icon=icon, query_params=params)
    with legend_box:
        legend = "".join(f"<span style='white-space:nowrap;margin-right:0.8em'><span style='color:{color};"
                         f"font-size:1.2em'>■</span> {label}</span> "
                         for label, color in legend_items(color_by, classes))
        st.markdown(f"**Legend**<br/>{legend}", unsafe_allow_html=True)
    with below:
        columns = [c for c in ("id", "classname", "predicted", "confidence", "correct", "cloud_share") if c in shown]
        st.markdown("**Parcels shown** (click a row to select the parcel and centre the map on it)")
        picked_rows = st.dataframe(shown[columns].head(cache.MAP_TABLE_ROWS), hide_index=True, height=260,
                                   on_select="rerun", selection_mode="single-row", key="map_table",
                                   column_config={"classname": "true class",
                                                  "cloud_share": st.column_config.NumberColumn("cloudy share",
                                                                                               format="%.2f"),
                                                  "confidence": st.column_config.NumberColumn(format="%.2f")})
        st.download_button("Parcels shown (CSV)", shown.to_csv(index=False).encode(),
                           file_name=f"parcels-{ctx.dataset.region}.csv", mime="text/csv")
        rows = picked_rows.selection.get("rows", []) if picked_rows else []
        if rows:
            chosen = int(shown.iloc[rows[0]]["id"])
            if chosen != st.session_state.get("map_centre"):
                st.session_state["map_centre"] = chosen
                st.session_state.pop("map_clicked", None)
                select_parcel(chosen)
                st.rerun()
