"""Attributions: which observations and bands decided the answer, with several Captum methods."""

import pandas as pd
import streamlit as st

from app_support import cache
from app_support.guard import shown_errors
from app_support.state import banner, context, require
from app_support.widgets import parcel_picker, show_figure, show_table, view_picker
from cropviz.viz.colors import NEGATIVE_WORD, POSITIVE_WORD, class_hex
from cropviz.viz.explain import attribution_heatmap, compare_attributions, top_observations_table
from cropviz.viz.trajectories import add_observation_weights, probability_bar, trajectory_figure

BASELINES = {"zeros": "zeros", "class mean trajectory": "class_mean", "cloud-free median": "cloud_free_median"}
#: A convergence delta below this size: the attributions add up.
DELTA_TOLERANCE = 0.05
#: What a larger delta means, per method that reports one.
DELTA_ADVICE = {
    "integrated_gradients": "raise the IG steps before trusting the ranking of the observations.",
    "deeplift": "DeepLift's rescale rule applies to the model's ReLU modules only; its other nonlinearities "
                "(activations written as functions, the attention's softmax, layer norms, pooling by max) pass "
                "plain gradients, so DeepLift's attributions need not add up on this model. Where the ranking "
                "matters, compare with integrated gradients, which add up with enough steps.",
    "gradient_shap": "GradientShap's delta is an average over random baselines and path points; compare with "
                     "integrated gradients before trusting the ranking of the observations.",
}
#: The analyses below the trajectory, one drawn at a time (URL name -> label).
VIEWS = {"time_band": "Time x band", "compare": "Compare", "what_if": "What-if", "sanity": "Sanity check",
         "classes": "Class patterns"}

