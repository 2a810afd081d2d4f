"""Trend arrows (趋势箭头): each unit's recent pace on an indicator against the pace it needs.

An arrow stands beside each warning: the warning says where a unit stands, the arrow where it
is heading. The four arrows are the categories of SDSN's SDG Trend Dashboards; their cut-offs
are Eurostat's 95 %, 60 % and 0 of the required pace, applied to linear paces (docs/method.md
says how this differs from each).

Notation, per unit and indicator at a cycle (``s = +1`` for higher-is-better, ``-1`` for lower):

* ``n = config["scores"]["trend_cycles"]``; the **recent pace** ``v`` is the slope per quarter of
  the least-squares line through the unit's last ``n`` observed quarters up to the cycle
  (:func:`evalkit.method.panel.linear_trends`); undefined with fewer than two points;
* ``m`` the mean of those same last (up to ``n``) values (``mean`` of that same fit);
* the **required pace** ``w = (T - x) / quarters_left`` of the applicable milestone while it is
  open (:func:`evalkit.method.progress.what_it_takes`: not met, deadline after the as-of
  date; ``x`` the current value, else the latest older one); ``w = 0`` for a milestone already
  met.

Basis and arrow (thresholds from ``config["trends"]``: ``on_track``, ``moderate``, ``flat``):

* **target basis**, when a required pace exists (an open or a met applicable milestone), with the
  ratio ``q = v / w`` of signed paces: moving the wrong way gives ``q < 0`` in both directions,
  since ``w`` carries the sign ``s`` of the way to the target. The first that applies:

  - the target is met (the milestone's status is ``met``, or ``s (x - T) >= 0`` for the latest
    value): ``on_track``;
  - fewer than two points: ``insufficient_data``;
  - ``q >= on_track``: ``on_track``; ``moderate <= q < on_track``: ``moderately_improving``;
    ``0 <= q < moderate``: ``stagnating``; ``q < 0``: ``moving_away``.

* **trend basis**, when there is no required pace (no target, or the applicable milestone's
  deadline has passed unmet), with the relative pace
  ``r = s v / max(|m|, TINY)`` per quarter (there is no target to be on track to):

  - fewer than two points: ``insufficient_data``;
  - ``r >= flat`` and ``r > 0``: ``moderately_improving``; ``r <= -flat`` and ``r < 0``:
    ``moving_away``; otherwise (``|r| < flat``, or ``r = 0``): ``stagnating``.

``q`` and ``r`` are clipped to ``+-RATIO_BOUND`` (only a denormal denominator reaches it; no
arrow changes there), so no infinity reaches an output. Arrows are drawn as ``↑`` on track,
``↗`` moderately improving, ``→`` stagnating, ``↓`` moving away and ``·`` insufficient data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..periods import Cycle
from .tables import (KEY, config_or_default, period_column, prepare_indicators, raise_problems,
                     row_problems, stripped, text_column)
from .progress import MET, RATIO_BOUND, STATUSES, target_progress, what_it_takes
from .panel import Observations, prepare_observations, trends
from .run import Prepared

__all__ = ["trend_arrows", "ARROWS", "SYMBOLS", "BASES", "NOTES", "TREND_COLUMNS", "TINY"]

ON_TRACK, MODERATE, STAGNATING = "on_track", "moderately_improving", "stagnating"
MOVING_AWAY, INSUFFICIENT = "moving_away", "insufficient_data"
ARROWS = (ON_TRACK, MODERATE, STAGNATING, MOVING_AWAY, INSUFFICIENT)
SYMBOLS = {ON_TRACK: "↑", MODERATE: "↗", STAGNATING: "→", MOVING_AWAY: "↓", INSUFFICIENT: "·"}

TARGET, TREND = "target", "trend"
BASES = (TARGET, TREND)

# Why a number is empty or a rule was skipped, in the order the note column is chosen.
TARGET_MET, DEADLINE_PASSED, NO_TARGET = "target_met", "deadline_passed", "no_target"
NOTES = (TARGET_MET, INSUFFICIENT, DEADLINE_PASSED, NO_TARGET)

# Floor of |m| in the relative pace: a level of zero still gives the direction of the pace.
TINY = float(np.finfo(float).tiny)

_FLOAT_COLUMNS = {"latest_value", "recent_pace", "mean_value", "relative_pace", "target_value",
                  "required_pace", "ratio"}

TREND_COLUMNS = [
    "unit_id", "indicator_id", "direction", "cycle", "latest_value", "latest_period",
    "trend_points", "recent_pace", "mean_value", "relative_pace", "deadline", "target_value",
    "quarters_left", "required_pace", "basis", "ratio", "arrow", "symbol", "note",
]
_PROGRESS_NEEDED = ["unit_id", "indicator_id", "deadline", "target_value", "status",
                    "applicable", "cycle"]


# ---------------------------------------------------------------------------------------------
# Inputs


def _thresholds(config: dict) -> tuple[float, float, float]:
    """``(on_track, moderate, flat)`` from ``config["trends"]``, checked as
    :func:`evalkit.config.check` does, so a hand-built config fails clearly too."""
    section = config.get("trends") if isinstance(config, dict) else None
    if not isinstance(section, dict):
        raise InputError([Problem("config", "missing setting 'trends'", column="trends")])
    values, problems = {}, []
    for key in ("on_track", "moderate", "flat"):
        v = section.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            problems.append(Problem("config", "expected a finite number",
                                    column=f"trends.{key}"))
        values[key] = v
    raise_problems(problems)
    if not 0 <= values["moderate"] <= values["on_track"]:
        problems.append(Problem("config", "expected 0 <= trends.moderate <= trends.on_track",
                                column="trends"))
    if values["flat"] < 0:
        problems.append(Problem("config", "expected a number >= 0", column="trends.flat"))
    raise_problems(problems)
    return float(values["on_track"]), float(values["moderate"]), float(values["flat"])


def _check_indicators_known(obs: Observations, ind: pd.DataFrame) -> None:
    """Every observed indicator needs a direction, so it must be in the indicators table."""
    unknown = ~obs.frame["indicator_id"].isin(ind["indicator_id"]).to_numpy()
    raise_problems(row_problems(unknown, "observations", "indicator_id",
                         "unknown indicator: not in the indicators table"))


def _applicable(progress: pd.DataFrame, cycle: str) -> pd.DataFrame:
    """The applicable milestone of each unit and indicator from a
    :func:`~evalkit.method.progress.target_progress` table of this cycle: unit_id, indicator_id,
    deadline, target_value, status (one row per key; anything else is an InputError)."""
    missing = [c for c in _PROGRESS_NEEDED if c not in progress.columns]
    raise_problems([Problem("progress", f"missing column {c!r}", column=c, table="progress")
            for c in missing])
    p = progress.reset_index(drop=True)
    problems = row_problems((p["cycle"].astype("str") != cycle).to_numpy(), "progress",
                             "cycle", f"expected the progress of cycle {cycle}")
    status = p["status"].astype("str")
    problems += row_problems(~status.isin(STATUSES).to_numpy(), "progress", "status",
                              f"expected a status among {', '.join(STATUSES)}")
    try:
        applicable = p["applicable"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    except (TypeError, ValueError):
        raise_problems([Problem("progress", "expected True or False", column="applicable",
                        table="progress")])
    out = pd.DataFrame({
        "unit_id": stripped(p["unit_id"]),
        "indicator_id": stripped(p["indicator_id"]),
        "deadline": pd.to_datetime(p["deadline"], errors="coerce").astype("datetime64[ns]"),
        "target_value": pd.to_numeric(p["target_value"], errors="coerce").astype("float64"),
        "status": status,
    })
    problems += row_problems((applicable & out["deadline"].isna()).to_numpy(), "progress",
                              "deadline", "expected a date like 2021-12-31")
    problems += row_problems(
        applicable & ~np.isfinite(out["target_value"].to_numpy()), "progress",
        "target_value", "expected a finite number")
    out = out[applicable]
    dup = out.duplicated(KEY, keep=False).to_numpy()
    problems += row_problems(np.isin(np.arange(len(p)), out.index[dup]), "progress",
                              "applicable", "expected one applicable milestone per unit and "
                                            "indicator")
    raise_problems(problems)
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Paces


def _recent(obs: Observations, cycle: Cycle, n: int, run: Prepared) -> dict[str, pd.Series]:
    """Per unit and indicator observed up to the cycle: latest value and period, the number of
    points, the recent pace ``v`` and the mean ``m`` of the last ``n`` values; ``pair`` the
    observations' pair code. Rows in pair order; the columns by name."""
    cycle_idx = cycle.index
    grid = obs.panel
    fit = trends(obs, cycle_idx, n, run=run)
    # The latest observation up to the cycle of each pair: one column of the panel.
    rows = grid.rows(fit["pair"].to_numpy())
    at = grid.last[rows, grid.column(cycle_idx)].astype("int64")
    unit, indicator = obs.labels(fit["pair"].to_numpy())
    # The columns as they are (no table of millions of rows is copied together).
    return {
        "unit_id": unit, "indicator_id": indicator,
        "trend_points": fit["n_points"], "recent_pace": fit["slope"],
        "mean_value": fit["mean"],
        "latest_value": pd.Series(grid.values[rows, at]),
        "latest_period": period_column(grid.first + at),
        "pair": fit["pair"],
    }


