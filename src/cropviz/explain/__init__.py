"""cropviz.explain: attention maps, attributions, baselines, sanity checks and what-if edits.

No streamlit here; everything returns numpy arrays, dataclasses or DataFrames. The table of
attribution methods (:mod:`cropviz.explain.methods`) imports nothing heavy; the rest (torch,
Captum) is imported on first use of a name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cropviz._lazy import attach

# eager (numpy only): the function ``attention`` must shadow its submodule of the same name
from cropviz.explain.attention import AttentionResult, attention, rollout
from cropviz.explain.methods import BASELINE_METHODS, DELTA_METHODS, METHODS, TABLE, Method

if TYPE_CHECKING:
    from cropviz.explain.attribution import (
        Attribution,
        BatchAttribution,
        WhatIf,
        attribute,
        attribute_batch,
        class_aggregate,
        cloud_spectrum,
        top_k_observations,
        what_if,
    )
    from cropviz.explain.baselines import make_baseline
    from cropviz.explain.sanity import randomized_copy, sanity_check

__all__ = [
    "BASELINE_METHODS", "DELTA_METHODS", "METHODS", "TABLE", "AttentionResult", "Attribution",
    "BatchAttribution", "Method", "WhatIf", "attention", "attribute", "attribute_batch", "class_aggregate",
    "cloud_spectrum", "make_baseline", "randomized_copy", "rollout", "sanity_check", "top_k_observations",
    "what_if",
]
__getattr__, __dir__ = attach(__name__, {
    "Attribution": "attribution", "BatchAttribution": "attribution", "WhatIf": "attribution",
    "attribute": "attribution", "attribute_batch": "attribution", "class_aggregate": "attribution",
    "cloud_spectrum": "attribution", "top_k_observations": "attribution", "what_if": "attribution",
    "make_baseline": "baselines", "randomized_copy": "sanity", "sanity_check": "sanity",
})
