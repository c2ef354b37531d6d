"""The BreizhCrops model zoo, reimplemented with checkpoint-compatible parameter names.

Every model maps N x T x D float inputs to N x C log-probabilities. Their published and demo
hyper-parameters live in the one model table, :mod:`cropviz.models.registry`.
"""

from __future__ import annotations

from cropviz.models.zoo.inceptiontime import InceptionTime
from cropviz.models.zoo.lstm import LSTM
from cropviz.models.zoo.msresnet import MSResNet
from cropviz.models.zoo.omniscalecnn import OmniScaleCNN
from cropviz.models.zoo.starrnn import StarRNN
from cropviz.models.zoo.tempcnn import TempCNN
from cropviz.models.zoo.transformer import TransformerModel

__all__ = [
    "InceptionTime",
    "LSTM",
    "MSResNet",
    "OmniScaleCNN",
    "StarRNN",
    "TempCNN",
    "TransformerModel",
]
