"""Validation: raw cells -> typed tables, and the rules of the data model.

Two steps, both collecting *every* problem rather than stopping at the first:

1. :func:`coerce` reads each cell of a :class:`~evalkit.io.RawTable` by its column's kind
   (numbers with full-width digits and percent signs, periods such as 2021年第三季度, deadlines
   such as 2023年9月底前, choices written in Chinese) into the types of :class:`~evalkit.model.Study`.
2. :func:`check` applies the rules across tables: unique keys, known unit and indicator ids
   (a unit may also be referred to by its Chinese name), benchmarks that exist and are not the
   unit itself, deadlines after baselines, percentages within 0-100 (or the indicator's
   ``max_value``), counts and durations not negative, a weight not negative, a closing date only
   on a closed ledger item.

Every problem names the file, the row as a person counts it in that file, and the column as
headed there. Each typed frame keeps two provenance columns, ``_file`` and ``_row``, for
that purpose; :func:`strip` drops them.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from . import periods, values
from .values import split_domains
from .errors import InputError, ParseError, Problem
from .model import TABLES, TABLE_ORDER, Column

PROVENANCE = ("_file", "_row")

# Measures whose values cannot be negative, and the message saying so.
_NON_NEGATIVE = {"count": "a count", "percent": "a percentage", "days": "a number of days",
                 "hours": "a number of hours"}


def _choice_parser(col: Column) -> Callable[[Any], str]:
    lookup = {c.lower(): c for c in col.choices}
    lookup.update({k.lower(): v for k, v in col.choice_aliases.items()})

    def parse(value: Any) -> str:
        text = values.clean_id(value)
        hit = lookup.get((text or "").lower())
        if hit is None:
            allowed = ", ".join(col.choices)
            raise ParseError(f"expected one of {allowed}, got {value!r}")
        return hit
    return parse


def _parser(col: Column, plan_year: int | None) -> Callable[[Any], Any]:
    kind = col.kind
    if kind == "id":
        return values.clean_id
    if kind == "text":
        return values.clean_text
    if kind == "number":
        return values.parse_number
    if kind == "bool":
        return values.parse_bool
    if kind == "period":
        return periods.parse_period
    if kind == "date":
        return lambda v: periods.parse_date(v, plan_year)
    if kind == "choice":
        return _choice_parser(col)
    raise ValueError(f"unknown column kind {kind!r}")


def _parse_column(cells: pd.Series, col: Column, plan_year: int | None,
                  where: Callable[[int], tuple[str, int]], header: str
                  ) -> tuple[pd.Series, list[Problem]]:
    """Parse one column; blanks become the column's default (or a problem when required).

    Each distinct cell text is parsed once, and numbers take a vectorised fast path, so that
    millions of rows cost little more than their distinct values.
    """
    problems: list[Problem] = []
    blank = cells.isna() | cells.map(values.is_blank).astype(bool)
    parsed = pd.Series([None] * len(cells), index=cells.index, dtype=object)

    todo = cells[~blank]
    if col.kind == "number" and len(todo):
        fast = pd.to_numeric(todo, errors="coerce")
        ok = fast.notna() & np.isfinite(fast.astype("float64"))
        parsed[ok[ok].index] = fast[ok].astype("float64")
        todo = todo[~ok]
    if len(todo):
        parse = _parser(col, plan_year)
        cache: dict[Any, Any] = {}
        errors: dict[Any, str] = {}
        for value in pd.unique(todo.astype(object)):
            key = (type(value), value)
            try:
                cache[key] = parse(value)
            except ParseError as exc:
                errors[key] = str(exc)
        out = [cache.get((type(v), v)) for v in todo.astype(object)]
        parsed[todo.index] = pd.Series(out, index=todo.index, dtype=object)
        if errors:
            for pos, value in zip(todo.index, todo.astype(object)):
                msg = errors.get((type(value), value))
                if msg is not None:
                    file, row = where(pos)
                    problems.append(Problem(file, msg, row=row, column=header))

    if col.required:
        for pos in blank[blank].index:
            file, row = where(pos)
            problems.append(Problem(file, "a value is required here", row=row, column=header))
    elif col.default is not None:
        parsed[blank] = col.default

    if col.kind == "number":
        return pd.to_numeric(parsed, errors="coerce").astype("float64"), problems
    if col.kind == "bool":
        return parsed.fillna(False).astype(bool), problems
    if col.kind == "date":
        return pd.to_datetime(parsed, errors="coerce").astype("datetime64[ns]"), problems
    return parsed.astype("str"), problems


def coerce(raw) -> tuple[pd.DataFrame, list[Problem]]:
    """Typed frame of one :class:`~evalkit.io.RawTable`, with ``_file``/``_row``, and the
    problems found in its cells."""
    table = TABLES[raw.table]
    frame = raw.frame.reset_index(drop=True)
    rows = list(raw.rows)
    out: dict[str, pd.Series] = {}
    problems: list[Problem] = []

    file = getattr(raw, "where", None) or raw.file

    def where(pos: int) -> tuple[str, int]:
        return file, rows[pos]

    for col in table.columns:
        header = raw.headers.get(col.name, col.name)
        if col.name in frame.columns:
            series, found = _parse_column(frame[col.name], col, raw.plan_year, where, header)
            out[col.name] = series
            problems += found
        else:
            filler = pd.Series([col.default] * len(frame), dtype=object)
            series, _ = _parse_column(filler, Column(col.name, col.kind, False,
                                                      choices=col.choices,
                                                      choice_aliases=col.choice_aliases,
                                                      default=col.default),
                                      raw.plan_year, where, header)
            out[col.name] = series
    extra_kind = table.extra_columns
    for name in getattr(raw, "extra", []) or []:
        if extra_kind == "number" and name in frame.columns:
            series, found = _parse_column(frame[name], Column(name, "number"), raw.plan_year,
                                          where, raw.headers.get(name, name))
            out[name] = series
            problems += found
    typed = pd.DataFrame(out)
    typed["_file"] = file
    typed["_row"] = pd.Series(rows, dtype="int64")
    return typed, problems


def _describe_key(frame: pd.DataFrame, idx: int, key: Iterable[str]) -> str:
    parts = []
    for k in key:
        v = frame.at[idx, k]
        if isinstance(v, pd.Timestamp):
            v = v.date().isoformat()
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _header(raws: dict, file: str, column: str) -> str:
    return raws.get((file, column), column)


def check(tables: dict[str, pd.DataFrame], known: dict[str, pd.DataFrame] | None = None,
          headers: dict[tuple[str, str], str] | None = None) -> list[Problem]:
    """Problems across tables. ``tables`` are typed frames with provenance (they may be
    empty); ``known`` are the tables already in the store, which references may point to.
    Unit references written as a unit's Chinese name are replaced by its id in place."""
    known = known or {}
    headers = headers or {}
    problems: list[Problem] = []

    def add(frame: pd.DataFrame, idx: int, column: str, msg: str) -> None:
        file = frame.at[idx, "_file"]
        problems.append(Problem(file, msg, row=int(frame.at[idx, "_row"]),
                                column=_header(headers, file, column)))

    # Unique keys (within this input).
    for name, frame in tables.items():
        key = list(TABLES[name].key)
        if frame.empty or not set(key) <= set(frame.columns):
            continue
        dup = frame.duplicated(subset=key, keep="first")
        if dup.any():
            first = frame[frame.duplicated(subset=key, keep=False) & ~dup]
            for idx in dup[dup].index:
                same = first
                for k in key:
                    same = same[same[k] == frame.at[idx, k]]
                ref = ""
                if len(same):
                    j = same.index[0]
                    ref = f" (first at {same.at[j, '_file']}, row {same.at[j, '_row']})"
                add(frame, idx, key[-1],
                    f"duplicate row for {_describe_key(frame, idx, key)}{ref}")

    units = _union(tables.get("units"), known.get("units"), "unit_id")
    indicators = _union(tables.get("indicators"), known.get("indicators"), "indicator_id")
    unit_ids = set(units["unit_id"].dropna()) if units is not None else set()
    names = {}
    if units is not None and "name_zh" in units:
        for uid, nm in zip(units["unit_id"], units["name_zh"]):
            if isinstance(nm, str):
                names.setdefault(nm, uid)
                for suffix in ("民政局", "社会事业局"):
                    if nm.endswith(suffix):
                        names.setdefault(nm[: -len(suffix)], uid)
                    else:
                        names.setdefault(nm + suffix, uid)
    ind = indicators.set_index("indicator_id") if indicators is not None else None
    ind_ids = set(ind.index) if ind is not None else set()
    domains = set(ind["domain"].dropna()) if ind is not None else set()

    def check_units(frame: pd.DataFrame, column: str) -> None:
        if column not in frame:
            return
        col = frame[column]
        unknown = col.notna() & ~col.isin(unit_ids)
        if not unknown.any():
            return
        by_name = col[unknown].map(names)
        frame.loc[by_name.dropna().index, column] = by_name.dropna()
        for idx in by_name[by_name.isna()].index:
            add(frame, idx, column,
                f"unknown unit {col[idx]!r}: not an id or name in the units table")

    def check_indicators(frame: pd.DataFrame, column: str) -> None:
        if column not in frame:
            return
        bad = frame[column].notna() & ~frame[column].isin(ind_ids)
        for idx in bad[bad].index:
            add(frame, idx, column,
                f"unknown indicator {frame.at[idx, column]!r}: not in the indicators table")

    frame = tables.get("units")
    if frame is not None and not frame.empty:
        check_units(frame, "parent_id")
        selfp = frame["parent_id"] == frame["unit_id"]
        for idx in selfp[selfp].index:
            add(frame, idx, "parent_id", "a unit cannot be its own parent")

    frame = tables.get("indicators")
    if frame is not None and not frame.empty:
        neg = frame["weight"] < 0
        for idx in neg[neg].index:
            add(frame, idx, "weight", f"expected a weight >= 0, got {frame.at[idx, 'weight']}")
        bad = frame["max_value"].notna() & (frame["max_value"] <= 0)
        for idx in bad[bad].index:
            add(frame, idx, "max_value", "expected a maximum above 0")

    for name in ("targets", "benchmarks", "observations", "ledger", "adjustments"):
        frame = tables.get(name)
        if frame is None or frame.empty:
            continue
        check_units(frame, "unit_id")
        if name == "benchmarks":
            check_units(frame, "benchmark_unit_id")
            same = frame["benchmark_unit_id"] == frame["unit_id"]
            for idx in same[same].index:
                add(frame, idx, "benchmark_unit_id", "a unit cannot benchmark itself")
            for idx, text in frame["domains"].items():
                for dom in split_domains(text):
                    if dom not in domains:
                        add(frame, idx, "domains",
                            f"unknown domain {dom!r}: expected one of {', '.join(sorted(domains))}")
        if name in ("targets", "observations", "ledger"):
            check_indicators(frame, "indicator_id")

    frame = tables.get("targets")
    if frame is not None and not frame.empty:
        base_end = frame["baseline_period"].map(
            lambda p: pd.Timestamp(periods.end_date(p)) if isinstance(p, str) else pd.NaT)
        early = frame["deadline"].notna() & (frame["deadline"] <= base_end)
        for idx in early[early].index:
            add(frame, idx, "deadline",
                f"the deadline {frame.at[idx, 'deadline'].date()} is not after the end of the "
                f"baseline period {frame.at[idx, 'baseline_period']}")
        if ind is not None:
            for column in ("baseline_value", "target_value"):
                _check_ranges(frame, column, ind, add)

    frame = tables.get("observations")
    if frame is not None and not frame.empty and ind is not None:
        _check_ranges(frame, "value", ind, add)

    frame = tables.get("ledger")
    if frame is not None and not frame.empty:
        odd = frame["closed_on"].notna() & (frame["status"] == "open")
        for idx in odd[odd].index:
            add(frame, idx, "closed_on", "a closing date is given but the status is open")

    return problems


