"""Seed 004 tables: the paper's published numbers and ours in the paper's form."""

from __future__ import annotations

import numpy as np
import pytest

from cropviz import ablation
from cropviz.ablation import (
    SEED004_MODELS,
    SHUFFLED_MODELS,
    ZOO_SHUFFLE_MODELS,
    order_table,
    paper_comparison,
    paper_table,
    per_class_order_differences,
    space_time_table,
)
from cropviz.errors import ConfigurationError


def test_tables_in_the_papers_form(tiny_results):
    _, results = tiny_results
    table4 = order_table(results)
    assert set(table4["model"]) == {*SHUFFLED_MODELS, *ZOO_SHUFFLE_MODELS}
    np.testing.assert_allclose(table4["delta"], table4["shuffled"] - table4["ordered"], atol=0.11)
    table2 = space_time_table(results)
    assert list(table2["model"]) == list(SEED004_MODELS)
    assert table2["macro_f1"].between(0, 100).all()
    diff = per_class_order_differences(results, "gru")
    assert {"ordered", "shuffled", "delta", "support"} <= set(diff.columns)
    with pytest.raises(ConfigurationError):
        per_class_order_differences(results, "cnn")
    comparison = paper_comparison(results)
    assert set(comparison["source"]) == {ablation.THEIRS, "ours (simulated demo)"}


def test_the_study_object_gives_the_pages_the_same_tables(tiny_results):
    _, results = tiny_results
    study = ablation.Seed004Study(results)
    assert study.label == "ours (simulated demo)" and study.theirs == ablation.THEIRS
    assert study.order_table().equals(order_table(results))
    assert study.space_time_table().equals(space_time_table(results))
    assert study.per_class_order_differences("gru").equals(per_class_order_differences(results, "gru"))
    assert study.paper_comparison().equals(paper_comparison(results))
    assert study.paper_table(4).equals(paper_table(4))
    assert "--folds 5" in study.command_line("DIR", "out.json", folds=5)
    empty = ablation.Seed004Study(None)
    assert empty.paper_table(2).equals(paper_table(2))  # the paper's tables need no results file
    with pytest.raises(ConfigurationError, match="reproduce time-space"):
        empty.order_table()


def test_paper_tables_hold_the_published_numbers():
    assert paper_table(1).loc["CNN", "parameters"] == 92899
    assert paper_table(1).loc["CNN+GRU9", "kernels"] == "16:16:16"
    assert paper_table(2).loc["GRU", "F-score"] == 53.8
    assert paper_table(2).loc["RF", "F-score"] == 36.9
    assert paper_table(3).loc["Grapevine", "CNN"] == 81.8
    assert paper_table(4).loc["GRU", "Delta"] == -8.5
    assert ablation.paper_tables()["source"].str.contains("T31TFM").all()
    with pytest.raises(ConfigurationError):
        paper_table(5)


def test_paper_tables_are_read_once_and_handed_out_as_copies():
    first = paper_table(2)
    first.loc["GRU", "F-score"] = 0.0  # a caller's edit stays in its copy
    tables = ablation.paper_tables()
    tables.drop(tables.index, inplace=True)
    assert paper_table(2).loc["GRU", "F-score"] == 53.8
    assert len(ablation.paper_tables()) > 0
    assert paper_table(2) is not paper_table(2)


def test_order_disagreements_put_both_models_side_by_side():
    import pandas as pd

    classes = ["barley", "wheat", "corn"]
    ordered = pd.DataFrame({"id": [1, 2, 3, 4], "true": [0, 1, 2, 2], "pred": [0, 1, 1, 2],
                            "confidence": [0.9, 0.8, 0.6, 0.7]})
    shuffled = pd.DataFrame({"id": [2, 3, 4, 5], "true": [1, 2, 2, 0], "pred": [0, 1, 2, 0],
                             "confidence": [0.5, 0.4, 0.9, 0.9]})
    table = ablation.order_disagreements(ordered, shuffled, classes)
    assert table["id"].tolist() == [2, 3, 4]  # parcels both models predicted
    assert table["class"].tolist() == ["wheat", "corn", "corn"]
    assert table["ordered"].tolist() == ["wheat", "wheat", "corn"]
    assert table["shuffled"].tolist() == ["barley", "wheat", "corn"]
    assert table["disagree"].tolist() == [True, False, False]
    assert table["confidence_shuffled"].tolist() == [0.5, 0.4, 0.9]


def _hand_row(model: str, order: str, folds: list[float]) -> dict:
    """One results row (as reproduce_time_space writes it) from per-fold macro F1 in percent."""
    from cropviz.ablation.tables import PAPER_NAMES

    f1 = [v / 100 for v in folds]
    row = {"model": model, "paper_name": PAPER_NAMES.get(model, model), "order": order, "family": "seed 004",
           "macro_f1": float(np.mean(f1)), "temporal_share": 0.5}
    if len(f1) > 1:
        row["folds"] = [{"macro_f1": v, "n": 10} for v in f1]
        row["spread"] = {"macro_f1_std": float(np.std(f1, ddof=1))}
    return row


