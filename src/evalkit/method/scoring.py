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

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .. import periods
from ..errors import InputError, MethodError, Problem, require_columns
from .run import Prepared
from . import panel as panel_mod
from . import progress as progress_mod
from . import tables as tables_mod

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

def unique_keys(df: pd.DataFrame, keys: list[str], name: str) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        first = df.loc[dup, keys].iloc[0].tolist()
        raise MethodError(f"the {name} table has more than one row for {dict(zip(keys, first))}")


def bad_values(name: str, column: str, rows: pd.DataFrame, keys: list[str],
                expected: str) -> InputError:
    """InputError with one Problem per offending row (at most 20), naming its key and value."""
    problems = [Problem(name, f"{dict(zip(keys, key))}: expected {expected}, got {value!r}",
                        column=column, table=name)
                for key, value in zip(rows[keys].head(20).itertuples(index=False, name=None),
                                      rows[column].head(20))]
    return InputError(problems)


def numbers(df: pd.DataFrame, column: str, name: str, keys: list[str], *,
             missing_ok: bool = True) -> pd.Series:
    """``df[column]`` as float64; text that is no number, or an infinite value, is an
    InputError (a missing value too, unless ``missing_ok``)."""
    raw = df[column]
    value = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = raw.notna() & ~np.isfinite(value)
    if not missing_ok:
        bad |= raw.isna()
    if bad.any():
        raise bad_values(name, column, df[bad], keys, "a finite number")
    return value


def _indicator_table(indicators: pd.DataFrame) -> pd.DataFrame:
    """indicator_id, domain, direction, weight (NaN -> 1, the model's default), sign s."""
    require_columns(indicators, ["indicator_id", "domain", "direction"], "indicators")
    unique_keys(indicators, ["indicator_id"], "indicators")
    ind = indicators[["indicator_id", "domain", "direction"]].copy()
    key = ["indicator_id"]
    weight = (numbers(indicators, "weight", "indicators", key) if "weight" in indicators
              else pd.Series(1.0, index=indicators.index))
    ind["weight"] = weight.fillna(1.0)
    bad = ~ind["direction"].isin(["higher", "lower"])
    if bad.any():
        raise bad_values("indicators", "direction", ind[bad], key, "higher or lower")
    bad = ind["weight"] < 0
    if bad.any():
        raise bad_values("indicators", "weight", ind[bad], key, "a weight >= 0")
    bad = ind["domain"].isna() | ind["domain"].isin([OVERALL, TOTAL])
    if bad.any():
        raise bad_values("indicators", "domain", ind[bad], key,
                          f"a domain id other than {OVERALL!r} and {TOTAL!r}")
    ind["sign"] = np.where(ind["direction"] == "higher", 1.0, -1.0)
    return ind


def _assessed_units(units: pd.DataFrame) -> pd.DataFrame:
    """unit_id, level of the assessed units (a missing role counts as assessed)."""
    require_columns(units, ["unit_id", "level"], "units")
    unique_keys(units, ["unit_id"], "units")
    role = units["role"] if "role" in units else pd.Series("assessed", index=units.index)
    assessed = role.isna() | (role == "assessed")
    return units.loc[assessed, ["unit_id", "level"]].reset_index(drop=True)


def _current_values(observations: pd.DataFrame, cycle: str) -> pd.DataFrame:
    """unit_id, indicator_id, actual_value: the observations of the cycle's period (a missing
    value counts as no observation; text or an infinite value is an InputError)."""
    require_columns(observations, KEYS + ["period", "value"], "observations")
    obs = observations.loc[observations["period"] == cycle, KEYS + ["period", "value"]]
    unique_keys(obs, KEYS, "observations")
    value = numbers(obs, "value", "observations", KEYS + ["period"])
    obs = obs.assign(actual_value=value)[value.notna()]
    return obs[KEYS + ["actual_value"]]


