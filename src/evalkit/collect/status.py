"""The submission tracker (报送情况): who has reported for a quarter, when, how completely, and
who is late or has not reported at all.

    status = collection_status(study.units, study.submissions, "2023Q4", study.config)
    status_summary(status)   # {"units": 7, "submitted": 5, "on_time": 4, "late": 1, ...}
    study_status(study, "2023Q4")        # the same for a loaded study, re-submissions counted
    print(status_text(status))           # in words, for a terminal
    write_status(status, "报送情况.xlsx")  # or .csv

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
* ``period``: the cycle; ``as_of``: the as-of time below.
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
                  "days_late", "state", "period", "as_of")

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


def _submitted_at(value: Any, unit_id: str, period: str) -> dt.datetime:
    """A submission's time as a naive local datetime, or InputError naming the unit when it is
    missing or not ISO."""
    if isinstance(value, dt.datetime) and not pd.isna(value):
        when = value
    else:
        when = None
        text = value.strip() if isinstance(value, str) else None
        if text:
            try:
                when = dt.datetime.fromisoformat(text)
            except ValueError:
                pass
    if when is None:
        shown = "nothing" if value is None or (not isinstance(value, str) and pd.isna(value)) \
            else repr(value)
        raise InputError([Problem(
            "submissions", f"unit {unit_id}, {period}: submitted_at is {shown}; expected an "
            "ISO time such as 2024-01-15T09:30:00", column="submitted_at",
            table="submissions")])
    return when.astimezone().replace(tzinfo=None) if when.tzinfo is not None else when


def _times(mine: pd.DataFrame, period: str) -> pd.Series:
    """The submissions' times, to the second (see :func:`_submitted_at`)."""
    when = [_submitted_at(v, str(u), period) for u, v in zip(mine["unit_id"],
                                                             mine["submitted_at"])]
    return pd.Series(pd.to_datetime(when), index=mine.index,
                     dtype="datetime64[ns]").dt.floor("s")


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
    if assessed.empty:
        return empty_status()
    got = pd.DataFrame({"submitted_at": _times(mine, cycle),
                        "submitted_by": mine["submitted_by"], "file": mine["file"],
                        "expected": pd.to_numeric(mine["expected"], errors="coerce"),
                        "reported": pd.to_numeric(mine["reported"], errors="coerce")})
    got.index = mine["unit_id"].astype(str).to_numpy()
    row = got.reindex(ids.to_numpy())
    submitted = pd.Series(ids.isin(got.index).to_numpy(), index=row.index)
    asked = pd.Series(dtype="float64") if expected is None else \
        pd.to_numeric(pd.Series(dict(expected.items()), dtype="object"), errors="coerce")
    asked = asked.reindex(row.index).astype("float64")
    want = row["expected"].where(row["expected"].notna(), asked).astype("float64")
    filled = row["reported"].where(submitted, 0.0).astype("float64")
    # The time judged: the submission's, or for a unit with none, the as-of time.
    judged = row["submitted_at"].where(submitted, as_of)
    late = judged >= end_of_due_day
    counts = pd.Series(_counts(history, mine, cycle), dtype="float64").reindex(row.index)
    names_en = assessed["name_en"].to_numpy() if "name_en" in assessed.columns else None
    out = pd.DataFrame({
        "unit_id": ids.to_numpy(), "name_zh": assessed["name_zh"].to_numpy(),
        "name_en": names_en, "submitted": submitted.to_numpy(),
        "submitted_at": row["submitted_at"].to_numpy(),
        "submitted_by": row["submitted_by"].to_numpy(), "file": row["file"].to_numpy(),
        "submissions": counts.fillna(1).where(submitted, 0).to_numpy(),
        "expected": want.to_numpy(), "reported": filled.to_numpy(),
        "completeness": (filled / want).where(want > 0).to_numpy(),
        "due": due, "late": late.to_numpy(),
        "days_late": ((judged.dt.normalize() - due).dt.days).where(late, 0).to_numpy(),
        "state": np.where(submitted, np.where(late, "late", "on_time"),
                          np.where(late, "missing", "pending")),
        "period": cycle, "as_of": as_of})
    text = ["name_zh", "name_en", "submitted_by", "file"]
    out[text] = out[text].astype(object).where(out[text].notna(), None)
    return out.astype(_DTYPES)


