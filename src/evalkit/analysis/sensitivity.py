"""Rank robustness: how much a unit's rank depends on the weights and the normalisation chosen.

A rank is a product of choices: the indicator weights, the domain weights and how each
indicator is turned into a 0-100 score. Following the uncertainty analysis of the OECD/JRC
Handbook on Constructing Composite Indicators, the study is scored many times with those choices
varied at random, and each assessed unit gets the interval of ranks it reaches. A narrow interval
says the rank is robust; a wide one that another reasonable choice of weights would have ranked
the unit elsewhere.

**Normalisations** (:func:`indicator_score_variants`), per assessed unit u and indicator i of
the cycle, x the unit's current value, s = +1 higher-is-better / -1 lower-is-better, over the
assessed units of u's level with a current value for i:

- ``configured``: the indicator score as configured (``scoring.indicator_scores``: target
  progress, else the benchmark ratio, else min-max);
- ``minmax``: 100 (x - min) / (max - min) for higher-is-better, 100 (max - x) / (max - min) for
  lower-is-better; 100 when max == min (one unit alone, or all equal);
- ``rank``: the percentile rank 100 (r - 1) / (n - 1), r the rank of s x in ascending order
  (1 = worst, n = best; tied values share the average of their ranks, so n equal values all get
  50), n the number of units with a value; 100 when n == 1.

Every normalisation is NaN exactly where the unit has no current value.

**One simulated scoring (a run)** (:func:`rank_robustness`), j = 1 .. R:

1. a normalisation k_j drawn with equal probability from ``sensitivity.normalisations``;
2. every indicator weight w_i' = w_i U_ij and every domain weight W_d' = W_d V_dj, with U and V
   independent draws from the uniform distribution on [1 - spread, 1 + spread] (``spread`` =
   ``sensitivity.weight_spread``, 0 <= spread < 1): a weight of 0 stays 0, a positive one stays
   positive;
3. aggregation exactly as ``scoring.unit_scores``: domain score S_d = sum(w_i' s_i) / sum(w_i')
   over the domain's indicators with a score; overall = sum(W_d' S_d) / sum(W_d') over the
   domains with a score (arithmetic) or exp(sum(W_d' ln max(S_d, geometric_floor)) / sum(W_d'))
   (geometric); total = max(0, overall + bonus - deduction), bonus and deduction capped as
   configured (they do not depend on the weights);
4. rank within the level: 1 + the number of units of the level with a strictly higher total
   (ties share the best rank; totals compared rounded to ``scoring.COMPARE_DECIMALS``);
5. grade by ``scores.grades`` (``scoring.grade``); a unit with a one-vote veto keeps
   ``scores.veto_grade`` in every run.

**Summary per unit** over its R simulated ranks r_1 .. r_R: the q-quantile is the smallest rank v
with #{j: r_j <= v} >= q R (the inverted empirical distribution, so it is always a rank that
occurred): ``median_rank`` (q = 0.5), ``rank_p05`` (q = 0.05) and ``rank_p95`` (q = 0.95);
``grade_share`` = the share of runs whose grade equals the configured grade, counted over the runs
that used the configured normalisation (grade bands are absolute, and min-max or rank scores
are relative; with no "configured" in the list, over all runs); ``robust`` when
rank_p95 - rank_p05 <= ``sensitivity.robust_width``. The same seed (``sensitivity.seed``) gives
the same table; draws are made per indicator and per domain (in id order), never per unit, so
renaming units or reordering rows changes nothing.

Only assessed units with a total appear: reference units (the benchmarks) are never scored, and
a unit with no current value at all has no total, hence no row. Every number of a row is
defined: no NaN, no infinity.
"""
from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..method.run import Prepared
from ..method import scoring
from ..errors import InputError, Problem, require_columns