ctx = context()
st.title("Attributions")
banner(ctx)
if require(ctx):
    model = ctx.classifier
    if not model.differentiable or model.spec.input_form != "sequence":
        st.info(f"{model.name} takes {model.spec.input_form} input; this page explains the sequence models "
                "(the BreizhCrops zoo and ELECTS). Pick one in the sidebar.")
        st.stop()
    classes = model.classes
    parcel_picker(ctx, "attr_parcel")
    row = ctx.table.set_index("id").loc[ctx.selected_id]
    workspace = cache.workspace(model, ctx.dataset)
    methods = workspace.attribution_methods
    parcel = workspace.parcel_input(ctx.selected_id)
    dates, cloudy = parcel.dates, parcel.cloudy
    controls = st.columns(4)
    method = controls[0].selectbox("Method", list(methods), format_func=lambda m: methods[m].label, key="attr_method",
                                   help="; ".join(f"{m.label}: {m.summary}" for m in methods.values()))
    target_kind = controls[1].selectbox("Target class", ["predicted", "true", "other..."], key="attr_target_kind")
    target = {"predicted": int(row["pred"]), "true": int(row["classid"])}.get(target_kind)
    if target is None:
        target = classes.index(controls[1].selectbox("Class", classes, key="attr_target_class"))
    baseline_name = controls[2].selectbox("Baseline", list(BASELINES), key="attr_baseline",
                                          disabled=not methods[method].needs_baseline)
    top_k = controls[3].slider("Top-k observations", 1, 10, 5, key="attr_topk")
    options = {}
    if method == "integrated_gradients":
        options["n_steps"] = st.select_slider("IG steps", [20, 50, 100, 200], value=cache.DEFAULT_IG_STEPS,
                                              key="attr_steps")
    step = None
    if model.is_early:
        step = st.slider("ELECTS: explain the class at step", 0, len(dates) - 1, len(dates) - 1, key="attr_step")

    def baseline_of(chosen_method: str) -> str | None:
        entry = methods[chosen_method]
        # a stochastic method (GradientShap) draws its baselines at random from the reference parcels
        return None if not entry.needs_baseline else "random" if entry.stochastic else BASELINES[baseline_name]

    def explain(chosen_method: str, chosen_target: int):
        settings = dict(options) if chosen_method == method else {}
        return cache.attribution(model, ctx.dataset, ctx.selected_id, chosen_method, chosen_target,
                                 baseline_of(chosen_method), step, settings)

    with shown_errors():
        result = explain(method, target)
    st.markdown(f"**Parcel {ctx.selected_id}**: true **{row['classname']}**, predicted **{row['predicted']}** "
                f"({row['confidence']:.2f}); explaining **{classes[target]}** with {methods[method].label}.")
    if result.delta is not None:
        delta = float(result.delta)
        st.metric("Convergence delta (sum of attributions - (f(x) - f(baseline)))", f"{delta:.2e}",
                  help="How far the attributions fall short of explaining the whole change of the class "
                       "log-probability from the baseline to this parcel. Near 0 (below about 0.05 in size) "
                       "the attributions add up.")
        if abs(delta) >= DELTA_TOLERANCE:
            st.warning(f"The attributions miss {delta:+.2f} of the log-probability change: {DELTA_ADVICE[method]}")
        else:
            st.caption(f"|delta| below {DELTA_TOLERANCE}: the attributions account for the whole change of the "
                       "class log-probability from the baseline to this parcel.")
    with shown_errors():
        fig, top = cache.attribution_trajectory(model, ctx.dataset, ctx.selected_id, method, target,
                                                baseline_of(method), step, options, top_k=top_k)
    show_figure(fig, f"parcel-{ctx.selected_id}-{method}", key="attr_trajectory")
    st.caption(f"Bars: {POSITIVE_WORD} pushes towards {classes[target]}, {NEGATIVE_WORD} away from it. "
               "Grey x: cloud-flagged observations.")
    show_table(top_observations_table(top, cloudy), f"parcel-{ctx.selected_id}-top-observations",
               key="attr_top_table", hide_index=True)
    if cloudy[top["index"]].any():
        st.warning(f"{int(cloudy[top['index']].sum())} of the {len(top)} most decisive observations are "
                   "cloud-flagged: the model decides on what may be a cloud, not the crop.")
    view = view_picker(VIEWS, "attr_view")
    if view == "time_band":
        show_figure(cache.attribution_map(model, ctx.dataset, ctx.selected_id, method, target, baseline_of(method),
                                          step, options),
                    f"parcel-{ctx.selected_id}-{method}-heatmap", key="attr_heatmap")
    elif view == "compare":
        mode = st.radio("Compare", ["true vs predicted class", "two methods"], horizontal=True, key="attr_compare")
        if mode == "two methods":
            other = st.selectbox("Second method", [m for m in methods if m != method],
                                 format_func=lambda m: methods[m].label, key="attr_other")
            a, b, titles = result, explain(other, target), [method, other]
        else:
            a, b = explain(method, int(row["classid"])), explain(method, int(row["pred"]))
            titles = [f"true: {row['classname']}", f"predicted: {row['predicted']}"]
        show_figure(compare_attributions(a.values, b.values, titles, dates, model.info.bands),
                    f"parcel-{ctx.selected_id}-compare", key="attr_compare_fig")
    elif view == "what_if":
        probe = st.columns(2)
        labels_t = [f"{k + 1}: {pd.Timestamp(d).strftime('%Y-%m-%d')}{' (cloud)' if c else ''}"
                    for k, (d, c) in enumerate(zip(dates, cloudy, strict=False))]
        chosen = probe[0].selectbox("Observation", range(len(dates)), format_func=labels_t.__getitem__,
                                    index=int(top["index"].iloc[0]), key="attr_whatif_obs")
        edit = probe[1].radio("Edit", ["remove", "cloud"], horizontal=True, key="attr_whatif_mode")
        change = workspace.what_if(ctx.selected_id, chosen, mode=edit, step=step)
        before, after = change.before, change.after  # what_if returns probabilities
        st.markdown(f"Predicted **{classes[change.predicted_before]}** ({before.max():.2f}) -> "
                    f"**{classes[change.predicted_after]}** ({after.max():.2f}) after the edit.")
        columns = st.columns(2)
        with columns[0]:
            show_figure(probability_bar(classes, before, true=row["classname"], title="before"), "whatif-before",
                        key="attr_whatif_before")
        with columns[1]:
            show_figure(probability_bar(classes, after, true=row["classname"], title="after"), "whatif-after",
                        key="attr_whatif_after")
    elif view == "sanity":
        if st.button("Randomise the model's weights and compare", key="attr_sanity"):
            check = workspace.sanity_check(ctx.selected_id, method, target=target, **options)
            st.metric("Spearman rank correlation, original vs randomised weights", f"{check['spearman']:.2f}")
            st.caption("A method that explains the model gives a clearly different map after randomisation "
                       "(correlation near 0); a high correlation means the map reflects the input, not the model.")
    else:
        agg = st.columns(3)
        classname = agg[0].selectbox("Class", classes, index=classes.index(row["classname"]), key="attr_agg_class")
        agg_method = agg[1].selectbox("Method", ["saliency", "input_x_gradient", "integrated_gradients"],
                                      key="attr_agg_method")
        count = agg[2].select_slider("Parcels", [25, 50, 100, 200], value=50, key="attr_agg_count")
        table = cache.class_attributions(model, ctx.dataset, classname, agg_method, max_parcels=count)
        if len(table):
            by_band = table.pivot_table(index="period", columns="band", values="magnitude", aggfunc="mean")
            show_figure(attribution_heatmap(by_band.to_numpy(), by_band.index, list(by_band.columns),
                                            title=f"{classname}: mean |attribution| per 14 days and band",
                                            signed=False, value_name="mean |attribution|"),
                        f"class-{classname}-{agg_method}", key="attr_agg_heatmap")
            per_period = table.groupby("period")["value"].sum()  # mean per-observation attribution
            source = f"the first {count} parcels of {classname}"
            results = cache.precomputed(model, ctx.dataset)
            if results is not None and agg_method in results.columns:
                region = cache.precomputed_summary(model, ctx.dataset, agg_method, period="14D", split_cloudy=False)
                mine = region[region["classname"] == classname]
                per_period = mine.set_index("period")["value"]
                source = (f"all {int(mine['n'].sum()):,} observations of {classname} parcels, precomputed on Dask "
                          f"in `{results.path}`")
            envelope = cache.envelopes(ctx.dataset, "NDVI", [classname]).get(classname)
            if envelope is not None:
                mean = pd.DataFrame({f"{classname} NDVI": envelope["mean"].to_numpy()})
                curve = trajectory_figure(envelope.index, mean, colors={f"{classname} NDVI": class_hex(classname)},
                                          title=f"{classname}: attribution per period over the class phenology")
                st.caption(f"Mean attribution per observation and 14 days, from {source}; the heatmap above from "
                           f"the first {count}.")
                add_observation_weights(curve, per_period.index, per_period.to_numpy(), name="attribution")
                show_figure(curve, f"class-{classname}-phenology-attribution", key="attr_agg_curve")