def status_summary(status: pd.DataFrame) -> dict[str, Any]:
    """The tracker in figures: ``units``, ``submitted``, ``on_time``, ``late`` (submitted
    after the due day), ``missing`` (nothing received, past due), ``pending`` (nothing
    received, not yet due), ``completeness`` (the mean completeness of the templates
    received, where it is defined; NaN when none is: the units that have not submitted are
    counted apart), ``due`` and ``as_of`` (None for an empty tracker)."""
    require_columns(status, ("state", "submitted", "completeness"), "collection status",
                    error=InputError)
    states = status["state"].value_counts()
    defined = status.loc[status["submitted"].astype(bool), "completeness"].dropna()
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
    :func:`collection_status`, by default what each unit's template asks for
    (:func:`asked`): a unit that has not submitted shows 0 of them."""
    stored_at, history = None, None
    source, version = getattr(study, "source", ""), getattr(study, "data_version", None)
    if source and version is not None:
        stored_at, history = _stored(source, version)
    config = study.config if config is None else config
    if expected is None:
        expected = asked(study, cycle, config)
    return collection_status(study.units, study.submissions, cycle, config, expected,
                             as_of=stored_at if as_of is None else as_of, history=history)


def asked(study, cycle: str, config: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Per assessed unit, the values its template for ``cycle`` asks for (its indicator
    rows, as :func:`evalkit.collect.templates.prepare` lays them out from the study's
    tables): what a unit that has not submitted yet owes."""
    from .templates import prepare

    tables = {name: study.table(name) for name in ("units", "indicators", "targets",
                                                   "observations", "ledger")}
    prepared = prepare(tables, _cycle(cycle), config, study.data_version or 0)
    units = study.units[study.units["role"].astype(str) != "reference"]
    return {u: len(prepared.plan(u).values) for u in units["unit_id"].astype(str)}


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


# ------------------------------------------------------------------------------ in words

# The order a reader wants: nothing received past due first, then late, not yet due, on time.
STATE_ORDER = ("missing", "late", "pending", "on_time")


def by_urgency(status: pd.DataFrame) -> pd.DataFrame:
    """The tracker's rows in :data:`STATE_ORDER`, in the units' order within a state."""
    order = status["state"].map({s: i for i, s in enumerate(STATE_ORDER)})
    return status.assign(_order=order).sort_values("_order", kind="stable").drop(
        columns="_order")


def unit_names(status: pd.DataFrame, lang: str = "zh") -> pd.Series:
    """Each row's unit as a reader knows it: the English name in English when there is one,
    else the Chinese name, else the id."""
    zh = status["name_zh"].where(status["name_zh"].notna(), status["unit_id"])
    if lang == "en" and "name_en" in status:
        usable = status["name_en"].notna() & (status["name_en"].astype(str).str.strip() != "")
        return status["name_en"].where(usable, zh).astype(str)
    return zh.astype(str)


def filled_text(status: pd.DataFrame) -> list[str]:
    """Values filled of those asked, ``12/15``; the dash for a unit that has not submitted
    and whose count asked is not known."""
    from ..publish import i18n

    return [i18n.MISSING if not done and pd.isna(asked) else
            f"{i18n.format_number(got, None, 0)}/{i18n.format_number(asked, None, 0)}"
            for got, asked, done in zip(status["reported"], status["expected"],
                                        status["submitted"].astype(bool))]


def summary_lines(status: pd.DataFrame, lang: str = "zh") -> list[str]:
    """The tracker in two lines of words, as the pages and the terminal say it: the count of
    each state, the mean completeness and who has not submitted; then the due date and the
    as-of time."""
    from ..publish import i18n

    summary = status_summary(status)
    if not summary["units"]:
        return []
    text = i18n.t("collection.summary", lang, units=summary["units"],
                  on_time=summary["on_time"], late=summary["late"],
                  missing=summary["missing"], pending=summary["pending"],
                  completeness=i18n.format_percent(summary["completeness"]))
    missing = unit_names(status, lang)[status["state"] == "missing"]
    if len(missing):
        text = i18n.sentences([text, i18n.t("collection.missing_units", lang,
                                            units=i18n.join_list(missing, lang))], lang)
    due = pd.Timestamp(summary["due"])
    days = (due - pd.Timestamp(periods.end_date(str(status["period"].iloc[0])))).days
    facts = [i18n.t("collection.due", lang, due=due.date().isoformat(), days=days)]
    if summary["as_of"] is not None and not pd.isna(summary["as_of"]):
        facts.append(i18n.t("collection.as_of", lang, time=i18n.format_time(summary["as_of"])))
    return [text, " · ".join(facts)]