NORMALISATIONS = ("configured", "minmax", "rank")
KEYS = ["unit_id", "indicator_id"]
VARIANT_COLUMNS = ["unit_id", "level", "indicator_id", "domain", *NORMALISATIONS]
ROBUSTNESS_COLUMNS = ["unit_id", "level", "cycle", "rank", "n_ranked", "grade", "median_rank",
                      "rank_p05", "rank_p95", "grade_share", "robust", "runs"]
QUANTILES = {"rank_p05": 0.05, "median_rank": 0.5, "rank_p95": 0.95}
# Arrays of one batch of runs hold at most about this many numbers (runs x units x domains):
# memory stays bounded for large studies, the matrix products stay few, and the draws are
# made before batching, so the batch size never changes a result.
BATCH_CELLS = 8_000_000


# --- settings -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The checked ``sensitivity`` settings, with ``runs`` and ``seed`` as overridden."""

    runs: int
    spread: float
    normalisations: tuple[str, ...]
    seed: int | None
    robust_width: float


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)) and math.isfinite(float(value)))


def _is_whole(value: object) -> bool:
    return _is_number(value) and float(value) == int(value)


def settings(config: dict[str, Any], *, runs: int | None = None,
             seed: int | None = None) -> Settings:
    """The ``sensitivity`` section of ``config``, checked; ``runs`` and ``seed`` (when not None)
    override the configured ones.

    Rules: runs a whole number >= 1; weight_spread a number with 0 <= spread < 1 (so a positive
    weight stays positive); normalisations a non-empty list of distinct names among configured,
    minmax, rank; seed a whole number >= 0 or null (null: fresh randomness on every call);
    robust_width a number >= 0. Every bad setting is one :class:`Problem` of one
    :class:`InputError` (file ``config`` for the configuration, ``arguments`` for an override).
    """
    section = (config or {}).get("sensitivity")
    if not isinstance(section, dict):
        raise InputError([Problem("config", "expected the sensitivity settings (a mapping)",
                                  column="sensitivity")])
    problems: list[Problem] = []

    def bad(key: str, message: str, where: str = "config") -> None:
        problems.append(Problem(where, message, column=f"sensitivity.{key}"))

    runs_value = section.get("runs") if runs is None else runs
    runs_where = "config" if runs is None else "arguments"
    if not (_is_whole(runs_value) and runs_value >= 1):
        bad("runs", f"expected a whole number of runs >= 1, got {runs_value!r}", runs_where)
    spread = section.get("weight_spread")
    if not (_is_number(spread) and 0 <= spread < 1):
        bad("weight_spread", f"expected a number with 0 <= spread < 1, got {spread!r}")
    norms = section.get("normalisations")
    if (not isinstance(norms, (list, tuple)) or not norms
            or any(n not in NORMALISATIONS for n in norms) or len(set(norms)) != len(norms)):
        bad("normalisations", "expected a non-empty list of distinct names among "
            f"{', '.join(NORMALISATIONS)}, got {norms!r}")
    seed_value = section.get("seed") if seed is None else seed
    seed_where = "config" if seed is None else "arguments"
    if seed_value is not None and not (_is_whole(seed_value) and seed_value >= 0):
        bad("seed", f"expected a whole number >= 0 (or null), got {seed_value!r}", seed_where)
    width = section.get("robust_width")
    if not (_is_number(width) and width >= 0):
        bad("robust_width", f"expected a number of places >= 0, got {width!r}")
    if problems:
        raise InputError(problems)
    return Settings(runs=int(runs_value), spread=float(spread), normalisations=tuple(norms),
                    seed=None if seed_value is None else int(seed_value),
                    robust_width=float(width))


# --- normalisations -----------------------------------------------------------------------

