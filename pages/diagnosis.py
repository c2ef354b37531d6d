"""Diagnosis: why is each misclassified parcel wrong? Verdicts, confusion pairs, triage, label errors."""

import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, require, select_parcel
from app_support.widgets import show_diagnosis_table, show_figure, view_picker
from cropviz.viz.diagnosis import (
    VERDICT_ORDER,
    confusion_pairs,
    confusion_pairs_figure,
    reliability_figure,
    verdict_counts_figure,
    verdict_label,
)
from cropviz.viz.export import table_to_csv

TRIAGE_COLUMNS = ["id", "true_class", "pred_class", "verdict", "reason", "confidence", "margin", "second_class",
                  "label_quality", "knn_agreement", "cloud_attribution_share", "flips_without_clouds",
                  "pred_without_clouds", "atypicality", "clear_observations"]
#: Below the verdict overview, one drawn at a time (URL name -> label).
VIEWS = {"triage": "Triage", "calibration": "Calibration of the probabilities"}

ctx = context()
st.title("Why is this parcel wrong?")
banner(ctx)
if require(ctx):
    with shown_errors("Cannot diagnose this region"):
        frame = cache.diagnosis(ctx.classifier, ctx.dataset)
    model = ctx.classifier
    wrong = frame[frame["verdict"] != "correct"]
    temperature = model.temperature
    limits = frame.attrs["thresholds"]
    calibration = (f"calibrated probabilities (temperature {temperature:.2f} fitted on "
                   f"{model.calibration_source})" if model.is_calibrated
                   else "uncalibrated probabilities (the model card holds no temperature)")
    source = ("k-fold cross-validated probabilities (this is a training region of the model)"
              if frame.attrs.get("in_training_regions") else "the model's out-of-sample probabilities")
    st.caption(f"{len(wrong)} of {len(frame)} parcels misclassified. Margins and confidences are {calibration}; "
               f"label quality combines cleanlab's confident learning on {source} with the agreement of the "
               f"10 nearest neighbours in the model's embedding. Thresholds (label quality "
               f"< {limits['label_quality']}, cloud share ≥ {limits['cloud_share']}, margin < {limits['margin']}, "
               f"atypicality > {limits['atypicality']}, fewer than {limits['min_clear']} clear observations) were "
               f"chosen on the validation region, never on this one.")
    left, right = st.columns(2)
    with left:
        show_figure(verdict_counts_figure(frame, title="Misclassified parcels per verdict"), "verdicts",
                    key="diagnosis_verdicts")
    with right:
        show_figure(confusion_pairs_figure(confusion_pairs(frame), title="Most confused pairs, by verdict"),
                    "confusion-pairs", key="diagnosis_pairs")

    if view_picker(VIEWS, "diagnosis_view") == "triage":
        filters = st.columns([2, 2, 2, 1])
        wrong_verdicts = [v for v in VERDICT_ORDER if v != "correct"]
        verdicts = filters[0].multiselect("Verdicts", wrong_verdicts, default=wrong_verdicts, format_func=verdict_label,
                                          key="diagnosis_verdict_filter")
        true_classes = filters[1].multiselect("True class", sorted(wrong["true_class"].unique()), key="diagnosis_true")
        pred_classes = filters[2].multiselect("Predicted class", sorted(wrong["pred_class"].unique()),
                                              key="diagnosis_pred")
        cloudy_only = filters[3].checkbox("Clouds change it", key="diagnosis_flips")
        shown = frame[frame["verdict"].isin(verdicts)]
        if true_classes:
            shown = shown[shown["true_class"].isin(true_classes)]
        if pred_classes:
            shown = shown[shown["pred_class"].isin(pred_classes)]
        if cloudy_only:
            shown = shown[shown["flips_without_clouds"]]
        shown = shown.sort_values("label_quality")[TRIAGE_COLUMNS].reset_index(drop=True)
        st.caption(f"{len(shown)} parcels; lowest label quality first (click a column to sort, a row to select "
                   "the parcel for the dossier and every other page).")
        event = show_diagnosis_table(shown, "triage", key="diagnosis_table", on_select="rerun",
                                     selection_mode="single-row")
        rows = event.selection.rows if event is not None else []
        if rows:
            chosen = int(shown.iloc[rows[0]]["id"])
            if chosen != ctx.selected_id:
                select_parcel(chosen)
            if st.button(f"Open the dossier of parcel {chosen}", key="diagnosis_open"):
                st.switch_page("pages/dossier.py")

        suspects = cache.label_error_suspects(model, ctx.dataset)
        st.download_button(f"Suspected label errors ({len(suspects)} parcels, CSV for the LPIS provider)",
                           data=lambda: table_to_csv(suspects), mime="text/csv", key="diagnosis_suspects",
                           file_name=f"suspected-label-errors-{ctx.dataset.region}.csv", on_click="ignore")
    else:
        report = cache.calibration(model, ctx.dataset)
        st.caption(f"Expected calibration error (10 bins) on {report['parcels']} parcels: "
                   f"{report['ece_before']:.3f} uncalibrated, {report['ece_after']:.3f} with temperature "
                   f"{temperature:.2f}. " + ("The temperature was fitted on the validation region." if
                                              model.is_calibrated else "No temperature is stored for this model."))
        show_figure(reliability_figure({"uncalibrated": report["uncalibrated"], "calibrated": report["calibrated"]},
                                       title="Reliability diagram (top label)"), "reliability",
                    key="diagnosis_reliability")
        show_figure(reliability_figure(report["per_class"], title="Reliability per class (calibrated)"),
                    "reliability-per-class", key="diagnosis_reliability_class")
