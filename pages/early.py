"""Early classification with ELECTS: when does the model decide, and what does waiting buy?"""

import pandas as pd
import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, query, require, select_parcel, set_query
from app_support.widgets import show_figure, show_table, view_picker
from cropviz.viz.early import sampled_stops_figure, stop_date_distribution_figure, tradeoff_figure

#: The analyses below the parcel's animation, one drawn at a time (URL name -> label).
VIEWS = {"draws": "Sampled stops", "region": "The region", "tradeoff": "Earliness vs accuracy",
         "crops": "When each crop is decided"}


def _elects_model(ctx):
    """The sidebar model when it is ELECTS, else shipped ELECTS weights picked here (or None)."""
    if ctx.classifier is not None and ctx.classifier.is_early:
        return ctx.classifier
    options = cache.shipped_weights("elects")
    sidebar_name = ctx.classifier.name if ctx.classifier is not None else "none"
    if not options:
        st.info(f"The sidebar model ({sidebar_name}) is not an early classifier and no ELECTS weights are "
                "shipped; train them with `cropviz train --model elects` (see models/README.md).")
        return None
    st.info(f"The sidebar model ({sidebar_name}) is not an early classifier: this page uses the ELECTS "
            "weights chosen here.")
    default = query("early_model", "elects")
    name = st.selectbox("ELECTS weights", options, index=options.index(default) if default in options else 0,
                        key="early_model")
    set_query(early_model=name)
    with shown_errors(stop=False):
        model = cache.classifier(name)
        model.check_fits(ctx.dataset)
        return model
    return None


def _describe(model) -> str:
    card = model.info.card or {}
    kind = "full-season reference (trained on the last step only)" if card.get("full_season") else \
        f"alpha = {card.get('alpha', '?')} (higher alpha: later, more accurate)"
    return f"ELECTS weights **{model.info.path and model.info.path.rsplit('/', 1)[-1]}**: {kind}."