def indicator_score_variants(units: pd.DataFrame, indicators: pd.DataFrame,
                             observations: pd.DataFrame, progress: pd.DataFrame,
                             gaps: pd.DataFrame, cycle: str,
                             config: dict[str, Any], *, run: Prepared | None = None
                             ) -> pd.DataFrame:
    """The indicator score of each assessed unit under each normalisation.

    One row per assessed unit x indicator (sorted by unit_id, indicator_id). Columns: unit_id,
    level, indicator_id, domain, configured, minmax, rank (formulas in the module docstring).
    The three scores are 0-100, and NaN exactly where the unit has no current value for the
    indicator. Min-max bounds and percentile ranks are taken over the assessed units of the
    same level with a current value, whatever basis ``configured`` uses; reference units never
    enter them.

    The inputs are those of ``scoring.indicator_scores`` (``progress`` from
    ``progress.target_progress``, ``gaps`` from ``gaps.benchmark_gaps``), which checks them:
    MethodError for a missing column or a repeated key, InputError for a bad direction, weight,
    domain or value, ParseError for a malformed cycle.
    """
    run = run or Prepared()
    scored = scoring.indicator_scores(units, indicators, observations, progress, gaps, cycle,
                                      config, run=run)
    return _variants_of_grid(scored, *run.recall("indicator_score_grid", (scored,)), run)


def _average_ranks(block: np.ndarray) -> np.ndarray:
    """Each column's values ranked from 1 (lowest) up, ties sharing the mean of their ranks
    and NaN unranked: what pandas' ``rank(method="average")`` gives a column. A run of equal
    values from sorted position s to e (from 0) has the rank (s + e) / 2 + 1."""
    order = np.argsort(block, axis=0, kind="stable")              # NaN sorts last
    ordered = np.take_along_axis(block, order, axis=0)
    n = len(block)
    position = np.arange(n)[:, None]
    new_run = np.ones(ordered.shape, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=new_run[1:])
    run_end = np.ones(ordered.shape, dtype=bool)
    run_end[:-1] = new_run[1:]
    start = np.maximum.accumulate(np.where(new_run, position, 0), axis=0)
    end = np.minimum.accumulate(np.where(run_end, position, n)[::-1], axis=0)[::-1]
    ranks = np.empty(block.shape)
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=0)
    return np.where(np.isnan(block), np.nan, ranks)


