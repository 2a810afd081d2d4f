"""The submission tracker (报送情况): who has reported for a quarter, when, how completely, and
who is late or has not reported at all.

    status = collection_status(study.units, study.submissions, "2023Q4", study.config)
    status_summary(status)   # {"units": 7, "submitted": 5, "on_time": 4, "late": 1, ...}

One row per assessed unit (role ``assessed``; reference units report nothing), in the units'
order. The formulas, for a unit and the cycle's quarter:

* due date ``D = quarter end + collection.due_days`` days (default 15: 2023Q4 -> 2024-01-15).
  The due day ends at ``E = D + 1 day, 00:00:00``: a submission at 23:59:59 on ``D`` is on
  time, one at 00:00:00 on the next day is late.
* submitted at ``t`` (the submission's ``submitted_at``): ``late = t >= E``;
  ``days_late = date(t) - D`` in days when late, else 0. State ``on_time`` or ``late``.
* not submitted, as of ``a``: ``late = a >= E``, state ``missing`` (past due, nothing
  received) when late, else ``pending`` (not yet due); ``days_late = date(a) - D`` when late,
  else 0.
* ``expected``: the number of values the unit's template asks for, the submission's own
  ``expected``, else ``expected[unit_id]`` as the caller gives it (for units that have not
  submitted), else missing. ``reported``: the submission's ``reported`` (values filled in), 0
  for a unit that has not submitted.
* ``completeness = reported / expected``; NaN when nothing is expected (expected missing or
  0).
* ``submissions``: how many times the unit submitted for the quarter, the number of stored
  revisions of its submission: the rows of ``history`` (the submissions' history,
  :func:`evalkit.store.revisions`) for the unit and quarter when given; else the
  submission's ``revision`` column when it has one; else 1. 0 for a unit that has not
  submitted.

The as-of time ``a`` decides between ``missing`` and ``pending`` only; a submission is taken as
received whatever its time. It is the time the caller gives, by default now (local time).
:func:`study_status` (a loaded study's tracker; the cycle folder's, :func:`cycle_status`)
takes by default the time the data version read was ingested, so the same data give the
same table.

Times are local and naive, as the submissions' ISO texts (``YYYY-MM-DDTHH:MM:SS``) are written;
a time with an offset is converted to local time.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import periods
from ..errors import EvalkitError, InputError, Problem, require_columns

DEFAULT_DUE_DAYS = 15

STATES = ("on_time", "late", "missing", "pending")

# The submissions' columns the tracker reads (the store's ``submissions`` record has them all).
SUBMISSION_COLUMNS = ("unit_id", "period", "file", "submitted_at", "submitted_by", "expected",
                      "reported")
UNIT_COLUMNS = ("unit_id", "name_zh", "role")

STATUS_COLUMNS = ("unit_id", "name_zh", "name_en", "submitted", "submitted_at", "submitted_by",
                  "file", "submissions", "expected", "reported", "completeness", "due", "late",
                  "days_late", "state", "as_of")

_DTYPES = {"submitted": "bool", "submitted_at": "datetime64[ns]", "submissions": "int64",
           "expected": "float64", "reported": "float64", "completeness": "float64",
           "due": "datetime64[ns]", "late": "bool", "days_late": "int64",
           "as_of": "datetime64[ns]"}


def empty_status() -> pd.DataFrame:
    """The tracker's columns with no row."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "object")) for c in STATUS_COLUMNS})


def due_days(config: Mapping[str, Any] | None) -> int:
    """``collection.due_days`` of the configuration (default 15): whole days after the quarter
    ends."""
    days = ((config or {}).get("collection") or {}).get("due_days", DEFAULT_DUE_DAYS)
    if isinstance(days, bool) or not isinstance(days, (int, np.integer, float)) \
            or not float(days).is_integer() or days < 0:
        raise EvalkitError(f"collection.due_days: expected a whole number of days, 0 or more, "
                           f"got {days!r}")
    return int(days)


def due_date(cycle: str, config: Mapping[str, Any] | None = None) -> pd.Timestamp:
    """The due date ``D``: the quarter's last day plus ``collection.due_days`` days."""
    end = periods.end_date(periods.Cycle(_cycle(cycle)))
    return pd.Timestamp(end) + pd.Timedelta(days=due_days(config))


def _cycle(cycle: Any) -> str:
    return periods.parse_period(str(cycle))


