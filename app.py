"""cropviz app: routes over the pages and draws the shared sidebar once."""

import streamlit as st

from app_support.state import sidebar

st.set_page_config(page_title="cropviz", page_icon="🌾", layout="wide")

PAGES = {
    "Explore": [
        st.Page("pages/map.py", title="Parcel map", icon="🗺️", default=True, url_path="map"),
        st.Page("pages/inspector.py", title="Parcel inspector", icon="🔎", url_path="inspector"),
        st.Page("pages/explorer.py", title="Misclassifications", icon="⚖️", url_path="explorer"),
        st.Page("pages/phenology.py", title="Phenology", icon="🌱", url_path="phenology"),
    ],
    "Explain": [
        st.Page("pages/attention.py", title="Attention", icon="👁️", url_path="attention"),
        st.Page("pages/attributions.py", title="Attributions", icon="🧭", url_path="attributions"),
        st.Page("pages/early.py", title="Early classification", icon="⏱️", url_path="early"),
    ],
    "Ablations": [
        st.Page("pages/order.py", title="Ordered vs shuffled", icon="🔀", url_path="order"),
        st.Page("pages/space_time.py", title="Spatial vs temporal", icon="🧩", url_path="space-time"),
    ],
}

navigation = st.navigation(PAGES)
sidebar()
navigation.run()
