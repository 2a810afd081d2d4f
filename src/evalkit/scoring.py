"""Scores (0-100) per unit and cycle: indicator scores, domain, overall and total scores, grades
and ranks.

Only assessed units (``role == "assessed"``; a missing role counts as assessed) are scored;
reference units, the benchmarks others measure themselves against, get no rows at all.

Notation: x is the unit's observation for the cycle's period (its *current* value), s = +1 for a
higher-is-better indicator and -1 for a lower-is-better one, w_i the weight of indicator i within
its domain, W_d the weight of domain d (``scores.domain_weights``, 1 when not listed).

Indicator score (:func:`indicator_scores`), by the first basis that applies:

1. ``none``: no current value (no observation for the cycle, or a NaN one): score NaN. An older
   value is shown elsewhere but never scored as current.
2. ``target``: the applicable milestone (see ``progress.target_progress``) has status ``met``,
   ``green``, ``yellow``, ``red`` or ``overdue``: met -> 100, otherwise 100 min(1, max(0, p)) with
   p the progress ratio (overdue: tau = 1, so p = attainment). A ratio that is undefined there
   counts as no progress (0). Milestones ``not_started`` or ``no_data`` fall through to 3.
3. ``benchmark``: the unit has a gaps row with a finite benchmark value y: when x > 0 and y > 0,
   higher-is-better 100 min(1, x / y), lower-is-better 100 min(1, y / x); when either is zero or
   negative a ratio means nothing, so the score is all or nothing: 100 when s (x - y) >= 0 (level
   with or ahead of the benchmark), else 0.
4. ``minmax``: across the assessed units of the same level with a current value for the
   indicator: higher 100 (x - min) / (max - min), lower 100 (max - x) / (max - min); when
   max == min (one unit alone, or all equal) everyone gets 100.

Unit scores (:func:`unit_scores`), one row per unit and domain, plus ``overall`` and ``total``:

- domain score S_d = sum(w_i s_i) / sum(w_i) over the domain's indicators with a score;
  coverage C_d = sum(w_i with a score) / sum(w_i of all the domain's indicators). Indicators of
  weight 0 count in neither. A domain with no scored indicator (or only zero weights) has score
  NaN and coverage 0, and is left out of the overall score.
- overall = sum(W_d S_d) / sum(W_d) over the domains with a score (arithmetic, the default) or
  exp(sum(W_d ln(max(S_d, geometric_floor))) / sum(W_d)) (``aggregation: geometric``); overall
  coverage = sum(W_d C_d) / sum(W_d) over all domains (an uncovered domain counts 0).
- adjustments (加扣分) of the cycle's period: bonus = min(sum of positive points, bonus_cap),
  deduction = min(sum of |negative points|, deduction_cap); total = max(0, overall + bonus -
  deduction), so a total may exceed 100 by at most bonus_cap; veto = any adjustment of the cycle
  marked veto (一票否决).
- grade (:func:`grade`) from the total by ``scores.grades``; a veto imposes ``scores.veto_grade``.
- rank within each level among the assessed units with a score, separately on every domain row,
  on ``overall`` and on ``total``: 1 = best, ties share the best rank; n_ranked = how many ranked.
  Grades and ranks compare scores rounded to 9 decimals, so that equal scores reached by
  different floating-point arithmetic are equal (90 computed as 89.99999999999999 is 优秀).
- score_change = score - previous score; rank_change = previous rank - rank (positive = moved up);
  NaN when the unit was not scored (or not ranked) in the previous cycle.

A unit with no domain with a score is *not scored*: its overall and total are NaN, its coverage
0, its grade None and it has no rank; it keeps its rows, so a report can say so, but it feeds no
one else's min-max, ranks or counts.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import periods
from . import progress as progress_mod
from .errors import InputError, MethodError, Problem

KEYS = ["unit_id", "indicator_id"]
TARGET_STATUSES = ("met", "green", "yellow", "red", "overdue")
OVERALL = "overall"
TOTAL = "total"
# Scores are compared (grade bands, ties in ranks) after rounding to this many decimals, so that
# 90 reached as 89.99999999999999 by floating-point arithmetic is 90.
COMPARE_DECIMALS = 9

INDICATOR_SCORE_COLUMNS = ["unit_id", "level", "indicator_id", "domain", "direction", "weight",
                           "actual_value", "score", "basis"]
UNIT_SCORE_COLUMNS = ["unit_id", "level", "domain", "cycle", "score", "coverage", "rank",
                      "n_ranked", "score_change", "rank_change", "grade", "bonus", "deduction",
                      "veto"]


# --- input checks -------------------------------------------------------------------------

def _require(df: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MethodError(f"the {name} table lacks the column(s) {', '.join(missing)}")


def _unique(df: pd.DataFrame, keys: list[str], name: str) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        first = df.loc[dup, keys].iloc[0].tolist()
        raise MethodError(f"the {name} table has more than one row for {dict(zip(keys, first))}")


def _bad_values(name: str, column: str, rows: pd.DataFrame, keys: list[str],
                expected: str) -> InputError:
    """InputError with one Problem per offending row (at most 20), naming its key and value."""
    problems = [Problem(name, f"{dict(zip(keys, key))}: expected {expected}, got {value!r}",
                        column=column, table=name)
                for key, value in zip(rows[keys].head(20).itertuples(index=False, name=None),
                                      rows[column].head(20))]
    return InputError(problems)


def _numbers(df: pd.DataFrame, column: str, name: str, keys: list[str], *,
             missing_ok: bool = True) -> pd.Series:
    """``df[column]`` as float64; text that is no number, or an infinite value, is an
    InputError (a missing value too, unless ``missing_ok``)."""
    raw = df[column]
    value = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = raw.notna() & ~np.isfinite(value)
    if not missing_ok:
        bad |= raw.isna()
    if bad.any():
        raise _bad_values(name, column, df[bad], keys, "a finite number")
    return value


def _as_text(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The id and label columns as ``str`` dtype, even when the table is empty."""
    return df.astype({c: "str" for c in columns})


