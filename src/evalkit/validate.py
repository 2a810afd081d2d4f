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
# From this many rows a table's text columns stay categorical (as a large CSV file delivers
# them) and the checks work on integer codes.
LARGE_ROWS = 100_000

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
    """Typed frame of one :class:`~evalkit.io.RawTable`, with ``_file``/``_row``, and the
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
        elif len(frame) >= LARGE_ROWS:
            # A column the file lacks, as one category (or none): no list of millions.
            filled = col.default is not None
            filler = pd.Series(pd.Categorical.from_codes(
                np.full(len(frame), 0 if filled else -1, dtype="int8"),
                [col.default] if filled else []))
            series, _ = _parse_column(filler, Column(col.name, col.kind, False,
                                                      choices=col.choices,
                                                      choice_aliases=col.choice_aliases,
                                                      default=col.default),
                                      raw.plan_year, where, header)
            out[col.name] = series
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

    for name in ("targets", "benchmarks", "observations", "ledger", "adjustments"):
        frame = tables.get(name)
        if frame is None or frame.empty:
            continue
        check_units(frame, "unit_id")
        if name == "benchmarks":
            check_units(frame, "benchmark_unit_id")
            same = _equal(frame["benchmark_unit_id"], frame["unit_id"])
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
    """Values within what the indicator's measure allows (percent: 0 to max_value or 100).

    The measure and the bound are looked up per indicator and spread over the rows by
    position, so a table of millions of rows costs a few array operations."""
    measures = ind["measure"].astype(object).to_numpy()
    bound = ind["max_value"].to_numpy(dtype="float64")
    bound = np.where(np.isnan(bound), np.where(measures == "percent", 100.0, np.inf), bound)
    at = _positions(pd.Index(ind.index), frame["indicator_id"])
    known = at >= 0
    measure = np.r_[measures, [None]][at]
    upper = np.r_[bound, np.inf][at]
    value = frame[column].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        negative = value < 0
        for m, what in _NON_NEGATIVE.items():
            for idx in np.flatnonzero(negative & known & (measure == m)):
                add(frame, frame.index[idx], column,
                    f"{what} cannot be negative, got {value[idx]:g}")
        over = ~np.isnan(value) & (value > upper)
    for idx in np.flatnonzero(over):
        label = frame.index[idx]
        add(frame, label, column,
            f"expected at most {upper[idx]:g} for {frame.at[label, 'indicator_id']} "
            f"({measure[idx]}), got {value[idx]:g}")


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
    tables = {name: _concat(frames) for name, frames in parts.items()}
    problems += check(tables, known, headers)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.file, p.row or 0)))
    return {name: _text_kind(tables[name].drop(columns="_row"))
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