def _lookup_rows(t: dict, obs: Observations, table: pd.DataFrame) -> np.ndarray:
    """The row of ``table`` (one row per unit and indicator) for each row of ``t`` (-1: none):
    a left join on the observations' pair code instead of the two ids, through an array
    indexed by code (no hashing of the millions of rows of t). A table repeating a unit and
    indicator is an error."""
    code = obs.pair_codes(table["unit_id"], table["indicator_id"])
    known = code >= 0
    lookup = np.full(int(code.max()) + 1 if known.any() else 0, -1, dtype="int64")
    lookup[code[known]] = np.flatnonzero(known)
    if (np.bincount(code[known], minlength=len(lookup)) > 1).any():
        raise ValueError("expected one row per unit and indicator")
    pair = t["pair"].to_numpy()
    inside = (pair >= 0) & (pair < len(lookup))
    at = np.full(len(pair), -1, dtype=np.int32 if len(table) < 2**31 else np.int64)
    at[inside] = lookup[pair[inside]]
    return at


def _take(values: np.ndarray, at: np.ndarray, missing) -> np.ndarray:
    """``values[at]``, ``missing`` where ``at`` is -1."""
    out = np.full(len(at), missing, dtype=values.dtype)
    found = at >= 0
    out[found] = values[at[found]]
    return out