def local_time(value: Any) -> pd.Timestamp:
    """A time as a naive local Timestamp, to the second: a text (ISO), a datetime or a date
    (its first moment); one with an offset is converted to local time."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = pd.Timestamp(stamp.to_pydatetime().astimezone().replace(tzinfo=None))
    return stamp.floor("s")


def _now() -> pd.Timestamp:
    return local_time(dt.datetime.now())


def _submitted_at(value: Any, unit_id: str, period: str) -> pd.Timestamp:
    """A submission's time, or InputError naming the unit when it is missing or not ISO."""
    if isinstance(value, (pd.Timestamp, dt.datetime)) and not pd.isna(value):
        return local_time(value)
    text = value.strip() if isinstance(value, str) else None
    if text:
        try:
            return local_time(dt.datetime.fromisoformat(text))
        except ValueError:
            pass
    shown = "nothing" if value is None or (not isinstance(value, str) and pd.isna(value)) \
        else repr(value)
    raise InputError([Problem(
        "submissions", f"unit {unit_id}, {period}: submitted_at is {shown}; expected an ISO "
        "time such as 2024-01-15T09:30:00", column="submitted_at", table="submissions")])


def _counts(history: pd.DataFrame | None, mine: pd.DataFrame, cycle: str) -> dict[str, int]:
    """How many times each unit submitted for the cycle (see the module's docstring)."""
    if history is not None:
        require_columns(history, ("unit_id", "period"), "submissions history", error=InputError)
        rows = history[history["period"].astype(str) == cycle]
        return rows["unit_id"].astype(str).value_counts().to_dict()
    if "revision" in mine.columns:
        return {u: int(r) for u, r in zip(mine["unit_id"].astype(str), mine["revision"])
                if pd.notna(r)}
    return {u: 1 for u in mine["unit_id"].astype(str)}


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def collection_status(units: pd.DataFrame, submissions: pd.DataFrame | None, cycle: str,
                      config: Mapping[str, Any] | None = None,
                      expected: Mapping[str, float] | pd.Series | None = None, *,
                      as_of: Any = None, history: pd.DataFrame | None = None
                      ) -> pd.DataFrame:
    """The tracker for ``cycle``: one row per assessed unit of ``units``, in their order, with
    the columns of :data:`STATUS_COLUMNS` (formulas in the module's docstring).

    ``submissions``: the latest row per unit and quarter (the store's ``submissions``, as
    :attr:`evalkit.model.Study.submissions` gives it), ``submitted_at`` as ISO text; rows of
    other quarters and of units that are not assessed are left out. ``expected``: per unit id,
    the values a unit that has not submitted is asked for (a submission states its own).
    ``as_of``: the time that tells ``missing`` from ``pending`` (default now). ``history``:
    every stored revision of the submissions (:func:`evalkit.store.revisions`), to count
    re-submissions.

    A missing column, two rows for one unit and quarter, or a ``submitted_at`` that is not an
    ISO time raise :class:`~evalkit.errors.InputError` naming the table, the column and the
    unit."""
    cycle = _cycle(cycle)
    require_columns(units, UNIT_COLUMNS, "units", error=InputError)
    if submissions is None:
        submissions = pd.DataFrame({c: [] for c in SUBMISSION_COLUMNS})
    require_columns(submissions, SUBMISSION_COLUMNS, "submissions", error=InputError)
    due = due_date(cycle, config)
    end_of_due_day = due + pd.Timedelta(days=1)
    as_of = _now() if as_of is None else local_time(as_of)

    assessed = units[units["role"].astype(str) != "reference"]
    ids = assessed["unit_id"].astype(str)
    mine = submissions[(submissions["period"].astype(str) == cycle)
                       & submissions["unit_id"].astype(str).isin(set(ids))]
    twice = mine["unit_id"].astype(str).duplicated(keep=False)
    if twice.any():
        raise InputError([Problem(
            "submissions", f"unit {u}, {cycle}: more than one row; expected the latest "
            "submission per unit and quarter (the history goes in `history`)",
            column="unit_id", table="submissions")
            for u in sorted(set(mine.loc[twice, "unit_id"].astype(str)))])
    times = {str(u): _submitted_at(t, str(u), cycle)
             for u, t in zip(mine["unit_id"], mine["submitted_at"])}
    counts = _counts(history, mine, cycle)
    by_unit = {str(row["unit_id"]): row for _, row in mine.iterrows()}
    asked = dict(expected.items()) if expected is not None else {}

    rows = []
    names_en = assessed["name_en"] if "name_en" in assessed.columns else [None] * len(assessed)
    for uid, name_zh, name_en in zip(ids, assessed["name_zh"], names_en):
        row = by_unit.get(uid)
        submitted = row is not None
        if submitted:
            at = times[uid]
            late = at >= end_of_due_day
            days_late = (at.normalize() - due).days if late else 0
            state = "late" if late else "on_time"
            want = _number(row["expected"])
            if math.isnan(want):
                want = _number(asked.get(uid))
            got = _number(row["reported"])
        else:
            at = pd.NaT
            late = as_of >= end_of_due_day
            days_late = (as_of.normalize() - due).days if late else 0
            state = "missing" if late else "pending"
            want, got = _number(asked.get(uid)), 0.0
        rows.append({
            "unit_id": uid, "name_zh": _text(name_zh), "name_en": _text(name_en),
            "submitted": submitted, "submitted_at": at,
            "submitted_by": _text(row["submitted_by"]) if submitted else None,
            "file": _text(row["file"]) if submitted else None,
            "submissions": int(counts.get(uid, 1)) if submitted else 0,
            "expected": want, "reported": got,
            "completeness": got / want if want > 0 else math.nan,
            "due": due, "late": bool(late), "days_late": int(days_late), "state": state,
            "as_of": as_of})
    if not rows:
        return empty_status()
    return pd.DataFrame(rows, columns=list(STATUS_COLUMNS)).astype(_DTYPES)