def _hand_results(rows: list[dict], folds: int = 3, simulated: bool = True) -> dict:
    return {"format": ablation.RESULTS_FORMAT, "results": rows, "protocol": {"folds": folds, "epochs": 2},
            "data": {"simulated": simulated, "patches": {"parcels": 60}}}


#: Three folds where every direction of the paper holds except CNN+GRU8 above the GRU; no CNN+GRU9.
FOLDED = _hand_results([
    _hand_row("cnn", "ordered", [60, 61, 62]), _hand_row("cnn_gru7", "ordered", [65, 66, 67]),
    _hand_row("cnn_gru8", "ordered", [73, 74, 75]), _hand_row("gru", "ordered", [70, 72, 74]),
    _hand_row("convlstm", "ordered", [60, 60, 60]), _hand_row("gru", "shuffled", [65, 66, 70]),
    _hand_row("convlstm", "shuffled", [58, 59, 57])])


def test_order_table_gives_the_spread_of_the_per_fold_differences():
    table = order_table(FOLDED).set_index("model")
    assert list(table.index) == ["gru", "convlstm"]
    gru = table.loc["gru"]
    assert (gru["ordered"], gru["shuffled"], gru["delta"]) == (72.0, 67.0, -5.0)
    # per-fold deltas -5, -6, -4: std 1.0; ordered 70/72/74: 2.0; shuffled 65/66/70: sqrt(7) = 2.6
    assert (gru["delta_std"], gru["ordered_std"], gru["shuffled_std"]) == (1.0, 2.0, 2.6)
    assert table.loc["convlstm", "delta_std"] == 1.0  # -2, -1, -3
    single = _hand_results([_hand_row("gru", "ordered", [70]), _hand_row("gru", "shuffled", [66])], folds=1)
    row = order_table(single).iloc[0]
    assert row["delta"] == -4.0
    assert np.isnan(row["delta_std"]) and np.isnan(row["ordered_std"]) and np.isnan(row["shuffled_std"])


def test_space_time_and_comparison_keep_the_fold_spread():
    assert space_time_table(FOLDED).set_index("model").loc["gru", "macro_f1_std"] == 2.0
    ours = paper_comparison(FOLDED).set_index(["source", "model"])
    assert ours.loc[("ours (simulated demo)", "CNN"), "macro_f1_std"] == 1.0
    assert np.isnan(ours.loc[(ablation.THEIRS, "CNN"), "macro_f1_std"])


def test_paper_directions_check_each_claim_on_the_folds():
    from cropviz.ablation.tables import paper_directions

    table = paper_directions(FOLDED)
    assert list(table["claim_id"]) == ["a", "b", "c", "d", "d", "d"]
    assert list(table["paper"]) == [18.9, -8.5, -7.2, 53.2, 55.1, 55.1]  # Tables 2 and 4 of the paper
    # the paper's own CNN+GRU8/9 (55.1) lie above its GRU (53.8)
    assert list(table["paper_holds"]) == [True, True, True, True, False, False]
    assert list(table["ours"][:5]) == [11.0, -5.0, -3.0, 66.0, 74.0]
    assert list(table["ours_std"][:5]) == [1.0, 1.0, 2.0, 1.0, 1.0]
    assert list(table["holds"]) == [True, True, True, True, False, None]
    a, b, c, d7, d8, d9 = table["detail"]
    assert a == ("GRU ordered 72.0 ± 2.0 vs CNN ordered 61.0 ± 1.0 over 3 folds: +11.0; "
                 "per fold 10.0 to 12.0, holding in 3 of 3")
    assert b.endswith(": -5.0; per fold -6.0 to -4.0, holding in 3 of 3")
    assert c.startswith("shuffled - ordered: GRU -5.0, ConvLSTM -2.0 over 3 folds")
    assert c.endswith("per fold -5.0 to -1.0, holding in 3 of 3")
    assert d7.endswith("holding in 3 of 3") and d8.endswith("holding in 0 of 3")
    assert d9 == "not checked: the results hold no CNN+GRU9 ordered run"
    assert np.isnan(table["ours"][5])