def _quarters_to(deadline: pd.Series, cycle_idx: int) -> pd.Series:
    """Whole quarters from the cycle to the deadline's quarter (negative once it has passed)."""
    return deadline.dt.year * 4 + (deadline.dt.month - 1) // 3 - cycle_idx


# ---------------------------------------------------------------------------------------------
# Arrows


def _arrows(met: np.ndarray, enough: np.ndarray, target_basis: np.ndarray, q: np.ndarray,
            r: np.ndarray, on_track: float, moderate: float, flat: float) -> np.ndarray:
    """The arrow of each row by the rules of the module docstring, as its position in
    ``ARROWS`` (NaN compares false, and only rows with ``enough`` points reach a comparison)."""
    on_target = target_basis & enough
    on_trend = ~target_basis & enough
    codes = {a: i for i, a in enumerate(ARROWS)}
    return np.select(
        [met, ~enough,
         on_target & (q >= on_track), on_target & (q >= moderate), on_target & (q >= 0),
         on_target,
         on_trend & (r >= flat) & (r > 0), on_trend & (r <= -flat) & (r < 0)],
        [codes[ON_TRACK], codes[INSUFFICIENT],
         codes[ON_TRACK], codes[MODERATE], codes[STAGNATING],
         codes[MOVING_AWAY],
         codes[MODERATE], codes[MOVING_AWAY]],
        codes[STAGNATING]).astype(np.int8)