def _check_ranges(frame: pd.DataFrame, column: str, ind: pd.DataFrame, add) -> None:
    """Values within what the indicator's measure allows (percent: 0 to max_value or 100)."""
    measure = frame["indicator_id"].map(ind["measure"])
    upper = frame["indicator_id"].map(ind["max_value"])
    upper = upper.where(upper.notna(), np.where(measure == "percent", 100.0, np.inf))
    value = frame[column]
    for m, what in _NON_NEGATIVE.items():
        bad = (measure == m) & (value < 0)
        for idx in bad[bad].index:
            add(frame, idx, column, f"{what} cannot be negative, got {value[idx]:g}")
    over = value.notna() & (value > upper.astype(float))
    for idx in over[over].index:
        add(frame, idx, column,
            f"expected at most {upper[idx]:g} for {frame.at[idx, 'indicator_id']} "
            f"({measure[idx]}), got {value[idx]:g}")


def _union(new: pd.DataFrame | None, old: pd.DataFrame | None, key: str) -> pd.DataFrame | None:
    frames = [f for f in (new, old) if f is not None and not f.empty]
    if not frames:
        return new if new is not None else old
    both = pd.concat([f.drop(columns=[c for c in PROVENANCE if c in f], errors="ignore")
                      for f in frames], ignore_index=True)
    return both.drop_duplicates(subset=[key], keep="first")


def validate(raws: list, known: dict[str, pd.DataFrame] | None = None
             ) -> dict[str, pd.DataFrame]:
    """Typed, checked tables from raw tables, or :class:`InputError` listing every problem.
    Tables that appear in several files are concatenated; each row keeps the ``_file`` it came
    from (the store records it), and :func:`strip` removes it."""
    parts: dict[str, list[pd.DataFrame]] = {}
    headers: dict[tuple[str, str], str] = {}
    problems: list[Problem] = []
    for raw in raws:
        typed, found = coerce(raw)
        problems += found
        parts.setdefault(raw.table, []).append(typed)
        for canon, written in raw.headers.items():
            headers[(getattr(raw, "where", None) or raw.file, canon)] = written
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    problems += check(tables, known, headers)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.file, p.row or 0)))
    return {name: tables[name].drop(columns="_row") for name in TABLE_ORDER if name in tables}


def strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in PROVENANCE if c in frame.columns])
