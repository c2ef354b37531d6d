"""cropviz.early: early classification of crop time series (ELECTS)."""

from cropviz.early.elects import (
    EarlyPrediction,
    ElectsModel,
    early_metrics,
    elects_loss,
    stopping_probabilities,
)

__all__ = [
    "EarlyPrediction",
    "ElectsModel",
    "early_metrics",
    "elects_loss",
    "stopping_probabilities",
]