def trend_arrows(targets: pd.DataFrame, observations: pd.DataFrame, indicators: pd.DataFrame,
                 cycle: str, config: dict | None = None, *,
                 progress: pd.DataFrame | None = None, run: Prepared | None = None
                 ) -> pd.DataFrame:
    """An SDG-style arrow for every unit and indicator observed up to ``cycle``.

    One row per unit x indicator with at least one observation at or before the cycle (assessed
    and reference units alike), sorted by unit_id and indicator_id, with the columns of
    ``TREND_COLUMNS``:

    * ``latest_value``, ``latest_period``: the latest observation at or before the cycle (the
      ``x`` of the required pace);
    * ``trend_points``, ``recent_pace`` (``v``), ``mean_value`` (``m``) and ``relative_pace``
      (``r = s v / max(|m|, TINY)``, for every row with a recent pace, on either basis);
    * ``deadline``, ``target_value``: the applicable milestone when the unit has one for the
      indicator (NaT / NaN otherwise), whichever the basis;
    * ``quarters_left`` (nullable integer, target basis only: deadline quarter minus the cycle,
      0 for a met milestone whose deadline has passed) and ``required_pace`` (``w``; ``0`` for a
      met milestone: nothing more is needed);
    * ``basis`` (``target`` / ``trend``), ``ratio`` (``q = v / w``, target basis, target not
      met, at least two points), ``arrow`` (one of ``ARROWS``), ``symbol`` (``SYMBOLS``);
    * ``note``, the first that applies: ``target_met``; ``insufficient_data`` (fewer than two
      points: no recent pace, ratio or relative pace); ``deadline_passed`` (trend basis because
      the applicable milestone is overdue); ``no_target`` (trend basis: no milestone); else
      empty.

    The rules are in the module docstring. ``progress`` may be this cycle's
    :func:`~evalkit.method.progress.target_progress` table (``Result.progress``) to save
    computing it again; it must have been computed from the same targets. Bad tables or
    settings raise :class:`~evalkit.errors.InputError`; a cycle that is not ``YYYYQn`` raises
    :class:`~evalkit.errors.ParseError`.
    """
    config = config_or_default(config)
    on_track, moderate, flat = _thresholds(config)
    n = int(config["scores"]["trend_cycles"])
    cycle = Cycle(cycle)
    cycle_idx = cycle.index
    run = run or Prepared()
    ind = prepare_indicators(indicators, run=run)
    obs = prepare_observations(observations, run=run)
    _check_indicators_known(obs, ind)
    if progress is None:
        progress = target_progress(targets, observations, indicators, cycle, config, run=run)
    milestone = _applicable(progress, cycle)
    wit = what_it_takes(targets, observations, indicators, cycle, config, run=run)

    t = _recent(obs, cycle, n, run)
    size = len(t["pair"])
    # The indicator of each row from its pair code: no join on the ids of millions of rows.
    ids, codes = obs.code_ids("indicator_id")
    at = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype="int64")
    at[codes] = pd.Index(ind["indicator_id"]).get_indexer(ids)
    row = at[t["pair"].to_numpy() % obs.width] if size else np.zeros(0, "int64")
    known = row >= 0
    sign = np.r_[ind["sign"].to_numpy(dtype="float64"), [np.nan]][row]
    s = np.where(known, sign, np.nan)
    del sign, known
    # The number columns are made in one block, each put there once final (millions of rows:
    # the table holds its numbers in such a block anyway, and no array waits to be copied).
    floats = [c for c in TREND_COLUMNS if c in _FLOAT_COLUMNS]
    block = np.empty((len(floats), size))
    column = {c: block[i] for i, c in enumerate(floats)}
    # The applicable milestone and the pace it needs, looked up by pair code: each column is
    # worked out on the small tables, then taken for the millions of rows.
    at_milestone = _lookup_rows(t, obs, milestone)
    at_wit = _lookup_rows(t, obs, wit)
    deadline = _take(milestone["deadline"].to_numpy(dtype="datetime64[ns]"), at_milestone,
                     np.datetime64("NaT", "ns"))
    target_value = column["target_value"]
    target_value[:] = _take(milestone["target_value"].to_numpy(dtype="float64"), at_milestone,
                            np.nan)
    met_now = _take((milestone["status"] == MET).to_numpy(), at_milestone, False)
    deadline_quarters = _quarters_to(milestone["deadline"], cycle_idx).clip(lower=0)
    quarters_to_deadline = _take(deadline_quarters.to_numpy(dtype="float64"), at_milestone,
                                 np.nan)
    quarters_left = _take(wit["quarters_left"].to_numpy(dtype="float64"), at_wit, np.nan)
    w = _take(wit["required_pace"].to_numpy(dtype="float64"), at_wit, np.nan)
    del at_milestone, at_wit

    v, m, x = column["recent_pace"], column["mean_value"], column["latest_value"]
    v[:] = t["recent_pace"].to_numpy(dtype="float64")
    m[:] = t["mean_value"].to_numpy(dtype="float64")
    x[:] = t["latest_value"].to_numpy(dtype="float64")
    has_milestone = ~np.isnat(deadline)
    open_ = ~np.isnan(w)
    # An open milestone whose latest (older) value already reached the target: nothing needed.
    met_before = open_ & (s * (x - target_value) >= 0)
    met = met_now | met_before
    target_basis = met | open_
    del met_now, met_before, open_
    enough = t["trend_points"].to_numpy() >= 2

    column["required_pace"][:] = np.where(met, 0.0, w)
    w = column["required_pace"]
    quarters = np.where(np.isnan(quarters_left), quarters_to_deadline, quarters_left)
    quarters = pd.array(np.where(np.isnan(quarters), 0, quarters).astype("int64"),
                        dtype="Int64")
    quarters[~target_basis | ~has_milestone & np.isnan(quarters_left)] = pd.NA
    del quarters_left, quarters_to_deadline
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q, r = column["ratio"], column["relative_pace"]
        q[:] = np.where(target_basis & ~met & enough & (w != 0),
                        np.clip(v / w, -RATIO_BOUND, RATIO_BOUND), np.nan)
        r[:] = np.where(enough, np.clip(s * v / np.maximum(np.abs(m), TINY),
                                        -RATIO_BOUND, RATIO_BOUND), np.nan)
    del s

    arrow = _arrows(met, enough, target_basis, q, r, on_track, moderate, flat)
    note = np.select([met, ~enough, has_milestone & ~target_basis, ~has_milestone],
                     [1, 2, 3, 4], 0).astype(np.int8)
    del met, enough, has_milestone
    direction_codes, directions = pd.factorize(ind["direction"].astype("str"))
    out = pd.DataFrame(block.T, columns=floats, copy=False).assign(**{
        "unit_id": _text(t["unit_id"]), "indicator_id": _text(t["indicator_id"]),
        "direction": text_column(np.r_[direction_codes, -1][row], directions),
        "cycle": text_column(np.zeros(size, dtype=np.int8), [str(cycle)]),
        "latest_period": _text(t["latest_period"]),
        "trend_points": t["trend_points"].astype("int64"),
        "deadline": deadline,
        "quarters_left": quarters,
        "basis": text_column(np.where(target_basis, 0, 1).astype(np.int8), [TARGET, TREND]),
        "arrow": text_column(arrow, ARROWS),
        "symbol": text_column(arrow, [SYMBOLS[a] for a in ARROWS]),
        "note": text_column(note, ["", *NOTES]),
    })[TREND_COLUMNS]
    if obs.pairs_sorted() and size and (np.diff(t["pair"].to_numpy()) > 0).all():
        # Rows in pair order are in id order already: the codes follow the sorted ids.
        return out
    order = np.lexsort([_text_rank(out[c]) for c in reversed(KEY)])
    return out.take(order).reset_index(drop=True)


def _text(values: pd.Series) -> pd.Series:
    """A column of ids or periods as the table holds its text (``text_column``)."""
    values = values.reset_index(drop=True)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return text_column(values.cat.codes.to_numpy(), values.cat.categories)
    codes, names = pd.factorize(values)
    return text_column(codes, names)


def _text_rank(values: pd.Series) -> np.ndarray:
    """Each value's rank among the values as text (missing last), for sorting by text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, names = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, names = pd.factorize(values)
    rank = np.empty(len(names) + 1, dtype="int64")
    rank[np.argsort(np.asarray(names, dtype=object), kind="stable")] = np.arange(len(names))
    rank[-1] = len(names)
    return rank[codes]