def status_text(status: pd.DataFrame, summary: dict | None = None, lang: str = "zh") -> str:
    """The tracker as plain text for a terminal: :func:`summary_lines`, then one line per unit
    (state in words, when, by whom, values filled of those asked, completeness, days late),
    those that have not submitted first, in columns aligned for Chinese text too.
    ``summary`` is accepted for callers that have it (:func:`status_summary`); the text is
    made from ``status`` alone."""
    from ..publish import i18n

    t = lambda key: i18n.t(key, lang)  # noqa: E731
    if len(status) == 0:
        return t("chart.no_data")
    rows = by_urgency(status)
    cells = [[t("col.unit"), t("collection.col_state"), t("collection.col_submitted_at"),
              t("collection.col_submitted_by"), t("collection.col_reported"),
              t("collection.col_completeness"), t("collection.col_days_late")]]
    for name, state, at, by, filled, share, days in zip(
            unit_names(rows, lang), rows["state"], rows["submitted_at"], rows["submitted_by"],
            filled_text(rows), rows["completeness"], rows["days_late"]):
        cells.append([name, t(f"collection.{state}"), i18n.format_time(at),
                      by if isinstance(by, str) and by else i18n.MISSING, filled,
                      i18n.format_percent(share),
                      i18n.format_number(days, None, 0) if days else i18n.MISSING])
    from ..publish.export import display_width

    widths = [max(display_width(r[k]) for r in cells) for k in range(len(cells[0]))]
    lines = ["  ".join(c + " " * (w - display_width(c)) for c, w in zip(r, widths)).rstrip()
             for r in cells]
    return "\n".join([*summary_lines(status, lang), "", *lines])


def write_status(status: pd.DataFrame, path, lang: str = "zh"):
    """Write the tracker to ``path``: ``.csv`` (UTF-8, the columns of :data:`STATUS_COLUMNS`,
    times as ``YYYY-MM-DDTHH:MM:SS``, text that a spreadsheet would run as a formula quoted
    as in the cycle folder) or ``.xlsx`` (one sheet 报送情况, headers and states in words,
    text kept as text). Written atomically; returns the path. Another suffix is an
    :class:`~evalkit.errors.EvalkitError` naming the file."""
    from pathlib import Path

    from ..files import write_bytes, write_text

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        from ..publish.folder import _csv, _with_times_as_text

        return write_text(path, _csv(_with_times_as_text(status[list(STATUS_COLUMNS)])))
    if suffix == ".xlsx":
        return write_bytes(path, _workbook_bytes(status, lang))
    raise EvalkitError(f"{path}: expected a .csv or .xlsx file for the tracker")


def _workbook_bytes(status: pd.DataFrame, lang: str) -> bytes:
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    from ..publish import i18n
    from ..publish.export import display_width

    t = lambda key, **f: i18n.t(key, lang, **f)  # noqa: E731
    book = Workbook()
    sheet = book.active
    sheet.title = t("section.collection")
    heads = [t("col.unit_id"), t("col.unit"), t("collection.col_state"),
             t("collection.col_submitted_at"), t("collection.col_submitted_by"),
             t("collection.col_file"), t("collection.col_expected"),
             t("collection.col_filled"), t("collection.col_completeness"),
             t("collection.col_submissions"), t("collection.col_due"),
             t("collection.col_days_late")]
    sheet.append(heads)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.data_type = "s"
    rows = by_urgency(status)
    for (_, row), name in zip(rows.iterrows(), unit_names(rows, lang)):
        values = [row["unit_id"], name, t(f"collection.{row['state']}"),
                  _cell_time(row["submitted_at"]), _cell_text(row["submitted_by"]),
                  _cell_text(row["file"]), _cell_number(row["expected"]),
                  _cell_number(row["reported"]), _cell_number(row["completeness"]),
                  int(row["submissions"]), row["due"].date(), int(row["days_late"])]
        sheet.append(values)
        for cell, value in zip(sheet[sheet.max_row], values):
            if isinstance(value, str):
                cell.data_type = "s"          # data stays data, never a formula
            elif isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
        sheet.cell(sheet.max_row, 9).number_format = "0%"
    for k, head in enumerate(heads, start=1):
        width = max([display_width(head), *(display_width(str(c.value or "")) for c in
                                     next(sheet.iter_cols(k, k, 2, sheet.max_row), ()))])
        sheet.column_dimensions[sheet.cell(1, k).column_letter].width = min(60, width + 2)
    sheet.freeze_panes = "C2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell_time(value: Any):
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _cell_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _cell_number(value: Any) -> float | None:
    number = _number(value)
    return None if math.isnan(number) else number
