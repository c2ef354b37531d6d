"""One dataset region and one model: every derived result, computed lazily and cached.

A :class:`Workspace` is what a page, a CLI command or a Dask task asks for the predictions,
attributions, attention, early stops, embeddings, diagnoses and region summaries of a region
under a model. It owns the cache keys (weights hash, dataset fingerprint, seed and settings);
results come, in this order, from complete ``cropviz precompute`` results of the same model and
data, from the on-disk :class:`~cropviz.store.Store`, or are computed now and stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cropviz.errors import ConfigurationError
from cropviz.store import Store, cache_key, settings_key
from cropviz.types import IntArray

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cropviz.data.breizhcrops import BreizhCropsDataset
    from cropviz.diagnose.evidence import Evidence
    from cropviz.early.analysis import RegionSteps
    from cropviz.explain.attention import AttentionResult
    from cropviz.explain.attribution import Attribution, WhatIf
    from cropviz.explain.methods import Method
    from cropviz.models.classifier import Classifier, ProgressCallback
    from cropviz.models.inputs import ModelInput
    from cropviz.scale.results import PrecomputedResults


#: Parcels whose model inputs, attention and what-if edits a workspace keeps in memory.
PARCELS_KEPT = 64


@dataclass(frozen=True)
class ParcelInput:
    """One parcel as the model sees it: T x D inputs, their dates and cloud flags, and a curve to
    draw them by (NDVI, or the first band when the model's bands cannot give it)."""

    id: int
    x: np.ndarray
    dates: np.ndarray
    cloudy: np.ndarray
    curve: np.ndarray
    curve_name: str


@dataclass
class Workspace:
    """Derived results of ``model`` on ``dataset`` (one region), cached in ``store``."""

    dataset: BreizhCropsDataset
    model: Classifier
    store: Store = field(default_factory=lambda: Store(None))
    seed: int = 0
    _references: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the last parcels viewed, read once for their attention, what-if and sanity views, and
        # their attention and edits computed once: a page's rerun repeats no model pass (thread-safe)
        self._parcel_inputs = lru_cache(maxsize=PARCELS_KEPT)(self._read_parcel_input)
        self._attention = lru_cache(maxsize=PARCELS_KEPT)(self._compute_attention)
        self._what_if = lru_cache(maxsize=4 * PARCELS_KEPT)(self._compute_what_if)
        # the IG cloud shares of the parcels whose diagnosis rows were asked for, one by one
        self._cloud_shares: dict[int, float] = {}

    @classmethod
    def open(cls, root: str | Path, region: str, model: str | Path, year: int | None = None,
             level: str | None = None, cache_dir: str | Path | None = None, device: str = "auto") -> Workspace:
        """Open a region of the dataset at ``root`` and a model (registry name or checkpoint file)."""
        from cropviz.data import open_breizhcrops
        from cropviz.models import Classifier

        kwargs: dict[str, Any] = {k: v for k, v in (("year", year), ("level", level)) if v is not None}
        dataset = open_breizhcrops(root, region, **kwargs)
        return cls(dataset, Classifier.open(model, device=device), Store(cache_dir), 0)

    @property
    def key(self) -> str:
        """Changes when the model weights, the dataset files or the sampling seed change."""
        return cache_key(self.model, self.dataset, self.seed)

    def _stored_key(self, **settings: Any) -> str:
        return f"{self.key}-{self.model.label}-{settings_key(**settings)}"

    def _stored(self, kind: str, compute: Any, **settings: Any) -> Any:
        return self.store.get(kind, self._stored_key(**settings), compute)

    # ---------------------------------------------------------------------------------- inputs

    def inputs(self, ids: IntArray) -> ModelInput:
        """Model inputs of parcels ``ids`` (as the model was trained to see them)."""
        return self.model.inputs(self.dataset, ids, seed=self.seed)

    def parcel_input(self, parcel_id: int) -> ParcelInput:
        """Parcel ``parcel_id`` as the model sees it (sequence models), with its NDVI curve."""
        return self._parcel_inputs(int(parcel_id))

    def _read_parcel_input(self, parcel_id: int) -> ParcelInput:
        from cropviz.data.indices import INDICES, index_array

        prepared = self.inputs([int(parcel_id)])
        x, bands = prepared.x[0], list(self.model.info.bands)
        cloudy = np.zeros(len(x), bool) if prepared.cloudy is None else prepared.cloudy[0]
        if set(INDICES["NDVI"][1]) <= set(bands):
            curve, name = index_array(x, bands, "NDVI"), "NDVI"
        else:
            curve, name = x[:, 0].astype(np.float64), bands[0]
        return ParcelInput(int(parcel_id), x, prepared.dates[0], cloudy, curve, name)

    def class_ids(self, classname: str, max_parcels: int | None = None) -> np.ndarray:
        """The first ``max_parcels`` parcel ids of class ``classname`` (index order)."""
        index = self.dataset.index
        ids = index.loc[index["classname"] == classname, "id"].to_numpy()
        return ids if max_parcels is None else ids[:max_parcels]

    def reference_inputs(self, per_class: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, labels) of up to ``per_class`` parcels per class: the class-mean baselines (kept)."""
        if per_class not in self._references:
            ids = self.dataset.index.groupby("classid").head(per_class)["id"].to_numpy()
            prepared = self.inputs(ids)
            self._references[per_class] = (prepared.x, prepared.labels)
        return self._references[per_class]

    # ----------------------------------------------------------------------------- predictions

    def precomputed(self) -> PrecomputedResults | None:
        """Complete ``cropviz precompute`` results of this model on these data files, or None."""
        from cropviz.scale.results import find_precomputed

        return find_precomputed(self.model, self.dataset, self.seed)

    def predictions(self, batch_size: int = 512, progress: ProgressCallback | None = None) -> pd.DataFrame:
        """Every parcel's prediction: id, true, pred, confidence, prob_<class>."""
        from cropviz.scale.results import precomputed_predictions

        precomputed = precomputed_predictions(self.model, self.dataset, self.seed)
        if precomputed is not None:
            return precomputed
        return self._stored("predictions", lambda: self.model.predict(
            self.dataset, seed=self.seed, batch_size=batch_size, progress=progress))

    def metrics(self) -> dict[str, Any]:
        """Overall accuracy, kappa, per-class and macro F1 of the predictions (labelled parcels)."""
        from cropviz.metrics import metrics_from_predictions

        return metrics_from_predictions(self.predictions(), self.model.classes)

    # ---------------------------------------------------------------------------- explanations

    def attribution(self, parcel_id: int, method: str, target: int | None = None, baseline: str | None = None,
                    step: int | None = None, **options: Any) -> Attribution:
        """One parcel's attribution (``cropviz.explain.attribute``) with class-mean references at hand."""
        from cropviz.explain import attribute

        prepared = self.inputs([int(parcel_id)])
        reference, labels = self.reference_inputs()
        return attribute(self.model.model, prepared.x[0], method, target=target, baseline=baseline, step=step,
                         reference=reference, reference_labels=labels,
                         cloudy=None if prepared.cloudy is None else prepared.cloudy[0], **options)

    @property
    def attribution_methods(self) -> Mapping[str, Method]:
        """The attribution methods that apply to the model, by name (empty for the Random Forest)."""
        from cropviz.explain.methods import TABLE

        return TABLE if self.model.differentiable else {}

    def attention(self, parcel_id: int) -> AttentionResult:
        """Self-attention maps and rollout of one parcel (models with attention; the last
        ``PARCELS_KEPT`` parcels' kept: do not modify the result)."""
        return self._attention(int(parcel_id))

    def _compute_attention(self, parcel_id: int) -> AttentionResult:
        from cropviz.explain import attention

        return attention(self.model.model, self.parcel_input(parcel_id).x)

    def what_if(self, parcel_id: int, observation: int, mode: str = "remove", step: int | None = None) -> WhatIf:
        """Class probabilities of the parcel before and after removing (or clouding) one observation
        (recent edits kept: do not modify the result)."""
        return self._what_if(int(parcel_id), int(observation), mode, None if step is None else int(step))

    def _compute_what_if(self, parcel_id: int, observation: int, mode: str, step: int | None) -> WhatIf:
        from cropviz.explain import what_if

        parcel = self.parcel_input(parcel_id)
        return what_if(self.model.model, parcel.x, observation, mode=mode, dates=parcel.dates,
                       bands=self.model.info.bands, step=step)

    def sanity_check(self, parcel_id: int, method: str, target: int | None = None, **options: Any) -> dict[str, Any]:
        """Model-randomisation check of ``method`` on the parcel (``cropviz.explain.sanity_check``)."""
        from cropviz.explain import sanity_check

        return sanity_check(self.model.model, self.parcel_input(parcel_id).x, method, seed=self.seed,
                            target=target, **options)

    def class_attributions(self, classname: str, method: str, max_parcels: int = 100,
                           period: str = "14D") -> pd.DataFrame:
        """Attributions of up to ``max_parcels`` parcels of a class per period and band (stored)."""
        from cropviz.explain.region import class_attributions

        ids = self.class_ids(classname, max_parcels)
        return self._stored("class_attributions", lambda: class_attributions(
            self.model, self.dataset, ids, method=method, period=period),
            classname=classname, method=method, max_parcels=max_parcels, period=period)

    def observation_attention(self, max_parcels: int = 2000) -> pd.DataFrame:
        """Attention received by each observation of the first ``max_parcels`` parcels (stored)."""
        from cropviz.explain.region import observation_attention

        ids = self.dataset.index["id"].to_numpy()[:max_parcels]
        return self._stored("observation_attention", lambda: observation_attention(self.model, self.dataset, ids),
                            max_parcels=max_parcels)

    def observation_summary(self, column: str, period: str = "month", relative: bool = False,
                            split_cloudy: bool = True) -> pd.DataFrame:
        """Per class and period, ``column`` of every precomputed parcel (requires precomputed results)."""
        results = self.precomputed()
        if results is None:
            raise ConfigurationError(f"no complete precomputed results of {self.model.label} on "
                                     f"{self.dataset.region}; run `cropviz precompute` first")
        return results.observation_summary(column, period=period, relative=relative, split_cloudy=split_cloudy)

    # -------------------------------------------------------------------------- early decisions

    def early_steps(self, batch_size: int = 512, progress: ProgressCallback | None = None) -> RegionSteps:
        """Per-step ELECTS outputs for every parcel (stored)."""
        from cropviz.early.analysis import region_steps

        return self._stored("early_steps", lambda: region_steps(
            self.model, self.dataset, batch_size=batch_size, seed=self.seed, progress=progress))

    def early_frame(self, threshold: float = 0.5) -> pd.DataFrame:
        """One row per parcel of deterministic early predictions at ``threshold``."""
        from cropviz.early.analysis import early_frame

        return early_frame(self.early_steps(), threshold)

    # ----------------------------------------------------------------------------- diagnosis

    def evidence(self, explain: str = "wrong", progress: ProgressCallback | None = None) -> Evidence:
        """Per-parcel evidence for the diagnosis: probabilities with and without clouds, the
        penultimate embedding, integrated gradients on cloudy inputs (stored in two parts: the
        model passes, and the integrated gradients ``explain`` asks for)."""
        from dataclasses import replace

        from cropviz.diagnose import region_evidence
        from cropviz.diagnose.evidence import attribute_clouds

        passes = self._stored("evidence", lambda: region_evidence(
            self.model, self.dataset, seed=self.seed, explain="none", progress=progress))
        if explain == "none":
            return passes
        shares = self._stored("cloud_attribution", lambda: attribute_clouds(
            self.model, self.dataset, passes, seed=self.seed, explain=explain), explain=explain)
        return replace(passes, cloud_attribution_share=shares)

    def embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, N x E) the model's penultimate embedding of every parcel it reads."""
        evidence = self.evidence("none")
        return evidence.ids, evidence.embedding

    def embedding_2d(self) -> pd.DataFrame:
        """The embedding projected to 2-D with UMAP (seeded): id, x, y (stored)."""
        from cropviz.diagnose.region import embedding_2d

        return self._stored("embedding_2d", lambda: embedding_2d(self.evidence("none"), seed=self.seed))

    def diagnosis(self, explain: str = "wrong") -> pd.DataFrame:
        """One row per parcel with its evidence and a verdict (``cropviz.diagnose.diagnose``, stored)."""
        from cropviz.diagnose import diagnose

        return self._stored("diagnosis", lambda: diagnose(
            self.model, self.dataset, predictions=self.predictions(), seed=self.seed,
            evidence=self.evidence(explain)), explain=explain)

    def parcel_diagnosis(self, ids: IntArray) -> pd.DataFrame:
        """The rows of :meth:`diagnosis` for parcels ``ids`` (in that order) without attributing the
        whole region: from the stored diagnosis when there is one; otherwise from the region's
        diagnosis without integrated gradients, with the IG cloud share computed for just those of
        ``ids`` whose verdict needs it (misclassified, with cloud-flagged inputs; kept) and their
        verdicts assigned again. Needs a store with a folder to be fast."""
        from cropviz.diagnose.verdict import assign

        wanted = [int(i) for i in ids]
        stored = self.store.contains("diagnosis", self._stored_key(explain="wrong"))
        region = (self.diagnosis() if stored else self.diagnosis(explain="none")).set_index("id")
        unknown = sorted(set(wanted) - set(region.index))
        if unknown:
            raise ConfigurationError(f"{self.model.label} does not read parcel(s) {unknown[:5]} of "
                                     f"{self.dataset.region}")
        rows = region.loc[wanted].reset_index()
        if stored:
            return rows
        need = rows.loc[(rows["cloudy_inputs"] > 0) & (rows["true"] != rows["pred"]), "id"]
        missing = [parcel_id for parcel_id in dict.fromkeys(need.tolist()) if parcel_id not in self._cloud_shares]
        if missing:
            from cropviz.diagnose.evidence import attribute_clouds

            evidence = self.evidence("none")
            positions = pd.Index(evidence.ids).get_indexer(missing)
            shares = attribute_clouds(self.model, self.dataset, evidence.take(positions), seed=self.seed)
            self._cloud_shares.update(zip(missing, shares.tolist(), strict=True))
        rows["cloud_attribution_share"] = [self._cloud_shares.get(int(i), np.nan) for i in rows["id"]]
        rows["verdict"], rows["reason"] = assign(rows, self.model.classes)
        return rows
