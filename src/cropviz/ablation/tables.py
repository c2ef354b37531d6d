"""Seed 004 tables: the paper's published numbers, our results files read back and compared,
and the tables the ablation pages show."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cropviz.errors import ConfigurationError, DatasetError

#: The seed 004 patch models, in the paper's table order.
SEED004_MODELS: tuple[str, ...] = ("cnn", "cnn_gru7", "cnn_gru8", "cnn_gru9", "gru", "convlstm")


#: The paper's display names.
PAPER_NAMES: dict[str, str] = {"cnn": "CNN", "cnn_gru7": "CNN+GRU7", "cnn_gru8": "CNN+GRU8",
                               "cnn_gru9": "CNN+GRU9", "gru": "GRU", "convlstm": "ConvLSTM",
                               "random_forest": "RF"}


ORDERS = ("ordered", "shuffled")


THEIRS = "theirs (real T31TFM data, Garnot et al.)"


RESULTS_FORMAT = "cropviz seed004 time-space results 1"


def command_line(root: str | Path = "DIR", out: str | Path = "FILE", folds: int = 1, quick: bool = False) -> str:
    """The CLI command that produces a results file."""
    extra = (" --quick" if quick else "") + (f" --folds {folds}" if folds > 1 else "")
    return f"cropviz reproduce time-space --root {root}{extra} --out {out}"


def paper_tables() -> pd.DataFrame:
    """The paper's published Tables 1-4 (real Sentinel-2 T31TFM data) as a long table:
    ``table, model, column, value`` (value is text for kernel lists, else a number) and ``source``."""
    return _paper_tables().copy()


@functools.cache
def _paper_tables() -> pd.DataFrame:
    with resources.files("cropviz.data.resources").joinpath("seed004_tables.csv").open("r") as handle:
        frame = pd.read_csv(handle, dtype={"value": str})
    frame["number"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


def paper_table(number: int) -> pd.DataFrame:
    """Paper table ``number`` (1-4) in its printed form: one row per model (per class for 3)."""
    return _paper_table(number).copy()


@functools.lru_cache(maxsize=8)
def _paper_table(number: int) -> pd.DataFrame:
    frame = _paper_tables()
    part = frame[frame["table"] == number]
    if part.empty:
        raise ConfigurationError(f"the seed 004 paper has tables 1-4, not {number}")
    values = part["number"].where(part["number"].notna(), part["value"])
    wide = part.assign(v=values).pivot(index="model", columns="column", values="v")
    order = list(dict.fromkeys(part["model"]))
    return wide.loc[order, list(dict.fromkeys(part["column"]))].rename_axis(
        "class" if number == 3 else "model").rename_axis(None, axis=1)


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results file written by :func:`reproduce_time_space`."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(path, f"no results file; produce one with `{command_line(out=path)}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(path, f"not a JSON results file ({error})") from None
    return check_results(results, path)


def check_results(results: Any, where: str | Path = "results") -> dict[str, Any]:
    """Validate the shape of a results dict; DatasetError naming ``where`` otherwise."""
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT or not isinstance(
            results.get("results"), list):
        raise DatasetError(where, f"not a cropviz seed 004 results file (expected format {RESULTS_FORMAT!r})")
    return results


def results_frame(results: dict[str, Any]) -> pd.DataFrame:
    """One row per (model, order): metrics, parameters, temporal share, epochs, family."""
    columns = ["model", "paper_name", "family", "order", "overall_accuracy", "macro_f1", "precision", "recall",
               "kappa", "parameters", "temporal_share", "epochs", "seed", "test_parcels"]
    frame = pd.DataFrame(results["results"])
    for column in columns:
        if column not in frame:
            frame[column] = np.nan
    frame["macro_f1_std"] = [r.get("spread", {}).get("macro_f1_std", np.nan) for r in results["results"]]
    return frame[columns + ["macro_f1_std"]]


def _rows(results: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["model"], r["order"]): r for r in results["results"]}


def _fold_f1(row: dict[str, Any] | None) -> np.ndarray | None:
    """Per-fold macro F1 (percent) of a results row, None without at least two folds."""
    folds = (row or {}).get("folds") or []
    return 100 * np.array([f["macro_f1"] for f in folds], dtype=float) if len(folds) > 1 else None


def _paired(*rows: dict[str, Any] | None) -> list[np.ndarray] | None:
    """The per-fold macro F1 of several rows, fold by fold, or None unless all have the same folds."""
    values = [_fold_f1(row) for row in rows]
    if any(v is None for v in values) or len({len(v) for v in values if v is not None}) != 1:
        return None
    return [v for v in values if v is not None]


def _std(values: np.ndarray | None) -> float:
    return float(np.std(values, ddof=1)) if values is not None and len(values) > 1 else np.nan


def folds_run(results: dict[str, Any]) -> int:
    """How many folds (or splits) the rows of ``results`` average: the protocol's ``folds_run``
    when a study ran only some of its folds, else its ``folds``."""
    protocol = results.get("protocol", {})
    return len(protocol.get("folds_run") or range(int(protocol.get("folds", 1))))


def order_table(results: dict[str, Any]) -> pd.DataFrame:
    """Table 4 form (percent): per model macro F1 ordered, shuffled and the difference; with folds,
    ``ordered_std``, ``shuffled_std`` and ``delta_std`` (std of the per-fold shuffled - ordered
    differences, ddof 1), NaN without."""
    frame = results_frame(results)
    both = frame.pivot_table(index="model", columns="order", values="macro_f1", aggfunc="first")
    both = both.reindex(columns=list(ORDERS))
    both = both.dropna(subset=["shuffled"]) * 100
    both["delta"] = both["shuffled"] - both["ordered"]
    rows = _rows(results)
    pairs = {m: (rows.get((m, "ordered")), rows.get((m, "shuffled"))) for m in both.index}
    both["ordered_std"] = [_std(_fold_f1(o)) for o, _ in pairs.values()]
    both["shuffled_std"] = [_std(_fold_f1(s)) for _, s in pairs.values()]
    both["delta_std"] = [_std(p[1] - p[0]) if (p := _paired(*pair)) else np.nan for pair in pairs.values()]
    family = frame.drop_duplicates("model").set_index("model")["family"]
    both.insert(0, "family", family.reindex(both.index))
    order = [m for m in frame["model"].drop_duplicates() if m in both.index]
    return both.loc[order].round(1).rename_axis("model").reset_index().rename_axis(None, axis=1)


def space_time_table(results: dict[str, Any]) -> pd.DataFrame:
    """Tables 1 and 2 form for the seed 004 models, ordered inputs: OA, F1, precision, recall
    (percent), parameters and temporal share."""
    frame = results_frame(results)
    frame = frame[(frame["family"] == "seed 004") & (frame["order"] == "ordered")].copy()
    rank = {m: k for k, m in enumerate(SEED004_MODELS)}
    frame = frame.sort_values("model", key=lambda s: s.map(lambda m: rank.get(m, len(rank))), kind="stable")
    for column in ("overall_accuracy", "macro_f1", "precision", "recall"):
        frame[column] = (frame[column] * 100).round(1)
    frame["macro_f1_std"] = (frame["macro_f1_std"] * 100).round(1)
    keep = ["model", "paper_name", "overall_accuracy", "macro_f1", "precision", "recall", "parameters",
            "temporal_share", "macro_f1_std"]
    return frame[keep].reset_index(drop=True)


#: The thresholds of issue #18's checks of the paper's directions (macro F1 points).
GRU_OVER_CNN = 10.0
GRU_ORDER_COST = 3.0
#: The number each claim of :func:`paper_directions` with a threshold is compared with (percent points).
CLAIM_THRESHOLDS: dict[str, float] = {"a": GRU_OVER_CNN, "b": -GRU_ORDER_COST, "c": 0.0}


def _directions_claims() -> list[tuple[str, str, list[tuple[str, str]], list[float], Any, Any]]:
    """(id, claim, rows needed, the paper's numbers for them, value, test) of each checked claim."""
    f1 = paper_table(2)["F-score"].astype(float)
    table4 = paper_table(4)
    order4 = [float(table4.loc[name, column]) for name in ("GRU", "ConvLSTM") for column in ("Ordered", "Shuffled")]
    claims: list[tuple[str, str, list[tuple[str, str]], list[float], Any, Any]] = [
        ("a", f"GRU beats CNN by >= {GRU_OVER_CNN:g} macro F1 points", [("gru", "ordered"), ("cnn", "ordered")],
         [f1["GRU"], f1["CNN"]], lambda gru, cnn: gru - cnn, lambda v, *_: v >= GRU_OVER_CNN),
        ("b", f"shuffling costs the GRU >= {GRU_ORDER_COST:g} points", [("gru", "ordered"), ("gru", "shuffled")],
         order4[:2], lambda o, s: s - o, lambda v, *_: v <= -GRU_ORDER_COST),
        ("c", "shuffling costs the GRU more than the ConvLSTM",
         [("gru", "ordered"), ("gru", "shuffled"), ("convlstm", "ordered"), ("convlstm", "shuffled")], order4,
         lambda go, gs, co, cs: (gs - go) - (cs - co), lambda v, *_: v < 0)]
    for model in ("cnn_gru7", "cnn_gru8", "cnn_gru9"):
        name = PAPER_NAMES[model]
        claims.append(("d", f"{name} lies between CNN and GRU",
                       [(model, "ordered"), ("cnn", "ordered"), ("gru", "ordered")], [f1[name], f1["CNN"], f1["GRU"]],
                       lambda v, c, g: v,
                       lambda _, v, c, g: (np.minimum(c, g) <= v) & (v <= np.maximum(c, g))))
    return claims


def _describe(claim_id: str, rows: list[dict[str, Any]], inputs: list[float], span: str) -> str:
    """The numbers behind one claim, e.g. 'GRU 71.2 ± 1.1 vs CNN 55.0 ± 2.0 over 5 folds'."""
    shown = []
    for row, value in zip(rows, inputs, strict=True):
        std = _std(_fold_f1(row))
        shown.append(f"{PAPER_NAMES.get(row['model'], row['model'])} {row['order']} {value:.1f}"
                     + ("" if np.isnan(std) else f" ± {std:.1f}"))
    if claim_id == "c":
        go, gs, co, cs = inputs
        return (f"shuffled - ordered: GRU {gs - go:+.1f}, ConvLSTM {cs - co:+.1f} {span} "
                f"({'; '.join(shown)})")
    if claim_id == "d":
        return f"{shown[0]}; CNN {inputs[1]:.1f}, GRU {inputs[2]:.1f} {span}"
    return f"{' vs '.join(shown)} {span}"


def paper_directions(results: dict[str, Any]) -> pd.DataFrame:
    """The paper's directions checked on ``results`` (macro F1, percent points): one row per claim,
    ``claim_id`` (a: GRU - CNN, b: GRU's order cost, c: GRU's cost - ConvLSTM's, d: each CNN+GRU
    variant between CNN and GRU), ``claim``, ``paper`` (the claim's number in the paper's Tables 2
    and 4), ``paper_holds``, ``ours``, ``ours_std`` (std over folds of the paired per-fold values,
    NaN without folds), ``holds`` (None when the results lack a row it needs) and ``detail``."""
    rows = _rows(results)
    folds = folds_run(results)
    span = f"over {folds} folds" if folds > 1 else "on one split"
    out = []
    for claim_id, claim, needed, paper_inputs, value, test in _directions_claims():
        paper = round(float(value(*paper_inputs)), 1)
        row: dict[str, Any] = {"claim_id": claim_id, "claim": claim, "paper": paper,
                               "paper_holds": bool(test(paper, *paper_inputs)),
                               "ours": np.nan, "ours_std": np.nan, "holds": None}
        missing = [f"{PAPER_NAMES.get(m, m)} {o}" for m, o in needed if (m, o) not in rows]
        if missing:
            out.append(row | {"detail": f"not checked: the results hold no {', '.join(missing)} run"})
            continue
        found = [rows[key] for key in needed]
        inputs = [round(100 * r["macro_f1"], 1) for r in found]
        ours = round(float(value(*inputs)), 1)
        detail = _describe(claim_id, found, inputs, span)
        if claim_id in ("a", "b"):
            detail += f": {ours:+.1f}"
        per_fold = _paired(*found)
        std = np.nan
        if per_fold is not None:
            fold_inputs = [np.round(v, 1) for v in per_fold]
            fold_values = np.round(np.broadcast_to(value(*fold_inputs), fold_inputs[0].shape).astype(float), 1)
            std = round(_std(fold_values), 1)
            held = np.asarray(test(fold_values, *fold_inputs), dtype=bool)
            detail += (f"; per fold {fold_values.min():.1f} to {fold_values.max():.1f}, "
                       f"holding in {int(held.sum())} of {len(held)}")
        out.append(row | {"ours": ours, "ours_std": std, "holds": bool(test(ours, *inputs)),
                          "detail": detail})
    return pd.DataFrame(out, columns=["claim_id", "claim", "paper", "paper_holds", "ours", "ours_std", "holds",
                                      "detail"]).astype({"holds": object})


def per_class_table(results: dict[str, Any], models: Sequence[str] = ("cnn", "gru", "cnn_gru9", "convlstm"),
                    order: str = "ordered") -> pd.DataFrame:
    """Table 3 form (percent): per-class test F1, one column per model."""
    rows = {r["model"]: r for r in results["results"] if r["order"] == order and r["family"] == "seed 004"}
    columns = {PAPER_NAMES.get(m, m): pd.Series(rows[m]["per_class_f1"]) * 100 for m in models if m in rows}
    return pd.DataFrame(columns).round(1)


def per_class_order_differences(results: dict[str, Any], model: str) -> pd.DataFrame:
    """Per-class F1 (percent) of ``model`` ordered and shuffled, the difference and the test support."""
    rows = {r["order"]: r for r in results["results"] if r["model"] == model}
    if set(rows) != set(ORDERS):
        raise ConfigurationError(f"{model}: the results hold no ordered and shuffled runs")
    frame = pd.DataFrame({"ordered": pd.Series(rows["ordered"]["per_class_f1"]) * 100,
                          "shuffled": pd.Series(rows["shuffled"]["per_class_f1"]) * 100})
    frame["delta"] = frame["shuffled"] - frame["ordered"]
    frame["support"] = pd.Series(rows["ordered"].get("per_class_support", {}))
    return frame.round(1).rename_axis("class")


def paper_comparison(results: dict[str, Any]) -> pd.DataFrame:
    """Macro F1 and temporal share per seed 004 model, theirs (Tables 1-2) and ours, long form
    ``source, model, macro_f1, macro_f1_std, temporal_share, share_note`` (std over folds: ours
    with folds, else NaN)."""
    theirs = paper_table(2)
    shares = paper_table(1)["temporal_ratio"]
    ours = space_time_table(results).set_index("paper_name")
    rows = []
    for name in [m for m in theirs.index if m != "RF"]:  # the RF baseline has no spatial/temporal parts
        share, note = shares.get(name), "Table 1"
        if not isinstance(share, (int, float)) or pd.isna(share):
            share = float(ours["temporal_share"].get(name, np.nan)) if name in ours.index else np.nan
            note = "not in the paper: cropviz's count for the same architecture"
        rows.append({"source": THEIRS, "model": name, "macro_f1": float(theirs.loc[name, "F-score"]),
                     "temporal_share": float(share), "share_note": note})
    label = ours_label(results)
    for name, row in ours.iterrows():
        rows.append({"source": label, "model": name, "macro_f1": float(row["macro_f1"]),
                     "macro_f1_std": float(row["macro_f1_std"]), "temporal_share": float(row["temporal_share"]),
                     "share_note": "cropviz parameter count"})
    return pd.DataFrame(rows, columns=["source", "model", "macro_f1", "macro_f1_std", "temporal_share", "share_note"])


def ours_label(results: dict[str, Any]) -> str:
    """'ours (simulated demo)' or 'ours (real data)' from a results file's data description."""
    return "ours (simulated demo)" if results.get("data", {}).get("simulated") else "ours (real data)"


def card_order_table(cards: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Table 4 form (percent) from model cards: for each ``X`` with a ``X_shuffled`` card, the test
    macro F1 (``card['test']``) ordered, shuffled and the difference."""
    rows = []
    for name, card in cards.items():
        twin = cards.get(f"{name}_shuffled")
        if name.endswith("_shuffled") or twin is None:
            continue
        ordered, shuffled = (c.get("test", {}).get("macro_f1") for c in (card, twin))
        if ordered is None or shuffled is None:
            continue
        rows.append({"model": name, "family": card.get("family", ""), "ordered": 100 * ordered,
                     "shuffled": 100 * shuffled, "delta": 100 * (shuffled - ordered),
                     "epochs": card.get("epochs"), "test region": card.get("test", {}).get("region", "")})
    return pd.DataFrame(rows, columns=["model", "family", "ordered", "shuffled", "delta", "epochs",
                                       "test region"]).round(1)


def order_disagreements(ordered: pd.DataFrame, shuffled: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Predictions of an ordered model and its shuffled twin side by side (parcels both predicted):
    id, class, ordered, confidence_ordered, shuffled, confidence_shuffled and ``disagree``."""
    parts = [frame[["id", "true", "pred", "confidence"]]
             .rename(columns={"pred": f"pred_{tag}", "confidence": f"confidence_{tag}"})
             for frame, tag in ((ordered, "ordered"), (shuffled, "shuffled"))]
    joined = parts[0].merge(parts[1].drop(columns="true"), on="id")
    joined.insert(1, "class", [classes[k] for k in joined["true"]])
    for tag in ("ordered", "shuffled"):
        joined[tag] = [classes[k] for k in joined[f"pred_{tag}"]]
    joined["disagree"] = joined["pred_ordered"] != joined["pred_shuffled"]
    return joined[["id", "class", "ordered", "confidence_ordered", "shuffled", "confidence_shuffled", "disagree"]]


class Seed004Study:
    """What the ablation pages show: the paper's published tables beside one results file of
    ``cropviz reproduce time-space`` (``results`` None when there is none)."""

    #: Label of the paper's numbers.
    theirs = THEIRS
    paper_table = staticmethod(paper_table)
    command_line = staticmethod(command_line)
    card_order_table = staticmethod(card_order_table)

    def __init__(self, results: dict[str, Any] | None) -> None:
        self.results = results

    def _checked(self) -> dict[str, Any]:
        if self.results is None:
            raise ConfigurationError("no seed 004 results file: run `cropviz reproduce time-space` first")
        return self.results

    @property
    def label(self) -> str:
        """'ours (simulated demo)' or 'ours (real data)'."""
        return ours_label(self._checked())

    def order_table(self) -> pd.DataFrame:
        """Table 4 form of the results (see :func:`order_table`)."""
        return order_table(self._checked())

    def space_time_table(self) -> pd.DataFrame:
        """Tables 1-2 form of the results (see :func:`space_time_table`)."""
        return space_time_table(self._checked())

    def per_class_table(self) -> pd.DataFrame:
        """Table 3 form of the results (see :func:`per_class_table`)."""
        return per_class_table(self._checked())

    def per_class_order_differences(self, model: str) -> pd.DataFrame:
        """Per-class F1 of ``model`` ordered and shuffled (see :func:`per_class_order_differences`)."""
        return per_class_order_differences(self._checked(), model)

    def paper_comparison(self) -> pd.DataFrame:
        """Theirs and ours, macro F1 against temporal share (see :func:`paper_comparison`)."""
        return paper_comparison(self._checked())

    @property
    def folds(self) -> int:
        """Folds the results average (1: one train/validation/test split; see :func:`folds_run`)."""
        return folds_run(self._checked())

    def run_summary(self) -> str:
        """The size of the results' run in words, e.g. '320 simulated patch parcels, 5-fold
        cross-validation, 12 epochs (the paper: 50)'."""
        results = self._checked()
        data, protocol = results.get("data", {}), results.get("protocol", {})
        parcels = (data.get("patches") or {}).get("parcels")
        kind = "simulated patch parcels" if data.get("simulated") else "patch parcels"
        planned = int(protocol.get("folds", 1))
        split = (f"{planned}-fold cross-validation" if self.folds == planned > 1 else
                 f"{self.folds} of the {planned} folds of a cross-validation" if planned > 1 else
                 "one train/validation/test split")
        paper = protocol.get("paper_epochs")
        return (f"{parcels if parcels is not None else 'an unknown number of'} {kind}, {split}, "
                f"{protocol.get('epochs', '?')} epochs" + (f" (the paper: {paper})" if paper else ""))

    def size_note(self) -> str:
        """What the run's size says about its differences, e.g. 'this run has 2000 simulated patch
        parcels, 5-fold cross-validation, 40 epochs, so differences within the fold spread are noise'."""
        if self.results is None:
            return "the size of a run is given by its results file"
        return (f"this run has {self.run_summary()}, so differences "
                + ("within the fold spread are noise" if self.folds > 1 else "of a few F1 points may be noise"))

    def direction_warnings(self, claims: Sequence[str] | None = None) -> list[str]:
        """One line per claim of :meth:`paper_directions` that the results do not show, with the
        numbers (:meth:`direction_reason` says why)."""
        lines = []
        for row in self.paper_directions(claims).itertuples():
            if row.holds is None or row.holds:
                continue
            number = "{:.1f}" if row.claim_id == "d" else "{:+.1f}"
            spread = "" if np.isnan(row.ours_std) else f" ± {row.ours_std:.1f}"
            paper = "" if row.paper_holds else " (the paper's own number does not meet it either)"
            lines.append(f"Not reproduced here: {row.claim}. Paper {number.format(row.paper)}{paper}, ours "
                         f"{number.format(row.ours)}{spread} ({row.detail}).")
        return lines

    def direction_reason(self, claims: Sequence[str] | None = None) -> str:
        """Why a direction of the paper (of ``claims``, default all) may not appear in these results;
        on the simulated demo with a failing order claim (b, c), what shuffling did here and why."""
        results = self._checked()
        if results.get("data", {}).get("simulated"):
            reason = (f"Why: the demo is simulated ({self.run_summary()}). Its patches and labels are made by "
                      "cropviz's simulator, so which model wins is set by the signal the simulator put in space "
                      "and time, not by real crops; these are not BreizhCrops results.")
            checked = self.paper_directions(claims)
            failed = checked.loc[[holds is False for holds in checked["holds"]], "claim_id"]  # None: not checked
            if failed.isin(["b", "c"]).any():
                reason += " " + self._order_reason()
        else:
            reason = f"These results ({self.run_summary()}) do not show it."
        reason += "".join(" " + line for line in self._undecided(claims))
        return reason + (" One split gives no spread; `--folds 5` measures it." if self.folds == 1 else "")

    def _undecided(self, claims: Sequence[str] | None) -> list[str]:
        """A sentence per failed claim whose mean misses its threshold by less than the standard
        error of the mean over the folds: those folds cannot tell whether it holds."""
        lines = []
        for row in self.paper_directions(claims).itertuples():
            threshold = CLAIM_THRESHOLDS.get(str(row.claim_id))
            if row.holds is not False or threshold is None or np.isnan(row.ours_std) or self.folds < 2:
                continue
            error = row.ours_std / np.sqrt(self.folds)
            gap = abs(row.ours - threshold)
            if gap < error:
                lines.append(f"'{row.claim}' misses {threshold:+g} by {gap:.1f} points, less than the standard "
                             f"error of the mean over {self.folds} folds ({error:.1f}): these folds cannot "
                             "tell whether it holds.")
        return lines

    def _order_reason(self) -> str:
        """What shuffling cost the seed 004 models here against the paper's Table 4, and the
        simulator's part in it."""
        table = self.order_table().set_index("model")
        seed004 = table[table["family"] == "seed 004"]
        paper = paper_table(4)["Ordered"].astype(float) - paper_table(4)["Shuffled"].astype(float)
        text = (f"Shuffling the dates costs the seed 004 models {-seed004['delta'].max():.1f}-"
                f"{-seed004['delta'].min():.1f} macro F1 points here (the paper: {paper.min():.1f}-{paper.max():.1f}).")
        cnn = self.space_time_table().set_index("model")["macro_f1"].get("cnn")
        if cnn is not None and (seed004["shuffled"] < cnn).all():
            text += (f" Every shuffled one falls below the ordered CNN ({cnn:.1f}); the paper's all stayed above "
                     "its CNN.")
        return text + (" The simulator tells its classes apart mainly by the timing of their phenology and gives "
                       "every class the same in-field texture, so without the order a model has little left to go "
                       "on, whatever its share of spatial parameters. The paper reads its small losses as the "
                       "recurrent units remembering what they saw regardless of order; here that memory holds "
                       "little that tells the classes apart.")

    def paper_directions(self, claims: Sequence[str] | None = None) -> pd.DataFrame:
        """The paper's directions checked on the results (see :func:`paper_directions`), only
        ``claims`` (claim ids) when given."""
        table = paper_directions(self._checked())
        return table if claims is None else table[table["claim_id"].isin(list(claims))].reset_index(drop=True)