def status_summary(status: pd.DataFrame) -> dict[str, Any]:
    """The tracker in figures: ``units``, ``submitted``, ``on_time``, ``late`` (submitted
    after the due day), ``missing`` (nothing received, past due), ``pending`` (nothing
    received, not yet due), ``completeness`` (the mean of the units' completeness where it is
    defined; NaN when none is), ``due`` and ``as_of`` (None for an empty tracker)."""
    require_columns(status, ("state", "submitted", "completeness"), "collection status",
                    error=InputError)
    states = status["state"].value_counts()
    defined = status["completeness"].dropna()
    return {"units": len(status), "submitted": int(status["submitted"].astype(bool).sum()),
            **{s: int(states.get(s, 0)) for s in STATES},
            "completeness": float(defined.mean()) if len(defined) else math.nan,
            "due": status["due"].iloc[0] if "due" in status and len(status) else None,
            "as_of": status["as_of"].iloc[0] if "as_of" in status and len(status) else None}


def study_status(study, cycle: str, config: Mapping[str, Any] | None = None,
                 expected: Mapping[str, float] | pd.Series | None = None, *,
                 as_of: Any = None) -> pd.DataFrame:
    """The tracker of a loaded study (:class:`evalkit.model.Study`) for ``cycle``, every
    assessed unit pending or missing when none has submitted yet.

    For a study read from a store, re-submissions are counted from the stored history up to
    its data version, and the as-of time is, unless ``as_of`` is given, when that data
    version was ingested: the same data version always gives the same table. For a study
    read from files the as-of time is now, unless given, and each submission counts once (or
    by its ``revision``). ``config``: the study's own unless given; ``expected`` as for
    :func:`collection_status`."""
    stored_at, history = None, None
    source, version = getattr(study, "source", ""), getattr(study, "data_version", None)
    if source and version is not None:
        stored_at, history = _stored(source, version)
    return collection_status(study.units, study.submissions, cycle,
                             study.config if config is None else config, expected,
                             as_of=stored_at if as_of is None else as_of, history=history)


def cycle_status(study, cycle: str, config: Mapping[str, Any] | None = None
                 ) -> pd.DataFrame:
    """The tracker as the cycle folder keeps it: :func:`study_status` when the study has a
    submission for ``cycle``, else an empty table (:func:`empty_status`), so that a cycle
    collected some other way publishes no tracker."""
    cycle = _cycle(cycle)
    if not (study.submissions["period"].astype(str) == cycle).any():
        return empty_status()
    return study_status(study, cycle, config)


def _stored(source: str, version: int) -> tuple[pd.Timestamp | None, pd.DataFrame | None]:
    """When data version ``version`` of the store ``source`` was ingested, and the
    submissions' history up to it; (None, None) when ``source`` is not a store."""
    from .. import store
    from ..inputs.ingest import is_store

    if not is_store(source):
        return None, None
    log = store.versions(source)
    when = log.loc[log["version"] == int(version), "ingested_at"]
    history = store.revisions(source, "submissions")
    history = history[history["_version"] <= int(version)]
    return (local_time(when.iloc[0]) if len(when) else None), history