def _check_cycle(cycle: str) -> None:
    periods.split(cycle)  # raises ParseError naming the value


def _indicator_table(indicators: pd.DataFrame) -> pd.DataFrame:
    """indicator_id, domain, direction, weight (NaN -> 1, the model's default), sign s."""
    _require(indicators, ["indicator_id", "domain", "direction"], "indicators")
    _unique(indicators, ["indicator_id"], "indicators")
    ind = indicators[["indicator_id", "domain", "direction"]].copy()
    key = ["indicator_id"]
    weight = (_numbers(indicators, "weight", "indicators", key) if "weight" in indicators
              else pd.Series(1.0, index=indicators.index))
    ind["weight"] = weight.fillna(1.0)
    bad = ~ind["direction"].isin(["higher", "lower"])
    if bad.any():
        raise _bad_values("indicators", "direction", ind[bad], key, "higher or lower")
    bad = ind["weight"] < 0
    if bad.any():
        raise _bad_values("indicators", "weight", ind[bad], key, "a weight >= 0")
    bad = ind["domain"].isna() | ind["domain"].isin([OVERALL, TOTAL])
    if bad.any():
        raise _bad_values("indicators", "domain", ind[bad], key,
                          f"a domain id other than {OVERALL!r} and {TOTAL!r}")
    ind["sign"] = np.where(ind["direction"] == "higher", 1.0, -1.0)
    return ind


def _assessed_units(units: pd.DataFrame) -> pd.DataFrame:
    """unit_id, level of the assessed units (a missing role counts as assessed)."""
    _require(units, ["unit_id", "level"], "units")
    _unique(units, ["unit_id"], "units")
    role = units["role"] if "role" in units else pd.Series("assessed", index=units.index)
    assessed = role.isna() | (role == "assessed")
    return units.loc[assessed, ["unit_id", "level"]].reset_index(drop=True)


def _current_values(observations: pd.DataFrame, cycle: str) -> pd.DataFrame:
    """unit_id, indicator_id, actual_value: the observations of the cycle's period (a missing
    value counts as no observation; text or an infinite value is an InputError)."""
    _require(observations, KEYS + ["period", "value"], "observations")
    obs = observations.loc[observations["period"] == cycle, KEYS + ["period", "value"]]
    _unique(obs, KEYS, "observations")
    value = _numbers(obs, "value", "observations", KEYS + ["period"])
    obs = obs.assign(actual_value=value)[value.notna()]
    return obs[KEYS + ["actual_value"]]


