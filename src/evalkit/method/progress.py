"""Target progress (序时进度), red/yellow/green warnings (红黄绿三色预警) and what-it-takes.

Notation, per unit, indicator and milestone (one row of ``targets``):

* ``b`` the baseline value at the baseline date ``d0 = end_date(baseline_period)``;
* ``T`` the target value at the deadline ``d1``;
* ``d = end_date(cycle)`` the as-of date of the cycle;
* ``x`` the unit's observation for the cycle's own period (none: status ``no_data``);
* ``s = +1`` for a higher-is-better indicator, ``-1`` for a lower-is-better one.

Formulas (thresholds from ``config["progress"]``):

* time elapsed ``tau = clamp((d - d0) / (d1 - d0), 0, 1)`` in days; a milestone whose deadline
  is its baseline date (``d1 == d0``) counts as fully elapsed once ``d >= d1``, else not at all;
* expected value ``e = b + tau (T - b)`` (the 序时进度 trajectory);
* attainment ``a = (x - b) / (T - b)`` when the target asks for progress (``s (T - b) > 0``);
  when it does not (``T == b``, or a target on the far side of the baseline: a floor to hold)
  ``a = 1`` if the target is met and ``0`` otherwise;
* progress ratio ``p = a / tau``; undefined (NaN) while ``tau == 0``;
* status, the first that applies: ``met`` when ``s (x - T) >= 0``; ``no_data`` when there is no
  ``x``; ``overdue`` when ``d >= d1``; ``not_started`` when ``tau == 0``; ``green`` when
  ``p >= green``; ``yellow`` when ``p >= yellow``; else ``red`` (moving away included).

``a`` and ``p`` are clipped to ``+-RATIO_BOUND``: only a denormal ``T - b`` or ``tau`` can reach
the bound, and no status changes there, but no overflow can reach an output.

Input tables are checked as :mod:`evalkit.method.tables` describes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import periods
from .panel import Observations, latest_upto, prepare_observations, take_or, trend_rows, trends
from .run import Prepared
from . import tables
from .tables import (KEY, config_or_default, period_column, prepare_indicators, prepare_targets,
                     text_column)


__all__ = ["target_progress", "what_it_takes", "STATUSES", "RATIO_BOUND"]


MET, NO_DATA, OVERDUE, NOT_STARTED = "met", "no_data", "overdue", "not_started"


GREEN, YELLOW, RED = "green", "yellow", "red"


STATUSES = (MET, OVERDUE, NOT_STARTED, GREEN, YELLOW, RED, NO_DATA)


# Far beyond any meaningful ratio; only reached through a denormal denominator.
RATIO_BOUND = 1e12


PROGRESS_COLUMNS = [
    "unit_id", "indicator_id", "deadline", "phase", "baseline_period", "baseline_value",
    "target_value", "direction", "cycle", "as_of", "baseline_date", "time_elapsed",
    "expected_value", "actual_value", "last_value", "last_period", "attainment",
    "progress_ratio", "status", "note", "applicable",
]


WHAT_IT_TAKES_COLUMNS = [
    "unit_id", "indicator_id", "deadline", "phase", "direction", "target_value", "actual_value",
    "value_basis", "value_period", "quarters_left", "required_pace", "recent_pace",
    "trend_points", "pace_ratio", "on_pace", "pace_note",
]


def _bounded(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -RATIO_BOUND, RATIO_BOUND)


def _milestone_order(t: pd.DataFrame, run: Prepared) -> np.ndarray:
    """The order of prepared targets by unit_id, indicator_id (as text) and deadline: the
    order of the progress table, and within a unit and indicator the milestones by date."""
    return run.once("milestone_order", (t,), lambda: t[[*KEY, "deadline"]].sort_values(
        [*KEY, "deadline"]).index.to_numpy())


def _applicable(t: pd.DataFrame, as_of: pd.Timestamp, run: Prepared) -> np.ndarray:
    """True for the milestone that applies at ``as_of``: the earliest whose deadline is
    >= as_of, else the last one. In milestone order each unit and indicator is a run of rows
    by date, so the one that applies is the first upcoming row of its run, or its last row
    when none is upcoming."""
    order = _milestone_order(t, run)
    if not len(order):
        return np.zeros(0, dtype=bool)
    unit = t["unit_id_code"].to_numpy()[order]
    indicator = t["indicator_id_code"].to_numpy()[order]
    starts = np.r_[True, (unit[1:] != unit[:-1]) | (indicator[1:] != indicator[:-1])]
    ends = np.r_[starts[1:], True]
    upcoming = (t["deadline"].to_numpy()[order] >= as_of.to_datetime64())
    first_upcoming = upcoming & (starts | ~np.r_[False, upcoming[:-1]])
    out = np.empty(len(order), dtype=bool)
    out[order] = first_upcoming | (ends & ~upcoming)
    return out


# Status codes of the arrays of :func:`progress_arrays`, in the order the rules apply.
STATUS_CODES = (MET, NO_DATA, OVERDUE, NOT_STARTED, GREEN, YELLOW, RED)


_NOTES = ("", "no_current_value", "time_not_started", "no_change_required")


def _measure(t: pd.DataFrame, actual: np.ndarray, as_of: pd.Timestamp, green: float,
             yellow: float, run: Prepared) -> dict[str, np.ndarray]:
    """tau, e, a, p, status and note (codes into ``STATUS_CODES`` and ``_NOTES``) of prepared
    targets whose current value is ``actual``."""
    b = t["baseline_value"].to_numpy()
    T = t["target_value"].to_numpy()
    s = t["sign"].to_numpy()
    x = np.asarray(actual, dtype="float64")
    span = run.once("milestone_span", (t,), lambda: (
        t["deadline"] - t["baseline_date"]).dt.days.to_numpy(dtype="float64"))
    gone = (as_of - t["baseline_date"]).dt.days.to_numpy(dtype="float64")
    reached_deadline = (t["deadline"] <= as_of).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tau = np.where(span > 0, np.clip(gone / span, 0.0, 1.0),
                       np.where(reached_deadline, 1.0, 0.0))
        has_x = ~np.isnan(x)
        met = has_x & (s * (x - T) >= 0)
        asks_progress = s * (T - b) > 0
        a = np.where(asks_progress, _bounded((x - b) / (T - b)), np.where(met, 1.0, 0.0))
        a = np.where(has_x, a, np.nan)
        p = np.where(tau > 0, _bounded(a / tau), np.nan)
    status = np.select(
        [met, ~has_x, reached_deadline, tau == 0, p >= green, p >= yellow],
        list(range(6)), 6).astype("int8")
    note = np.select([~has_x, tau == 0, ~asks_progress], [1, 2, 3], 0).astype("int8")
    return {"time_elapsed": tau, "expected_value": b + tau * (T - b), "attainment": a,
            "progress_ratio": p, "status": status, "note": note}


def progress_arrays(t: pd.DataFrame, obs: Observations, cycle: str, config: dict,
                    run: Prepared) -> dict[str, np.ndarray]:
    """:func:`target_progress` of prepared targets as arrays in the targets' own row order:
    actual_value, last_value, last_idx (quarter index), time_elapsed, expected_value,
    attainment, progress_ratio, status and note (codes into ``STATUS_CODES`` and ``_NOTES``)
    and applicable. What an earlier cycle's scores need, without the table."""
    cycle = periods.Cycle(cycle)

    def build():
        cycle_idx = cycle.index
        as_of = pd.Timestamp(cycle.as_of)
        # The latest observation up to the cycle, looked up per target (no join of the
        # targets with every unit-indicator pair observed).
        last_value, last_idx = latest_upto(obs, target_pairs(t, obs, run),
                                           np.full(len(t), float(cycle_idx)), run=run)
        actual = np.where(last_idx == cycle_idx, last_value, np.nan)
        out = {"actual_value": actual, "last_value": last_value, "last_idx": last_idx}
        out.update(_measure(t, actual, as_of, config["progress"]["green"],
                            config["progress"]["yellow"], run))
        out["applicable"] = _applicable(t, as_of, run)
        return out
    return run.once("progress_arrays", (t, obs, cycle, config), build, fresh=False, keep=1)