def _variant_grids(grid, x: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """The three normalisations' scores on the grid of this run's indicator scores (assessed
    units x indicators): min-max bounds and percentile ranks per level and indicator are
    worked out on its columns, level by level, not grouped from millions of rows."""
    sign = np.broadcast_to(grid.sign[None, :], grid.shape)
    key = np.round(sign * x, scoring.COMPARE_DECIMALS)
    minmax = np.full(grid.shape, np.nan)
    rank = np.full(grid.shape, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN groups: min is NaN
        for rows in grid.minmax_groups:
            # The level's bounds, one per indicator, against each of its units' values.
            lo = np.nanmin(x[rows], axis=0)[None, :]
            hi = np.nanmax(x[rows], axis=0)[None, :]
            minmax[rows] = scoring.minmax_score(x[rows], lo, hi, sign[rows])
            block = key[rows]
            r = _average_ranks(block)
            n = np.broadcast_to((~np.isnan(block)).sum(axis=0)[None, :], block.shape)
            out = np.divide(100.0 * (r - 1.0), n - 1.0, out=np.full(block.shape, 100.0),
                            where=n > 1)
            rank[rows] = np.where(np.isnan(block), np.nan, out)
    return {"configured": score, "minmax": minmax, "rank": rank}


def _variants_of_grid(scored: pd.DataFrame, grid, x: np.ndarray, score: np.ndarray,
                      run: Prepared) -> pd.DataFrame:
    """:func:`indicator_score_variants` from the indicator scores' grid of this run."""
    grids = _variant_grids(grid, x, score)
    n_units, n_ind = grid.shape
    rows = np.repeat(grid.unit_order, n_ind)
    cols = np.tile(grid.ind_order, n_units)
    out = scored[["unit_id", "level", "indicator_id", "domain"]].assign(
        configured=scored["score"].astype("float64"), minmax=grids["minmax"][rows, cols],
        rank=grids["rank"][rows, cols])[VARIANT_COLUMNS].reset_index(drop=True)
    # rank_robustness of this very table in the same run takes the scores from the grids.
    run.keep("score_variants", (out,), (grid, grids), keep=1)
    return out


# --- the simulation -----------------------------------------------------------------------

def _one_blas_thread():
    """numpy's matrix products on one thread meanwhile. The simulation's products are many
    and small: the BLAS's helper threads would spin between them on the cores the ranks and
    the rest of the scoring run use, and a product's numbers do not depend on the number of
    threads that computed it."""
    return threadpool_limits(limits=1, user_api="blas")


def _check_variants(variants: pd.DataFrame, used: list[str]) -> pd.DataFrame:
    """unit_id, indicator_id and the ``used`` normalisations as float64, checked: every column
    present (MethodError), one row per key (MethodError), values numbers in [0, 100] or NaN, and
    NaN in all used normalisations or in none (InputError)."""
    require_columns(variants, KEYS + used, "variants")
    scoring.unique_keys(variants, KEYS, "variants")
    out = variants[KEYS].copy()
    problems: list[Problem] = []
    for column in used:
        try:
            values = scoring.numbers(variants, column, "variants", KEYS)
        except InputError as exc:
            problems += exc.problems
            continue
        outside = values.notna() & ~values.between(0.0, 100.0)
        if outside.any():
            problems += scoring.bad_values("variants", column, variants[outside], KEYS,
                                            "a score from 0 to 100").problems
        out[column] = values
    if problems:
        raise InputError(problems)
    missing = out[used].isna()
    mixed = missing.any(axis=1) & ~missing.all(axis=1)
    if mixed.any():
        rows = out[mixed].head(20)
        raise InputError([Problem("variants", f"{dict(zip(KEYS, key))}: expected a score under "
                                  "every normalisation or under none (a missing score means "
                                  "no current value)", column=", ".join(used), table="variants")
                          for key in rows[KEYS].itertuples(index=False, name=None)])
    return out


def _weights(indicators: pd.DataFrame, config: dict[str, Any]):
    """Indicator ids, their weights and domain index, the domain ids and domain weights, all in
    id order (the order of the draws). Called after ``scoring.unit_scores`` checked the table."""
    ind = indicators.sort_values("indicator_id", kind="stable")
    weight = (pd.to_numeric(ind["weight"], errors="coerce") if "weight" in ind
              else pd.Series(1.0, index=ind.index)).fillna(1.0).to_numpy(dtype="float64")
    domains = sorted(set(ind["domain"].astype(str)))
    domain_index = pd.Index(domains).get_indexer(ind["domain"].astype(str))
    configured = (config["scores"].get("domain_weights") or {})
    domain_weight = np.array([float(configured.get(d, 1.0)) for d in domains])
    return (ind["indicator_id"].astype(str).to_numpy(), weight, domain_index, domains,
            domain_weight)


def _totals(AT: list[np.ndarray], HT: list[np.ndarray], columns: list[np.ndarray],
            w: np.ndarray, W: np.ndarray, bonus: np.ndarray, deduction: np.ndarray,
            config: dict[str, Any]) -> np.ndarray:
    """Totals of a batch of runs, as ``scoring.unit_scores`` computes them -> runs x units.

    Per domain d (its indicators ``columns[d]``): ``AT[d]`` the scores of one normalisation
    where counted (0 elsewhere) and ``HT[d]`` the 0/1 mask of the counted ones (a score and a
    positive weight), both indicators x units; w (runs x indicators) and W (runs x domains)
    the drawn weights. The domain's weighted sums for every run of the batch are two matrix
    products, ``w_d @ AT[d]`` and ``w_d @ HT[d]``; the overall mean is then accumulated domain
    by domain, so no runs x units x domains array is built."""
    scores_cfg = config["scores"]
    geometric = scores_cfg["aggregation"] == "geometric"
    floor = float(scores_cfg["geometric_floor"])
    shape = (len(w), AT[0].shape[1] if AT else len(bonus))
    weighted, weight_sum = np.zeros(shape), np.zeros(shape)
    # The arrays of a batch are worked in place (runs x units each: the time goes into passes
    # over them). A domain's score is finite exactly where its weight sum is positive (the
    # scores are finite), and adding only there adds what adding 0 elsewhere would: every
    # term is >= 0 or a logarithm, never -0.
    with_data = np.empty(shape, dtype=bool)
    for d, cols in enumerate(columns):
        Wd = W[:, d][:, None]
        if not (Wd > 0).any():
            continue
        weights = w[:, cols]
        num, den = weights @ AT[d], weights @ HT[d]
        np.greater(den, 0.0, out=with_data)
        if not (Wd > 0).all():
            with_data &= Wd > 0
        everywhere = bool(with_data.all())
        where = True if everywhere else with_data
        domain = np.divide(num, den, out=num, where=where)
        if geometric:
            if not everywhere:
                np.copyto(domain, 1.0, where=~with_data)
            term = np.log(np.maximum(domain, floor))
        else:
            term = domain
        np.multiply(Wd, term, out=term, where=where)
        np.add(weighted, term, out=weighted, where=where)
        np.add(weight_sum, np.broadcast_to(Wd, shape), out=weight_sum, where=where)
    mean = np.divide(weighted, weight_sum, out=np.full(shape, np.nan), where=weight_sum > 0)
    if geometric:
        mean = np.exp(mean)
    return np.maximum(0.0, mean + bonus - deduction)


def _quantiles(ranks: np.ndarray, qs: list[float]) -> list[np.ndarray]:
    """Per unit (row of ``ranks``, units x runs) and quantile q, the smallest simulated rank v
    with #{runs: rank <= v} >= q n, n the runs that ranked the unit; NaN when none did. The
    rows of ``ranks`` are reordered in place (each unit's ranks stay its own)."""
    n = np.isfinite(ranks).sum(axis=1)
    outs = [np.full(ranks.shape[0], np.nan) for _ in qs]
    if ranks.shape[1] == 0:
        return outs
    positions = [np.clip(np.ceil(np.round(q * n, 9)).astype(int) - 1, 0, ranks.shape[1] - 1)
                 for q in qs]
    # Units ranked in every run (the usual case) need only the order statistics at a few
    # positions, the same for all of them, which one partition finds without sorting.
    full = n == ranks.shape[1]
    if full.any():
        ks = sorted({int(p[full][0]) for p in positions})
        if full.all():
            ranks.partition(ks, axis=1)
            parted = ranks
        else:
            parted = np.partition(ranks[full], ks, axis=1)
        for out, position in zip(outs, positions):
            out[full] = parted[:, int(position[full][0])]
    rest = ~full & (n > 0)
    if rest.any():
        ordered = np.sort(ranks[rest], axis=1)                       # NaN sorts last
        for out, position in zip(outs, positions):
            out[rest] = np.take_along_axis(ordered, position[rest][:, None], axis=1)[:, 0]
    return outs


def _grade_codes(totals: np.ndarray, names: list[str], bounds: np.ndarray, veto: np.ndarray,
                 veto_code: int) -> np.ndarray:
    """``scoring.grade`` as integer codes into ``names`` (-1: no grade, for a NaN total): the
    first band (highest first) whose bound the rounded total reaches, else the last; a vetoed
    unit gets ``veto_code``."""
    values = np.round(totals, scoring.COMPARE_DECIMALS)
    code = np.full(values.shape, len(bounds) - 1, dtype="int64")
    for j in range(len(bounds) - 1, -1, -1):       # the first band that fits wins
        code = np.where(values >= bounds[j], j, code)
    code = np.where(veto, veto_code, code)
    return np.where(np.isnan(values), -1, code)


def rank_robustness(units: pd.DataFrame, indicators: pd.DataFrame, variants: pd.DataFrame,
                    adjustments: pd.DataFrame, cycle: str, config: dict[str, Any], *,
                    runs: int | None = None, seed: int | None = None,
                    run: Prepared | None = None) -> pd.DataFrame:
    """Rank intervals from a Monte Carlo over weights and normalisation.

    ``variants`` is :func:`indicator_score_variants`' table (unit_id, indicator_id, configured
    and every normalisation of ``sensitivity.normalisations``); ``runs`` and ``seed`` default to
    ``sensitivity.runs`` and ``sensitivity.seed``. Each run is described in the module
    docstring; the same seed gives an identical table.

    One row per assessed unit with a total, sorted by unit_id. Columns: unit_id, level, cycle,
    rank and n_ranked (as configured: ``scoring.unit_scores`` on the ``configured`` scores),
    grade (as configured), median_rank, rank_p05, rank_p95 (quantiles of the simulated ranks,
    whole numbers), grade_share (share of runs with the configured grade, 0-1), robust (bool:
    rank_p95 - rank_p05 <= ``sensitivity.robust_width``), runs (the runs that ranked the unit:
    every run, since a unit with a total has a score in every run).

    The runs are computed in batches of runs drawing the same normalisation (two matrix
    products per batch), so memory stays bounded (``BATCH_CELLS``) and the batch size never
    changes a result: every draw is made before batching.

    Raises InputError for bad settings or variant scores (text, outside 0-100, present under
    one normalisation and missing under another); MethodError for a missing column or repeated
    key; whatever ``scoring.unit_scores`` raises for bad units, indicators or adjustments.
    """
    cfg = settings(config, runs=runs, seed=seed)
    used = list(dict.fromkeys(["configured", *cfg.normalisations]))
    run = run or Prepared()
    kept = run.recall("score_variants", (variants,))
    run.forget("score_variants", (variants,))
    if kept is not None and kept[0] is scoring.score_grid(units, indicators, run):
        # The variants this run made from its grids, and so already checked.
        return _simulate(kept[0], kept[1], indicators, adjustments, cycle, config, cfg, run)
    checked = _check_variants(variants, used)
    configured = scoring.unit_scores(units, indicators,
                                     checked[KEYS].assign(score=checked["configured"]),
                                     adjustments, cycle, config, run=run)
    return _run(configured, indicators, cycle, config, cfg,
                lambda unit_ids, ind_ids: _matrices(checked, list(cfg.normalisations),
                                                    unit_ids, ind_ids))


def _simulate(grid, grids: dict, indicators: pd.DataFrame, adjustments: pd.DataFrame,
              cycle: str, config: dict[str, Any], cfg: Settings, run: Prepared
              ) -> pd.DataFrame:
    """:func:`rank_robustness` from this run's grids of the variant scores (assessed units x
    indicators, see :func:`_variant_grids`)."""
    configured = scoring.unit_table(grid, grids["configured"], adjustments, cycle, config,
                                     None, run)

    def scores(unit_ids: np.ndarray, ind_ids: np.ndarray):
        rows = grid.units.get_indexer(unit_ids)
        cols = grid.indicators.get_indexer(ind_ids)
        # One normalisation's units x indicators at a time, as the simulation asks for it.
        return [lambda k=k: grids[k][np.ix_(rows, cols)] for k in cfg.normalisations]
    return _run(configured, indicators, cycle, config, cfg, scores)


def _run(configured: pd.DataFrame, indicators: pd.DataFrame, cycle: str,
         config: dict[str, Any], cfg: Settings, scores) -> pd.DataFrame:
    """The simulation, given the unit scores as configured and ``scores(unit_ids, ind_ids)``:
    per normalisation, its units x indicators scores (an array, or a function making it)."""
    total = configured[(configured["domain"] == scoring.TOTAL) & configured["score"].notna()]
    # By id as text (a large table's ids are categoricals, whose order is not the text's).
    total = total.assign(unit_id=total["unit_id"].astype("str")).sort_values(
        "unit_id", kind="stable").reset_index(drop=True)
    if total.empty:
        return _empty()

    unit_ids = total["unit_id"].astype(str).to_numpy()
    ind_ids, w, domain_index, domains, W = _weights(indicators, config)
    S = scores(unit_ids, ind_ids)

    def matrix(k: int) -> np.ndarray:
        return S[k]() if callable(S[k]) else S[k]
    # A score counts where it exists and its indicator weighs something; a weight drawn
    # around a positive weight stays positive, so this is the same in every run.
    counted = np.isfinite(matrix(0)) & (w > 0)[None, :]

    rng = np.random.default_rng(cfg.seed)
    choice = rng.integers(len(cfg.normalisations), size=cfg.runs)
    low, high = 1.0 - cfg.spread, 1.0 + cfg.spread
    w_runs = w[None, :] * rng.uniform(low, high, size=(cfg.runs, len(ind_ids)))
    W_runs = W[None, :] * rng.uniform(low, high, size=(cfg.runs, len(domains)))

    level = total["level"].astype(object).where(total["level"].notna(), "").to_numpy()
    level_groups = [np.flatnonzero(level == lv) for lv in pd.unique(level)]
    bonus = total["bonus"].to_numpy(dtype="float64")
    deduction = total["deduction"].to_numpy(dtype="float64")
    veto = total["veto"].eq(True).fillna(False).to_numpy(dtype=bool)
    grade_now = total["grade"].astype(object).to_numpy()
    bands = config["scores"]["grades"]
    names = [str(name) for name, _ in bands]
    bounds = np.array([float(bound) for _, bound in bands])
    veto_name = str(config["scores"]["veto_grade"])
    all_names = names + ([veto_name] if veto_name not in names else [])
    code_now = np.array([all_names.index(g) if g in all_names else -2 for g in grade_now])

    n_units = len(unit_ids)
    # A run's arrays hold units x domains numbers (the units x indicators scores are shared).
    per_run = n_units * max(len(domains), 1)
    batch = max(1, BATCH_CELLS // max(1, per_run))
    # Units x runs (each unit's simulated ranks side by side, for its quantiles); whole
    # numbers, exact in float32.
    ranks = np.empty((n_units, cfg.runs), dtype="float32")
    same_grade = np.zeros(n_units)
    graded_runs = np.zeros(n_units)
    # Grade bands are absolute (90/80/60) and only mean something on the configured scale:
    # min-max and rank scores put the worst unit at 0 whatever it achieved. So grades are
    # compared over the runs that used the configured normalisation (all runs without one).
    grading = (np.asarray(cfg.normalisations) == "configured")
    if not grading.any():
        grading[:] = True
    columns = [np.flatnonzero(domain_index == d) for d in range(len(domains))]
    HT = [np.ascontiguousarray(counted[:, cols].T, dtype="float64") for cols in columns]
    def rank(part: np.ndarray, totals: np.ndarray) -> None:
        ranks[:, part] = scoring.level_ranks(totals, level_groups).T

    # A batch's ranks (sorting, without the GIL) are worked out on a second thread while the
    # next batch's totals are computed: each batch writes its own runs' ranks.
    with ThreadPoolExecutor(1) as pool, _one_blas_thread():
        pending = None
        for k in range(len(cfg.normalisations)):
            A = np.where(counted, matrix(k), 0.0)
            AT = [np.ascontiguousarray(A[:, cols].T) for cols in columns]
            del A
            chosen = np.flatnonzero(choice == k)
            for start in range(0, len(chosen), batch):
                part = chosen[start:start + batch]
                totals = _totals(AT, HT, columns, w_runs[part], W_runs[part], bonus,
                                 deduction, config)
                if grading[k]:
                    graded = _grade_codes(totals, all_names, bounds, veto[None, :],
                                          all_names.index(veto_name))
                    counted_runs = np.isfinite(totals)
                    same_grade += ((graded == code_now[None, :]) & counted_runs).sum(axis=0)
                    graded_runs += counted_runs.sum(axis=0)
                if pending is not None:
                    pending.result()
                pending = pool.submit(rank, part, totals)
            del AT
        if pending is not None:
            pending.result()

    ranked_runs = np.isfinite(ranks).sum(axis=1)
    out = pd.DataFrame({
        "unit_id": unit_ids,
        "level": total["level"].to_numpy(),
        "cycle": cycle,
        "rank": total["rank"].to_numpy(dtype="float64"),
        "n_ranked": total["n_ranked"].to_numpy(dtype="int64"),
        "grade": grade_now,
    })
    for column, values in zip(QUANTILES, _quantiles(ranks, list(QUANTILES.values()))):
        out[column] = values.astype("float64")
    out["grade_share"] = np.divide(same_grade, graded_runs, out=np.zeros(n_units),
                                   where=graded_runs > 0)
    out["robust"] = (out["rank_p95"] - out["rank_p05"]) <= cfg.robust_width
    out["runs"] = ranked_runs.astype("int64")
    return _typed(out[ROBUSTNESS_COLUMNS])


def _matrices(checked: pd.DataFrame, columns: list[str], unit_ids: np.ndarray,
              ind_ids: np.ndarray) -> np.ndarray:
    """normalisations x units x indicators array of the scores (NaN: no score). Rows of other
    units (reference units) or unknown indicators are left out, as ``scoring`` does."""
    row = pd.Index(unit_ids).get_indexer(checked["unit_id"].astype(str))
    col = pd.Index(ind_ids).get_indexer(checked["indicator_id"].astype(str))
    keep = (row >= 0) & (col >= 0)
    out = np.full((len(columns), len(unit_ids), len(ind_ids)), np.nan)
    for k, column in enumerate(columns):
        out[k, row[keep], col[keep]] = checked[column].to_numpy(dtype="float64")[keep]
    return out


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    out = out.astype({"unit_id": "str", "level": "str", "cycle": "str", "rank": "float64",
                      "n_ranked": "int64", "median_rank": "float64", "rank_p05": "float64",
                      "rank_p95": "float64", "grade_share": "float64", "robust": "bool",
                      "runs": "int64"})
    out["grade"] = out["grade"].astype(object)
    return out.reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: pd.Series(dtype="object") for c in ROBUSTNESS_COLUMNS}))


def robustness(study, result, config: dict[str, Any] | None = None, *,
               run: Prepared | None = None, **kw) -> pd.DataFrame:
    """Both steps for a scored cycle: :func:`indicator_score_variants` from the study's tables
    and the result's progress and gaps, then :func:`rank_robustness` (``kw``: runs, seed),
    worked on the indicator scores' grid without the variants table. ``config`` defaults to
    the result's configuration, else the study's."""
    cfg = config if config is not None else (result.config or study.config)
    run = run or Prepared()
    scored = scoring.indicator_scores(study.units, study.indicators, study.observations,
                                      result.progress, result.gaps, result.cycle, cfg, run=run)
    grid, x, score = run.recall("indicator_score_grid", (scored,))
    return _simulate(grid, _variant_grids(grid, x, score), study.indicators, study.adjustments,
                     result.cycle, cfg, settings(cfg, runs=kw.get("runs"), seed=kw.get("seed")),
                     run)


__all__ = ["NORMALISATIONS", "Settings", "settings", "indicator_score_variants",
           "rank_robustness", "robustness"]
