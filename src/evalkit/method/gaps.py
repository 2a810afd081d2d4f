"""Benchmark gaps (对标差距), their closure since the baseline, and the catch-up quarter (赶超).

Per unit with a benchmark unit (对标单位) and per indicator of the domains it benchmarks
(``s = +1`` higher-is-better, ``-1`` lower):

* ``x`` the unit's observation for the cycle's own period; ``y`` the benchmark unit's latest
  observation at or before the cycle (its period is ``benchmark_period``);
* gap ``g = s (y - x)``: positive means behind the benchmark; relative gap ``r = g / |y|``;
* closure since the baseline period ``c = 1 - g_now / g_base``, defined when ``g_base > 0``;
* catch-up: least-squares lines of unit and benchmark through their last
  ``config["gaps"]["trend_cycles"]`` observed quarters up to the cycle give the projected gap
  ``G(k) = s (yhat(k) - xhat(k)) = A + B k`` for ``k`` quarters after the cycle; the catch-up
  quarter is the first ``k = 1 .. config["gaps"]["horizon"]`` with ``G(k) <= 0``.

Every undefined value is NaN with its reason in a note column (see :func:`benchmark_gaps`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..periods import Cycle
from ..values import split_domains
from .tables import (KEY, MAX_LISTED, config_or_default, period_column, prepare,
                     prepare_indicators, row_problems, text_column)
from .progress import RATIO_BOUND
from .panel import Observations, latest_upto, prepare_observations, take_or, trend_rows, trends
from .run import Prepared

__all__ = ["benchmark_gaps", "benchmark_values", "split_domains", "CATCH_UP_STATUSES"]

AHEAD, PROJECTED, NOT_WITHIN_HORIZON = "ahead", "projected", "not_within_horizon"
INSUFFICIENT_DATA, NO_DATA = "insufficient_data", "no_data"
CATCH_UP_STATUSES = (AHEAD, PROJECTED, NOT_WITHIN_HORIZON, INSUFFICIENT_DATA, NO_DATA)
_STATUS = {status: i for i, status in enumerate(CATCH_UP_STATUSES)}
_GAP_NOTES = ("", "no_current_value", "no_benchmark_value", "zero_benchmark")
_CLOSURE_NOTES = ("", "no_current_gap", "no_baseline_gap", "cycle_before_baseline",
                  "no_gap_at_baseline")

# Tolerance of the catch-up quarter's ceiling: k = A / -B computed a hair above an integer
# must not push the answer one quarter later.
_CEIL_TOLERANCE = 1e-9

_FLOAT_COLUMNS = {"actual_value", "benchmark_value", "gap", "relative_gap", "baseline_value",
                  "baseline_benchmark_value", "baseline_gap", "closure", "unit_trend",
                  "benchmark_trend", "catch_up_quarters"}

GAP_COLUMNS = [
    "unit_id", "indicator_id", "benchmark_unit_id", "domain", "direction", "cycle",
    "actual_value", "benchmark_value", "benchmark_period", "gap", "relative_gap", "gap_note",
    "baseline_period", "baseline_value", "baseline_benchmark_value", "baseline_gap", "closure",
    "closure_note", "unit_trend", "benchmark_trend", "catch_up_quarters", "catch_up_period",
    "catch_up_status",
]


def _benchmark_pairs(units: pd.DataFrame, benchmarks: pd.DataFrame,
                     ind: pd.DataFrame, run: Prepared) -> pd.DataFrame:
    """One row per benchmarking unit and indicator it compares: the indicators of the listed
    domains, or all of them when the cell is blank; sorted by unit_id and indicator_id (as
    text). Unknown units or domains and a unit that benchmarks itself are input errors.

    unit_id, indicator_id and benchmark_unit_id are categoricals of sorted ids (millions of
    rows cost their codes, not millions of strings), so are domain and direction; sign is
    the indicator's +1 / -1."""
    unit_ids = set(prepare(units, "units", ids=("unit_id",), run=run)["unit_id"])
    bm = prepare(benchmarks, "benchmarks", ids=("unit_id", "benchmark_unit_id"),
                 optional=("domains",), key=("unit_id",), run=run)
    listed = bm["domains"].map(split_domains).explode()   # one row per listed domain
    unknown = listed.notna() & ~listed.isin(set(ind["domain"]))
    problems = row_problems(~bm["unit_id"].isin(unit_ids), "benchmarks", "unit_id",
                             "unknown unit: not in the units table")
    problems += row_problems(~bm["benchmark_unit_id"].isin(unit_ids), "benchmarks",
                              "benchmark_unit_id", "unknown unit: not in the units table")
    problems += row_problems(bm["unit_id"] == bm["benchmark_unit_id"], "benchmarks",
                              "benchmark_unit_id", "a unit cannot benchmark itself")
    bad = listed[unknown].groupby(level=0).agg(", ".join)
    problems += [Problem("benchmarks", f"unknown domain(s) {names}; expected domain ids from "
                         "the indicators table separated by ; 、 or ,", row=int(row) + 2,
                         column="domains", table="benchmarks")
                 for row, names in bad.head(MAX_LISTED).items()]
    if problems:
        raise InputError(problems)

    # Each benchmarking unit with each indicator it compares, as positions: a blank cell
    # takes every indicator, listed domains their indicators (a domain listed twice once).
    domain_of = pd.Index(ind["domain"].astype("str"))
    every = listed.isna().to_numpy()
    position = listed.index.to_numpy()                    # bm's rows (a range index)
    rows = [np.repeat(position[every], len(ind))]
    cols = [np.tile(np.arange(len(ind)), int(every.sum()))]
    named = listed[~every]
    for domain, at in pd.Series(position[~every]).groupby(named.astype("str").to_numpy()):
        members = np.flatnonzero(domain_of == domain)
        rows.append(np.repeat(at.to_numpy(), len(members)))
        cols.append(np.tile(members, len(at)))
    row, col = np.concatenate(rows).astype("int64"), np.concatenate(cols).astype("int64")

    def sorted_ids(values: pd.Series) -> tuple[pd.Index, np.ndarray]:
        names, codes = np.unique(np.asarray(values.astype("str"), dtype=object),
                                 return_inverse=True)
        return pd.Index(names, dtype="str"), codes.astype("int64")

    units_sorted, unit_code = sorted_ids(bm["unit_id"])
    bench_sorted, bench_code = sorted_ids(bm["benchmark_unit_id"])
    ind_sorted, ind_code = sorted_ids(ind["indicator_id"])
    key = unit_code[row] * len(ind_sorted) + ind_code[col]
    if not (np.diff(key) > 0).all():
        key, first = np.unique(key, return_index=True)   # sorted; a repeat counted once
        row, col = row[first], col[first]
    dom_codes, domains = pd.factorize(ind["domain"].astype("str"))
    dir_codes, directions = pd.factorize(ind["direction"].astype("str"))
    return pd.DataFrame({
        "unit_id": pd.Categorical.from_codes(key // len(ind_sorted), units_sorted),
        "indicator_id": pd.Categorical.from_codes(key % len(ind_sorted), ind_sorted),
        "benchmark_unit_id": pd.Categorical.from_codes(bench_code[row], bench_sorted),
        "domain": pd.Categorical.from_codes(dom_codes[col], pd.Index(domains, dtype="str")),
        "direction": pd.Categorical.from_codes(dir_codes[col],
                                               pd.Index(directions, dtype="str")),
        "sign": ind["sign"].to_numpy(dtype="float64")[col],
    })


def _compared(units: pd.DataFrame, benchmarks: pd.DataFrame, indicators: pd.DataFrame,
              observations: pd.DataFrame, run: Prepared):
    """The prepared observations, the benchmarking pairs (one row per unit and indicator it
    compares) and the observation pair codes of the unit and of its benchmark unit for each:
    the same for every cycle of a scoring run, so prepared once. The prepared observations
    are the run's own object (what is computed from them is kept by their identity)."""
    obs = prepare_observations(observations, run=run)

    def build():
        ind = prepare_indicators(indicators, domain=True, run=run)
        pairs = _benchmark_pairs(units, benchmarks, ind, run)
        unit_pair = obs.pair_codes(pairs["unit_id"], pairs["indicator_id"])
        bench_pair = obs.pair_codes(pairs["benchmark_unit_id"], pairs["indicator_id"])
        return pairs, unit_pair, bench_pair
    return (obs, *run.once("benchmark_pairs", (units, benchmarks, indicators, observations),
                           build))


def _pair_keys(pairs: pd.DataFrame) -> pd.DataFrame:
    """unit_id, indicator_id, benchmark_unit_id of the benchmarking pairs (categoricals)."""
    return pairs[["unit_id", "indicator_id", "benchmark_unit_id"]]


def benchmark_values(units: pd.DataFrame, benchmarks: pd.DataFrame, indicators: pd.DataFrame,
                     observations: pd.DataFrame, cycle: str, *, run: Prepared | None = None
                     ) -> pd.DataFrame:
    """unit_id, indicator_id, benchmark_unit_id and benchmark_value (the benchmark unit's
    latest observation at or before the cycle, NaN when none), one row per benchmarking pair
    as in :func:`benchmark_gaps` (sorted by unit and indicator; the ids as categoricals): all
    that scoring needs of the gaps. ``scoring.indicator_scores`` takes it for the gaps."""
    cycle_idx = Cycle(cycle).index
    run = run or Prepared()
    obs, pairs, _, bench_pair = _compared(units, benchmarks, indicators, observations, run)
    y, _ = latest_upto(obs, bench_pair, np.full(len(pairs), float(cycle_idx)), run=run)
    keys = _pair_keys(pairs)
    out = keys.assign(benchmark_value=y)
    # indicator_scores of this very table in the same run takes the values from here.
    run.keep("benchmark_gaps", (out,), (keys[["unit_id", "indicator_id"]], y), keep=1)
    return out


def _baselines(pairs: pd.DataFrame, keys: pd.DataFrame, targets: pd.DataFrame | None,
               obs: Observations, unit_pair: np.ndarray, indicators: pd.DataFrame,
               run: Prepared) -> pd.DataFrame:
    """Per pair: the baseline quarter (the unit's earliest target baseline for the indicator,
    else the study's first cycle) and the unit's value there (its observation for that quarter,
    else the baseline value of that target). ``keys``: the pairs' ids as categoricals; the
    targets are matched to the pairs on integer codes of their ids."""
    grid = obs.panel
    first_cycle = float(grid.first) if len(grid.pairs) else np.nan
    base_idx = np.full(len(pairs), np.nan)
    base_value = np.full(len(pairs), np.nan)
    if targets is not None and len(targets):
        # The targets as the run prepared them already (for their progress), else checked
        # here for what the baselines need.
        t = run.recall("targets", (targets, run.recall("indicators", (indicators, False))))
        if t is None:
            t = prepare(targets, "targets", ids=tuple(KEY), numbers=("baseline_value",),
                        period_cols=("baseline_period",), dates=("deadline",), run=run)
        # Each target's unit and indicator as codes of the pairs' ids, then the earliest
        # baseline (then deadline) of each.
        units = keys["unit_id"].cat.categories
        inds = keys["indicator_id"].cat.categories
        tu, ti = units.get_indexer(t["unit_id"]), inds.get_indexer(t["indicator_id"])
        order = np.lexsort((t["deadline"].to_numpy(), t["baseline_period_idx"].to_numpy()))
        order = order[(tu[order] >= 0) & (ti[order] >= 0)]
        code = tu[order].astype("int64") * len(inds) + ti[order]
        code, first = np.unique(code, return_index=True)          # the first of each
        chosen = order[first]
        wanted = (keys["unit_id"].cat.codes.to_numpy().astype("int64") * len(inds)
                  + keys["indicator_id"].cat.codes.to_numpy())
        at = np.searchsorted(code, wanted)
        at = np.where(at < len(code), at, 0)
        found = (len(code) > 0) & (code[at] == wanted) if len(code) else \
            np.zeros(len(wanted), dtype=bool)
        base_idx[found] = t["baseline_period_idx"].to_numpy()[chosen[at[found]]]
        base_value[found] = t["baseline_value"].to_numpy()[chosen[at[found]]]
    base_idx = np.where(np.isnan(base_idx), first_cycle, base_idx).astype("float64")
    value, at = latest_upto(obs, unit_pair, base_idx, run=run)
    observed = np.where(at == base_idx, value, np.nan)
    return pd.DataFrame({
        "baseline_period_idx": base_idx,
        "baseline_value": np.where(np.isnan(observed), base_value, observed),
    })


def _text(values: pd.Series) -> pd.Series:
    """A categorical column of the pairs as the gaps table holds its text (``text_column``)."""
    return text_column(values.cat.codes.to_numpy(), values.cat.categories)


def _catch_up(A: np.ndarray, B: np.ndarray, horizon: int) -> np.ndarray:
    """First integer ``k >= 1`` with ``A + B k <= 0``, NaN when there is none up to
    ``horizon``. Closed form: ``k = 1`` when ``A + B <= 0``; else, for ``B < 0``,
    ``k = ceil(A / -B)``; else never (the projected gap does not shrink)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        later = A / -B
        k_later = np.ceil(later - _CEIL_TOLERANCE * np.maximum(1.0, np.abs(later)))
        k = np.where(A + B <= 0, 1.0, np.where(B < 0, k_later, np.nan))
    return np.where(k <= horizon, k, np.nan)


def benchmark_gaps(units: pd.DataFrame, benchmarks: pd.DataFrame, indicators: pd.DataFrame,
                   observations: pd.DataFrame, targets: pd.DataFrame | None, cycle: str,
                   config: dict | None = None, *, run: Prepared | None = None) -> pd.DataFrame:
    """Gaps to the benchmark unit at the cycle, their closure and the projected catch-up.

    One row per unit that has a benchmark (``benchmarks``) and per indicator of the domains
    listed in ``benchmarks.domains`` (ids separated by ; 、 or ,; blank means every domain),
    sorted by unit and indicator; a unit without a benchmark has no rows. The formulas are in
    the module docstring; besides them:

    * ``gap`` is NaN without a current value of the unit (``gap_note = "no_current_value"``)
      or any benchmark value up to the cycle (``"no_benchmark_value"``); ``relative_gap`` is
      NaN also when ``y == 0`` (``"zero_benchmark"``), and bounded at ``+-RATIO_BOUND``.
    * the baseline period is the unit's earliest target ``baseline_period`` for the indicator,
      else the study's first cycle (the earliest period in ``observations``). The unit's
      baseline value is its observation for that quarter, else that target's
      ``baseline_value``; the benchmark's is its latest observation at or before that quarter;
      ``baseline_gap = s (y_base - x_base)``.
    * ``closure = 1 - gap / baseline_gap`` when ``baseline_gap > 0``; else NaN, and
      ``closure_note`` says why: ``no_current_gap``, ``no_baseline_gap`` (a value missing at
      the baseline), ``no_gap_at_baseline`` (``baseline_gap <= 0``) or
      ``cycle_before_baseline``.
    * ``catch_up_status``, the first that applies: ``no_data`` (no current gap), ``ahead``
      (``gap <= 0``), ``insufficient_data`` (fewer than two points in either trend),
      ``projected`` (with ``catch_up_quarters`` k and ``catch_up_period`` = cycle + k) or
      ``not_within_horizon``. ``unit_trend`` and ``benchmark_trend`` are the slopes per
      quarter.
    """
    config = config_or_default(config)
    cycle = Cycle(cycle)
    cycle_idx = cycle.index
    horizon = int(config["gaps"]["horizon"])
    run = run or Prepared()
    obs, pairs, unit_pair, bench_pair = _compared(units, benchmarks, indicators, observations,
                                                  run)
    # The number columns are made in one block, each put there once final (millions of rows:
    # the table holds its numbers in such a block anyway, and no array waits to be copied).
    floats = [c for c in GAP_COLUMNS if c in _FLOAT_COLUMNS]
    block = np.empty((len(floats), len(pairs)))
    column = {c: block[i] for i, c in enumerate(floats)}
    s = pairs["sign"].to_numpy()
    at_cycle = np.full(len(pairs), float(cycle_idx))
    x, x_idx = latest_upto(obs, unit_pair, at_cycle, run=run)
    x = np.where(x_idx == cycle_idx, x, np.nan)
    del x_idx
    y, y_idx = latest_upto(obs, bench_pair, at_cycle, run=run)
    del at_cycle
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gap = column["gap"]
        np.multiply(s, y - x, out=gap)
        column["relative_gap"][:] = np.where(
            y != 0, np.clip(gap / np.abs(y), -RATIO_BOUND, RATIO_BOUND), np.nan)
    gap_note = np.select([np.isnan(x), np.isnan(y), y == 0], [1, 2, 3], 0).astype(np.int8)
    column["actual_value"][:] = x
    column["benchmark_value"][:] = y
    benchmark_period = period_column(y_idx)
    del x, y_idx

    keys = _pair_keys(pairs)
    base = run.once("gap_baselines", (units, benchmarks, indicators, observations, targets),
                    lambda: _baselines(pairs, keys, targets, obs, unit_pair, indicators, run))
    base_idx = base["baseline_period_idx"].to_numpy()
    x_base, y_base, base_gap = (column["baseline_value"], column["baseline_benchmark_value"],
                                column["baseline_gap"])
    x_base[:] = base["baseline_value"].to_numpy(dtype="float64")
    y_base[:] = latest_upto(obs, bench_pair, base_idx, run=run)[0]
    np.multiply(s, y_base - x_base, out=base_gap)
    after_cycle = base_idx > cycle_idx
    closable = ~np.isnan(gap) & (base_gap > 0) & ~after_cycle
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        column["closure"][:] = np.where(
            closable, np.clip(1 - gap / base_gap, -RATIO_BOUND, RATIO_BOUND), np.nan)
    del closable
    closure_note = np.select([np.isnan(gap), np.isnan(base_gap), after_cycle, base_gap <= 0],
                             [1, 2, 3, 4], 0).astype(np.int8)
    baseline_period = period_column(base_idx)
    del after_cycle

    n_trend = int(config["gaps"]["trend_cycles"])
    trend = trends(obs, cycle_idx, n_trend, run=run)
    unit_row = trend_rows(obs, cycle_idx, n_trend, unit_pair, run=run)
    bench_row = trend_rows(obs, cycle_idx, n_trend, bench_pair, run=run)
    level, slope = trend["level"].to_numpy(), trend["slope"].to_numpy()
    points = trend["n_points"].to_numpy(dtype="float64")
    unit_slope, bench_slope = column["unit_trend"], column["benchmark_trend"]
    unit_slope[:] = take_or(slope, unit_row)
    bench_slope[:] = take_or(slope, bench_row)
    A = s * (take_or(level, bench_row) - take_or(level, unit_row))
    B = s * (bench_slope - unit_slope)
    k = column["catch_up_quarters"]
    k[:] = _catch_up(A, B, horizon)
    del A, B
    enough = (take_or(points, unit_row, 0.0) >= 2) & (take_or(points, bench_row, 0.0) >= 2)
    del unit_row, bench_row
    status = np.select(
        [np.isnan(gap), gap <= 0, ~enough, ~np.isnan(k)],
        [_STATUS[NO_DATA], _STATUS[AHEAD], _STATUS[INSUFFICIENT_DATA], _STATUS[PROJECTED]],
        _STATUS[NOT_WITHIN_HORIZON]).astype(np.int8)
    del enough
    k[status != _STATUS[PROJECTED]] = np.nan

    text = _text
    out = pd.DataFrame(block.T, columns=floats, copy=False).assign(**{
        "unit_id": text(pairs["unit_id"]), "indicator_id": text(pairs["indicator_id"]),
        "benchmark_unit_id": text(pairs["benchmark_unit_id"]),
        "domain": text(pairs["domain"]), "direction": text(pairs["direction"]),
        "cycle": text_column(np.zeros(len(pairs), dtype=np.int8), [str(cycle)]),
        "benchmark_period": benchmark_period,
        "gap_note": text_column(gap_note, _GAP_NOTES),
        "baseline_period": baseline_period,
        "closure_note": text_column(closure_note, _CLOSURE_NOTES),
        "catch_up_period": period_column(cycle_idx + k),
        "catch_up_status": text_column(status, CATCH_UP_STATUSES),
    })[GAP_COLUMNS]
    y = column["benchmark_value"]
    # indicator_scores of this very table in the same run takes the benchmark values from here.
    run.keep("benchmark_gaps", (out,), (pairs[["unit_id", "indicator_id"]], y), keep=1)
    return out
