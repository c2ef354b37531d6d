"""Ordered vs shuffled time (seed 004, Table 4): does a model use the order of the observations?"""


import pandas as pd
import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, query, select_parcel, set_query
from app_support.widgets import paper_directions, seed004_results, show_figure, show_table, view_picker, with_dashes
from cropviz.viz.ablation import grouped_bars, order_pair_figure, per_class_delta_figure
from cropviz.viz.colors import NEGATIVE_WORD, POSITIVE_WORD

#: The paper's claims this page checks (see Seed004Study.paper_directions).
DIRECTIONS = ("b", "c")

#: Below Table 4, one drawn at a time (URL name -> label).
VIEWS = {"per_class": "Which crops need the order?", "parcels": "Parcels where the two models disagree"}

ctx = context()
st.title("Ordered vs shuffled time")
banner(ctx)
st.markdown(
    "Garnot et al. (2019) re-trained their recurrent models on time series whose observations were "
    "**shuffled per parcel** (same observations, random order, the same permutation at training and test). "
    "What a model loses is what it owed to the *order* of the season; what it keeps, it got from the "
    "observations as a set (a memory of what was seen).")
explainer = st.container()
study = seed004_results("order_results_upload")
explainer.info(
    "**What the demo can show:** the protocol end to end (training both orders, per-class losses, the "
    "parcels where the two models disagree and what each model looks at). **What it cannot:** the size of "
    "the effect on real crops. The demo is simulated: its data are made by cropviz's simulator and its numbers "
    f"are not BreizhCrops results; {study.size_note()}. To measure it on real "
    f"data (BreizhCrops layout with patches): `{study.command_line('DIR', 'results/time_space.json', folds=5)}` "
    "and upload the file below.")

results = study.results

if results is not None:
    paper_directions(study, DIRECTIONS, "order",
                     f"Paper: {study.theirs}, Table 4. Ours: {study.label}; F1 shuffled - ordered in points (< 0: "
                     "shuffling costs the model); \"holds\" is empty where the results lack a run the claim needs.")

st.header("Table 4: macro F1 ordered and shuffled")
theirs = study.paper_table(4).reset_index().rename(columns={"Ordered": "ordered", "Shuffled": "shuffled",
                                                           "Delta": "delta"})
left, right = st.columns(2)
left.markdown(f"**{study.theirs}**, 5-fold CV, 50 epochs")
with left:
    show_table(theirs, "seed004-table4-theirs", key="order_theirs", hide_index=True, decimals=1)
if results is not None:
    ours = study.order_table()
    data = results["data"]
    right.markdown(f"**{study.label}**: {data['split']}; {results['protocol']['epochs']} epochs "
                   f"(zoo {results['protocol']['zoo_epochs']})")
    with right:
        show_table(with_dashes(ours.rename(columns={
            "ordered_std": "ordered std (folds)", "shuffled_std": "shuffled std (folds)",
            "delta_std": "delta std (folds)"}), 1), "seed004-table4-ours", key="order_ours", hide_index=True,
            decimals=1)
    names = {"convlstm": "ConvLSTM", "cnn_gru7": "CNN+GRU7", "cnn_gru9": "CNN+GRU9", "gru": "GRU"}
    bars = pd.concat([theirs.assign(source=study.theirs)[["source", "model", "delta"]],
                      ours[ours["model"].isin(list(names))].assign(source=study.label,
                                                                  model=lambda f: f["model"].map(names))
                      [["source", "model", "delta", "delta_std"]]])
    show_figure(grouped_bars(bars, "delta", axis_title="F1 shuffled - ordered (points)"), "seed004-order-delta",
                key="order_delta")
    paper = theirs.set_index("model")["delta"]
    spread = (f"error bars: ±1 standard deviation over {study.folds} folds of the per-fold difference"
              if study.folds > 1 else "no error bars: one train/test split (`--folds 5` measures the spread)")
    st.caption(f"Paper: the more parameters a model gives to time, the more shuffling costs it (GRU "
               f"{paper['GRU']:+.1f}, CNN+GRU9 {paper['CNN+GRU9']:+.1f}, ConvLSTM {paper['ConvLSTM']:+.1f}). "
               f"Compare the signs and the ranking, not the sizes; {spread}.")
    if "transformer" in set(ours["model"]):
        st.caption("The BreizhCrops Transformer has no positional encoding and max-pools over time: it gives the "
                   "same answer for any order of its inputs, so its ordered-shuffled difference is the spread "
                   "between two trainings, a yardstick for the noise of the other rows.")