def target_progress(targets: pd.DataFrame, observations: pd.DataFrame,
                    indicators: pd.DataFrame, cycle: str, config: dict | None = None, *,
                    run: Prepared | None = None) -> pd.DataFrame:
    """Progress of every target milestone at the cycle's as-of date (序时进度 and warnings).

    One row per unit x indicator x deadline, sorted by those keys, with the columns of
    ``PROGRESS_COLUMNS``. The formulas and the status order are in the module docstring;
    besides them:

    * ``actual_value`` is the observation for the cycle's own period; ``last_value`` and
      ``last_period`` show the latest one at or before the cycle, never scored when it is not
      current. A target met earlier and lost since is judged on the current value only.
    * ``met`` needs a current value: without one the status is ``no_data``.
    * a cycle before the baseline has ``tau == 0``: every milestone is ``not_started`` (or
      ``met`` / ``no_data``).
    * NaN and its reason (``note``): ``attainment`` and ``progress_ratio`` are NaN without a
      current value (``no_current_value``); ``progress_ratio`` is NaN while ``tau == 0``
      (``time_not_started``); ``no_change_required`` marks a target that asks for no progress
      from the baseline (``s (T - b) <= 0``), whose attainment is 1 when met, else 0.
    * ``applicable`` marks the milestone that applies at the as-of date: the earliest whose
      deadline is on or after it, else the last one.

    Thresholds: ``config["progress"]["green"]`` and ``["yellow"]``.
    """
    config = config_or_default(config)
    cycle = periods.Cycle(cycle)
    run = run or Prepared()
    t = prepare_targets(targets, prepare_indicators(indicators, run=run), run=run)
    return _progress(t, prepare_observations(observations, run=run), cycle, config, run)


