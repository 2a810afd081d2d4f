"""The work ledger (工作台账) at a cycle's as-of date: each item's warning colour and closure rates.

At the as-of date d = the cycle's last day, and with soon = the last day of the quarter
``ledger.due_soon_quarters`` after the cycle (default 1: the end of the next quarter):

- ``closed`` (销号): recorded status ``closed`` and closed_on is empty or on or before d. An item
  closed after d was still open at d, so re-running a past cycle gives the same answer.
- ``red`` (overdue): open and deadline < d; days_overdue = (d - deadline) in days.
- ``yellow``: open and d <= deadline <= soon (an item due on the as-of day itself is yellow).
- ``green``: open and due after soon, or open with no deadline at all.
- due = deadline <= d (an item with no deadline is never due).

Closure rate per group (unit, owner, ...) = closed items among the due ones / due items.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from .. import periods
from ..errors import InputError, MethodError, Problem

STATUS_ORDER = ("red", "yellow", "green", "closed")
LEDGER_COLUMNS = ["item_id", "unit_id", "owner", "task", "deadline", "closed_on", "status",
                  "days_overdue", "due"]
RATE_COLUMNS = ["items", "due", "closed_due", "closure_rate", "note", "overdue", "open",
                "closed"]
NOTHING_DUE = "nothing due"


def _dates(ledger: pd.DataFrame, column: str) -> pd.Series:
    """``ledger[column]`` as datetime64[ns] at midnight (a time of day must not push a date past
    the as-of day); a value that is no date is an InputError."""
    raw = ledger[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        bad = raw.notna() & parsed.isna()
        if bad.any():
            problems = [Problem("ledger", f"item {item!r}: expected a date, got {value!r}",
                                column=column, table="ledger")
                        for item, value in zip(ledger.loc[bad, "item_id"].head(20),
                                               raw[bad].head(20))]
            raise InputError(problems)
    return parsed.astype("datetime64[ns]").dt.normalize()


def _due_soon_quarters(config: dict[str, Any]) -> int:
    n = config["ledger"]["due_soon_quarters"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError([Problem("config", "expected a whole number of quarters >= 0",
                                  column="ledger.due_soon_quarters")])
    return int(n)


def _recorded_closed(ledger: pd.DataFrame) -> pd.Series:
    """True where the ledger records the item as closed; a missing status counts as open."""
    if "status" not in ledger:
        return pd.Series(False, index=ledger.index)
    recorded = ledger["status"]
    bad = recorded.notna() & ~recorded.isin(["open", "closed"])
    if bad.any():
        problems = [Problem("ledger", f"item {item!r}: expected open or closed, got {value!r}",
                            column="status", table="ledger")
                    for item, value in zip(ledger.loc[bad, "item_id"].head(20),
                                           recorded[bad].head(20))]
        raise InputError(problems)
    return recorded.eq("closed")


def ledger_status(ledger: pd.DataFrame, cycle: str, config: dict[str, Any]) -> pd.DataFrame:
    """Each ledger item's status at the cycle's as-of date (rules in the module docstring).

    Returns one row per item: item_id, unit_id, owner, task, deadline, closed_on, status
    (closed / green / yellow / red), days_overdue (int; 0 unless red), due (bool), then the
    ledger's other columns (the recorded status kept as ``recorded_status``) and ``as_of``.
    Sorted red first (most days overdue first), then yellow, green, closed; within a status by
    deadline, then item_id.

    Dates may also come as ISO text. Raises MethodError when a needed column is missing or an
    item_id repeats, InputError for a recorded status other than open / closed, a value that is
    no date, or a bad ``ledger.due_soon_quarters``.
    """
    missing = [c for c in ("item_id", "unit_id", "owner", "deadline") if c not in ledger]
    if missing:
        raise MethodError(f"the ledger table lacks the column(s) {', '.join(missing)}")
    if ledger["item_id"].duplicated().any():
        item = ledger.loc[ledger["item_id"].duplicated(), "item_id"].iloc[0]
        raise MethodError(f"the ledger table has more than one row for item_id {item!r}")
    cycle = periods.Cycle(cycle)
    as_of = pd.Timestamp(cycle.as_of)
    soon = pd.Timestamp(periods.end_date(periods.from_index(
        cycle.index + _due_soon_quarters(config))))

    deadline = _dates(ledger, "deadline")
    closed_on = (_dates(ledger, "closed_on") if "closed_on" in ledger
                 else pd.Series(pd.NaT, index=ledger.index, dtype="datetime64[ns]"))
    closed = _recorded_closed(ledger) & (closed_on.isna() | (closed_on <= as_of))
    red = ~closed & (deadline < as_of)
    yellow = ~closed & ~red & (deadline <= soon)
    status = np.select([closed, red, yellow], ["closed", "red", "yellow"], default="green")
    days = np.where(red, (as_of - deadline).dt.days.fillna(0), 0).astype("int64")

    out = ledger.rename(columns={"status": "recorded_status"}).assign(
        deadline=deadline, closed_on=closed_on, status=status, days_overdue=days,
        due=(deadline <= as_of).to_numpy(), as_of=as_of)
    out["status"] = out["status"].astype("str")
    if "task" not in out:
        out["task"] = None
    rank = out["status"].map({s: i for i, s in enumerate(STATUS_ORDER)})
    out = (out.assign(_rank=rank, _late=-out["days_overdue"])
           .sort_values(["_rank", "_late", "deadline", "item_id"], kind="stable",
                        na_position="last")
           .drop(columns=["_rank", "_late"]).reset_index(drop=True))
    rest = [c for c in out.columns if c not in LEDGER_COLUMNS]
    return out[LEDGER_COLUMNS + rest]


def closure_rates(status: pd.DataFrame, by: str | Iterable[str] = ("unit_id",)) -> pd.DataFrame:
    """Counts and closure rate per group of :func:`ledger_status` rows.

    Per group of ``by`` (a column name or several; a missing key forms its own group): items,
    due (deadline <= as-of), closed_due (closed among the due), closure_rate = closed_due / due
    (NaN when due == 0, with note "nothing due"; otherwise note is None), overdue (red items),
    open (not closed), closed (closed at as-of, due or not). Sorted by the group keys.
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in keys + ["status", "due"] if c not in status]
    if missing:
        raise MethodError(f"the ledger status table lacks the column(s) {', '.join(missing)}")
    closed = status["status"].eq("closed")
    due = status["due"].eq(True)
    counts = pd.DataFrame({k: status[k] for k in keys}).assign(
        items=1, due=due.astype("int64"), closed_due=(closed & due).astype("int64"),
        overdue=status["status"].eq("red").astype("int64"),
        open=(~closed).astype("int64"), closed=closed.astype("int64"))
    out = counts.groupby(keys, dropna=False, sort=True, as_index=False).sum()
    n_due = out["due"].to_numpy()
    out["closure_rate"] = np.divide(out["closed_due"].to_numpy(), n_due,
                                    out=np.full(len(out), np.nan), where=n_due > 0)
    out["note"] = pd.Series(np.where(n_due == 0, NOTHING_DUE, None), index=out.index,
                            dtype=object)
    for c in ("items", "due", "closed_due", "overdue", "open", "closed"):
        out[c] = out[c].astype("int64")
    return out[keys + RATE_COLUMNS]