ctx = context()
st.title("Early classification (ELECTS)")
banner(ctx)
model = _elects_model(ctx) if require(ctx, predictions=False) else None
if model is not None:
    ds = ctx.dataset
    classes = model.classes
    st.markdown(_describe(model) + " ELECTS reads the season observation by observation and, at each "
                "date, gives class probabilities and a stopping probability δ_t; it decides at the first date "
                "where δ_t passes the threshold (or where a random draw says stop).")
    if ctx.simulated:
        st.warning("All numbers on this page come from the SIMULATED demo region, not from BreizhCrops.")
    threshold = st.slider("Stopping threshold on δ_t", 0.05, 0.95, float(query("threshold", 0.5)), 0.05,
                          key="early_threshold")
    set_query(threshold=threshold)

    st.header("One parcel, date by date")
    ids = ctx.table["id"].tolist()
    current = ctx.selected_id if ctx.selected_id in ids else ids[0]
    parcel = st.selectbox("Parcel", ids, index=ids.index(current), key="early_parcel",
                          on_change=lambda: select_parcel(st.session_state["early_parcel"]))
    left, mid, right = st.columns(3)
    mode = left.radio("Stopping", ["deterministic", "sampled"], horizontal=True, key="early_mode",
                      help="Deterministic: first date with δ_t above the threshold. Sampled: stop at the first "
                           "successful Bernoulli(δ_t) draw (seeded).")
    seed = int(mid.number_input("Seed of the draws", 0, 10_000, 0, key="early_seed"))
    n_samples = int(right.number_input("Draws for the distribution", 10, 2000, 200, step=50, key="early_draws"))
    with shown_errors():
        result, fig = cache.parcel_animation(model, ds, parcel, threshold,
                                             n_samples=n_samples if mode == "sampled" else None, seed=seed)
    stop_day = pd.Timestamp(result.dates[result.stop_step])

    def verdict(k: int) -> str:
        return f"**{classes[k]}** ({'right' if k == result.true else 'wrong'})"

    # one line of text, not st.metric: metric values are cut to the column ("permanent me...")
    st.markdown(f"Stops on **{stop_day:%d %b %Y}** (observation {result.stop_step + 1} of {len(result.dates)}) · "
                f"class at the stop {verdict(result.prediction)} · full-season answer {verdict(result.final_pred)} · "
                f"true class **{classes[result.true]}**")
    st.caption("Press ▶ play to replay the season from the first observation; drag the slider to step. "
               "The star marks the stop and the class chosen then.")
    show_figure(fig, f"early-parcel-{parcel}", key="early_parcel_animation")

    view = view_picker(VIEWS, "early_view")
    if view == "draws":
        draws = cache.stop_draws(model, ds, parcel, n_samples=n_samples, seed=seed)
        expected_correct = float((draws["share"] * (draws["pred"] == result.true)).sum())
        deterministic = result.first_stop(threshold)
        show_figure(sampled_stops_figure(draws["date"], draws["share"], draws["probability"], deterministic,
                                         n_samples), f"early-draws-{parcel}", key="early_draws_figure")
        st.caption(f"Over {n_samples} sampled draws (seed {seed}) the class at the stop is right in "
                   f"{expected_correct:.0%} of them.")
    elif view == "region":
        if st.toggle("Animate the region week by week", key="early_region_animate"):
            frame = cache.early_region(model, ds, threshold)
            if len(frame) > cache.EARLY_MAP_PARCELS:
                st.caption(f"The animation shows a fixed random sample of {cache.EARLY_MAP_PARCELS} of "
                           f"{len(frame)} parcels.")
            show_figure(cache.region_animation(model, ds, threshold), "early-region", key="early_region_animation")
        st.markdown("Share of the region's parcels decided, and accuracy of the decided ones, by the end of each "
                    "month:")
        over_time = cache.early_by_month(model, ds, threshold)
        over_time.insert(0, "by end of", over_time.pop("date").dt.strftime("%b"))
        over_time = over_time.rename(columns={"n_decided": "parcels decided", "decided": "share decided",
                                              "correct": "share decided and right",
                                              "running_accuracy": "accuracy of the decided"})
        show_table(over_time, "early-decided-over-time", key="early_over_time", hide_index=True)
    elif view == "tradeoff":
        names = tuple(cache.shipped_weights("elects"))
        if names:
            table = None
            with shown_errors(stop=False):
                table = cache.early_tradeoff(ds, names, threshold)
            if table is not None:
                show_figure(tradeoff_figure(table), "early-tradeoff", key="early_tradeoff_figure")
                show_table(table.rename(columns={"full_season": "full season", "macro_f1": "macro F1",
                                                 "harmonic_mean": "harmonic mean",
                                                 "mean_stop_date": "mean stop date"}),
                           "early-tradeoff", key="early_tradeoff_table", hide_index=True)
                st.caption("Each alpha is a separately trained ELECTS model; the full-season reference is the "
                           "same backbone trained on the last step only (earliness 1). Earliness = mean share of "
                           "the observations read before deciding.")
        else:
            st.info("No shipped ELECTS weights to compare.")
    else:
        frame = cache.early_region(model, ds, threshold)
        show_figure(stop_date_distribution_figure(frame, classes), "early-stop-dates", key="early_stop_dates")
        summary = cache.early_class_months(model, ds, threshold)
        pivot = summary.pivot(index="class", columns="month", values="decided_correct")
        pivot = pivot[[m for m in summary["month"].drop_duplicates()]].rename_axis(index="class", columns=None)
        medians = summary.drop_duplicates("class").set_index("class")["median_stop_date"]
        pivot.insert(0, "median stop", medians.reindex(pivot.index).dt.strftime("%d %b"))
        st.markdown("Each crop's median stop date, then the share of its parcels **decided and correct** by the "
                    "end of each month (which crops can be mapped by June?)")
        show_table(pivot.round(2), "early-class-months", key="early_class_months")
