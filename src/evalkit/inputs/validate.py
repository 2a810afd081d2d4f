"""Validation: raw cells -> typed tables, and the rules of the data model.

Two steps, both collecting *every* problem rather than stopping at the first:

1. :func:`coerce` reads each cell of a :class:`~evalkit.inputs.read.RawTable` by its column's kind
   (numbers with full-width digits and percent signs, periods such as 2021年第三季度, deadlines
   such as 2023年9月底前, choices written in Chinese) into the types of :class:`~evalkit.model.Study`.
2. :func:`check` applies the rules across tables: unique keys, known unit and indicator ids
   (a unit may also be referred to by its Chinese name), benchmarks that exist and are not the
   unit itself, deadlines after baselines, every value of a measure (observations, targets'
   baseline and target values, an indicator's ``max_value``) within the measure's bounds
   (configuration ``bounds``: counts and durations not negative and below a ceiling,
   percentages within 0-100 or the indicator's ``max_value``, no implausible magnitude), a
   weight not negative, a closing date only on a closed ledger item.

Every problem names the file, the row as a person counts it in that file, and the column as
headed there. Each typed frame keeps two provenance columns, ``_file`` and ``_row``, for
that purpose; :func:`strip` drops them.

A large table whose files DuckDB holds (large CSV files, see :mod:`evalkit.inputs.read`) is converted
and checked in DuckDB by the same rules, with the same messages (:class:`SqlTable`): each
distinct cell text goes through the same parsers once, and only the rows with a problem are
fetched to name them.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import read as _io
from .read import filled_column, sql_name as _q
from .. import periods
from .. import values
from ..values import split_domains
from ..errors import InputError, ParseError, Problem
from ..model import TABLES, TABLE_ORDER, Column

PROVENANCE = ("_file", "_row")
# From this many rows a table's text columns stay categorical (as a large CSV file delivers
# them) and the checks work on integer codes.
LARGE_ROWS = 100_000

# What a value of a measure is called when its lower bound is 0 ("a count cannot be
# negative").
_NON_NEGATIVE = {"count": "a count", "percent": "a percentage", "days": "a number of days",
                 "hours": "a number of hours"}


def study_bounds(raws: list) -> dict:
    """The ``bounds`` of the configuration the study of ``raws`` uses: ``evalkit.yaml`` in
    the folder of the first file (as :func:`evalkit.load` finds it) over the defaults,
    checked (:func:`check_bounds`)."""
    from ..config import CONFIG_FILE, load_config

    folder = Path(raws[0].file).parent if raws else None
    where = str(folder / CONFIG_FILE) if folder is not None and \
        (folder / CONFIG_FILE).is_file() else "config"
    return check_bounds(load_config(folder)["bounds"], where)


def default_bounds() -> dict:
    from ..config import default_config

    return check_bounds(default_config()["bounds"])


def check_bounds(bounds: dict, where: str = "config") -> dict:
    """The ``bounds`` setting checked: for each measure a ``min`` and a ``max``, each a
    finite number or null, ``min <= max``; ``percent_max_value`` a finite number or null, at
    least ``percent.max``. A number written as text (YAML reads ``1e9`` as text) is read as
    the number. Returns the bounds with numbers; raises :class:`InputError` listing every bad
    setting."""
    out: dict = {}
    problems: list[Problem] = []

    def number(key: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            problems.append(Problem(where, f"expected a finite number or null, got {value!r}",
                                    column=key))
            return None
        return float(value)

    for measure, limits in (bounds or {}).items():
        key = f"bounds.{measure}"
        if measure == "percent_max_value":
            out[measure] = number(key, limits)
            continue
        if not isinstance(limits, dict) or set(limits) - {"min", "max"}:
            problems.append(Problem(where, "expected a mapping with min and max", column=key))
            continue
        low, high = number(f"{key}.min", limits.get("min")), number(f"{key}.max",
                                                                  limits.get("max"))
        if low is not None and high is not None and low > high:
            problems.append(Problem(where, f"expected {key}.min <= {key}.max", column=key))
        out[measure] = {"min": low, "max": high}
    top, pct = out.get("percent_max_value"), (out.get("percent") or {}).get("max")
    if top is not None and pct is not None and top < pct:
        problems.append(Problem(where, "expected bounds.percent_max_value >= bounds.percent.max",
                                column="bounds.percent_max_value"))
    if problems:
        raise InputError(problems)
    return out


def _measure_limits(ind: pd.DataFrame, bounds: dict) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """Per indicator (in ``ind``'s order): its measure, the lowest and the highest value
    allowed. The lowest is the measure's ``min``; the highest is the indicator's own
    ``max_value`` when it has one, else the measure's ``max`` (a missing bound: infinite)."""
    measures = ind["measure"].astype(object).to_numpy()
    lower = np.array([_bound(bounds, m, "min", -math.inf) for m in measures], dtype="float64")
    upper = np.array([_bound(bounds, m, "max", math.inf) for m in measures], dtype="float64")
    own = ind["max_value"].to_numpy(dtype="float64") if "max_value" in ind else \
        np.full(len(ind), np.nan)
    upper = np.where(np.isnan(own), upper, own)
    return measures, lower, upper


def _bound(bounds: dict, measure: Any, side: str, missing: float) -> float:
    limits = bounds.get(measure) if isinstance(measure, str) else None
    value = (limits or {}).get(side)
    return missing if value is None else float(value)


def _shown_number(value: float) -> str:
    """A value or a bound in a message: every digit a double holds, no more (1000000001 is
    not shown as the 1e+09 it exceeds; 1e+300 stays short)."""
    return f"{float(value):.15g}"


def _below(measure: Any, iid: Any, lower: float, value: float) -> str:
    if lower == 0 and measure in _NON_NEGATIVE:
        return f"{_NON_NEGATIVE[measure]} cannot be negative, got {_shown_number(value)}"
    return (f"expected at least {_shown_number(lower)} for {iid} ({measure}), "
            f"got {_shown_number(value)}")


def _above(measure: Any, iid: Any, upper: float, value: float) -> str:
    return (f"expected at most {_shown_number(upper)} for {iid} ({measure}), "
            f"got {_shown_number(value)}")


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

    Each distinct cell is parsed once, and numbers take a vectorised fast path, so that
    millions of rows cost little more than their distinct values: a categorical column (a
    large CSV file) is parsed through its categories, text through its distinct values, and a
    column of numbers (a large CSV file's plain numbers) needs no parsing at all. Only a column
    mixing kinds of values (Excel cells) is looked at value by value.
    """
    if isinstance(cells.dtype, pd.CategoricalDtype):
        codes, uniques = cells.cat.codes.to_numpy(), np.asarray(cells.cat.categories,
                                                               dtype=object)
        return _parse_coded(codes, uniques, col, plan_year, where, header,
                            categorical=True)
    if pd.api.types.is_float_dtype(cells.dtype) and col.kind == "number":
        return _parse_floats(cells, col, where, header)
    if len(cells) and pd.api.types.infer_dtype(cells, skipna=True) in ("string", "empty"):
        # Text: equal strings are equal values, so the distinct ones are parsed once each.
        codes, uniques = pd.factorize(cells.astype(object))
        return _parse_coded(codes, np.asarray(uniques, dtype=object), col, plan_year, where,
                            header, categorical=False)
    return _parse_values(cells, col, plan_year, where, header)


def _missing_problems(blank: np.ndarray, col: Column, where, header: str) -> list[Problem]:
    if not col.required:
        return []
    out = []
    for pos in np.flatnonzero(blank):
        file, row = where(int(pos))
        out.append(Problem(file, "a value is required here", row=row, column=header))
    return out


def _parse_coded(codes: np.ndarray, uniques: np.ndarray, col: Column, plan_year: int | None,
                 where, header: str, categorical: bool) -> tuple[pd.Series, list[Problem]]:
    """Parse the distinct values ``uniques`` of a column given as ``codes`` (-1: missing),
    and spread the results over the rows. Text kinds stay categorical for a categorical
    column (the parsed values as categories)."""
    n = len(uniques)
    parsed, errors, blank_u = _parse_uniques(uniques, col, plan_year)
    problems: list[Problem] = []
    if errors:
        bad = np.zeros(n + 1, dtype=bool)
        bad[list(errors)] = True
        for pos in np.flatnonzero(bad[codes]):
            file, row = where(int(pos))
            problems.append(Problem(file, errors[int(codes[pos])], row=row, column=header))
    blank = np.r_[blank_u, True][codes]
    problems += _missing_problems(blank, col, where, header)
    default = None if col.required else col.default
    fill = np.r_[parsed, [default]]
    slot = np.where(blank, n, codes)
    if errors:
        # A value that could not be read is no value (the problem says so).
        fill[list(errors)] = None
    if col.kind == "number":
        numbers = np.array([np.nan if v is None else v for v in fill], dtype="float64")
        return pd.Series(numbers[slot], dtype="float64"), problems
    if col.kind == "bool":
        flags = np.array([bool(v) if v is not None else False for v in fill], dtype=bool)
        return pd.Series(flags[slot], dtype=bool), problems
    if col.kind == "date":
        dates = pd.to_datetime(pd.Series(fill, dtype=object), errors="coerce")
        return pd.Series(dates.to_numpy(dtype="datetime64[ns]")[slot]), problems
    if categorical:
        # Sorted categories: sorting the column sorts it as text.
        cats = pd.Index(sorted({v for v in fill if v is not None}), dtype="str")
        recode = np.r_[cats.get_indexer(pd.Series(fill, dtype=object).where(
            pd.notna(pd.Series(fill, dtype=object)), None)), -1]
        return pd.Series(pd.Categorical.from_codes(recode[slot], cats)), problems
    texts = np.asarray(fill, dtype=object)[slot]
    return pd.Series(texts, dtype=object).astype("str"), problems


def _parse_uniques(uniques: np.ndarray, col: Column, plan_year: int | None
                   ) -> tuple[np.ndarray, dict[int, str], np.ndarray]:
    """Each distinct cell value read once: the parsed values, the error message by position
    and which values are blank."""
    n = len(uniques)
    blank_u = np.array([values.is_blank(v) for v in uniques], dtype=bool)
    parsed = np.empty(n, dtype=object)
    errors: dict[int, str] = {}
    todo = np.flatnonzero(~blank_u)
    if col.kind == "number" and len(todo):
        fast = pd.to_numeric(pd.Series(uniques[todo], dtype=object), errors="coerce")
        fast = fast.to_numpy(dtype="float64")
        ok = np.isfinite(fast)
        parsed[todo[ok]] = fast[ok]
        todo = todo[~ok]
    if len(todo):
        parse = _parser(col, plan_year)
        for u in todo:
            try:
                parsed[u] = parse(uniques[u])
            except ParseError as exc:
                errors[int(u)] = str(exc)
    return parsed, errors, blank_u


def _parse_floats(cells: pd.Series, col: Column, where, header: str
                  ) -> tuple[pd.Series, list[Problem]]:
    """A number column already holding numbers: NaN is blank, an infinite value an error."""
    values_ = cells.to_numpy(dtype="float64")
    blank = np.isnan(values_)
    problems: list[Problem] = []
    for pos in np.flatnonzero(np.isinf(values_)):
        file, row = where(int(pos))
        try:
            values.parse_number(float(values_[pos]))
        except ParseError as exc:
            problems.append(Problem(file, str(exc), row=row, column=header))
    problems += _missing_problems(blank, col, where, header)
    out = np.where(np.isinf(values_), np.nan, values_)
    if not col.required and col.default is not None:
        out = np.where(blank, float(col.default), out)
    return pd.Series(out, dtype="float64"), problems


def _parse_values(cells: pd.Series, col: Column, plan_year: int | None,
                  where: Callable[[int], tuple[str, int]], header: str
                  ) -> tuple[pd.Series, list[Problem]]:
    """Value by value (a column mixing text, numbers, dates and flags, as Excel gives them):
    equal values of the same type are parsed once."""
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
    """Typed frame of one :class:`~evalkit.inputs.read.RawTable`, with ``_file``/``_row``, and the
    problems found in its cells."""
    table = TABLES[raw.table]
    frame = raw.frame.reset_index(drop=True)
    rows = np.asarray(raw.rows, dtype="int64")
    out: dict[str, pd.Series] = {}
    problems: list[Problem] = []

    file = getattr(raw, "where", None) or raw.file

    def where(pos: int) -> tuple[str, int]:
        return file, int(rows[pos])

    for col in table.columns:
        header = raw.headers.get(col.name, col.name)
        if col.name in frame.columns:
            series, found = _parse_column(frame[col.name], col, raw.plan_year, where, header)
            out[col.name] = series
            problems += found
        else:
            # A column the file lacks: its default (or nothing) on every row; a large table
            # gets it as one category, not a list of millions.
            if len(frame) >= LARGE_ROWS:
                filled = col.default is not None
                filler = pd.Series(pd.Categorical.from_codes(
                    np.full(len(frame), 0 if filled else -1, dtype="int8"),
                    [col.default] if filled else []))
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
    # One file name for every row: a large table keeps it as a single category.
    typed["_file"] = (pd.Categorical.from_codes(np.zeros(len(typed), dtype="int8"), [file])
                      if len(typed) >= LARGE_ROWS else file)
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


def check(tables: dict[str, "pd.DataFrame | SqlTable"],
          known: dict[str, pd.DataFrame] | None = None,
          headers: dict[tuple[str, str], str] | None = None,
          bounds: dict | None = None) -> list[Problem]:
    """Problems across tables. ``tables`` are typed frames with provenance (they may be
    empty), or large tables held in DuckDB (:class:`SqlTable`, checked there with the same
    rules and messages); ``known`` are the tables already in the store, which references may
    point to; ``bounds`` the configuration's ``bounds`` (the defaults when not given). Unit
    references written as a unit's Chinese name are replaced by its id in place."""
    known = known or {}
    bounds = default_bounds() if bounds is None else check_bounds(bounds)
    headers = headers or {}
    problems: list[Problem] = []

    def add(frame: pd.DataFrame, idx: int, column: str, msg: str) -> None:
        file = frame.at[idx, "_file"]
        problems.append(Problem(file, msg, row=int(frame.at[idx, "_row"]),
                                column=_header(headers, file, column)))

    def adder(t: SqlTable):
        def report(part: int, row: int, column: str, msg: str) -> None:
            file = t.parts[part].file
            problems.append(Problem(file, msg, row=int(row),
                                    column=_header(headers, file, column)))
        return report

    # Unique keys (within this input).
    for name, frame in tables.items():
        key = list(TABLES[name].key)
        if isinstance(frame, SqlTable):
            kinds = {c.name: c.kind for c in TABLES[name].columns}
            for part, row, vals, (fpart, frow) in _sql_duplicates(frame, key):
                described = ", ".join(f"{k}={_shown(v, kinds[k])}" for k, v in zip(key, vals))
                adder(frame)(part, row, key[-1], f"duplicate row for {described} (first at "
                                                 f"{frame.parts[fpart].file}, row {frow})")
            continue
        if frame.empty or not set(key) <= set(frame.columns):
            continue
        for idx, first in _duplicates(frame, key):
            ref = (f" (first at {frame.at[first, '_file']}, row {frame.at[first, '_row']})"
                   if first is not None else "")
            add(frame, idx, key[-1], f"duplicate row for {_describe_key(frame, idx, key)}{ref}")

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
        if isinstance(frame, SqlTable):
            unknown = {v for v in frame.distinct(column) if v not in unit_ids}
            still = [v for v in unknown if v not in names]
            if still:
                for part, row, v in frame.rows([column], f"{_q(column)} IN "
                                               f"(SELECT unnest(?::VARCHAR[]))", [still]):
                    adder(frame)(part, row, column,
                                 f"unknown unit {v!r}: not an id or name in the units table")
            renamed = {v: names[v] for v in unknown if v in names}
            if renamed:
                frame.replace(column, renamed)
            return
        if column not in frame:
            return
        col = frame[column]
        if isinstance(col.dtype, pd.CategoricalDtype):
            _check_coded_units(frame, column, unit_ids, names, add)
            return
        unknown = col.notna() & ~col.isin(unit_ids)
        if not unknown.any():
            return
        by_name = col[unknown].map(names)
        frame.loc[by_name.dropna().index, column] = by_name.dropna()
        for idx in by_name[by_name.isna()].index:
            add(frame, idx, column,
                f"unknown unit {col[idx]!r}: not an id or name in the units table")

    def check_indicators(frame: pd.DataFrame, column: str) -> None:
        if isinstance(frame, SqlTable):
            unknown = [v for v in frame.distinct(column) if v not in ind_ids]
            if unknown:
                for part, row, v in frame.rows([column], f"{_q(column)} IN "
                                               f"(SELECT unnest(?::VARCHAR[]))", [unknown]):
                    adder(frame)(part, row, column,
                                 f"unknown indicator {v!r}: not in the indicators table")
            return
        if column not in frame:
            return
        bad = frame[column].notna() & ~frame[column].isin(ind_ids)
        for idx in bad[bad].index:
            add(frame, idx, column,
                f"unknown indicator {frame.at[idx, column]!r}: not in the indicators table")

    frame = tables.get("units")
    if frame is not None and not frame.empty:
        check_units(frame, "parent_id")
        selfp = _equal(frame["parent_id"], frame["unit_id"])
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
        _check_max_values(frame, bounds, add)

    for name in ("targets", "benchmarks", "observations", "ledger", "adjustments"):
        frame = tables.get(name)
        if frame is None or (not isinstance(frame, SqlTable) and frame.empty):
            continue
        check_units(frame, "unit_id")
        if name == "benchmarks":
            check_units(frame, "benchmark_unit_id")
            if isinstance(frame, SqlTable):
                _sql_benchmarks(frame, domains, adder(frame))
            else:
                same = _equal(frame["benchmark_unit_id"], frame["unit_id"])
                for idx in same[same].index:
                    add(frame, idx, "benchmark_unit_id", "a unit cannot benchmark itself")
                for idx, text in frame["domains"].items():
                    for dom in split_domains(text):
                        if dom not in domains:
                            add(frame, idx, "domains", _unknown_domain(dom, domains))
        if name in ("targets", "observations", "ledger"):
            check_indicators(frame, "indicator_id")

    frame = tables.get("targets")
    if isinstance(frame, SqlTable):
        _sql_deadlines(frame, adder(frame))
        if ind is not None:
            for column in ("baseline_value", "target_value"):
                _sql_ranges(frame, column, ind, adder(frame), bounds)
    elif frame is not None and not frame.empty:
        ends = {p: pd.Timestamp(periods.end_date(p))
                for p in pd.unique(frame["baseline_period"].dropna()) if isinstance(p, str)}
        base_end = frame["baseline_period"].map(ends).astype("datetime64[ns]")
        early = frame["deadline"].notna() & (frame["deadline"] <= base_end)
        for idx in early[early].index:
            add(frame, idx, "deadline",
                f"the deadline {frame.at[idx, 'deadline'].date()} is not after the end of the "
                f"baseline period {frame.at[idx, 'baseline_period']}")
        if ind is not None:
            for column in ("baseline_value", "target_value"):
                _check_ranges(frame, column, ind, add, bounds)

    frame = tables.get("observations")
    if isinstance(frame, SqlTable):
        if ind is not None:
            _sql_ranges(frame, "value", ind, adder(frame), bounds)
    elif frame is not None and not frame.empty and ind is not None:
        _check_ranges(frame, "value", ind, add, bounds)

    frame = tables.get("ledger")
    if isinstance(frame, SqlTable):
        for part, row, _, _ in frame.rows(["closed_on", "status"],
                                          "closed_on IS NOT NULL AND status = 'open'"):
            adder(frame)(part, row, "closed_on", _OPEN_BUT_CLOSED)
    elif frame is not None and not frame.empty:
        odd = frame["closed_on"].notna() & (frame["status"] == "open")
        for idx in odd[odd].index:
            add(frame, idx, "closed_on", _OPEN_BUT_CLOSED)

    return problems


_OPEN_BUT_CLOSED = "a closing date is given but the status is open"


def _unknown_domain(dom: str, domains: set) -> str:
    return f"unknown domain {dom!r}: expected one of {', '.join(sorted(domains))}"


def _sql_benchmarks(t: "SqlTable", domains: set, report) -> None:
    """The benchmarks' own rules in DuckDB: no unit benchmarks itself, domains known."""
    for part, row, _, _ in t.rows(["benchmark_unit_id", "unit_id"],
                                  "benchmark_unit_id = unit_id"):
        report(part, row, "benchmark_unit_id", "a unit cannot benchmark itself")
    texts = [v for v in t.distinct("domains")
             if any(d not in domains for d in split_domains(v))]
    if texts:
        for part, row, text in t.rows(["domains"], "domains IN (SELECT unnest(?::VARCHAR[]))",
                                      [texts]):
            for dom in split_domains(text):
                if dom not in domains:
                    report(part, row, "domains", _unknown_domain(dom, domains))


def _sql_deadlines(t: "SqlTable", report) -> None:
    """Targets whose deadline is not after the end of their baseline period, in DuckDB."""
    ends = {p: periods.end_date(p) for p in t.distinct("baseline_period") if isinstance(p, str)}
    if not ends:
        return
    for part, row, deadline, period in t.rows(
            ["deadline", "baseline_period"],
            "deadline <= (SELECT e FROM (SELECT unnest(?::VARCHAR[]) AS p, unnest(?::DATE[]) "
            "AS e) WHERE p = baseline_period)", [list(ends), list(ends.values())]):
        report(part, row, "deadline", f"the deadline {deadline} is not after the end of the "
                                      f"baseline period {period}")


def _check_ranges(frame: pd.DataFrame, column: str, ind: pd.DataFrame, add,
                  bounds: dict) -> None:
    """Values within what the indicator's measure allows (:func:`_measure_limits`: the
    configuration's ``bounds``, percent up to the indicator's ``max_value`` or 100).

    The bounds are looked up per indicator and spread over the rows by position, so a table
    of millions of rows costs a few array operations."""
    measures, lowest, highest = _measure_limits(ind, bounds)
    at = _positions(pd.Index(ind.index), frame["indicator_id"])
    measure = np.r_[measures, [None]][at]
    lower = np.r_[lowest, -np.inf][at]
    upper = np.r_[highest, np.inf][at]
    value = frame[column].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        under = ~np.isnan(value) & (value < lower)
        over = ~np.isnan(value) & (value > upper)
    for idx in np.flatnonzero(under):
        label = frame.index[idx]
        add(frame, label, column, _below(measure[idx], frame.at[label, "indicator_id"],
                                         lower[idx], value[idx]))
    for idx in np.flatnonzero(over):
        label = frame.index[idx]
        add(frame, label, column, _above(measure[idx], frame.at[label, "indicator_id"],
                                         upper[idx], value[idx]))


def _check_max_values(frame: pd.DataFrame, bounds: dict, add) -> None:
    """An indicator's ``max_value`` within its measure's bounds: at most the measure's
    ``max`` (it may narrow it), except that a percentage may allow more than 100, up to
    ``bounds.percent_max_value``."""
    for idx, m, v in zip(frame.index, frame["measure"].astype(object), frame["max_value"]):
        if not isinstance(m, str) or not isinstance(v, float) or math.isnan(v):
            continue
        ceiling = (bounds.get("percent_max_value") if m == "percent"
                   else (bounds.get(m) or {}).get("max"))
        if ceiling is not None and v > float(ceiling):
            add(frame, idx, "max_value",
                f"expected a maximum of at most {_shown_number(ceiling)} for a {m} "
                f"indicator, got {_shown_number(v)}")


def _equal(a: pd.Series, b: pd.Series) -> pd.Series:
    """Row-wise equality of two id columns, whatever their kinds (categoricals with other
    categories included); missing equals nothing."""
    if isinstance(a.dtype, pd.CategoricalDtype) or isinstance(b.dtype, pd.CategoricalDtype):
        return a.astype(object) == b.astype(object)
    return a == b


def _positions(index: pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each value in ``index`` (-1: absent); a categorical through its
    categories."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        at = np.r_[index.get_indexer(values.cat.categories), -1]
        return at[values.cat.codes.to_numpy()]
    return index.get_indexer(values)


def _key_codes(frame: pd.DataFrame, key: list[str]) -> np.ndarray:
    """One integer per distinct key (missing values equal to each other, as pandas compares
    them): each column's codes combined."""
    group = np.zeros(len(frame), dtype="int64")
    for k in key:
        col = frame[k]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes, size = col.cat.codes.to_numpy().astype("int64") + 1, len(col.cat.categories) + 1
        else:
            codes, uniques = pd.factorize(col, use_na_sentinel=False)
            size = max(len(uniques), 1)
        if group.max(initial=0) >= (2**62) // size:      # too many combinations: recode
            group = pd.factorize(group)[0].astype("int64")
        group = group * size + codes
    return group


def duplicated(frame: pd.DataFrame, key: list[str]) -> np.ndarray:
    """``frame.duplicated(key, keep="first")`` as a boolean array, on integer key codes (a
    large table's categorical columns cost their codes)."""
    out = np.zeros(len(frame), dtype=bool)
    for idx, _ in _duplicates(frame.reset_index(drop=True), key):
        out[idx] = True
    return out


def _duplicates(frame: pd.DataFrame, key: list[str]) -> list[tuple[object, object]]:
    """(row label, label of the key's first row) of every row whose key an earlier row has.
    Counted on integer key codes: a dense count where the codes are few, else hashing."""
    group = _key_codes(frame, key)
    if len(group) and group.max() <= 4 * len(group) + 1_000_000:
        repeated = np.bincount(group)[group] > 1
    else:
        repeated = pd.Series(group).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return []
    where = np.flatnonzero(repeated)
    sub = pd.Series(group[where])
    later = sub.duplicated(keep="first").to_numpy()
    first = dict(zip(sub[~later].to_numpy(), where[~later]))
    return [(frame.index[i], frame.index[first[g]]) for i, g in zip(where[later],
                                                                    sub[later].to_numpy())]


def _check_coded_units(frame: pd.DataFrame, column: str, unit_ids: set, names: dict,
                       add) -> None:
    """check_units for a categorical column: unknown ids are looked up as names once per
    category, replaced by the ids they name, and each row still unknown is a problem."""
    col = frame[column]
    categories = np.asarray(col.cat.categories, dtype=object)
    unknown = ~pd.Index(categories).isin(list(unit_ids))
    if not unknown.any():
        return
    renamed = np.array([names.get(c, c) if bad else c for c, bad in zip(categories, unknown)],
                       dtype=object)
    still = np.array([bad and c not in names for c, bad in zip(categories, unknown)])
    codes = col.cat.codes.to_numpy()
    if (renamed != categories).any():
        uniques = pd.Index(sorted(set(renamed)), dtype="str")     # sorted: sorts as text
        recode = np.r_[uniques.get_indexer(renamed), -1]
        frame[column] = pd.Categorical.from_codes(recode[codes], uniques)
    for idx in np.flatnonzero(np.r_[still, False][codes]):
        add(frame, frame.index[idx], column,
            f"unknown unit {categories[codes[idx]]!r}: not an id or name in the units table")


def _union(new: pd.DataFrame | None, old: pd.DataFrame | None, key: str) -> pd.DataFrame | None:
    frames = [f for f in (new, old) if f is not None and not f.empty]
    if not frames:
        return new if new is not None else old
    both = pd.concat([f.drop(columns=[c for c in PROVENANCE if c in f], errors="ignore")
                      for f in frames], ignore_index=True)
    return both.drop_duplicates(subset=[key], keep="first")


# --------------------------------------------------------------------------------------------
# Large tables in DuckDB
# --------------------------------------------------------------------------------------------

# Tables that may stay in DuckDB when large (units and indicators are read by every check of
# the others, and a study has few of them: they are always DataFrames).
SQL_TABLES = ("targets", "benchmarks", "observations", "ledger", "adjustments")
# Text of a blank-ish character class, for SQL regular expressions.
_BLANK_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in _io._BLANKISH)
_SQL_TYPES = {"number": "DOUBLE", "bool": "BOOLEAN", "date": "DATE"}
_CODED_KINDS = ("id", "period", "choice")




@dataclass
class _Part:
    """One file's rows of a :class:`SqlTable`: a DuckDB TEMP table, the SQL expression of
    each typed column and of the file row, and the table column holding each converted text
    column (changed in place when a unit written by its name is replaced by its id)."""

    table: str
    row: str
    file: str
    exprs: dict[str, str]
    columns: dict[str, str]
    length: int
    distinct: dict[str, set] = field(default_factory=dict)


@dataclass
class SqlTable:
    """A validated table that stays in DuckDB: the rows of its files (``parts``) in order,
    typed by SQL expressions, with each row's file and file row for problems. The store copies
    it with ``INSERT ... SELECT``; :meth:`to_frame` gives the DataFrame :func:`validate`
    returns for a large table."""

    name: str
    con: Any
    parts: list[_Part]

    @property
    def columns(self) -> list[str]:
        return TABLES[self.name].column_names

    @property
    def length(self) -> int:
        return sum(p.length for p in self.parts)

    @property
    def files(self) -> list[str]:
        return [p.file for p in self.parts]

    def part_sql(self, index: int, columns: Iterable[str] | None = None) -> str:
        """One part's rows: the typed columns, ``_file``, ``_row`` and ``_part``."""
        p = self.parts[index]
        cols = [f"{p.exprs[c]} AS {_q(c)}" for c in (columns or self.columns)]
        return (f"SELECT {', '.join(cols)}, {_io.sql_text(p.file)} AS _file, "
                f"{p.row} AS _row, {index} AS _part FROM {p.table}")

    def sql(self, columns: Iterable[str] | None = None) -> str:
        """Every part's rows, one below the other."""
        columns = list(columns or self.columns)
        return " UNION ALL ".join(self.part_sql(k, columns) for k in range(len(self.parts)))

    def rows(self, columns: list[str], condition: str, params: list | None = None
             ) -> list[tuple]:
        """``(part, row, *values)`` of the rows meeting ``condition``, in file order."""
        names = ", ".join(_q(c) for c in columns)
        return self.con.execute(f"SELECT _part, _row, {names} FROM ({self.sql(columns)}) "
                                f"WHERE {condition} ORDER BY _part, _row",
                                params or []).fetchall()

    def distinct(self, column: str) -> set:
        """The distinct values of a column (missing left out)."""
        out: set = set()
        for k, p in enumerate(self.parts):
            if column not in p.distinct:
                found = self.con.execute(
                    f"SELECT DISTINCT {_q(column)} FROM ({self.part_sql(k, [column])}) "
                    f"WHERE {_q(column)} IS NOT NULL").fetchall()
                p.distinct[column] = {v for (v,) in found}
            out |= p.distinct[column]
        return out

    def replace(self, column: str, mapping: dict[str, str]) -> None:
        """Replace values of a text column in place (``old -> new``)."""
        old, new = list(mapping), [mapping[k] for k in mapping]
        for p in self.parts:
            if column not in p.columns:
                continue
            _update(self.con, p.table, p.columns[column], old, new)
            if column in p.distinct:
                p.distinct[column] = {mapping.get(v, v) for v in p.distinct[column]}

    def to_frame(self) -> pd.DataFrame:
        """The table as :func:`validate` returns a large one: text as sorted categoricals
        (plain text when a column has too many distinct values), numbers float64, flags bool,
        dates datetime64[ns], and ``_file``."""
        spec = TABLES[self.name]
        categories: dict[str, pd.Index] = {}
        for col in spec.columns:
            if col.kind in _SQL_TYPES:
                continue
            found = self.con.execute(
                f"SELECT list(DISTINCT v) FILTER (WHERE v IS NOT NULL), approx_count_distinct(v) "
                f"FROM (SELECT {_q(col.name)} AS v FROM ({self.sql([col.name])}))").fetchall()[0]
            if found[1] <= _io._MAX_CATEGORIES:
                categories[col.name] = pd.Index(sorted(found[0] or []), dtype="str")
        pieces: dict[str, list] = {c: [] for c in self.columns}
        for k, p in enumerate(self.parts):
            select = []
            for col in spec.columns:
                expr = p.exprs[col.name]
                if col.name in categories:
                    cats = categories[col.name]
                    enum = "ENUM(" + ", ".join(_io.sql_text(v) for v in cats) + ")"
                    select.append(f"coalesce(enum_code(CAST({expr} AS {enum}))::INTEGER, -1)"
                                  if len(cats) else "-1::INTEGER")
                else:
                    select.append(expr)
            fetched = self.con.execute(
                "SELECT " + ", ".join(f"{e} AS c{i}" for i, e in enumerate(select))
                + f" FROM {p.table}").fetchnumpy()
            for i, col in enumerate(spec.columns):
                pieces[col.name].append(fetched[f"c{i}"])
        out: dict[str, Any] = {}
        for col in spec.columns:
            arrays = pieces[col.name]
            if col.name in categories:
                codes = np.concatenate([np.asarray(a) for a in arrays]) if arrays else \
                    np.zeros(0, dtype="int32")
                out[col.name] = pd.Categorical.from_codes(codes, categories[col.name])
                continue
            joined = [filled_column(a) for a in arrays]
            values_ = np.concatenate(joined) if joined else np.zeros(0, dtype=object)
            if col.kind == "number":
                out[col.name] = pd.Series(values_, dtype="float64")
            elif col.kind == "bool":
                out[col.name] = pd.Series(values_, dtype=bool)
            elif col.kind == "date":
                out[col.name] = pd.Series(values_).astype("datetime64[ns]")
            else:
                out[col.name] = pd.Series(values_, dtype=object).astype("str")
        frame = pd.DataFrame(out)
        files = sorted(set(self.files))
        codes = np.concatenate([np.full(p.length, files.index(p.file), dtype="int32")
                                for p in self.parts]) if self.parts else np.zeros(0, "int32")
        frame["_file"] = pd.Categorical.from_codes(codes, pd.Index(files, dtype="str"))
        return frame


def _update(con, table: str, column: str, old: list, new: list) -> None:
    """Set the cells of ``column`` holding ``old[i]`` to ``new[i]`` (None: NULL)."""
    if not old:
        return
    con.execute(f"UPDATE {table} SET {column} = f.new FROM (SELECT unnest(?::VARCHAR[]) AS old, "
                f"unnest(?::VARCHAR[]) AS new) AS f WHERE {table}.{column} = f.old",
                [old, new])


def _sql_value(value: Any, kind: str) -> str | None:
    """A parsed value as the text its SQL type reads back exactly (None stays None)."""
    if value is None:
        return None
    if kind == "number":
        return repr(float(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind == "date":
        return pd.Timestamp(value).date().isoformat()
    return str(value)


def _typed_sql(column: str, kind: str) -> str:
    if kind == "number":
        return f"CAST({column} AS DOUBLE)"
    if kind == "bool":
        return f"coalesce(CAST({column} AS BOOLEAN), false)"
    if kind == "date":
        return f"CAST({column} AS DATE)"
    return column


def _absent_sql(col: Column, plan_year: int | None) -> str:
    """The typed value of a column the file lacks: its default, as the small path gives it."""
    default = col.default
    if col.kind == "bool":
        return "true" if default else "false"
    if default is None:
        return f"NULL::{_SQL_TYPES.get(col.kind, 'VARCHAR')}"
    if col.kind == "number":
        return f"{float(default)!r}::DOUBLE"
    return _io.sql_text(str(_parser(col, plan_year)(default)))


def _candidates(column: str, kind: str) -> str:
    """SQL: the cells of ``column`` that must go through the Python parsers (see
    :func:`_convert`); the others already read as their typed value."""
    if kind == "number":
        # DuckDB reads these as float() and pandas do, except a few spellings (1_000, +-5).
        plain = (f"isfinite(TRY_CAST({column} AS DOUBLE)) AND NOT contains({column}, '_') "
                 f"AND NOT contains({column}, '+-') AND NOT contains({column}, '-+')")
        return f"{column} IS NOT NULL AND NOT coalesce({plain}, false)"
    if kind == "text":
        return f"regexp_matches({column}, '^[{_BLANK_CLASS}]|[{_BLANK_CLASS}]$')"
    return f"{column} IS NOT NULL"


def _convert(con, table: str, row: str, column: str, col: Column, plan_year: int | None,
             file: str, header: str, nulls: int, uniques: np.ndarray,
             memo: dict | None = None) -> tuple[list[Problem], set | None]:
    """Convert one column of cell texts in place to the text of its typed value, and the
    problems of its cells.

    ``uniques`` are the distinct cells that need the Python parsers (:func:`_candidates`: for
    a number column those that are not plain numbers, for a text column those beginning or
    ending with a character clean_text strips, for the other kinds every distinct value), each
    parsed once; ``nulls`` counts the empty cells. A blank cell becomes the default (or NULL),
    a cell that cannot be read NULL. Returns the problems and, for ids, periods and choices,
    the distinct values after. ``memo`` keeps each value's reading for the column's next file
    (a unit id is in every quarter's file)."""
    kind = col.kind
    memo = {} if memo is None else memo
    unseen = np.array([v for v in uniques if v not in memo], dtype=object)
    if len(unseen):
        got, failed, empty = _parse_uniques(unseen, col, plan_year)
        for i, v in enumerate(unseen):
            memo[v] = (got[i], failed.get(i), bool(empty[i]))
    readings = [memo[v] for v in uniques]
    parsed = [r[0] for r in readings]
    errors = {i: r[1] for i, r in enumerate(readings) if r[1] is not None}
    blank_u = np.array([r[2] for r in readings], dtype=bool)
    default = None if col.required else _sql_value(col.default, kind)
    problems: list[Problem] = []
    if errors:
        bad = {uniques[i]: msg for i, msg in errors.items()}
        for r, v in con.execute(
                f"SELECT {row}, {column} FROM {table} WHERE {column} IN "
                f"(SELECT unnest(?::VARCHAR[])) ORDER BY 1", [list(bad)]).fetchall():
            problems.append(Problem(file, bad[v], row=int(r), column=header))
    blanks = [v for v, b in zip(uniques, blank_u) if b]
    if col.required and (nulls or blanks):
        among = f" OR {column} IN (SELECT unnest(?::VARCHAR[]))" if blanks else ""
        for (r,) in con.execute(
                f"SELECT {row} FROM {table} WHERE {column} IS NULL{among} ORDER BY 1",
                [blanks] if blanks else []).fetchall():
            problems.append(Problem(file, "a value is required here", row=int(r),
                                    column=header))
    old, new = [], []
    after = set() if kind in _CODED_KINDS else None
    for i, v in enumerate(uniques):
        value = default if blank_u[i] else None if i in errors else _sql_value(parsed[i], kind)
        if value != v:
            old.append(v)
            new.append(value)
        if after is not None and value is not None:
            after.add(value)
    _update(con, table, column, old, new)
    if default is not None and nulls:
        con.execute(f"UPDATE {table} SET {column} = ? WHERE {column} IS NULL", [default])
        if after is not None:
            after.add(default)
    return problems, after


def _coerce_staged(raw, memo: dict | None = None) -> tuple[_Part, list[Problem]]:
    """:func:`coerce` for a large CSV file whose cells DuckDB holds (``raw.staged``): the cells
    are converted in place and the part's typed columns are SQL expressions over them."""
    staged = raw.staged
    con, table = staged.con, staged.table
    spec = TABLES[raw.table]
    file = raw.where
    present = [c for c in spec.columns if c.name in staged.columns]
    # One pass over the cells: each column's empty cells and the distinct cells to parse
    # (none in a column DuckDB read as numbers).
    found = con.execute("SELECT " + ", ".join(
        f"count(*) FILTER (WHERE {staged.columns[c.name]} IS NULL), " + (
            "[]::VARCHAR[]" if staged.columns[c.name] in staged.doubles else
            f"list(DISTINCT {staged.columns[c.name]}) FILTER "
            f"(WHERE {_candidates(staged.columns[c.name], c.kind)})") for c in present)
        + f" FROM {table}").fetchall()[0] if present else ()
    nulls = {c.name: found[2 * i] for i, c in enumerate(present)}
    uniques = {c.name: np.array(found[2 * i + 1] or [], dtype=object)
               for i, c in enumerate(present)}
    problems: list[Problem] = []
    exprs: dict[str, str] = {}
    columns: dict[str, str] = {}
    distinct: dict[str, set] = {}
    for col in spec.columns:
        if col.name not in staged.columns:
            exprs[col.name] = _absent_sql(col, raw.plan_year)
            continue
        column = staged.columns[col.name]
        found, after = _convert(con, table, staged.row, column, col, raw.plan_year, file,
                                raw.headers.get(col.name, col.name), nulls[col.name],
                                uniques[col.name],
                                None if memo is None else memo.setdefault(
                                    (raw.table, col.name, raw.plan_year), {}))
        problems += found
        exprs[col.name] = _typed_sql(column, col.kind)
        columns[col.name] = column
        if after is not None:
            distinct[col.name] = after
    return _Part(table, staged.row, file, exprs, columns, staged.length, distinct), problems


def _upload(con, typed: pd.DataFrame, table: str) -> _Part:
    """A part typed by :func:`coerce` (an Excel sheet or a small CSV file beside large ones)
    copied into DuckDB."""
    spec = TABLES[table]
    name, view = _io.Staging.name("typed"), _io.Staging.name("frame")
    select = []
    for col in spec.columns:
        c = _q(col.name)
        if col.kind == "number":
            select.append(f"CASE WHEN isnan({c}) THEN NULL ELSE CAST({c} AS DOUBLE) END AS {c}")
        else:
            select.append(f"CAST({c} AS {_SQL_TYPES.get(col.kind, 'VARCHAR')}) AS {c}")
    con.register(view, typed)
    try:
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT {', '.join(select)}, "
                    f"CAST(_row AS BIGINT) AS _row FROM {view}")
    finally:
        con.unregister(view)
    file = str(typed["_file"].iloc[0]) if len(typed) else ""
    distinct = {c.name: set(typed[c.name].dropna().astype(object))
                for c in spec.columns if c.kind in _CODED_KINDS}
    return _Part(name, "_row", file, {c.name: _q(c.name) for c in spec.columns},
                 {c.name: _q(c.name) for c in spec.columns}, len(typed), distinct)


def _sql_route(raws: list) -> set[str]:
    """The tables to convert and check in DuckDB: large ones (``LARGE_ROWS``) of
    :data:`SQL_TABLES` with a file whose cells DuckDB holds, all in one connection."""
    out = set()
    for name in SQL_TABLES:
        mine = [r for r in raws if r.table == name]
        cons = {id(r.staged.con) for r in mine if getattr(r, "staged", None) is not None}
        if len(cons) == 1 and sum(r.length for r in mine) >= LARGE_ROWS:
            out.add(name)
    return out


def _sorted_apart(t: SqlTable, key: list[str]) -> bool:
    """Whether the keys are unique by their order alone: within each file the key columns
    that vary strictly increase from row to row (a file per quarter is sorted by unit and
    indicator), and the files' key ranges, the columns constant in every file first, do not
    meet. Files usually come sorted, and comparing each row with the next costs a fraction of
    counting every key. An empty key cell proves nothing (the keys are counted then)."""
    con = t.con
    const = [k for k in key if all(len(p.distinct.get(k, ())) == 1 for p in t.parts)]
    order = const + [k for k in key if k not in const]
    varying = [k for k in key if k not in const]
    ranges = []
    for p in t.parts:
        if not p.length:
            continue
        if p.length > 1:
            if not varying:
                return False
            a = ", ".join(f"{p.exprs[k]} AS a{i}" for i, k in enumerate(order))
            b = ", ".join(f"{p.exprs[k]} AS b{i}" for i, k in enumerate(order))
            tuple_a = ", ".join(f"a{order.index(k)}" for k in varying)
            tuple_b = ", ".join(f"b{order.index(k)}" for k in varying)
            missing = " OR ".join(f"a{i} IS NULL OR b{i} IS NULL" for i in range(len(order)))
            # Row k beside row k + 1 (the rowids say they are neighbours, else no proof).
            broken = con.execute(
                f"SELECT count(*) FROM (SELECT rowid AS _ra, {a} FROM {p.table}) "
                f"POSITIONAL JOIN (SELECT rowid AS _rb, {b} FROM {p.table} OFFSET 1) "
                f"WHERE _rb IS NOT NULL AND ({missing} OR NOT coalesce(_ra + 1 = _rb AND "
                f"({tuple_a}) < ({tuple_b}), false))").fetchall()[0][0]
            if broken:
                return False
        exprs = ", ".join(p.exprs[k] for k in order)
        ends = con.execute(f"SELECT {exprs} FROM {p.table} WHERE rowid IN (0, {p.length - 1}) "
                           "ORDER BY rowid").fetchall()
        if len(ends) != min(p.length, 2) or any(v is None for r in ends for v in r):
            return False
        ranges.append((ends[0], ends[-1]))
    ranges.sort()
    return all(ranges[i][1] < ranges[i + 1][0] for i in range(len(ranges) - 1))


def _sql_duplicates(t: SqlTable, key: list[str]) -> list[tuple[int, int, list, tuple]]:
    """(part, row, key values, (first part, first row)) of every row whose key an earlier
    row has. Unless the order proves the keys unique, they are hashed and counted in DuckDB;
    only rows of a repeated hash are fetched and compared exactly."""
    con = t.con
    if _sorted_apart(t, key):
        return []
    h = f"hash({', '.join(_q(k) for k in key)})"
    repeated = _io.Staging.name("repeated")
    con.execute(f"CREATE TEMP TABLE {repeated} AS SELECT h FROM (SELECT {h} AS h FROM "
                f"({t.sql(key)})) GROUP BY h HAVING count(*) > 1")
    try:
        if not con.execute(f"SELECT count(*) FROM {repeated}").fetchall()[0][0]:
            return []
        found = t.rows(key, f"{h} IN (SELECT h FROM {repeated})")
    finally:
        con.execute(f"DROP TABLE {repeated}")
    first: dict[tuple, tuple[int, int]] = {}
    out = []
    for part, row, *vals in found:
        k = tuple(vals)
        if k in first:
            out.append((part, row, vals, first[k]))
        else:
            first[k] = (part, row)
    return out


def _shown(value: Any, kind: str) -> str:
    """A key value in a message, as the DataFrame path shows it."""
    if value is None:
        return "NaT" if kind == "date" else "nan"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _sql_ranges(t: SqlTable, column: str, ind: pd.DataFrame, report, bounds: dict
                ) -> None:
    """:func:`_check_ranges` in DuckDB: each indicator's smallest and largest value first,
    then the offending rows of the indicators where one may be."""
    measures_, lowest, highest = _measure_limits(ind, bounds)
    measures = dict(zip(ind.index, measures_))
    lower = dict(zip(ind.index, lowest))
    upper = dict(zip(ind.index, highest))
    suspect = []
    for iid, low, high in t.con.execute(
            f"SELECT indicator_id, min(v), max(v) FROM (SELECT indicator_id, {_q(column)} AS v "
            f"FROM ({t.sql(['indicator_id', column])})) GROUP BY indicator_id").fetchall():
        if iid not in measures:
            continue
        if (low is not None and low < lower[iid]) or (high is not None and high > upper[iid]):
            suspect.append(iid)
    if not suspect:
        return
    found = t.rows(["indicator_id", column], f"indicator_id IN (SELECT unnest(?::VARCHAR[])) "
                                             f"AND {_q(column)} IS NOT NULL", [suspect])
    over = []
    for part, row, iid, value in found:
        m = measures[iid]
        if value < lower[iid]:
            report(part, row, column, _below(m, iid, lower[iid], value))
        if value > upper[iid]:
            over.append((part, row, _above(m, iid, upper[iid], value)))
    for part, row, msg in over:
        report(part, row, column, msg)


def validate(raws: list, known: dict[str, pd.DataFrame] | None = None,
             bounds: dict | None = None) -> dict[str, pd.DataFrame]:
    """Typed, checked tables from raw tables, or :class:`InputError` listing every problem.
    Tables that appear in several files are concatenated; each row keeps the ``_file`` it came
    from (the store records it), and :func:`strip` removes it. ``bounds``: the values each
    measure allows (configuration ``bounds``); by default those of the study's configuration
    (:func:`study_bounds`)."""
    return {name: t.to_frame() if isinstance(t, SqlTable) else t
            for name, t in validate_in_place(raws, known, bounds).items()}


def validate_in_place(raws: list, known: dict[str, pd.DataFrame] | None = None,
                      bounds: dict | None = None) -> dict[str, "pd.DataFrame | SqlTable"]:
    """:func:`validate`, but a large table of large CSV files stays where io left its cells:
    in DuckDB, converted and checked there, as a :class:`SqlTable` (see :data:`SQL_TABLES`).
    The cells of those files are converted in place."""
    bounds = study_bounds(raws) if bounds is None else check_bounds(bounds)
    in_sql = _sql_route(raws)
    parts: dict[str, list] = {}
    headers: dict[tuple[str, str], str] = {}
    problems: list[Problem] = []
    cons: dict[str, Any] = {}
    memo: dict = {}
    for raw in raws:
        if raw.table in in_sql and raw.staged is not None:
            typed, found = _coerce_staged(raw, memo)
            cons[raw.table] = raw.staged.con
        else:
            typed, found = coerce(raw)
        problems += found
        parts.setdefault(raw.table, []).append(typed)
        for canon, written in raw.headers.items():
            headers[(getattr(raw, "where", None) or raw.file, canon)] = written
    tables: dict[str, Any] = {}
    for name, frames in parts.items():
        if name in in_sql:
            con = cons[name]
            tables[name] = SqlTable(name, con, [f if isinstance(f, _Part) else
                                                _upload(con, f, name) for f in frames])
        else:
            tables[name] = _concat(frames)
    problems += check(tables, known, headers, bounds)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.file, p.row or 0)))
    return {name: tables[name] if isinstance(tables[name], SqlTable)
            else _text_kind(tables[name].drop(columns="_row"))
            for name in TABLE_ORDER if name in tables}


def _text_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """A table below ``LARGE_ROWS`` rows with its text as ``str``, as the data model has it;
    a larger one keeps categoricals (sorted categories: it sorts as text)."""
    if len(frame) >= LARGE_ROWS:
        return frame
    coded = {c: "str" for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.astype(coded) if coded else frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames of one table one below the other. A column that is categorical in any of
    them stays categorical (the union of the categories), where pandas alone would turn it
    into one Python string per row."""
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    coded = [c for c in columns
             if any(isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames if c in f)]
    if not coded:
        return pd.concat(frames, ignore_index=True)
    from pandas.api.types import union_categoricals

    out = pd.concat([f.drop(columns=[c for c in coded if c in f]) for f in frames],
                    ignore_index=True)
    for c in coded:
        parts = [f[c].astype("category") if c in f else
                 pd.Series(pd.Categorical.from_codes(np.full(len(f), -1, dtype="int8"), []))
                 for f in frames]
        parts = [part.cat.set_categories(part.cat.categories.astype("str")) if len(
            part.cat.categories) else part for part in parts]
        out[c] = pd.Series(union_categoricals(parts, sort_categories=True, ignore_order=True))
    return out[columns]


def strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in PROVENANCE if c in frame.columns])