class _Grid:
    """The assessed units x indicators grid every score lives on: the units in the order of
    the units table, the indicators in the order of the indicators table; ``cell(frame)``
    places the rows of a table keyed by unit_id and indicator_id on it. It holds what every
    cycle reuses: the indicators' domains, weights and signs, the units' level groups, and
    the order of units and indicators by id."""

    def __init__(self, units: pd.DataFrame, indicators: pd.DataFrame):
        self.ind = _indicator_table(indicators)
        self.assessed = _assessed_units(units)
        self.units = pd.Index(self.assessed["unit_id"])
        self.indicators = pd.Index(self.ind["indicator_id"])
        self.shape = (len(self.units), len(self.indicators))
        self.domains = list(dict.fromkeys(self.ind["domain"]))
        self.dom_code = pd.Index(self.domains).get_indexer(self.ind["domain"])
        self.weight = self.ind["weight"].to_numpy(dtype="float64")
        self.sign = self.ind["sign"].to_numpy(dtype="float64")
        level = self.assessed["level"]
        # Min-max reference sets: a missing level is a level of its own.
        codes, _ = pd.factorize(level, use_na_sentinel=False)
        self.minmax_groups = [np.flatnonzero(codes == c) for c in np.unique(codes)]
        # Ranks: a missing level ranks with the level "" (the level as text).
        codes, _ = pd.factorize(level.astype(object).where(level.notna(), ""))
        self.rank_groups = [np.flatnonzero(codes == c) for c in np.unique(codes)]
        self.unit_order = np.argsort(np.asarray(self.units, dtype=object), kind="stable")
        self.ind_order = np.argsort(np.asarray(self.indicators, dtype=object), kind="stable")

    def cell(self, frame: pd.DataFrame) -> np.ndarray:
        """The flat grid position of each row (-1: a unit or indicator not on the grid)."""
        u = tables_mod.positions(self.units, frame["unit_id"])
        i = tables_mod.positions(self.indicators, frame["indicator_id"])
        return np.where((u >= 0) & (i >= 0), u * self.shape[1] + i, -1)

    def place(self, frame: pd.DataFrame, values: np.ndarray, at: np.ndarray | None = None
              ) -> np.ndarray:
        """A grid array holding ``values`` at the rows' cells (NaN elsewhere); ``at``: the
        cells, when known."""
        out = np.full(self.shape[0] * self.shape[1], np.nan)
        at = self.cell(frame) if at is None else at
        keep = at >= 0
        out[at[keep]] = np.asarray(values, dtype="float64")[keep]
        return out.reshape(self.shape)


def score_grid(units: pd.DataFrame, indicators: pd.DataFrame, run: Prepared) -> _Grid:
    """The assessed units x indicators grid of these tables, made once per run."""
    return run.once("score_grid", (units, indicators), lambda: _Grid(units, indicators),
                    fresh=False)


def _current_grid(grid: _Grid, observations: pd.DataFrame, cycle: periods.Cycle, run: Prepared
                  ) -> np.ndarray:
    """The current value x of every grid cell (NaN: none). When the run has checked and
    indexed the observations already, they are known to hold one finite value per key, and
    the values are looked up in their panel instead of filtered from the rows."""
    prepared = run.recall("observations", (observations,))
    if prepared is not None and not prepared.trimmed:
        cycle_idx = cycle.index
        pair = run.once("grid_pairs", (prepared, grid), lambda: prepared.pair_codes(
            pd.Series(np.repeat(grid.units, grid.shape[1])),
            pd.Series(np.tile(grid.indicators, grid.shape[0]))))
        value, at = panel_mod.latest_upto(prepared, pair, np.full(len(pair), cycle_idx),
                                             run=run)
        return np.where(at == cycle_idx, value, np.nan).reshape(grid.shape)
    current = _current_values(observations, cycle)
    return grid.place(current, current["actual_value"].to_numpy())


# --- indicator scores ---------------------------------------------------------------------

def _target_scores(progress: pd.DataFrame) -> pd.DataFrame:
    """unit_id, indicator_id, target_score from the applicable scorable milestones.

    met -> 100; else 100 min(1, max(0, p)); overdue with no ratio uses the attainment (tau = 1);
    a ratio still undefined counts as 0 (the status says the unit is not there).
    """
    require_columns(progress, KEYS + ["applicable", "status", "progress_ratio"], "progress")
    number = (lambda c: pd.to_numeric(progress[c], errors="coerce").to_numpy(dtype="float64")
              if c in progress else np.full(len(progress), np.nan))
    rows, score = _milestone_scores(
        pd.Index(progress_mod.STATUS_CODES).get_indexer(progress["status"].astype("str")),
        progress["applicable"].eq(True).to_numpy(), number("progress_ratio"),
        number("attainment"))
    scored = progress.iloc[rows]
    unique_keys(scored, KEYS, "progress (applicable milestones)")
    return scored[KEYS].assign(target_score=score)


