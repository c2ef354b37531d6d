"""Seed 004 ablations: spatial vs temporal structure, and ordered vs shuffled time.

:func:`reproduce_time_space` trains the paper's patch models (CNN, GRU, CNN+GRU7/8/9, ConvLSTM)
with the paper's protocol where feasible (Adam, lr 1e-3, batch 32, best validation epoch; 5-fold
cross-validation with 3:1:1 train/validation/test as an option), the temporal ones also on
time-shuffled inputs, plus the same shuffle ablation for sequence models of the BreizhCrops zoo,
and writes one JSON results file. The paper's own published numbers (real Sentinel-2 data, tile
T31TFM, Garnot et al. 2019) ship as data: :func:`paper_tables`.

Shuffling uses :func:`cropviz.models.inputs.time_permutation` per parcel, exactly as
:class:`cropviz.models.Classifier` does at inference for shuffled checkpoints.

The package: :mod:`~cropviz.ablation.data` (regions read once, folds, epoch inputs),
:mod:`~cropviz.ablation.experiment` (training and the results file), :mod:`~cropviz.ablation.tables`
(the paper's tables and ours) and :mod:`~cropviz.ablation.explain` (one parcel as a model sees it).
"""

from cropviz.ablation.data import (
    AblationData,
    fold_splits,
    load_patches,
    load_sequences,
    model_inputs,
    open_region,
    region_split,
    shuffle_time,
)
from cropviz.ablation.experiment import (
    DEFAULT_EPOCHS,
    DEMO_TEST,
    DEMO_TRAIN,
    DEMO_VAL,
    PAPER_BATCH_SIZE,
    PAPER_EPOCHS,
    PAPER_LEARNING_RATE,
    QUICK_EPOCHS,
    QUICK_PATCHES,
    QUICK_SEQUENCES,
    SHUFFLED_MODELS,
    ZOO_SHUFFLE_MODELS,
    macro_summary,
    reproduce_time_space,
    train_and_test,
)
from cropviz.ablation.explain import (
    explain_input,
    input_ndvi,
)
from cropviz.ablation.tables import (
    ORDERS,
    PAPER_NAMES,
    RESULTS_FORMAT,
    SEED004_MODELS,
    THEIRS,
    Seed004Study,
    card_order_table,
    check_results,
    command_line,
    load_results,
    order_disagreements,
    order_table,
    ours_label,
    paper_comparison,
    paper_table,
    paper_tables,
    per_class_order_differences,
    per_class_table,
    results_frame,
    space_time_table,
)

__all__ = [
    "AblationData",
    "DEFAULT_EPOCHS",
    "DEMO_TEST",
    "DEMO_TRAIN",
    "DEMO_VAL",
    "ORDERS",
    "PAPER_BATCH_SIZE",
    "PAPER_EPOCHS",
    "PAPER_LEARNING_RATE",
    "PAPER_NAMES",
    "QUICK_EPOCHS",
    "QUICK_PATCHES",
    "QUICK_SEQUENCES",
    "RESULTS_FORMAT",
    "SEED004_MODELS",
    "Seed004Study",
    "SHUFFLED_MODELS",
    "THEIRS",
    "ZOO_SHUFFLE_MODELS",
    "card_order_table",
    "check_results",
    "command_line",
    "explain_input",
    "fold_splits",
    "input_ndvi",
    "load_patches",
    "load_results",
    "load_sequences",
    "macro_summary",
    "model_inputs",
    "open_region",
    "order_disagreements",
    "order_table",
    "ours_label",
    "paper_comparison",
    "paper_table",
    "paper_tables",
    "per_class_order_differences",
    "per_class_table",
    "region_split",
    "reproduce_time_space",
    "results_frame",
    "shuffle_time",
    "space_time_table",
    "train_and_test",
]