def test_paper_directions_that_fail_or_lack_runs():
    from cropviz.ablation.tables import paper_directions

    failing = _hand_results([_hand_row("cnn", "ordered", [65, 66, 67]), _hand_row("gru", "ordered", [70, 72, 74]),
                             _hand_row("gru", "shuffled", [69, 71, 72])])
    table = paper_directions(failing).set_index("claim_id")
    assert (table.loc["a", "ours"], table.loc["a", "holds"]) == (6.0, False)
    assert table.loc["a", "detail"].endswith("per fold 5.0 to 7.0, holding in 0 of 3")
    assert (table.loc["b", "ours"], table.loc["b", "holds"]) == (-1.3, False)  # 70.7 - 72.0
    assert table.loc["c", "holds"] is None and "ConvLSTM ordered, ConvLSTM shuffled" in table.loc["c", "detail"]
    study = ablation.Seed004Study(failing)
    assert study.paper_directions(["b"])["claim_id"].tolist() == ["b"]
    warnings = study.direction_warnings(["a", "b", "c"])
    assert warnings[0].startswith("Not reproduced here: GRU beats CNN by >= 10 macro F1 points. "
                                  "Paper +18.9, ours +6.0 ± 1.0 (GRU ordered 72.0 ± 2.0 vs CNN ordered 66.0")
    assert warnings[1].startswith("Not reproduced here: shuffling costs the GRU >= 3 points. Paper -8.5, ours -1.3")
    assert len(warnings) == 2  # the ConvLSTM claim is not checked, not failed
    assert study.folds == 3
    assert study.run_summary() == "60 simulated patch parcels, 3-fold cross-validation, 2 epochs"
    assert study.size_note().endswith("2 epochs, so differences within the fold spread are noise")
    assert ablation.Seed004Study(None).size_note() == "the size of a run is given by its results file"
    assert "simulated" in study.direction_reason() and "not BreizhCrops results" in study.direction_reason()
    # one split, a difference of 58.3 - 48.3 (9.999... in floating point) meets the 10-point claim
    single = _hand_results([_hand_row("cnn", "ordered", [48.3]), _hand_row("gru", "ordered", [58.3])], folds=1)
    row = paper_directions(single).iloc[0]
    assert (row["ours"], row["holds"]) == (10.0, True) and np.isnan(row["ours_std"])
    assert row["detail"] == "GRU ordered 58.3 vs CNN ordered 48.3 on one split: +10.0"
    assert "--folds 5" in ablation.Seed004Study(single).direction_reason()
    assert ablation.Seed004Study(single).size_note().endswith("so differences of a few F1 points may be noise")


def test_direction_reason_says_when_the_folds_cannot_settle_a_claim():
    # GRU - CNN per fold: 20, 0, 9 -> 73.3 - 63.7 = 9.6 ± 10.0, standard error 5.8: 0.4 short of 10 is undecided
    close = _hand_results([_hand_row("cnn", "ordered", [60, 70, 61]), _hand_row("gru", "ordered", [80, 70, 70])])
    study = ablation.Seed004Study(close)
    assert study.paper_directions(["a"])["holds"].tolist() == [False]
    assert ("'GRU beats CNN by >= 10 macro F1 points' misses +10 by 0.4 points, less than the standard error of "
            "the mean over 3 folds (5.8): these folds cannot tell whether it holds.") in study.direction_reason(["a"])
    # a tight spread (6.0 ± 1.0, standard error 0.6) settles it: no such sentence
    tight = _hand_results([_hand_row("cnn", "ordered", [65, 66, 67]), _hand_row("gru", "ordered", [70, 72, 74])])
    assert "cannot tell" not in ablation.Seed004Study(tight).direction_reason(["a"])


def test_direction_reason_explains_a_failed_order_claim_on_the_demo_with_its_numbers():
    # shuffling costs the GRU 20 points (72 -> 52) and the ConvLSTM 30 (80 -> 50): claim c fails
    rows = [_hand_row("cnn", "ordered", [60, 61, 62]), _hand_row("gru", "ordered", [70, 72, 74]),
            _hand_row("gru", "shuffled", [50, 52, 54]), _hand_row("convlstm", "ordered", [79, 80, 81]),
            _hand_row("convlstm", "shuffled", [49, 50, 51])]
    study = ablation.Seed004Study(_hand_results(rows))
    assert study.paper_directions(["c"])["holds"].tolist() == [False]
    reason = study.direction_reason(["b", "c"])
    assert "costs the seed 004 models 20.0-30.0 macro F1 points here (the paper: 1.2-8.5)" in reason
    assert "Every shuffled one falls below the ordered CNN (61.0)" in reason
    assert "same in-field texture" in reason
    # the page of claims a and d (which hold or fail on their own) gets no word on order
    assert "Shuffling" not in study.direction_reason(["a", "d"])
    # a shuffled model above the CNN: no claim that all fall below it
    above = [*rows[:2], _hand_row("gru", "shuffled", [65, 66, 67]), *rows[3:]]
    assert "falls below" not in ablation.Seed004Study(_hand_results(above)).direction_reason(["c"])
    # real data: no word on the simulator
    real = ablation.Seed004Study(_hand_results(rows, simulated=False)).direction_reason(["b", "c"])
    assert "simulat" not in real and "Shuffling" not in real