def _progress(t: pd.DataFrame, obs: Observations, cycle: str, config: dict, run: Prepared
              ) -> pd.DataFrame:
    """:func:`target_progress` on prepared tables."""
    return run.once("progress", (t, obs, cycle, config),
                    lambda: _progress_of(t, obs, cycle, config, run), keep=1)


def target_pairs(t: pd.DataFrame, obs: Observations, run: Prepared) -> np.ndarray:
    """The observation ``pair`` code of each prepared target (-1: never observed)."""
    return run.once("target_pairs", (t, obs),
                    lambda: obs.pair_codes(t["unit_id"], t["indicator_id"]))


def _progress_of(t: pd.DataFrame, obs: Observations, cycle: str, config: dict, run: Prepared
                 ) -> pd.DataFrame:
    arrays = progress_arrays(t, obs, cycle, config, run)
    order = _milestone_order(t, run)
    n = len(order)
    columns = {}
    for c in PROGRESS_COLUMNS:
        if c in ("unit_id", "indicator_id", "phase", "direction", "baseline_period"):
            columns[c] = _text_in_order(t, c, order)
        elif c in t.columns:
            columns[c] = t[c].to_numpy()[order]
        elif c == "cycle":
            columns[c] = text_column(np.zeros(n, dtype="int64"), [str(cycle)])
        elif c == "as_of":
            columns[c] = np.full(n, pd.Timestamp(cycle.as_of).to_datetime64(),
                                 dtype="datetime64[ns]")
        elif c == "last_period":
            columns[c] = period_column(arrays["last_idx"][order])
        elif c == "status":
            columns[c] = text_column(arrays["status"][order], STATUS_CODES)
        elif c == "note":
            columns[c] = text_column(arrays["note"][order], _NOTES)
        else:
            columns[c] = arrays[c][order]
    return pd.DataFrame({c: v.reset_index(drop=True) if isinstance(v, pd.Series) else v
                         for c, v in columns.items()})


def _text_in_order(t: pd.DataFrame, column: str, order: np.ndarray) -> pd.Series:
    """A text column of prepared targets in the given order: ``str``, or a categorical for a
    large table (as :func:`text_column`)."""
    values = t[column]
    if len(order) >= tables.LARGE_ROWS:
        codes, names = pd.factorize(values.astype("str"))
        return text_column(codes[order], names)
    return values.astype("str").iloc[order].reset_index(drop=True)


