"""The look-back (回头看): at the end of a phase, what was done on time, late, or not at all.

At a cycle with as-of date ``d = end_date(cycle)`` and quarter index ``c`` (quarters are compared
as :func:`evalkit.periods.to_index` integers), for each milestone and work item that fell due on
or before ``d``:

Targets (one row per milestone of ``targets`` with ``deadline <= d``), with ``s = +1`` for a
higher-is-better indicator and ``-1`` for a lower-is-better one, baseline quarter ``q0``,
deadline quarter ``q1 = to_index(of_date(deadline))`` and target value ``T``:

* the **window** is the unit's observations of the indicator for the quarters ``q0 .. c``
  (both included); a value before the baseline says nothing about the plan, one after the
  cycle was not known at ``d``;
* a value ``x`` **meets** the target when ``s (x - T) >= 0``;
* ``met_period`` is the first quarter of the window whose value meets the target (none: NA);
* ``outcome``, the first that applies: ``no_data`` when the window is empty; ``on_time`` when
  ``met_period <= q1``; ``late`` when ``q1 < met_period <= c``; else ``not_met``;
* ``quarters_late = met_period - q1`` for ``late`` (>= 1), 0 for ``on_time``, NA otherwise;
* ``value_at_deadline``: the window's value for ``q1``, else its latest value before ``q1``
  (its quarter in ``value_at_deadline_period``); NaN with note ``no_value_at_deadline`` when the
  window has nothing at or before ``q1``;
* ``latest_value`` / ``latest_period``: the window's latest value, the one the cycle knows;
* ``still_met``: ``s (latest_value - T) >= 0``. A target met and lost again keeps its outcome
  (``on_time`` / ``late``: it was met) with ``still_met`` False; ``not_met`` rows are False by
  definition and ``no_data`` rows NA.

Ledger items (one row per item with ``deadline <= d``), with the closing date ``closed_on``:

* an item is **closed at d** when the ledger records it closed (``status`` closed, 已销号) and
  its closing date is empty or on or before ``d``. An item closed after ``d`` was still open at
  ``d``: it is ``open_overdue`` at that cycle and its later closing date is not shown, so a past
  cycle's look-back never changes when later closings are recorded;
* ``closed_on_time`` when closed at ``d`` and ``closed_on <= deadline`` (closing on the deadline
  day itself is on time); a closed item without a date counts as on time, note
  ``no_closing_date``;
* ``closed_late`` when closed at ``d`` and ``deadline < closed_on <= d``;
  ``days_late = closed_on - deadline`` in days;
* ``open_overdue`` otherwise; ``days_overdue = d - deadline`` in days (0 for an item due on the
  as-of day itself). An item recorded open that carries a closing date keeps its recorded
  status (as in :func:`evalkit.method.ledger.ledger_status`), note ``closing_date_but_open``.

Expected effect (预期效果) of the items that name an indicator: the item's milestone is the unit's
milestone for that indicator whose deadline is nearest the item's deadline (on a tie, the later
one: the milestone the work leads up to); the verdict is judged on the latest value ``x`` at or
before the cycle: ``no_target`` without a milestone, ``no_data`` without a value, ``achieved``
when ``s (x - T) >= 0``, else ``not_achieved``.

Dates are compared as calendar days (a time of day is dropped). Bad input raises
:class:`~evalkit.errors.InputError` naming the table, row (as in the table's CSV form: the header
is row 1) and column; a cycle that is not a quarter raises :class:`~evalkit.errors.ParseError`.
The look-back has no thresholds of its own: every function takes the configuration for a uniform
signature and checks nothing in it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import periods
from ..errors import InputError, MethodError, Problem, require_columns
from ..model import LEDGER_STATUSES, TABLES
from . import panel as panel_mod
from .panel import Observations
from .run import Prepared
from . import tables as tables_mod

__all__ = ["target_lookback", "ledger_lookback", "effect_check", "lookback_summary",
           "TARGET_OUTCOMES", "LEDGER_OUTCOMES", "VERDICTS", "TARGET_COLUMNS",
           "LEDGER_COLUMNS", "EFFECT_COLUMNS", "SUMMARY_COLUMNS"]

ON_TIME, LATE, NOT_MET, NO_DATA = "on_time", "late", "not_met", "no_data"
TARGET_OUTCOMES = (ON_TIME, LATE, NOT_MET, NO_DATA)
CLOSED_ON_TIME, CLOSED_LATE, OPEN_OVERDUE = "closed_on_time", "closed_late", "open_overdue"
LEDGER_OUTCOMES = (CLOSED_ON_TIME, CLOSED_LATE, OPEN_OVERDUE)
ACHIEVED, NOT_ACHIEVED, NO_TARGET = "achieved", "not_achieved", "no_target"
VERDICTS = (ACHIEVED, NOT_ACHIEVED, NO_TARGET, NO_DATA)

# Notes: why a value is empty, or what a reader should know about a row.
NO_VALUE_AT_DEADLINE = "no_value_at_deadline"
NO_OBSERVATION = "no_observation"
NO_CLOSING_DATE = "no_closing_date"
CLOSING_DATE_BUT_OPEN = "closing_date_but_open"
NOT_DUE = "not_due"
NO_TARGET_DUE = "no_target_due"
ONLY_NO_DATA = "no_data_for_any_target"
NO_ITEM_DUE = "no_item_due"

TARGET_COLUMNS = [
    "unit_id", "indicator_id", "deadline", "phase", "baseline_period", "baseline_value",
    "target_value", "direction", "deadline_period", "met_period", "outcome", "quarters_late",
    "value_at_deadline", "value_at_deadline_period", "latest_value", "latest_period",
    "still_met", "note", "cycle",
]
LEDGER_COLUMNS = [
    "item_id", "unit_id", "owner", "task", "indicator_id", "deadline", "closed_on", "outcome",
    "days_late", "days_overdue", "note", "cycle",
]
EFFECT_COLUMNS = [
    "item_id", "unit_id", "task", "expected_effect", "indicator_id", "direction", "deadline",
    "due", "target_deadline", "target_value", "value_at_deadline", "value_at_deadline_period",
    "met_at_deadline", "latest_value", "latest_period", "verdict", "note", "cycle",
]
SUMMARY_COLUMNS = [
    "unit_id", "targets_due", "on_time", "late", "not_met", "no_data", "on_time_rate",
    "rate_note", "items_due", "closed_on_time", "closed_late", "open_overdue",
    "item_on_time_rate", "item_rate_note",
]

KEY = ["unit_id", "indicator_id"]


# ---------------------------------------------------------------------------------------------
# Small shared pieces


def _cycle(cycle: str | periods.Cycle) -> tuple[str, int, pd.Timestamp]:
    """The cycle as canonical ``YYYYQn`` (2021-Q4 and 2021年第四季度 are read too), its quarter
    index and its as-of date. A value that is not a quarter raises ParseError."""
    cycle = periods.Cycle(cycle if isinstance(cycle, periods.Cycle)
                          else periods.parse_period(cycle))
    return str(cycle), cycle.index, pd.Timestamp(cycle.as_of)


def _quarter_index(dates: pd.Series) -> pd.Series:
    """Quarter index of each date: ``year * 4 + (month - 1) // 3``, as ``periods.to_index`` of
    ``periods.of_date``."""
    return (dates.dt.year * 4 + (dates.dt.month - 1) // 3).astype("int64")


def _quarter_strings(indices: pd.Series) -> pd.Series:
    """``periods.from_index`` of each index; NaN stays missing (``str`` dtype)."""
    lookup = {i: periods.from_index(int(i)) for i in pd.unique(indices.dropna())}
    return indices.map(lookup).astype("str")


def _text(values: pd.Series) -> pd.Series:
    """Text column as ``str`` with blanks as missing."""
    text = tables_mod.stripped(values)
    return text.where(text != "")


def _notes(conditions: list[np.ndarray], notes: list[str], index: pd.Index) -> pd.Series:
    """The first note whose condition holds, else ""."""
    return pd.Series(np.select(conditions, notes, ""), index=index, dtype="str")


# ---------------------------------------------------------------------------------------------
# Targets


def _window(due: pd.DataFrame, obs: Observations, cycle_idx: int):
    """The window questions of :func:`target_lookback` answered from the observations' panel
    (each milestone's row of quarters): the quarter the target was first met, and the value
    and quarter of the latest window observation, overall and at or before the deadline
    quarter (NaN: none)."""
    grid = obs.panel
    row = grid.rows(obs.pair_codes(due["unit_id"], due["indicator_id"]))
    quarters = grid.first + np.arange(grid.width)
    values = np.where((row >= 0)[:, None], grid.values[np.maximum(row, 0)], np.nan)
    start = due["baseline_period_idx"].to_numpy(dtype="float64")[:, None]
    window = ~np.isnan(values) & (quarters >= start) & (quarters <= cycle_idx)
    with np.errstate(invalid="ignore"):
        meets = window & (due["sign"].to_numpy()[:, None]
                          * (values - due["target_value"].to_numpy()[:, None]) >= 0)
    deadline = due["deadline_idx"].to_numpy(dtype="float64")[:, None]
    return (_first_quarter(meets, quarters), _last_value(window, values, quarters),
            _last_value(window & (quarters <= deadline), values, quarters))


def _first_quarter(mask: np.ndarray, quarters: np.ndarray) -> np.ndarray:
    """The first quarter of each row where ``mask`` holds (NaN: none)."""
    any_ = mask.any(axis=1)
    return np.where(any_, quarters[np.argmax(mask, axis=1)], np.nan) if mask.size \
        else np.full(len(mask), np.nan)


def _last_value(mask: np.ndarray, values: np.ndarray, quarters: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Value and quarter of the last column of each row where ``mask`` holds (NaN: none)."""
    if not mask.size:
        return np.full(len(mask), np.nan), np.full(len(mask), np.nan)
    any_ = mask.any(axis=1)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    value = np.where(any_, values[np.arange(len(mask)), last], np.nan)
    return value, np.where(any_, quarters[last], np.nan).astype("float64")


def target_lookback(targets: pd.DataFrame, observations: pd.DataFrame,
                    indicators: pd.DataFrame, cycle: str, config: dict[str, Any] | None = None,
                    *, run: Prepared | None = None) -> pd.DataFrame:
    """Which milestones were met on time, late, or not at all (rules in the module docstring).

    One row per milestone whose deadline is on or before the cycle's as-of date, sorted by
    unit_id, indicator_id, deadline, with the columns of :data:`TARGET_COLUMNS`:
    ``deadline_period``, ``met_period``, ``value_at_deadline_period`` and ``latest_period`` are
    quarters (``str``; NA when there is none); ``outcome`` is one of :data:`TARGET_OUTCOMES`;
    ``quarters_late`` is a nullable integer (0 on time, ``met_period - deadline_period`` late,
    NA when never met or without data); ``still_met`` a nullable boolean (NA without data);
    ``note`` says why a value is empty (``no_observation``: the window is empty;
    ``no_value_at_deadline``: nothing at or before the deadline quarter), else "".

    Example: 18 communities by 2021-12-31 (deadline quarter 2021Q4) from 4 at 2021Q2, values
    9, 18, 17 in 2021Q3, 2021Q4, 2022Q1, cycle 2022Q1: met in 2021Q4 <= 2021Q4, ``on_time``,
    quarters_late 0, value_at_deadline 18, latest_value 17, still_met False.
    """
    cycle, cycle_idx, as_of = _cycle(cycle)
    run = run or Prepared()
    t = tables_mod.prepare_targets(targets, tables_mod.prepare_indicators(indicators, run=run),
                                   run=run)
    obs = panel_mod.prepare_observations(observations, run=run)
    due = t[t["deadline"].dt.normalize() <= as_of]
    due = due.sort_values([*KEY, "deadline"], kind="stable", ignore_index=True)
    due["deadline_idx"] = _quarter_index(due["deadline"])

    met_idx, (latest_value, latest_idx), (at_deadline, at_deadline_idx) = _window(
        due, obs, cycle_idx)
    met_idx = pd.Series(met_idx, index=due.index)

    deadline_idx = due["deadline_idx"].to_numpy()
    has_data = ~np.isnan(latest_idx)
    was_met = met_idx.notna().to_numpy()
    on_time = was_met & (met_idx.to_numpy() <= deadline_idx)
    late = was_met & ~on_time
    outcome = np.select([~has_data, on_time, late], [NO_DATA, ON_TIME, LATE], NOT_MET)

    quarters_late = pd.array(np.where(late, met_idx.to_numpy() - deadline_idx, 0),
                             dtype="Int64")
    quarters_late[~(on_time | late)] = pd.NA
    with np.errstate(invalid="ignore"):
        still = due["sign"].to_numpy() * (latest_value - due["target_value"].to_numpy()) >= 0
    still_met = pd.array(still, dtype="boolean")
    still_met[~has_data] = pd.NA

    out = due.assign(
        phase=due["phase"].astype("str"),
        deadline_period=_quarter_strings(due["deadline_idx"]),
        met_period=_quarter_strings(met_idx),
        outcome=pd.array(outcome, dtype="str"),
        quarters_late=quarters_late,
        value_at_deadline=at_deadline,
        value_at_deadline_period=_quarter_strings(pd.Series(at_deadline_idx, index=due.index)),
        latest_value=latest_value,
        latest_period=_quarter_strings(pd.Series(latest_idx, index=due.index)),
        still_met=still_met,
        note=_notes([~has_data, np.isnan(at_deadline_idx)],
                    [NO_OBSERVATION, NO_VALUE_AT_DEADLINE], due.index),
        cycle=pd.Series(cycle, index=due.index, dtype="str"),
    )
    return out[TARGET_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Ledger


def _prepare_ledger(ledger: pd.DataFrame | None, run: Prepared) -> pd.DataFrame:
    """A checked copy of the ledger: ids, a deadline on every item, closing dates that are
    dates or empty, a status that is open or closed (已销号 / 未销号 and the other Chinese words
    of the data model are read too; empty means open), ``_row`` its row in the CSV form.
    Dates are normalised to midnight. Every problem is listed in one InputError."""
    return run.once("lookback_ledger", (ledger,), lambda: _prepare_ledger_of(ledger))


def _prepare_ledger_of(ledger: pd.DataFrame | None) -> pd.DataFrame:
    led = tables_mod.prepare(ledger, "ledger", ids=("item_id", "unit_id"), dates=("deadline",),
                       optional=("owner", "task", "expected_effect", "indicator_id", "status",
                                 "closed_on"),
                       key=("item_id",))
    led["_row"] = np.arange(len(led)) + 2
    led["deadline"] = led["deadline"].dt.normalize()
    problems: list[Problem] = []

    raw = pd.Series(led["closed_on"].to_numpy(), index=led.index)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        missing, closed_on = raw.isna(), raw
    else:
        missing = raw.isna() | tables_mod.stripped(raw).eq("")
        closed_on = pd.to_datetime(raw.where(~missing), errors="coerce", format="mixed")
    problems += tables_mod.row_problems((~missing & closed_on.isna()).to_numpy(), "ledger",
                                   "closed_on", "expected a date like 2021-12-31, or nothing")
    led["closed_on"] = closed_on.astype("datetime64[ns]").dt.normalize()

    aliases = TABLES["ledger"].column("status").choice_aliases
    words = _text(pd.Series(led["status"].to_numpy(), index=led.index))
    codes, distinct = pd.factorize(words)
    named = [aliases.get(w, w.lower()) for w in distinct]
    status = pd.Series(np.asarray(named + ["open"], dtype=object)[codes], index=led.index)
    problems += tables_mod.row_problems((~status.isin(LEDGER_STATUSES)).to_numpy(), "ledger",
                                   "status", "expected open or closed (未销号 / 已销号)")
    led["status"] = status.astype("str")
    if problems:
        raise InputError(problems)
    for c in ("owner", "task", "expected_effect", "indicator_id"):
        led[c] = _text(pd.Series(led[c].to_numpy(), index=led.index))
    return led


def ledger_lookback(ledger: pd.DataFrame, cycle: str, config: dict[str, Any] | None = None,
                    *, run: Prepared | None = None) -> pd.DataFrame:
    """Which ledger items were closed on time, late, or not at all (rules in the module
    docstring).

    One row per item whose deadline is on or before the cycle's as-of date ``d``, sorted by
    unit_id, deadline, item_id, with the columns of :data:`LEDGER_COLUMNS`: ``outcome`` one of
    :data:`LEDGER_OUTCOMES`; ``days_late = closed_on - deadline`` for ``closed_late`` and
    ``days_overdue = d - deadline`` for ``open_overdue`` (int, 0 for the other outcomes);
    ``closed_on`` is empty for an item still open at ``d``; ``note`` is ``no_closing_date``,
    ``closing_date_but_open`` or "".

    Example: cycle 2021Q4 (d = 2021-12-31); an item due 2021-09-30 closed 2021-10-15 is
    ``closed_late`` by 15 days; one due 2021-09-30 still open is ``open_overdue`` by 92 days.
    """
    cycle, _, as_of = _cycle(cycle)
    led = _prepare_ledger(ledger, run or Prepared())
    due = led[led["deadline"] <= as_of].reset_index(drop=True)
    deadline, closed_on = due["deadline"], due["closed_on"]
    known_closing = closed_on.notna() & (closed_on <= as_of)
    recorded_closed = due["status"].eq("closed")
    closed = (recorded_closed & (closed_on.isna() | known_closing)).to_numpy()
    late = closed & (closed_on > deadline).to_numpy()
    on_time = closed & ~late
    outcome = np.select([on_time, late], [CLOSED_ON_TIME, CLOSED_LATE], OPEN_OVERDUE)

    days_late = np.where(late, (closed_on - deadline).dt.days.fillna(0), 0)
    days_overdue = np.where(~closed, (as_of - deadline).dt.days, 0)
    note = _notes([closed & closed_on.isna().to_numpy(),
                   (~recorded_closed & known_closing).to_numpy()],
                  [NO_CLOSING_DATE, CLOSING_DATE_BUT_OPEN], due.index)
    out = due.assign(
        closed_on=closed_on.where(known_closing).astype("datetime64[ns]"),
        outcome=pd.array(outcome, dtype="str"),
        days_late=days_late.astype("int64"), days_overdue=days_overdue.astype("int64"),
        note=note, cycle=pd.Series(cycle, index=due.index, dtype="str"))
    out = out.sort_values(["unit_id", "deadline", "item_id"], kind="stable",
                          ignore_index=True)
    return out[LEDGER_COLUMNS]


# ---------------------------------------------------------------------------------------------
# Expected effect


def _nearest_milestone(items: pd.DataFrame, t: pd.DataFrame) -> pd.DataFrame:
    """``target_deadline`` and ``target_value`` of each item's milestone: the unit's milestone
    for the item's indicator with the deadline nearest the item's (a tie goes to the later
    milestone); NaT/NaN when the unit has none for that indicator."""
    ms = t[[*KEY, "deadline", "target_value"]].rename(columns={"deadline": "target_deadline"})
    m = items[["item_id", *KEY, "deadline"]].merge(ms, on=KEY, how="inner")
    m = m.assign(_distance=(m["target_deadline"].dt.normalize() - m["deadline"]).abs(),
                 _later_first=-m["target_deadline"].astype("int64"))
    m = m.sort_values(["item_id", "_distance", "_later_first"], kind="stable")
    nearest = m.drop_duplicates("item_id")[["item_id", "target_deadline", "target_value"]]
    return items[["item_id"]].merge(nearest, on="item_id", how="left")


def effect_check(ledger: pd.DataFrame, targets: pd.DataFrame, observations: pd.DataFrame,
                 indicators: pd.DataFrame, cycle: str, config: dict[str, Any] | None = None,
                 *, run: Prepared | None = None) -> pd.DataFrame:
    """The expected effect (预期效果) of each ledger item that names an indicator, against what
    the indicator shows (rules in the module docstring).

    One row per such item, due or not (``due``: deadline <= as-of), sorted by unit_id,
    deadline, item_id, with the columns of :data:`EFFECT_COLUMNS`: ``target_deadline`` and
    ``target_value`` of the item's milestone; ``value_at_deadline``: the unit's observation for
    the item's deadline quarter, else the latest before it (its quarter in
    ``value_at_deadline_period``), empty for an item not yet due (note ``not_due``) or without
    any value by then (note ``no_value_at_deadline``); ``met_at_deadline``: ``s (value_at_deadline
    - T) >= 0`` (nullable boolean, NA without either), so an effect reached at the deadline and
    lost since shows as True beside the verdict ``not_achieved``; ``latest_value`` /
    ``latest_period``: the latest observation at or before the cycle; ``verdict`` one of
    :data:`VERDICTS`, judged on the latest value.

    An item naming an indicator that is not in the indicators table is an InputError.
    """
    cycle, cycle_idx, as_of = _cycle(cycle)
    run = run or Prepared()
    led = _prepare_ledger(ledger, run)
    ind = tables_mod.prepare_indicators(indicators, run=run)
    t = tables_mod.prepare_targets(targets, ind, run=run)
    obs = panel_mod.prepare_observations(observations, run=run)

    items = led[led["indicator_id"].notna()].reset_index(drop=True)
    items = items.merge(ind[["indicator_id", "direction", "sign"]], on="indicator_id",
                        how="left")
    unknown = items["sign"].isna().to_numpy()
    if unknown.any():
        raise InputError([Problem("ledger", f"unknown indicator {i!r}: not in the indicators "
                                  "table", row=int(r), column="indicator_id", table="ledger")
                          for i, r in zip(items.loc[unknown, "indicator_id"],
                                          items.loc[unknown, "_row"])])
    items = items.assign(due=(items["deadline"] <= as_of).to_numpy())
    nearest = _nearest_milestone(items, t)

    pair = obs.pair_codes(items["unit_id"], items["indicator_id"])
    deadline_idx = _quarter_index(items["deadline"]).to_numpy().astype("float64")
    at_cutoff = np.where(items["due"].to_numpy(), deadline_idx, np.nan)
    at_deadline, at_deadline_idx = panel_mod.latest_upto(obs, pair, at_cutoff, run=run)
    latest, latest_idx = panel_mod.latest_upto(obs, pair, np.full(len(items), float(cycle_idx)),
                                          run=run)

    T = nearest["target_value"].to_numpy(dtype="float64")
    has_target, has_value = ~np.isnan(T), ~np.isnan(latest)
    sign = items["sign"].to_numpy()
    with np.errstate(invalid="ignore"):
        achieved = sign * (latest - T) >= 0
        met_at_deadline = pd.array(sign * (at_deadline - T) >= 0, dtype="boolean")
    met_at_deadline[~has_target | np.isnan(at_deadline)] = pd.NA
    verdict = np.select([~has_target, ~has_value, achieved],
                        [NO_TARGET, NO_DATA, ACHIEVED], NOT_ACHIEVED)
    out = items.assign(
        target_deadline=nearest["target_deadline"].astype("datetime64[ns]"),
        target_value=T, value_at_deadline=at_deadline,
        value_at_deadline_period=_quarter_strings(pd.Series(at_deadline_idx)),
        met_at_deadline=met_at_deadline, latest_value=latest,
        latest_period=_quarter_strings(pd.Series(latest_idx)),
        verdict=pd.array(verdict, dtype="str"),
        note=_notes([~items["due"].to_numpy(), np.isnan(at_deadline_idx)],
                    [NOT_DUE, NO_VALUE_AT_DEADLINE], items.index),
        cycle=pd.Series(cycle, index=items.index, dtype="str"))
    out["direction"] = out["direction"].astype("str")
    out = out.sort_values(["unit_id", "deadline", "item_id"], kind="stable",
                          ignore_index=True)
    return out[EFFECT_COLUMNS]


# ---------------------------------------------------------------------------------------------
# Summary


def _counts(frame: pd.DataFrame, outcomes: tuple[str, ...], name: str) -> pd.DataFrame:
    """Rows per unit and outcome, one column per outcome (0 where none); an outcome outside
    ``outcomes`` is a MethodError."""
    require_columns(frame, ["unit_id", "outcome"], name)
    bad = ~frame["outcome"].isin(outcomes)
    if bad.any():
        raise MethodError(f"the {name} table has the outcome {frame.loc[bad, 'outcome'].iloc[0]!r}"
                          f"; expected one of {', '.join(outcomes)}")
    counts = (frame.groupby(["unit_id", "outcome"]).size()
              .unstack("outcome", fill_value=0)
              .reindex(columns=list(outcomes), fill_value=0))
    counts.columns = list(outcomes)
    return counts


def _rate(numerator: pd.Series, denominator: pd.Series) -> np.ndarray:
    n, d = numerator.to_numpy(dtype="float64"), denominator.to_numpy(dtype="float64")
    return np.divide(n, d, out=np.full(len(d), np.nan), where=d > 0)


def lookback_summary(target_lb: pd.DataFrame, ledger_lb: pd.DataFrame) -> pd.DataFrame:
    """Per unit (every unit of either table, sorted), the counts of the look-back and two rates,
    with the columns of :data:`SUMMARY_COLUMNS`:

    * ``targets_due`` = on_time + late + not_met + no_data (rows of :func:`target_lookback`);
    * ``on_time_rate = on_time / (targets_due - no_data)``: the share of the milestones that can
      be judged that were met by their deadline quarter; NaN when the denominator is 0, with
      ``rate_note`` ``no_target_due`` (nothing due) or ``no_data_for_any_target``;
    * ``items_due`` = closed_on_time + closed_late + open_overdue (rows of
      :func:`ledger_lookback`);
    * ``item_on_time_rate = closed_on_time / items_due``; NaN when nothing is due, with
      ``item_rate_note`` ``no_item_due``.

    Counts are int64 (0 for a unit absent from one table); notes are "" when the rate is
    defined. A missing column or an unknown outcome raises MethodError.
    """
    targets = _counts(target_lb, TARGET_OUTCOMES, "target look-back")
    items = _counts(ledger_lb, LEDGER_OUTCOMES, "ledger look-back")
    units = targets.index.union(items.index).sort_values()
    out = pd.concat([targets.reindex(units, fill_value=0), items.reindex(units, fill_value=0)],
                    axis=1).astype("int64")
    out.index.name = "unit_id"
    out = out.reset_index()
    out["unit_id"] = out["unit_id"].astype("str")
    out["targets_due"] = out[list(TARGET_OUTCOMES)].sum(axis=1)
    judged = out["targets_due"] - out[NO_DATA]
    out["on_time_rate"] = _rate(out[ON_TIME], judged)
    out["rate_note"] = _notes([out["targets_due"].eq(0).to_numpy(), judged.eq(0).to_numpy()],
                              [NO_TARGET_DUE, ONLY_NO_DATA], out.index)
    out["items_due"] = out[list(LEDGER_OUTCOMES)].sum(axis=1)
    out["item_on_time_rate"] = _rate(out[CLOSED_ON_TIME], out["items_due"])
    out["item_rate_note"] = _notes([out["items_due"].eq(0).to_numpy()], [NO_ITEM_DUE],
                                   out.index)
    return out[SUMMARY_COLUMNS]