cards = cache.model_cards()
card_table = study.card_order_table(cards)
st.subheader("Shipped weights and their shuffled twins (test macro F1 from the model cards)")
if card_table.empty:
    st.caption("No shipped model has a shuffled twin with test metrics in its card yet (models/<name>_shuffled.json).")
else:
    show_table(card_table, "shuffled-twins-cards", key="order_cards", hide_index=True, decimals=1)
    st.caption("These F1 values differ from the table above for the same model on purpose: the table above "
               "comes from the results file (its own training runs, split and epochs, shown in its heading); "
               "this one from the model cards of the weights the app ships (trained once, tested on the "
               "region in the last column).")

available = cache.shipped_weights()
pairs = [n for n in available if not n.endswith("_shuffled") and f"{n}_shuffled" in available]
view = view_picker(VIEWS, "order_view")
if view == "per_class" and results is None:
    st.info("No readable results file: nothing to break down per class.")
elif view == "per_class":
    shuffled_models = [r["model"] for r in results["results"] if r["order"] == "shuffled"]
    if shuffled_models:
        default = query("ablation_model", "gru")
        model = st.selectbox("Model", shuffled_models, key="order_class_model",
                             index=shuffled_models.index(default) if default in shuffled_models else 0)
        set_query(ablation_model=model)
        diff = study.per_class_order_differences(model)
        show_figure(per_class_delta_figure(diff), f"seed004-per-class-{model}", key="order_per_class")
        st.caption("Bars below zero: classes the model recognises worse without the time order. Classes "
                   "with few test parcels (hover) move by chance.")
elif not ctx.ready:
    st.info(ctx.data_error or "Choose a dataset in the sidebar.")
elif not pairs:
    st.info("No shipped model has a shuffled twin yet (models/<name>.pt and models/<name>_shuffled.pt). "
            "Train one with `cropviz train --model gru --shuffle-time ...`.")
else:
    default = query("pair", "gru")
    pair = st.selectbox("Model and its shuffled twin", pairs, index=pairs.index(default) if default in pairs else 0,
                        key="order_pair")
    set_query(pair=pair)
    twin = f"{pair}_shuffled"
    if cache.classifier(pair).reads_patches and ctx.dataset.patches() is None:
        st.info(f"{pair} takes parcel patches and this region has none.")
    else:
        table = None
        with shown_errors(stop=False):
            table = cache.order_disagreements(ctx.dataset, pair, twin)
        if table is not None:
            disagree = table[table["disagree"]].drop(columns="disagree")
            st.markdown(f"**{len(disagree)}** of {len(table)} parcels get different classes from `{pair}` and "
                        f"`{twin}` (ordered right in {int((table['ordered'] == table['class']).sum())}, "
                        f"shuffled right in {int((table['shuffled'] == table['class']).sum())}).")
            shown = disagree if len(disagree) else table.drop(columns="disagree")
            show_table(shown, f"disagreements-{pair}", key="order_disagreements", hide_index=True)
            ids = [int(i) for i in shown["id"]]
            current = ctx.selected_id if ctx.selected_id in ids else ids[0]
            # shown here without changing the app's selected parcel, until the user picks one
            parcel = st.selectbox("Parcel", ids, index=ids.index(current), key=f"order_parcel_{pair}",
                                  on_change=lambda key=f"order_parcel_{pair}": select_parcel(st.session_state[key]))
            if parcel != ctx.selected_id:
                st.caption(f"The selected parcel ({ctx.selected_id}) is not among these; showing {parcel}. "
                           "Picking a parcel here selects it on every page.")
                st.button(f"Select parcel {parcel} on every page", key="order_select", on_click=select_parcel,
                          args=(parcel,))
            explain = st.toggle("Attributions (integrated gradients)", value=True, key="order_explain")
            views = [dict(cache.order_view(ctx.dataset, name, parcel, explain), label=f"{name}")
                     for name in (pair, twin)]
            row = table.set_index("id").loc[parcel]
            st.markdown(f"**Parcel {parcel}**: true class {row['class']}; `{pair}` says {row['ordered']} "
                        f"({row['confidence_ordered']:.0%}), `{twin}` says {row['shuffled']} "
                        f"({row['confidence_shuffled']:.0%}).")
            show_figure(order_pair_figure(*views), f"order-parcel-{parcel}", key="order_parcel_figure")
            st.caption("Each model's input in the order it reads it: the shuffled twin sees the same "
                       "observations permuted (hover for the dates). Bars: integrated-gradients attribution of "
                       "the predicted class's log-probability per input step, summed over bands (and pixels "
                       f"for patch models); {POSITIVE_WORD} pushes towards the class, {NEGATIVE_WORD} away.")