def what_it_takes(targets: pd.DataFrame, observations: pd.DataFrame,
                  indicators: pd.DataFrame, cycle: str, config: dict | None = None, *,
                  run: Prepared | None = None) -> pd.DataFrame:
    """The pace each open milestone needs from now on, against the unit's recent pace.

    One row per applicable milestone that is not met and whose deadline is after the as-of
    date (so ``quarters_left >= 1``), with the columns of ``WHAT_IT_TAKES_COLUMNS``:

    * ``quarters_left = to_index(of_date(deadline)) - to_index(cycle)``;
    * ``x`` is the current value, else the latest one at or before the cycle
      (``value_basis`` says which: ``current`` / ``last``; no row when neither exists);
    * ``required_pace = (T - x) / quarters_left`` per quarter;
    * ``recent_pace``: slope of the least-squares line through the unit's last
      ``config["scores"]["trend_cycles"]`` observed quarters up to the cycle (see
      :func:`trends`); NaN with fewer than two points (``pace_note = "insufficient_data"``);
    * ``pace_ratio = recent_pace / required_pace``; NaN when the recent pace is unknown or no
      change is required (``required_pace == 0``, ``pace_note = "no_change_required"``);
    * ``on_pace``: ``s * recent_pace >= s * required_pace`` (nullable boolean: NA when the
      recent pace is unknown).
    """
    config = config_or_default(config)
    cycle = periods.Cycle(cycle)
    run = run or Prepared()
    return run.once("what_it_takes", (targets, observations, indicators, cycle, config),
                    lambda: _what_it_takes(targets, observations, indicators, cycle, config,
                                           run))


def _what_it_takes(targets: pd.DataFrame, observations: pd.DataFrame,
                   indicators: pd.DataFrame, cycle: str, config: dict, run: Prepared
                   ) -> pd.DataFrame:
    cycle_idx = cycle.index
    t = prepare_targets(targets, prepare_indicators(indicators, run=run), run=run)
    obs = prepare_observations(observations, run=run)
    prog = _progress(t, obs, cycle, config, run)
    open_ = prog[prog["applicable"] & (prog["status"] != MET)
                 & (prog["deadline"] > prog["as_of"])].reset_index(drop=True)
    current = open_["actual_value"].notna()
    x = open_["actual_value"].where(current, open_["last_value"])
    open_ = open_.assign(
        x=x, value_basis=np.where(current, "current", "last"),
        value_period=np.where(current, str(cycle), open_["last_period"].astype("object")))
    open_ = open_[open_["x"].notna()].reset_index(drop=True)

    deadline = open_["deadline"].dt
    quarters_left = (deadline.year * 4 + (deadline.month - 1) // 3 - cycle_idx).astype("int64")
    required = (open_["target_value"] - open_["x"]) / quarters_left

    n_trend = int(config["scores"]["trend_cycles"])
    trend = trends(obs, cycle_idx, n_trend, run=run)
    # The trend of each milestone's pair, looked up by pair code (a left join on the ids).
    at = trend_rows(obs, cycle_idx, n_trend,
                    obs.pair_codes(open_["unit_id"], open_["indicator_id"]), run=run)
    open_ = open_.assign(
        n_points=take_or(trend["n_points"].to_numpy(dtype="float64"), at),
        slope=take_or(trend["slope"].to_numpy(), at))
    recent = open_["slope"].to_numpy(dtype="float64")
    s = np.where(open_["direction"] == "lower", -1.0, 1.0)
    known = ~np.isnan(recent)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(known & (required.to_numpy() != 0),
                         _bounded(recent / required.to_numpy()), np.nan)
    on_pace = pd.array(s * recent >= s * required.to_numpy(), dtype="boolean")
    on_pace[~known] = pd.NA
    note = np.select([~known, required.to_numpy() == 0],
                     ["insufficient_data", "no_change_required"], "")

    out = pd.DataFrame({
        "unit_id": open_["unit_id"], "indicator_id": open_["indicator_id"],
        "deadline": open_["deadline"], "phase": open_["phase"],
        "direction": open_["direction"], "target_value": open_["target_value"],
        "actual_value": open_["x"], "value_basis": pd.array(open_["value_basis"], dtype="str"),
        "value_period": pd.array(open_["value_period"], dtype="str"),
        "quarters_left": quarters_left, "required_pace": required.to_numpy(),
        "recent_pace": recent,
        "trend_points": open_["n_points"].fillna(0).astype("int64"),
        "pace_ratio": ratio, "on_pace": on_pace, "pace_note": pd.array(note, dtype="str"),
    })
    return out[WHAT_IT_TAKES_COLUMNS]
