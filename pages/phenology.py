"""Phenology for teaching: class-mean curves with the crop calendar, and the season on the map."""

import streamlit as st

from app_support import cache
from app_support.state import banner, context, query, require, set_query
from app_support.widgets import show_figure
from cropviz.viz.phenology import phenology_figure, season_frames

ctx = context()
st.title("Crop phenology")
banner(ctx)
if require(ctx, predictions=False):
    ds = ctx.dataset
    names = ds.series_names
    default_name = query("index", "NDVI")
    name = st.selectbox("Band or index", names, index=names.index(default_name) if default_name in names else 0,
                        key="phenology_index")
    present = [c for c in ds.classes if (ds.index["classname"] == c).any()]
    default_classes = [c for c in query("classes", "wheat,barley,corn,rapeseed").split(",") if c in present]
    chosen = st.multiselect("Classes", present, default=default_classes or present[:3], key="phenology_classes")
    set_query(index=name, classes=",".join(chosen))
    st.caption("Mean ± standard deviation over up to 150 parcels per class, cloud-flagged observations "
               "left out; the bars below give the Brittany crop calendar (sowing, flowering, harvest...).")
    if chosen:
        curves = {c: env for c in chosen for env in [cache.envelopes(ds, name, [c]).get(c)] if env is not None}
        envelopes = {c: (env.index, env["mean"].to_numpy(), env["std"].to_numpy()) for c, env in curves.items()}
        show_figure(phenology_figure(envelopes, classes=[c for c in chosen if c in envelopes], index_name=name,
                                     year=int(ds.year)), f"phenology-{name}", key="phenology_curves")
    st.header("The season on the map")
    if st.toggle("Animate the region date by date", key="phenology_animate"):
        ids, grid, values, xy = cache.season(ds, name)
        low, high = (0.0, 1.0) if name == "NDVI" else (float(values.min()), float(values.max()))
        classnames = ds.index.set_index("id").loc[list(ids), "classname"].astype(str).tolist()
        show_figure(season_frames(xy, grid, values, ids=ids, index_name=name, vmin=low, vmax=high,
                                  classnames=classnames),
                    f"season-{name}", key="phenology_season")