def _milestone_scores(status: np.ndarray, applicable: np.ndarray, p: np.ndarray,
                      attainment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the applicable milestones with a scorable status (``status``: codes into
    ``progress.STATUS_CODES``, -1 for anything else) and their target scores (see
    :func:`_target_scores`): met -> 100; else 100 min(1, max(0, p)), an overdue milestone
    without a ratio taking its attainment and a ratio still undefined counting as 0."""
    codes = progress_mod.STATUS_CODES
    rows = np.flatnonzero(applicable & np.isin(status, [codes.index(s)
                                                        for s in TARGET_STATUSES]))
    status, p = status[rows], p[rows]
    p = np.where(np.isnan(p) & (status == codes.index("overdue")), attainment[rows], p)
    p = np.where(np.isnan(p), 0.0, p)
    return rows, np.where(status == codes.index("met"), 100.0, 100.0 * np.clip(p, 0.0, 1.0))


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
                     cycle: str, config: dict[str, Any], *, run: Prepared | None = None
                     ) -> pd.DataFrame:
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
    run = run or Prepared()
    cycle = periods.Cycle(cycle)
    grids = run.once(
        "indicator_grids", (units, indicators, observations, progress, gaps, cycle),
        lambda: _indicator_grids(units, indicators, observations, progress, gaps, cycle, run),
        keep=1)
    grid = score_grid(units, indicators, run)
    frame = run.once(
        "indicator_scores", (units, indicators, observations, progress, gaps, cycle),
        lambda: _indicator_frame(grid, *grids), keep=1)
    # unit_scores of this very table in the same run takes the scores from the grid.
    run.keep("indicator_score_grid", (frame,), (grid, grids[0], grids[1]), keep=2)
    return frame


def _indicator_grids(units, indicators, observations, progress, gaps, cycle, run: Prepared):
    """x, score and basis on the grid (the work of :func:`indicator_scores`)."""
    grid = score_grid(units, indicators, run)
    x = _current_grid(grid, observations, cycle, run)
    targets = _target_scores(progress)
    target = grid.place(targets, targets["target_score"].to_numpy())
    kept = run.recall("benchmark_gaps", (gaps,))
    if kept is not None:
        # The gaps this run made (gaps.benchmark_values or benchmark_gaps): checked already.
        keys, y = kept
        bench = grid.place(keys, y)
        run.forget("benchmark_gaps", (gaps,))
    else:
        require_columns(gaps, KEYS + ["benchmark_value"], "gaps")
        unique_keys(gaps, KEYS, "gaps")
        y = numbers(gaps, "benchmark_value", "gaps", KEYS).to_numpy()
        bench = grid.place(gaps, y)
    score, basis = _indicator_core(grid, x, target, bench)
    return x, score, basis


BASES = ("none", "target", "benchmark", "minmax")
# Cells scored at a time by one formula.
_BLOCK = 1 << 20


def _indicator_core(grid: _Grid, x: np.ndarray, target: np.ndarray, bench: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The score of every grid cell and its basis (codes into ``BASES``) from the current
    values, the target scores and the benchmark values on the grid (NaN: none). Each basis's
    formula is applied to its own cells only."""
    has_value = ~np.isnan(x)
    basis = np.select([~has_value, ~np.isnan(target), ~np.isnan(bench)], [0, 1, 2],
                      default=3).astype("int8")
    score = np.full(grid.shape, np.nan)
    cells = basis == 1
    score[cells] = target[cells]
    sign = np.broadcast_to(grid.sign[None, :], grid.shape)
    # A block of cells at a time: the formula's intermediate arrays stay small.
    cells = np.flatnonzero(basis.ravel() == 2)
    flat_x, flat_bench, flat_score = x.ravel(), bench.ravel(), score.ravel()
    for start in range(0, len(cells), _BLOCK):
        part = cells[start:start + _BLOCK]
        flat_score[part] = benchmark_score(flat_x[part], flat_bench[part],
                                           grid.sign[part % grid.shape[1]])
    cells = basis == 3
    if cells.any():
        # The min-max reference set: same level, same indicator, a current value.
        lo, hi = np.full(grid.shape, np.nan), np.full(grid.shape, np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN groups: min is NaN
            for rows in grid.minmax_groups:
                lo[rows] = np.nanmin(x[rows], axis=0)
                hi[rows] = np.nanmax(x[rows], axis=0)
        score[cells] = minmax_score(x[cells], lo[cells], hi[cells], sign[cells])
    return score, basis


def _target_grid(grid: _Grid, t: pd.DataFrame, arrays: dict, run: Prepared) -> np.ndarray:
    """The target scores on the grid (see :func:`_target_scores`) from the progress arrays of
    prepared targets (``progress.progress_arrays``)."""
    rows, score = _milestone_scores(arrays["status"], arrays["applicable"],
                                    arrays["progress_ratio"], arrays["attainment"])
    cells = run.once("target_cells", (grid, t), lambda: grid.cell(t))
    return grid.place(None, score, at=cells[rows])


def earlier_cycle_scores(units: pd.DataFrame, indicators: pd.DataFrame,
                         observations: pd.DataFrame, targets: pd.DataFrame,
                         values: pd.DataFrame, adjustments: pd.DataFrame, cycle: str,
                         config: dict[str, Any], previous: pd.DataFrame | None = None, *,
                         categorical: bool = False, run: Prepared | None = None
                         ) -> pd.DataFrame:
    """:func:`unit_scores` of :func:`indicator_scores`, from the study's targets rather than
    a progress table: the target scores come straight from the milestones' statuses
    (``progress.progress_arrays``), ``values`` is ``gaps.benchmark_values`` of the cycle.
    The scores of an earlier cycle, for the history of a scoring run (``categorical``: its
    text as categoricals, for a large history)."""
    cycle = periods.Cycle(cycle)
    run = run or Prepared()
    grid = score_grid(units, indicators, run)
    x = _current_grid(grid, observations, cycle, run)
    t = tables_mod.prepare_targets(
        targets, tables_mod.prepare_indicators(indicators, run=run), run=run)
    obs = panel_mod.prepare_observations(observations, run=run)
    target = _target_grid(grid, t, progress_mod.progress_arrays(t, obs, cycle, config, run), run)
    bench = grid.place(values, values["benchmark_value"].to_numpy(dtype="float64"))
    score, _ = _indicator_core(grid, x, target, bench)
    return unit_table(grid, score, adjustments, cycle, config, previous, run, categorical)


def _indicator_frame(grid: _Grid, x: np.ndarray, score: np.ndarray,
                     basis: np.ndarray) -> pd.DataFrame:
    """The indicator scores table from the grid arrays, sorted by unit_id, indicator_id."""
    n_units, n_ind = grid.shape
    rows = np.repeat(grid.unit_order, n_ind)
    cols = np.tile(grid.ind_order, n_units)
    ind = grid.ind
    level_codes, levels = pd.factorize(grid.assessed["level"])
    text = tables_mod.text_column
    domain_codes, domains = pd.factorize(ind["domain"])
    direction_codes, directions = pd.factorize(ind["direction"])
    out = pd.DataFrame({
        "unit_id": text(rows, grid.units),
        "level": text(level_codes[rows], levels),
        "indicator_id": text(cols, grid.indicators),
        "domain": text(domain_codes[cols], domains),
        "direction": text(direction_codes[cols], directions),
        "weight": grid.weight[cols],
        "actual_value": x[rows, cols],
        "score": score[rows, cols],
        "basis": text(basis[rows, cols], BASES),
    })
    return out[INDICATOR_SCORE_COLUMNS]


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

def _scores_on_grid(grid: _Grid, indicator_scores: pd.DataFrame, run: Prepared) -> np.ndarray:
    """The indicator scores table placed on the grid (NaN: no score, or no row)."""
    kept = run.recall("indicator_score_grid", (indicator_scores,))
    if kept is not None and kept[0] is grid:
        return kept[2]
    require_columns(indicator_scores, KEYS + ["score"], "indicator_scores")
    unique_keys(indicator_scores, KEYS, "indicator_scores")
    score = numbers(indicator_scores, "score", "indicator_scores", KEYS)
    return grid.place(indicator_scores, score.to_numpy())


def _group_sums(columns: list[np.ndarray], group: np.ndarray, n_groups: int
                ) -> list[np.ndarray]:
    """Per row of each (rows x k) array, the sums of its values over the groups ``group`` of
    its k columns -> (rows x n_groups) arrays: the numbers pandas' ``groupby(...).sum()`` gives
    for a table holding these values row by row, its groups in order of first appearance.
    NaN values are skipped (a group of NaN alone sums to 0). Like pandas, ``np.add.reduceat``
    over the runs when every group is one run in order and no value is NaN, else compensated
    (Kahan) sums in table order; no table is built."""
    group = np.asarray(group, dtype="int64")
    runs = bool((np.diff(group) >= 0).all()) and not any(np.isnan(c).any() for c in columns)
    if runs and len(group):
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        return [np.add.reduceat(np.ascontiguousarray(c), starts, axis=1) for c in columns]
    out = []
    for values in columns:
        # Column by column, each a contiguous row of the transposed arrays.
        values = np.ascontiguousarray(np.asarray(values).T)
        total = np.zeros((n_groups, values.shape[1]))
        compensation = np.zeros_like(total)
        for j, g in enumerate(group):
            seen = ~np.isnan(values[j])
            y = values[j] - compensation[g]
            t = total[g] + y
            c = t - total[g] - y
            # An infinite value makes the compensation NaN; pandas then drops it.
            compensation[g] = np.where(seen, np.where(c != c, 0.0, c), compensation[g])
            total[g] = np.where(seen, t, total[g])
        out.append(total.T)
    return out


def _domain_scores(grid: _Grid, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """score and coverage per unit (rows) and domain (columns, in ``grid.domains`` order):
    weighted means over the scored indicators, the sums running per unit and domain over the
    indicators in table order."""
    w = np.broadcast_to(grid.weight[None, :], grid.shape)
    has = np.isfinite(S) & (w > 0)
    with np.errstate(invalid="ignore"):
        w_all, w_scored, ws = _group_sums(
            [w, np.where(has, w, 0.0), np.where(has, w * S, 0.0)], grid.dom_code,
            len(grid.domains))
    score = np.divide(ws, w_scored, out=np.full(w_scored.shape, np.nan), where=w_scored > 0)
    coverage = np.divide(w_scored, w_all, out=np.zeros(w_all.shape), where=w_all > 0)
    return score, coverage


def _overall(grid: _Grid, score: np.ndarray, coverage: np.ndarray, config: dict[str, Any]
             ) -> tuple[np.ndarray, np.ndarray]:
    """score and coverage of each unit's overall row (formulas in the module docstring) from
    its domain scores and coverages."""
    scores_cfg = config["scores"]
    weights = scores_cfg.get("domain_weights") or {}
    W = np.broadcast_to(np.array([float(weights.get(d, 1.0)) for d in grid.domains],
                                 dtype="float64")[None, :], score.shape)
    with_data = np.isfinite(score) & (W > 0)
    if scores_cfg["aggregation"] == "geometric":
        floor = float(scores_cfg["geometric_floor"])
        with np.errstate(divide="ignore"):
            term = np.log(np.maximum(np.where(with_data, score, 1.0), floor))
    else:
        term = np.where(with_data, score, 0.0)
    w_data, w_term, w_all, w_cov = (s[:, 0] for s in _group_sums(
        [np.where(with_data, W, 0.0), np.where(with_data, W * term, 0.0), W, W * coverage],
        np.zeros(score.shape[1]), 1))
    mean = np.divide(w_term, w_data, out=np.full(len(w_data), np.nan), where=w_data > 0)
    if scores_cfg["aggregation"] == "geometric":
        mean = np.exp(mean)
    return mean, np.divide(w_cov, w_all, out=np.zeros(len(w_all)), where=w_all > 0)


def _adjustments(grid: _Grid, adjustments: pd.DataFrame, cycle: str, config: dict[str, Any]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bonus, deduction and veto of the cycle's period for each assessed unit (grid order)."""
    require_columns(adjustments, ["unit_id", "period", "points"], "adjustments")
    adj = adjustments[adjustments["period"] == cycle]
    keys = [c for c in ("unit_id", "period", "reason") if c in adj]
    points = numbers(adj, "points", "adjustments", keys, missing_ok=False)
    veto = adj["veto"].eq(True) if "veto" in adj else pd.Series(False, index=adj.index)
    per_unit = pd.DataFrame({
        "unit_id": adj["unit_id"],
        "plus": points.clip(lower=0.0),
        "minus": (-points).clip(lower=0.0),
        "veto": veto.astype(bool),
    }).groupby("unit_id").agg(plus=("plus", "sum"), minus=("minus", "sum"),
                              veto=("veto", "any"))
    at = tables_mod.positions(grid.units, pd.Series(per_unit.index))
    known = at >= 0
    plus, minus = np.zeros(grid.shape[0]), np.zeros(grid.shape[0])
    vetoed = np.zeros(grid.shape[0], dtype=bool)
    plus[at[known]] = per_unit["plus"].to_numpy(dtype="float64")[known]
    minus[at[known]] = per_unit["minus"].to_numpy(dtype="float64")[known]
    vetoed[at[known]] = per_unit["veto"].to_numpy(dtype=bool)[known]
    scores_cfg = config["scores"]
    return (np.minimum(plus, float(scores_cfg["bonus_cap"])),
            np.minimum(minus, float(scores_cfg["deduction_cap"])), vetoed)


def _ranks(grid: _Grid, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rank and n_ranked of each unit (rows) on each score column, per level among the units
    with a score: 1 + the number of higher scores (1 = best, ties share the best rank), NaN
    without a score; scores compared after rounding to ``COMPARE_DECIMALS``."""
    rank = level_ranks(scores.T, grid.rank_groups).T
    n_ranked = np.zeros(rank.shape, dtype="int64")
    for members in grid.rank_groups:
        n_ranked[members] = (~np.isnan(rank[members])).sum(axis=0)
    return rank, n_ranked


def level_ranks(totals: np.ndarray, level_groups: list[np.ndarray]) -> np.ndarray:
    """Rank of each unit (column) within its level, per row of ``totals`` (a simulated run,
    or a score): 1 + the number of units of the level with a strictly higher total (rounded
    to ``COMPARE_DECIMALS``), NaN where the total is NaN. Sorted once per row and level: in a
    row sorted from the lowest up, a value's rank is the number of values from the last copy
    of it on."""
    key = np.round(totals, COMPARE_DECIMALS)
    ranks = np.full(totals.shape, np.nan)
    for members in level_groups:
        sub = key[:, members]
        missing = np.isnan(sub)
        n = sub.shape[1]
        if missing.any():
            # NaN sorts last in an ascending sort: it is never higher, and it ranks nothing.
            order = np.argsort(np.where(missing, np.inf, -sub), axis=1)
            ordered = np.take_along_axis(sub, order, axis=1)
            position = np.arange(n)
            new_value = np.ones(ordered.shape, dtype=bool)
            new_value[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
            first = np.maximum.accumulate(np.where(new_value, position, 0), axis=1)
            placed = np.empty(sub.shape)
            np.put_along_axis(placed, order, first + 1.0, axis=1)
            ranks[:, members] = np.where(missing, np.nan, placed)
            continue
        order = np.argsort(sub, axis=1)
        ordered = np.take_along_axis(sub, order, axis=1)
        run_ends = np.empty(ordered.shape, dtype=bool)
        run_ends[:, -1] = True
        np.not_equal(ordered[:, 1:], ordered[:, :-1], out=run_ends[:, :-1])
        last = np.where(run_ends, np.arange(n), n)
        last = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]
        placed = np.empty(sub.shape)
        np.put_along_axis(placed, order, (n - last).astype("float64"), axis=1)
        ranks[:, members] = placed
    return ranks


def _previous(grid: _Grid, previous: pd.DataFrame | None, names: list[str], run: Prepared
              ) -> tuple[np.ndarray, np.ndarray]:
    """The previous cycle's score and rank of each unit (rows) and score row (columns,
    ``names``), NaN where it has none."""
    shape = (grid.shape[0], len(names))
    if previous is None:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    kept = run.recall("unit_score_arrays", (previous,))
    if kept is not None and kept[0] is grid and kept[1] == names:
        return kept[2], kept[3]
    require_columns(previous, ["unit_id", "domain", "score", "rank"], "previous scores")
    unique_keys(previous, ["unit_id", "domain"], "previous scores")
    u = tables_mod.positions(grid.units, previous["unit_id"])
    d = tables_mod.positions(pd.Index(names), previous["domain"])
    at = np.flatnonzero((u >= 0) & (d >= 0))
    score, rank = np.full(shape, np.nan), np.full(shape, np.nan)
    score[u[at], d[at]] = pd.to_numeric(previous["score"], errors="coerce").to_numpy(
        dtype="float64")[at]
    rank[u[at], d[at]] = pd.to_numeric(previous["rank"], errors="coerce").to_numpy(
        dtype="float64")[at]
    return score, rank


def unit_scores(units: pd.DataFrame, indicators: pd.DataFrame,
                indicator_scores: pd.DataFrame, adjustments: pd.DataFrame, cycle: str,
                config: dict[str, Any], previous: pd.DataFrame | None = None, *,
                run: Prepared | None = None) -> pd.DataFrame:
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
    cycle = periods.Cycle(cycle)
    run = run or Prepared()
    grid = score_grid(units, indicators, run)
    return unit_table(grid, _scores_on_grid(grid, indicator_scores, run), adjustments, cycle,
                       config, previous, run)


def unit_table(grid: _Grid, S: np.ndarray, adjustments: pd.DataFrame, cycle: str,
                config: dict[str, Any], previous: pd.DataFrame | None, run: Prepared,
                categorical: bool = False) -> pd.DataFrame:
    """The unit scores table from the indicator scores on the grid. Every number is computed
    on units x score-row arrays (the domains, then overall and total). ``categorical``: the
    text columns (and the grade) as categoricals, for a table that goes into a large
    history."""
    assessed = grid.assessed
    names = [*grid.domains, OVERALL, TOTAL]
    dom_score, dom_cov = _domain_scores(grid, S)
    overall, overall_cov = _overall(grid, dom_score, dom_cov, config)
    bonus, deduction, vetoed = _adjustments(grid, adjustments, cycle, config)
    total = np.maximum(0.0, overall + bonus - deduction)
    grades = grade(pd.Series(total), config, pd.Series(vetoed)).to_numpy()

    score = np.column_stack([dom_score, overall, total]) if len(total) else \
        np.zeros((0, len(names)))
    coverage = np.column_stack([dom_cov, overall_cov, overall_cov]) if len(total) else \
        np.zeros((0, len(names)))
    rank, n_ranked = _ranks(grid, score)
    prev_score, prev_rank = _previous(grid, previous, names, run)

    n, k = grid.shape[0], len(names)
    unit = np.repeat(grid.unit_order, k)
    row = np.tile(np.arange(k), n)
    last = row == k - 1
    level_codes, levels = pd.factorize(assessed["level"])
    veto = pd.array(np.where(last, vetoed[unit], False), dtype="boolean")
    veto[~last] = pd.NA
    def text(codes, labels):
        if categorical:
            return tables_mod.categorical_column(codes, labels)
        return tables_mod.text_column(codes, labels)

    if categorical:
        grade_codes, grade_names = pd.factorize(pd.Series(grades, dtype=object))
        grade_column = tables_mod.categorical_column(np.where(last, grade_codes[unit], -1),
                                                       grade_names)
    else:
        grade_column = pd.Series(np.where(last, grades[unit], None), dtype=object)
    table = pd.DataFrame({
        "unit_id": text(unit, grid.units),
        "level": text(level_codes[unit], levels),
        "domain": text(row, names),
        "cycle": text(np.zeros(n * k, dtype="int64"), [str(cycle)]),
        "score": score[unit, row],
        "coverage": coverage[unit, row],
        "rank": rank[unit, row],
        "n_ranked": n_ranked[unit, row],
        "score_change": score[unit, row] - prev_score[unit, row],
        "rank_change": prev_rank[unit, row] - rank[unit, row],
        "grade": grade_column,
        "bonus": np.where(last, bonus[unit], np.nan),
        "deduction": np.where(last, deduction[unit], np.nan),
        "veto": veto,
    })[UNIT_SCORE_COLUMNS]
    # The next cycle's changes are taken from these arrays, not from the table again.
    run.keep("unit_score_arrays", (table,), (grid, names, score, rank), keep=3)
    return table
