"""cropviz.explain: attention maps, attributions, baselines, sanity checks and what-if edits.

No streamlit here; everything returns numpy arrays, dataclasses or DataFrames.
"""

from cropviz.explain.attention import AttentionResult, attention, rollout
from cropviz.explain.attribution import (
    METHODS,
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
    "METHODS", "Attribution", "AttentionResult", "BatchAttribution", "WhatIf", "attention",
    "attribute", "attribute_batch", "class_aggregate", "cloud_spectrum", "make_baseline",
    "randomized_copy", "rollout", "sanity_check", "top_k_observations", "what_if",
]
