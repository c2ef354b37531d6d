"""Spatial vs temporal structure (seed 004, Tables 1-3): where should a model spend its parameters?"""


import pandas as pd
import streamlit as st

from app_support.state import banner, context
from app_support.widgets import paper_directions, seed004_results, show_figure, show_table, with_dashes
from cropviz.viz.ablation import f1_vs_temporal_share, grouped_bars

#: The paper's claims this page checks (see Seed004Study.paper_directions).
DIRECTIONS = ("a", "d")

ctx = context()
st.title("Spatial vs temporal structure")
banner(ctx)
st.markdown(
    "Garnot et al. (2019) gave six models about the same budget (~92k parameters) and moved it between a "
    "per-date CNN on the 32x32 parcel patch (**space**) and a recurrent unit over the dates (**time**): "
    "CNN (all space), CNN+GRU with 70/80/90 % temporal parameters, a GRU on per-date band means and "
    "standard deviations (all time), and a ConvLSTM. On real data the GRU beat the CNN by 19 F1 points "
    "and the best models spent ~90 % of their parameters on time.")
explainer = st.container()
study = seed004_results("space_results_upload")
explainer.info(
    "**What the demo can show:** the six architectures with their parameter split (Table 1), trained and "
    "tested with the same protocol, and the tables in the paper's form. **What it cannot:** whether *real* "
    "patches carry little crop information in their shape and texture. The demo is simulated: its patches are "
    "made by cropviz's simulator, so whatever spatial signal they hold is what the simulator put there, and its "
    f"numbers are not BreizhCrops results; {study.size_note()}. To measure it on real data (BreizhCrops layout with "
    f"patches): `{study.command_line('DIR', 'results/time_space.json', folds=5)}`, then upload the file below.")

results = study.results

if results is not None:
    paper_directions(study, DIRECTIONS, "space",
                     f"Paper: {study.theirs}, Table 2. Ours: {study.label}, macro F1 points; \"holds\" is empty where "
                     "the results lack a model the claim needs.")

st.header("Table 2: performance (and Table 1: parameters)")
theirs = (study.paper_table(2).join(study.paper_table(1)[["parameters", "temporal_ratio"]]).reset_index()
          .rename(columns={"temporal_ratio": "temporal share"}))
left, right = st.columns(2)
left.markdown(f"**{study.theirs}**: 199,464 parcels, 5-fold CV, 50 epochs")
with left:
    show_table(with_dashes(theirs, {"parameters": 0, "temporal share": 1, "OA": 1, "F-score": 1, "Precision": 1,
                                    "Recall": 1}), "seed004-table2-theirs", key="space_theirs", hide_index=True,
               decimals=1)
if results is not None:
    ours = study.space_time_table()
    label = study.label
    patches = results["data"].get("patches") or {}
    right.markdown(f"**{label}**: {patches.get('parcels', '?')} patch parcels, {results['data']['split']}; "
                   f"{results['protocol']['epochs']} epochs (best validation epoch)")
    with right:
        show_table(with_dashes(ours.drop(columns="model").round({"temporal_share": 2}).rename(columns={
            "paper_name": "model", "overall_accuracy": "OA", "macro_f1": "F-score", "precision": "Precision",
            "recall": "Recall", "temporal_share": "temporal share", "macro_f1_std": "F-score std (folds)"}), 1),
            "seed004-table2-ours", key="space_ours", hide_index=True, decimals=1,
            column_config={"temporal share": st.column_config.NumberColumn(format="%.2f")})

    st.header("Macro F1 against the temporal share of parameters")
    comparison = study.paper_comparison()
    left, right = st.columns(2)
    with left:
        show_figure(f1_vs_temporal_share(comparison), "seed004-f1-vs-share", key="space_share")
    with right:
        show_figure(grouped_bars(comparison, "macro_f1"), "seed004-f1-bars", key="space_bars")
    spread = (f"error bars: ±1 standard deviation over {study.folds} folds" if study.folds > 1 else
              "no error bars: one train/test split (`--folds 5` measures the spread)")
    st.caption(f"Grey: {study.theirs} (Tables 1-2; the paper gives no ratio for the ConvLSTM, it is placed at "
               f"cropviz's count for the same architecture). Blue: {label}; {spread}. The paper's RF baseline "
               f"scored {study.paper_table(2).loc['RF', 'F-score']}.")

    st.header("Table 3: per-class F1")
    left, right = st.columns(2)
    left.markdown(f"**{study.theirs}**: 17 classes of the French LPIS")
    with left:
        show_table(study.paper_table(3).reset_index(), "seed004-table3-theirs", key="space_t3_theirs",
                   hide_index=True, decimals=1)
    right.markdown(f"**{label}**: the demo's {len(results['data']['patches']['classes']) if patches else '?'} "
                   "classes (not the paper's)")
    with right:
        show_table(study.per_class_table().rename_axis("class").reset_index(), "seed004-table3-ours",
                   key="space_t3_ours", hide_index=True, decimals=1)
    rows = pd.DataFrame([{"model": r["paper_name"], "order": r["order"], "epochs kept": r["best_epoch"],
                          "seconds": r["train_seconds"]} for r in results["results"]])
    with st.expander("Training details of the results file"):
        st.json({"data": results["data"], "protocol": results["protocol"],
                 "command": results.get("command") or results.get("equivalent_command")}, expanded=False)
        show_table(rows, "seed004-training", key="space_training", hide_index=True)
