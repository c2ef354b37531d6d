"""cropviz app: routes over the pages and draws the shared sidebar once."""

import streamlit as st

from app_support.memory import freeze_after_new_imports
from app_support.state import route_through_app, sidebar

# An emoji icon is drawn by the browser as an inline SVG; a ":material/...:" icon would be fetched
# from fonts.gstatic.com on every rerun (no such request may leave the app, e.g. offline).
st.set_page_config(page_title="cropviz", page_icon="🌾", layout="wide")
route_through_app()

PAGES = {
    "Explore": [
        st.Page("pages/map.py", title="Parcel map", icon=":material/map:", default=True, url_path="map"),
        st.Page("pages/inspector.py", title="Parcel inspector", icon=":material/search:", url_path="inspector"),
        st.Page("pages/explorer.py", title="Misclassifications", icon=":material/rule:", url_path="explorer"),
        st.Page("pages/phenology.py", title="Phenology", icon=":material/eco:", url_path="phenology"),
    ],
    "Explain": [
        st.Page("pages/attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
        st.Page("pages/attributions.py", title="Attributions", icon=":material/explore:", url_path="attributions"),
        st.Page("pages/early.py", title="Early classification", icon=":material/timer:", url_path="early"),
    ],
    "Diagnose": [
        st.Page("pages/diagnosis.py", title="Diagnosis", icon=":material/troubleshoot:", url_path="diagnosis"),
        st.Page("pages/dossier.py", title="Parcel dossier", icon=":material/assignment:", url_path="dossier"),
        st.Page("pages/embedding.py", title="Embedding view", icon=":material/scatter_plot:", url_path="embedding"),
    ],
    "Ablations": [
        st.Page("pages/order.py", title="Ordered vs shuffled", icon=":material/shuffle:", url_path="order"),
        st.Page("pages/space_time.py", title="Spatial vs temporal", icon=":material/grid_view:", url_path="space_time"),
    ],
}

navigation = st.navigation(PAGES)
sidebar()
navigation.run()
freeze_after_new_imports()
