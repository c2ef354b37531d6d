"""Parcel dossier: everything about the selected parcel in one scroll, from its verdict to the evidence."""

import numpy as np
import pandas as pd
import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import AppContext, banner, context, require, select_parcel
from app_support.widgets import show_diagnosis_table, show_figure, show_table
from cropviz.viz.diagnosis import VERDICT_COLORS, verdict_label
from cropviz.viz.explain import decisive_table

EVIDENCE = [("label_quality", "label quality (0 = label surely wrong)"),
            ("self_confidence", "cleanlab self-confidence"),
            ("knn_agreement", "neighbours sharing its label"), ("margin", "margin top-1 − top-2 (calibrated)"),
            ("second_class", "second choice"), ("pair_confusion", "region's confusion of that pair"),
            ("cloud_attribution_share", "share of |IG| on cloud-flagged inputs"),
            ("flips_without_clouds", "prediction changes without clouds"),
            ("pred_without_clouds", "prediction without clouds"),
            ("atypicality", "distance to class centroid (percentile)"), ("clear_observations", "clear observations"),
            ("length_percentile", "sequence length (percentile)"), ("entropy", "predictive entropy (nats)")]


def raw_confidence_note(ctx: AppContext, parcel_id: int) -> str:
    """Say that the dossier's probability is calibrated, and give the model's own one (the map's)."""
    if not ctx.classifier.is_calibrated:
        return ""
    raw = ctx.predictions.loc[ctx.predictions["id"] == parcel_id, "confidence"]
    return " calibrated" + (f"; the model's own {raw.iloc[0]:.2f}, as on the map" if len(raw) else "")


ctx = context()
st.title("Parcel dossier")
banner(ctx)
if require(ctx):
    model, ds = ctx.classifier, ctx.dataset
    with shown_errors("Cannot diagnose this region"):
        ids = cache.diagnosis_overview(model, ds)["id"].tolist()
    if ctx.selected_id not in set(ids):
        select_parcel(ids[0])
    st.session_state["dossier_parcel"] = st.session_state["parcel"]
    st.selectbox("Parcel", ids, key="dossier_parcel",
                 on_change=lambda: select_parcel(st.session_state["dossier_parcel"]))
    parcel_id = int(st.session_state["parcel"])
    with shown_errors(f"Cannot diagnose parcel {parcel_id}"):
        row = cache.parcel_diagnosis(model, ds, [parcel_id]).iloc[0]
    color = VERDICT_COLORS.get(row["verdict"], "#000000")
    st.markdown(f"### Verdict: :{'blue' if row['verdict'] == 'correct' else 'red'}[{verdict_label(row['verdict'])}]")
    st.markdown(f"<span style='color:{color}'>■</span> {row['reason']}", unsafe_allow_html=True)
    st.markdown(f"**Parcel {parcel_id}** · labelled **{row['true_class']}** · predicted **{row['pred_class']}** "
                f"(p={row['confidence']:.2f}{raw_confidence_note(ctx, parcel_id)})")

    where, probs = st.columns(2)
    with where:
        st.subheader("Where it is")
        with shown_errors("No map", stop=False, show=st.caption):
            points = cache.parcel_points(ds)
            here = points[points["id"] == parcel_id]
            if len(here):
                # a picture drawn on the server (no WebGL): the parcel outlined among its neighbours
                lon, lat = float(here["lon"].iloc[0]), float(here["lat"].iloc[0])
                locator, imagery = cache.parcel_locator(ctx, parcel_id, (lon, lat))
                st.image(locator, width="stretch")
                imagery = f"; imagery: {imagery}" if imagery else ""
                st.caption(f"{lat:.5f} N, {lon:.5f} E; 800 m across, north up; parcels coloured by their label "
                           f"(legend on the map page){imagery}. Open the map page to pan and click.")
            else:
                st.caption("This parcel has no polygon in the dataset's geometry file.")
    with probs:
        st.subheader("Probabilities")
        values = [float(row[f"prob_{c}"]) for c in model.classes]
        label = (f"calibrated (temperature {model.temperature:.2f}, fitted on {model.calibration_source})"
                 if model.is_calibrated else "uncalibrated")
        # a table with bars, not a chart: the page's one Plotly figure fewer (the inspector draws it)
        roles = {row["pred_class"]: "predicted", row["true_class"]: "labelled"}
        if row["pred_class"] == row["true_class"]:
            roles[row["true_class"]] = "labelled and predicted"
        show_table(pd.DataFrame({"class": model.classes, "probability": values,
                                 "role": [roles.get(c, "") for c in model.classes]}),
                   f"parcel-{parcel_id}-probabilities", key="dossier_probs", hide_index=True,
                   column_config={"probability": st.column_config.ProgressColumn(
                       "probability", format="%.2f", min_value=0.0, max_value=1.0, width="small"),
                                  "role": st.column_config.TextColumn("role", width="medium")})
        st.caption(f"Probabilities are {label}.")
        if model.has_dropout:
            mean, entropy = cache.mc_dropout(model, ds, parcel_id)
            st.caption(f"MC dropout (30 passes): predictive entropy {entropy:.2f} nats, most likely "
                       f"{model.classes[int(np.argmax(mean))]} ({mean.max():.2f}).")

    st.subheader("Trajectory, class envelopes, clouds and the decisive observations")
    with shown_errors(f"Cannot read parcel {parcel_id}"):
        fig, decisive = cache.dossier_trajectory(model, ds, parcel_id, row["true_class"], row["pred_class"])
    show_figure(fig, f"parcel-{parcel_id}-dossier", key="dossier_trajectory")
    if decisive is not None:
        st.caption(f"The {len(decisive)} inputs with the largest |integrated gradients| of the predicted class "
                   f"({row['pred_class']}; {cache.DEFAULT_IG_STEPS} steps from a zero baseline, the Attributions "
                   "page's defaults, so it shows the same values); ☁ = cloud-flagged.")
        show_table(decisive_table(decisive), f"parcel-{parcel_id}-decisive", key="dossier_decisive",
                   hide_index=True)
    change = "changes" if row["flips_without_clouds"] else "does not change"
    st.markdown(f"**Without clouds:** with its {row['cloudy_inputs']} cloud-flagged inputs interpolated from the "
                f"clear ones, the prediction {change}: **{row['pred_without_clouds']}** "
                f"(p={row['confidence_without_clouds']:.2f}).")

    st.subheader("Nearest neighbours in the model's embedding")
    neighbours, curves_figure = cache.neighbour_view(model, ds, parcel_id)
    show_diagnosis_table(neighbours, f"parcel-{parcel_id}-neighbours", key="dossier_neighbours")
    show_figure(curves_figure, f"parcel-{parcel_id}-neighbour-curves", key="dossier_neighbour_curves")

    st.subheader("Evidence")
    st.table(pd.DataFrame({"evidence": [text for _, text in EVIDENCE],
                           "value": [f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                                     for c, _ in EVIDENCE]}))
