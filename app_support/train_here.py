"""Train a model in place when no shipped model fits the data (imported bands or classes).

Called where the sidebar finds that the chosen model does not fit: a model trained here before
(next to the data, ``<root>/models/<region>-<year>-<level>-<model>``) is used instead; otherwise
the sidebar offers to train a Random Forest or a TempCNN with :func:`cropviz.training.train`
(progress bar; pressing Cancel stops it before anything is written). The checkpoint and its model
card are written next to the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from cropviz.errors import CropvizError

#: Models offered for training in place: registry name -> (label, checkpoint suffix, epochs).
OFFERED: dict[str, tuple[str, str, int]] = {
    "random_forest": ("Random Forest (seconds)", ".npz", 1),
    "tempcnn": ("TempCNN (minutes on a CPU)", ".pt", 20),
}


def model_path(dataset: Any, model: str) -> Path:
    """Where a model trained in place for ``dataset`` lives: ``<root>/models/<region>-<year>-<level>-<model>``."""
    suffix = OFFERED[model][1]
    return Path(dataset.root) / "models" / f"{dataset.region}-{dataset.year}-{dataset.level}-{model}{suffix}"


def training_plan(dataset: Any) -> Any:
    """The :class:`cropviz.training.TrainConfig` (without model) for ``dataset``: the root's other
    regions of the same year, level and classes when there are any (the shown region stays unseen),
    else the shown region itself with a seeded 0.2 validation share (grouped as recorded)."""
    from cropviz.data import list_regions
    from cropviz.training import TrainConfig

    others = [r for y, lv, r in list_regions(dataset.root)
              if str(y) == str(dataset.year) and lv == dataset.level and r != dataset.region]
    same = []
    for region in others:
        try:
            from cropviz.data import open_breizhcrops

            if list(open_breizhcrops(dataset.root, region, dataset.year, dataset.level).classes) == \
                    list(dataset.classes):
                same.append(region)
        except CropvizError:
            continue
    return TrainConfig(model="", root=str(dataset.root), train_regions=same or [dataset.region],
                       year=int(dataset.year), level=dataset.level, val_fraction=0.2, seed=0)


def use_or_offer(ctx: Any) -> None:
    """The chosen model does not fit ``ctx.dataset``: use a model trained here, or offer to train one."""
    dataset = ctx.dataset
    if dataset is None:
        return
    from app_support import cache

    for model in OFFERED:
        path = model_path(dataset, model)
        if path.exists():
            try:
                classifier = cache.classifier(str(path))
                classifier.check_fits(dataset)
            except CropvizError:
                continue
            ctx.classifier, ctx.model_error = classifier, None
            st.sidebar.caption(f"No shipped model fits this data; using the model trained here: {path.name}")
            return
    reason, ctx.model_error = ctx.model_error, None  # an offer, not an error page
    with st.sidebar.expander("Train a model for this data", expanded=True):
        st.caption(f"No shipped model fits this data ({reason}). Train one here; it is written to "
                   f"{model_path(dataset, 'random_forest').parent} with its model card.")
        model = st.radio("Model", list(OFFERED), format_func=lambda name: OFFERED[name][0], key="train_here_model")
        # the request survives the app's own reruns (a button's value would not)
        st.button("Train", key="train_here_start", type="primary", on_click=_request, args=(model,))
        requested = st.session_state.pop(_REQUEST, None)
        if requested is None:
            return
        st.button("Cancel", key="train_here_cancel")  # any click reruns the script and stops training
        _train(ctx, dataset, requested)


_REQUEST = "train_here_requested"


def _request(model: str) -> None:
    st.session_state[_REQUEST] = model


def _train(ctx: Any, dataset: Any, model: str) -> None:
    from dataclasses import replace

    from app_support import cache
    from cropviz.training import train

    plan = replace(training_plan(dataset), model=model, epochs=OFFERED[model][2])
    bar = st.progress(0.0, text=f"Training {model} on {'+'.join(plan.train_regions)}...")

    def advance(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Training {model}: epoch {done} of {total}")

    try:
        path, best = train(plan, model_path(dataset, model), progress=False, on_epoch=advance)
        classifier = cache.classifier(str(path))
        classifier.check_fits(dataset)
    except (CropvizError, OSError) as error:
        st.error(f"Training failed: {error}")
        return
    ctx.classifier, ctx.model_error = classifier, None
    st.success(f"Trained {model}: validation macro F1 {best['macro_f1']:.3f}; written to {path}")