class _Grid:
    """The assessed units x indicators grid every score lives on: the units in the order of
    the units table, the indicators in the order of the indicators table; ``cell(frame)``
    places the rows of a table keyed by unit_id and indicator_id on it."""

    def __init__(self, units: pd.DataFrame, indicators: pd.DataFrame):
        self.ind = _indicator_table(indicators)
        self.assessed = _assessed_units(units)
        self.units = pd.Index(self.assessed["unit_id"])
        self.indicators = pd.Index(self.ind["indicator_id"])
        self.shape = (len(self.units), len(self.indicators))

    def cell(self, frame: pd.DataFrame) -> np.ndarray:
        """The flat grid position of each row (-1: a unit or indicator not on the grid)."""
        u = progress_mod._positions(self.units, frame["unit_id"])
        i = progress_mod._positions(self.indicators, frame["indicator_id"])
        return np.where((u >= 0) & (i >= 0), u * self.shape[1] + i, -1)

    def place(self, frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        """A grid array holding ``values`` at the rows' cells (NaN elsewhere)."""
        out = np.full(self.shape[0] * self.shape[1], np.nan)
        at = self.cell(frame)
        keep = at >= 0
        out[at[keep]] = np.asarray(values, dtype="float64")[keep]
        return out.reshape(self.shape)


def _grid(units: pd.DataFrame, indicators: pd.DataFrame) -> _Grid:
    return progress_mod.memoised("score_grid", (units, indicators),
                                 lambda: _Grid(units, indicators), fresh=False)


def _current_grid(grid: _Grid, observations: pd.DataFrame, cycle: str) -> np.ndarray:
    """The current value x of every grid cell (NaN: none). When the observations were already
    checked and indexed in this scoring run, they are known to hold one finite value per key,
    and the values are looked up in their panel instead of filtered from the rows."""
    prepared = progress_mod.prepared_observations(observations)
    if prepared is not None and not prepared.__dict__.get("_evalkit_trimmed", True):
        cycle_idx = periods.to_index(cycle)
        pair = progress_mod.memoised("grid_pairs", (prepared, grid), lambda: (
            progress_mod.pair_codes(prepared, pd.Series(np.repeat(grid.units, grid.shape[1])),
                                    pd.Series(np.tile(grid.indicators, grid.shape[0])))))
        value, at = progress_mod.latest_upto(prepared, pair, np.full(len(pair), cycle_idx))
        return np.where(at == cycle_idx, value, np.nan).reshape(grid.shape)
    current = _current_values(observations, cycle)
    return grid.place(current, current["actual_value"].to_numpy())


# --- indicator scores ---------------------------------------------------------------------

def _target_scores(progress: pd.DataFrame) -> pd.DataFrame:
    """unit_id, indicator_id, target_score from the applicable scorable milestones.

    met -> 100; else 100 min(1, max(0, p)); overdue with no ratio uses the attainment (tau = 1);
    a ratio still undefined counts as 0 (the status says the unit is not there).
    """
    _require(progress, KEYS + ["applicable", "status", "progress_ratio"], "progress")
    rows = progress[progress["applicable"].eq(True) & progress["status"].isin(TARGET_STATUSES)]
    _unique(rows, KEYS, "progress (applicable milestones)")
    p = pd.to_numeric(rows["progress_ratio"], errors="coerce").astype("float64")
    if "attainment" in rows:
        a = pd.to_numeric(rows["attainment"], errors="coerce").astype("float64")
        p = p.where(p.notna() | (rows["status"] != "overdue"), a)
    p = p.fillna(0.0)
    score = np.where(rows["status"] == "met", 100.0, 100.0 * np.clip(p.to_numpy(), 0.0, 1.0))
    return rows[KEYS].assign(target_score=score)


def benchmark_score(x, y, sign) -> np.ndarray:
    """Benchmark-basis score, element-wise (arrays of equal length).

    x > 0 and y > 0: higher (sign +1) 100 min(1, x / y), lower (sign -1) 100 min(1, y / x);
    otherwise 100 when sign (x - y) >= 0, else 0. NaN only where x or y is NaN.
    """
    x, y, sign = (np.asarray(v, dtype="float64") for v in (x, y, sign))
    positive = (x > 0) & (y > 0)
    num = np.where(sign > 0, x, y)
    den = np.where(sign > 0, y, x)
    ratio = np.divide(num, den, out=np.zeros_like(x), where=positive)
    level_or_ahead = np.where(sign * (x - y) >= 0, 100.0, 0.0)
    out = np.where(positive, 100.0 * np.minimum(1.0, ratio), level_or_ahead)
    return np.where(np.isnan(x) | np.isnan(y), np.nan, out)


def minmax_score(x, lo, hi, sign) -> np.ndarray:
    """Min-max score, element-wise: higher 100 (x - lo) / (hi - lo), lower 100 (hi - x) /
    (hi - lo); 100 where hi == lo."""
    x, lo, hi, sign = (np.asarray(v, dtype="float64") for v in (x, lo, hi, sign))
    spread = hi - lo
    num = np.where(sign > 0, x - lo, hi - x)
    scaled = np.divide(num, spread, out=np.ones_like(x), where=spread > 0)
    return np.where(np.isnan(x), np.nan, 100.0 * scaled)


def indicator_scores(units: pd.DataFrame, indicators: pd.DataFrame,
                     observations: pd.DataFrame, progress: pd.DataFrame, gaps: pd.DataFrame,
                     cycle: str, config: dict[str, Any]) -> pd.DataFrame:
    """One row per assessed unit x indicator: the indicator score and its basis.

    Columns: unit_id, level, indicator_id, domain, direction, weight, actual_value (the current
    value x, NaN when none), score (0-100; NaN only when basis == "none"), basis (target /
    benchmark / minmax / none). The basis is the first that applies, in the order set out in
    the module docstring: none (no current value), target (applicable milestone met / green /
    yellow / red / overdue), benchmark (a gaps row with a finite benchmark value), minmax.

    The benchmark score uses the unit's current observation as x (not an older value the gaps
    table may show) and the gaps row's benchmark_value as y. Min-max bounds are taken over every
    assessed unit of the same level with a current value for the indicator, whatever basis
    scores those units.

    Raises MethodError when a table lacks a needed column or repeats a key; InputError for an
    indicator with a bad direction, weight or domain, or a value (observation, benchmark value,
    weight) that is text or infinite; ParseError for a malformed cycle. A missing observation
    value counts as no observation. ``config`` is taken for the common signature; no setting
    is read here (the progress statuses already carry the thresholds).
    """
    return progress_mod.memoised(
        "indicator_scores", (units, indicators, observations, progress, gaps, cycle),
        lambda: _indicator_frame(_grid(units, indicators),
                                 *_indicator_grids(units, indicators, observations, progress,
                                                   gaps, cycle)))


def _indicator_grids(units, indicators, observations, progress, gaps, cycle):
    """x, score and basis on the grid (the work of :func:`indicator_scores`)."""
    _check_cycle(cycle)
    grid = _grid(units, indicators)
    x = _current_grid(grid, observations, cycle)
    targets = _target_scores(progress)
    target = grid.place(targets, targets["target_score"].to_numpy())

    _require(gaps, KEYS + ["benchmark_value"], "gaps")
    _unique(gaps, KEYS, "gaps")
    y = _numbers(gaps, "benchmark_value", "gaps", KEYS).to_numpy()
    bench = grid.place(gaps, y)

    sign = grid.ind["sign"].to_numpy()[None, :]
    # The min-max reference set: same level, same indicator, a current value (NaN is skipped).
    lo, hi = np.full(grid.shape, np.nan), np.full(grid.shape, np.nan)
    level = grid.assessed["level"]
    codes, _ = pd.factorize(level, use_na_sentinel=False)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN groups: min is NaN
            for code in np.unique(codes):
                rows = codes == code
                lo[rows] = np.nanmin(x[rows], axis=0)
                hi[rows] = np.nanmax(x[rows], axis=0)

    has_value = ~np.isnan(x)
    has_target = ~np.isnan(target)
    has_bench = ~np.isnan(bench)
    conditions = [~has_value, has_target, has_bench]
    basis = np.select(conditions, ["none", "target", "benchmark"], default="minmax")
    score = np.select(
        conditions,
        [np.nan, target, benchmark_score(x, bench, np.broadcast_to(sign, grid.shape))],
        default=minmax_score(x, lo, hi, np.broadcast_to(sign, grid.shape)))
    return x, score.astype("float64"), basis


def _indicator_frame(grid: _Grid, x: np.ndarray, score: np.ndarray,
                     basis: np.ndarray) -> pd.DataFrame:
    """The indicator scores table from the grid arrays, sorted by unit_id, indicator_id."""
    units = np.argsort(np.asarray(grid.units, dtype=object), kind="stable")
    inds = np.argsort(np.asarray(grid.indicators, dtype=object), kind="stable")
    rows = np.repeat(units, len(inds))
    cols = np.tile(inds, len(units))
    ind = grid.ind
    out = pd.DataFrame({
        "unit_id": grid.assessed["unit_id"].to_numpy()[rows],
        "level": grid.assessed["level"].to_numpy()[rows],
        "indicator_id": ind["indicator_id"].to_numpy()[cols],
        "domain": ind["domain"].to_numpy()[cols],
        "direction": ind["direction"].to_numpy()[cols],
        "weight": ind["weight"].to_numpy(dtype="float64")[cols],
        "actual_value": x[rows, cols],
        "score": score[rows, cols],
        "basis": basis[rows, cols],
    })
    return _as_text(out[INDICATOR_SCORE_COLUMNS],
                    ["unit_id", "level", "indicator_id", "domain", "direction", "basis"])


# --- grades -------------------------------------------------------------------------------

def grade(total: pd.Series, config: dict[str, Any], veto: pd.Series | None = None) -> pd.Series:
    """The grade band of each total (``scores.grades``, highest first: [name, lower bound]).

    A total gets the first band whose lower bound it reaches (total >= bound, after rounding the
    total to 9 decimals); below every bound, the last (lowest) band. Where ``veto`` is True the
    grade is ``scores.veto_grade`` whatever the total. A NaN total (a unit not scored) has grade
    None, veto or not. Returns an object Series aligned with ``total``.
    """
    scores_cfg = config["scores"]
    bands = scores_cfg["grades"]
    values = np.round(pd.to_numeric(total, errors="coerce").to_numpy(dtype="float64"),
                      COMPARE_DECIMALS)
    names = [str(name) for name, _ in bands]
    conditions = [values >= float(bound) for _, bound in bands]
    graded = np.select(conditions, names, default=names[-1]).astype(object)
    if veto is not None:
        vetoed = pd.Series(veto, index=total.index).eq(True).to_numpy()
        graded = np.where(vetoed, str(scores_cfg["veto_grade"]), graded).astype(object)
    graded[np.isnan(values)] = None
    return pd.Series(graded, index=total.index, dtype=object, name="grade")


# --- unit scores --------------------------------------------------------------------------

def _score_grid(grid: _Grid, indicator_scores: pd.DataFrame) -> np.ndarray:
    """The indicator scores table placed on the grid (NaN: no score, or no row)."""
    _require(indicator_scores, KEYS + ["score"], "indicator_scores")
    _unique(indicator_scores, KEYS, "indicator_scores")
    score = _numbers(indicator_scores, "score", "indicator_scores", KEYS)
    return grid.place(indicator_scores, score.to_numpy())


def _domain_scores(grid: _Grid, S: np.ndarray) -> pd.DataFrame:
    """unit_id, domain, score, coverage: weighted means over the scored indicators.

    The sums run per unit and domain over the indicators in table order (pandas' compensated
    group sums, on integer group labels: no table of unit x indicator rows is built)."""
    ind = grid.ind
    domains = list(dict.fromkeys(ind["domain"]))
    dom_code = pd.Index(domains).get_indexer(ind["domain"])
    n_units, n_ind = grid.shape
    w = np.broadcast_to(ind["weight"].to_numpy(dtype="float64")[None, :], grid.shape)
    has = np.isfinite(S) & (w > 0)
    labels = (np.arange(n_units)[:, None] * len(domains) + dom_code[None, :]).ravel()
    sums = pd.DataFrame({
        "g": labels, "w_all": w.ravel(), "w_scored": np.where(has, w, 0.0).ravel(),
        "ws": np.where(has, w * S, 0.0).ravel(),
    }).groupby("g", sort=False)[["w_all", "w_scored", "ws"]].sum()
    group = sums.index.to_numpy()
    dom = pd.DataFrame({
        "unit_id": grid.assessed["unit_id"].to_numpy()[group // len(domains)],
        "domain": np.asarray(domains, dtype=object)[group % len(domains)],
    })
    w_scored, w_all = sums["w_scored"].to_numpy(), sums["w_all"].to_numpy()
    dom["score"] = np.divide(sums["ws"].to_numpy(), w_scored, out=np.full(len(dom), np.nan),
                             where=w_scored > 0)
    dom["coverage"] = np.divide(w_scored, w_all, out=np.zeros(len(dom)), where=w_all > 0)
    return dom[["unit_id", "domain", "score", "coverage"]]


def _overall(dom: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """unit_id, score, coverage of the overall row (formulas in the module docstring)."""
    scores_cfg = config["scores"]
    weights = scores_cfg.get("domain_weights") or {}
    domain_weight = {d: float(weights.get(d, 1.0)) for d in dom["domain"].unique()}
    W = dom["domain"].map(domain_weight).to_numpy(dtype="float64")
    S = dom["score"].to_numpy()
    with_data = np.isfinite(S) & (W > 0)
    if scores_cfg["aggregation"] == "geometric":
        floor = float(scores_cfg["geometric_floor"])
        with np.errstate(divide="ignore"):
            term = np.log(np.maximum(np.where(with_data, S, 1.0), floor))
    else:
        term = np.where(with_data, S, 0.0)
    parts = pd.DataFrame({
        "unit_id": dom["unit_id"],
        "w_data": np.where(with_data, W, 0.0),
        "w_term": np.where(with_data, W * term, 0.0),
        "w_all": W,
        "w_cov": W * dom["coverage"].to_numpy(),
    }).groupby("unit_id", sort=False, as_index=False).sum()
    w_data = parts["w_data"].to_numpy()
    mean = np.divide(parts["w_term"].to_numpy(), w_data, out=np.full(len(parts), np.nan),
                     where=w_data > 0)
    if scores_cfg["aggregation"] == "geometric":
        mean = np.exp(mean)
    w_all = parts["w_all"].to_numpy()
    coverage = np.divide(parts["w_cov"].to_numpy(), w_all, out=np.zeros(len(parts)),
                         where=w_all > 0)
    return pd.DataFrame({"unit_id": parts["unit_id"], "score": mean, "coverage": coverage})


def _adjustments(assessed: pd.DataFrame, adjustments: pd.DataFrame, cycle: str,
                 config: dict[str, Any]) -> pd.DataFrame:
    """unit_id, bonus, deduction, veto of the cycle's period, one row per assessed unit."""
    _require(adjustments, ["unit_id", "period", "points"], "adjustments")
    adj = adjustments[adjustments["period"] == cycle]
    keys = [c for c in ("unit_id", "period", "reason") if c in adj]
    points = _numbers(adj, "points", "adjustments", keys, missing_ok=False)
    veto = adj["veto"].eq(True) if "veto" in adj else pd.Series(False, index=adj.index)
    per_unit = pd.DataFrame({
        "unit_id": adj["unit_id"],
        "plus": points.clip(lower=0.0),
        "minus": (-points).clip(lower=0.0),
        "veto": veto.astype(bool),
    }).groupby("unit_id", as_index=False).agg(plus=("plus", "sum"), minus=("minus", "sum"),
                                              veto=("veto", "any"))
    out = assessed[["unit_id"]].merge(per_unit, on="unit_id", how="left")
    scores_cfg = config["scores"]
    out["bonus"] = np.minimum(out["plus"].fillna(0.0), float(scores_cfg["bonus_cap"]))
    out["deduction"] = np.minimum(out["minus"].fillna(0.0), float(scores_cfg["deduction_cap"]))
    out["veto"] = out["veto"].eq(True)
    return out[["unit_id", "bonus", "deduction", "veto"]]


def _rank(table: pd.DataFrame) -> pd.DataFrame:
    """rank and n_ranked per level x domain among the rows with a score (1 = best, min ties)."""
    key = np.round(table["score"], COMPARE_DECIMALS)
    groups = [table["level"].fillna(""), table["domain"]]
    rank = key.groupby(groups).rank(method="min", ascending=False)
    n_ranked = key.groupby(groups).transform("count")
    return table.assign(rank=rank.astype("float64"), n_ranked=n_ranked.astype("int64"))


def _changes(table: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """score_change = score - previous score; rank_change = previous rank - rank."""
    if previous is None:
        return table.assign(score_change=np.nan, rank_change=np.nan)
    _require(previous, ["unit_id", "domain", "score", "rank"], "previous scores")
    _unique(previous, ["unit_id", "domain"], "previous scores")
    prev = previous[["unit_id", "domain", "score", "rank"]].rename(
        columns={"score": "prev_score", "rank": "prev_rank"})
    merged = table.merge(prev, on=["unit_id", "domain"], how="left")
    prev_score = pd.to_numeric(merged["prev_score"], errors="coerce").astype("float64")
    prev_rank = pd.to_numeric(merged["prev_rank"], errors="coerce").astype("float64")
    return merged.assign(score_change=merged["score"] - prev_score,
                         rank_change=prev_rank - merged["rank"]).drop(
        columns=["prev_score", "prev_rank"])


def unit_scores(units: pd.DataFrame, indicators: pd.DataFrame,
                indicator_scores: pd.DataFrame, adjustments: pd.DataFrame, cycle: str,
                config: dict[str, Any], previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Domain, overall and total scores with coverage, ranks, changes and grades.

    One row per assessed unit x domain, for every domain of ``indicators`` (in their order of
    first appearance), then ``overall`` and ``total``; units sorted by unit_id. Columns:
    unit_id, level, domain, cycle, score, coverage, rank, n_ranked, score_change, rank_change,
    and on the total rows grade, bonus, deduction, veto (None / NaN / NA on the other rows).
    The total row's coverage is the overall coverage. Weights come from ``indicators`` (so
    other weights can be tried without rescoring indicators) and ``scores.domain_weights``; the
    formulas are in the module docstring. ``previous`` is this function's result for the
    previous cycle.

    NaN appears only where documented: score of a domain with no scored indicator; overall,
    total and rank of a unit not scored; rank of an unranked row; changes without a previous
    score or rank. coverage, bonus and deduction are never NaN on their rows. Adjustments of
    other units or periods are ignored; points that are missing, text or infinite are an
    InputError.
    """
    _check_cycle(cycle)
    grid = _grid(units, indicators)
    return _unit_table(grid, _score_grid(grid, indicator_scores), adjustments, cycle, config,
                       previous)


def cycle_unit_scores(units: pd.DataFrame, indicators: pd.DataFrame,
                      observations: pd.DataFrame, progress: pd.DataFrame, gaps: pd.DataFrame,
                      adjustments: pd.DataFrame, cycle: str, config: dict[str, Any],
                      previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """``unit_scores(indicator_scores(...), ...)`` without building the indicator scores
    table: the scores of an earlier cycle, of which only these are kept."""
    _check_cycle(cycle)
    grid = _grid(units, indicators)
    _, score, _ = _indicator_grids(units, indicators, observations, progress, gaps, cycle)
    return _unit_table(grid, score, adjustments, cycle, config, previous)


def _unit_table(grid: _Grid, S: np.ndarray, adjustments: pd.DataFrame, cycle: str,
                config: dict[str, Any], previous: pd.DataFrame | None) -> pd.DataFrame:
    assessed = grid.assessed
    domains = list(dict.fromkeys(grid.ind["domain"]))
    dom = _domain_scores(grid, S)
    overall = _overall(dom, config)
    adj = _adjustments(assessed, adjustments, cycle, config)

    total = overall.merge(adj, on="unit_id", how="left")
    total["score"] = np.maximum(0.0, total["score"] + total["bonus"] - total["deduction"])
    total["grade"] = grade(total["score"], config, total["veto"])
    total["veto"] = total["veto"].astype("boolean")

    table = pd.concat([dom.assign(domain=dom["domain"].astype(object)),
                       overall.assign(domain=OVERALL), total.assign(domain=TOTAL)],
                      ignore_index=True)
    table = table.merge(assessed, on="unit_id", how="left")
    table["score"] = table["score"].astype("float64")
    table["coverage"] = table["coverage"].astype("float64")
    table = _changes(_rank(table), previous)

    order = {d: i for i, d in enumerate(domains + [OVERALL, TOTAL])}
    table = table.assign(_d=table["domain"].map(order))
    table = table.sort_values(["unit_id", "_d"], kind="stable").reset_index(drop=True)
    table["cycle"] = cycle
    table["grade"] = table["grade"].astype(object).where(table["grade"].notna(), None)
    table["veto"] = table["veto"].astype("boolean")
    return _as_text(table[UNIT_SCORE_COLUMNS], ["unit_id", "level", "domain", "cycle"])
