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
import operator
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
from ..model import RECORD_ORDER, RECORDS, SCHEMAS, TABLE_ORDER, Column

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


# --------------------------------------------------------------------------------------------
# Row rules: each written once, as data; one pandas mask and one SQL predicate are made of it
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Lit:
    """A constant in a rule's condition."""

    value: Any


@dataclass(frozen=True)
class _Look:
    """A value looked up by the value of a ``key`` column (an indicator's bounds by its id, a
    period's last day by the period); ``kind``: a column kind of the data model."""

    name: str
    key: str
    kind: str


@dataclass(frozen=True)
class _Rule:
    """A rule on each row of a table: a problem at ``column`` wherever ``left op right``
    holds and every ``known`` column has a value (a missing value on either side is no
    problem). ``op``: <, <=, > or =, but not = against a lookup (DuckDB narrows those to the
    keys whose smallest or largest value breaks it). ``message`` says it from the row's
    values by name: ``left``, ``right`` and ``reads`` (columns or lookups)."""

    column: str
    left: str
    op: str
    right: str | _Lit | _Look
    message: Callable[[dict], str]
    reads: tuple = ()
    known: tuple = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the rule reads, a lookup's key included."""
        named = (self.left, self.right, *self.reads, *self.known)
        return tuple(dict.fromkeys(x.key if isinstance(x, _Look) else x for x in named
                                   if not isinstance(x, _Lit)))


def _bounded(column: str) -> tuple[_Rule, _Rule]:
    """A value of a measure within its indicator's bounds (:func:`_lookups`): not below the
    lowest, not above the highest."""
    reads = (_Look("measure_of", "indicator_id", "choice"), "indicator_id")
    return (_Rule(column, column, "<", _Look("lower", "indicator_id", "number"), lambda r: _below(
                r["measure_of"], r["indicator_id"], r["lower"], r[column]), reads),
            _Rule(column, column, ">", _Look("upper", "indicator_id", "number"), lambda r: _above(
                r["measure_of"], r["indicator_id"], r["upper"], r[column]), reads))


# Each table's rules, in the order their problems are listed.
_RULES: dict[str, tuple[_Rule, ...]] = {
    "units": (_Rule("parent_id", "parent_id", "=", "unit_id",
                    lambda r: "a unit cannot be its own parent"),),
    "indicators": (
        _Rule("weight", "weight", "<", _Lit(0.0),
              lambda r: f"expected a weight >= 0, got {r['weight']}"),
        _Rule("max_value", "max_value", "<=", _Lit(0.0),
              lambda r: "expected a maximum above 0"),
        _Rule("max_value", "max_value", ">", _Look("ceiling", "measure", "number"),
              lambda r: f"expected a maximum of at most {_shown_number(r['ceiling'])} for a "
                        f"{r['measure']} indicator, got {_shown_number(r['max_value'])}")),
    "benchmarks": (_Rule("benchmark_unit_id", "benchmark_unit_id", "=", "unit_id",
                         lambda r: "a unit cannot benchmark itself"),),
    "targets": (
        _Rule("deadline", "deadline", "<=", _Look("end", "baseline_period", "date"),
              lambda r: f"the deadline {r['deadline']} is not after the end of the baseline "
                        f"period {r['baseline_period']}", ("baseline_period",)),
        *_bounded("baseline_value"), *_bounded("target_value")),
    "observations": _bounded("value"),
    "ledger": (_Rule("closed_on", "status", "=", _Lit("open"),
                     lambda r: "a closing date is given but the status is open",
                     known=("closed_on",)),),
}


def _lookups(ind: pd.DataFrame | None, bounds: dict) -> dict[str, Callable[[Any], Any]]:
    """What each :class:`_Look` finds for a key value (None: nothing). Per indicator: its
    measure, the lowest value allowed (the measure's ``min``) and the highest (the
    indicator's own ``max_value`` when it has one, else the measure's ``max``). Per measure:
    the largest ``max_value`` an indicator may have (the measure's ``max``, which it may
    narrow; for a percentage ``bounds.percent_max_value``). Per period: its last day."""
    measure, lower, upper = {}, {}, {}
    if ind is not None:
        own = ind["max_value"] if "max_value" in ind else pd.Series(np.nan, index=ind.index)
        for iid, m, top in zip(ind.index, ind["measure"].astype(object), own):
            limits = (bounds.get(m) if isinstance(m, str) else None) or {}
            measure[iid], lower[iid] = m, limits.get("min")
            upper[iid] = limits.get("max") if pd.isna(top) else float(top)
    ceiling = {m: b.get("max") for m, b in bounds.items() if isinstance(b, dict)}
    ceiling["percent"] = bounds.get("percent_max_value")
    return {"measure_of": measure.get, "lower": lower.get, "upper": upper.get,
            "ceiling": ceiling.get,
            "end": lambda p: periods.end_date(p) if isinstance(p, str) else None}


def _violations(t: pd.DataFrame | SqlTable, rules: Iterable[_Rule], look: dict
                ) -> list[tuple[_Rule, str, int, dict]]:
    """(rule, file, row, values by name) of each row breaking a rule, rule by rule, each in
    file order. A lookup the message reads is made from the row's key."""
    rules = list(rules)
    if isinstance(t, SqlTable):
        found = _sql_violations(t, rules, look)
    else:
        found = _frame_violations(t.reset_index(drop=True), rules, look)
    for rule, _, _, values_ in found:
        values_.update({x.name: look[x.name](values_[x.key]) for x in (rule.right, *rule.reads)
                        if isinstance(x, _Look)})
    return found


def _frame_violations(frame: pd.DataFrame, rules: list[_Rule], look: dict
                      ) -> list[tuple[_Rule, str, int, dict]]:
    """The rules as masks over a DataFrame; a lookup is made once per distinct key value."""
    def operand(x: str | _Lit | _Look) -> Any:
        if isinstance(x, _Lit):
            return x.value
        if isinstance(x, str):
            return frame[x]
        codes, keys = pd.factorize(frame[x.key])
        found = [look[x.name](k) for k in keys] + [None]      # code -1: no key, no value
        return pd.Series(found, dtype=_PANDAS_TYPES.get(x.kind, object)).iloc[codes]

    out = []
    for rule in rules:
        left, right = operand(rule.left), operand(rule.right)
        # As arrays, categoricals compare as their values and a missing value as false (as
        # coalesce(NULL, false) in SQL).
        holds = _OPS[rule.op](left.to_numpy(), np.asarray(right))
        for k in rule.known:
            holds &= frame[k].notna().to_numpy()
        for pos in np.flatnonzero(holds):
            out.append((rule, frame.at[pos, "_file"], int(frame.at[pos, "_row"]),
                        {c: _py(frame.at[pos, c]) for c in rule.columns}))
    return out


def _sql_violations(t: SqlTable, rules: list[_Rule], look: dict
                    ) -> list[tuple[_Rule, str, int, dict]]:
    """The rules as predicates in DuckDB. A rule against a lookup may only hold where the
    column's smallest (``<``, ``<=``) or largest (``>``) value under a key does, so those are
    found first by one aggregate per key (all a clean table costs); then one query fetches the
    rows breaking a rule, the lookups joined as a small table of the keys in doubt."""
    groups: dict[str, list[_Rule]] = {}
    for r in rules:
        if isinstance(r.right, _Look):
            groups.setdefault(r.right.key, []).append(r)
    doubt: dict[str, dict] = {}
    for key, group in groups.items():
        cols = list(dict.fromkeys(r.left for r in group))
        for k, *ends in t.con.execute(
                f"SELECT {_q(key)}, {', '.join(f'min({_q(c)}), max({_q(c)})' for c in cols)} "
                f"FROM ({t.sql([key, *cols])}) GROUP BY 1").fetchall():
            ends = dict(zip(cols, zip(ends[::2], ends[1::2])))
            if any(_may_hold(r, ends[r.left], look[r.right.name](k)) for r in group):
                doubt.setdefault(key, {})[k] = None
    rules = [r for r in rules if not isinstance(r.right, _Look) or r.right.key in doubt]
    if not rules:
        return []
    joins, params = [], []
    for key, keys in doubt.items():
        looks, alias = dict.fromkeys(r.right for r in groups[key]), _q("by_" + key)
        joins.append(" LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS k, " + ", ".join(
            f"unnest(?::{_SQL_TYPES.get(x.kind, 'VARCHAR')}[]) AS {_q(x.name)}" for x in looks)
            + f") AS {alias} ON {alias}.k = r.{_q(key)}")
        params += [list(keys)] + [[look[x.name](k) for k in keys] for x in looks]
    columns = list(dict.fromkeys(c for r in rules for c in r.columns))
    conds = [_predicate(r) for r in rules]
    found = t.con.execute(
        f"SELECT r._part, r._row, {', '.join(conds)}, {', '.join(f'r.{_q(c)}' for c in columns)}"
        f" FROM ({t.sql(columns)}) AS r{''.join(joins)} WHERE {' OR '.join(conds)} "
        "ORDER BY r._part, r._row", params).fetchall()
    return [(rule, t.parts[part].file, int(row), dict(zip(columns, rest[len(rules):])))
            for i, rule in enumerate(rules) for part, row, *rest in found if rest[i]]


def _may_hold(rule: _Rule, ends: tuple, bound: Any) -> bool:
    """Whether ``rule`` may hold for a value between ``ends`` (smallest, largest)."""
    return bound is not None and any(v is not None and _OPS[rule.op](v, bound) for v in ends)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, "=": operator.eq}


def _predicate(rule: _Rule) -> str:
    """The rule's condition in SQL, false where a value is missing."""
    known = "".join(f" AND r.{_q(k)} IS NOT NULL" for k in rule.known)
    return (f"coalesce({_sql_operand(rule.left)} {rule.op} {_sql_operand(rule.right)}{known}, "
            "false)")


def _sql_operand(x: str | _Lit | _Look) -> str:
    if isinstance(x, _Lit):
        return _io.sql_text(x.value) if isinstance(x.value, str) else repr(x.value)
    return f"{_q('by_' + x.key)}.{_q(x.name)}" if isinstance(x, _Look) else f"r.{_q(x)}"


def _py(value: Any) -> Any:
    """A frame's cell as DuckDB returns it: None when missing, a date for a timestamp, plain
    Python numbers."""
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value.item() if isinstance(value, np.generic) else value


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

    problems += _missing_problems(blank.to_numpy(dtype=bool), col, where, header)
    if not col.required and col.default is not None:
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
    table = SCHEMAS[raw.table]
    frame = raw.frame.reset_index(drop=True)
    rows = np.asarray(raw.rows, dtype="int64")
    out: dict[str, pd.Series] = {}
    problems: list[Problem] = []

    file = getattr(raw, "where", None) or raw.file
    # A table gathered from many files (filled templates) names each row's own file.
    row_files = getattr(raw, "row_files", None)

    def where(pos: int) -> tuple[str, int]:
        return (file if row_files is None else row_files[pos]), int(rows[pos])

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
    if row_files is not None:
        typed["_file"] = pd.Series(pd.Categorical(row_files)).astype(
            "category" if len(typed) >= LARGE_ROWS else object)
    typed["_row"] = pd.Series(rows, dtype="int64")
    return typed, problems


def check(tables: dict[str, pd.DataFrame | SqlTable],
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
    tables = {n: t for n, t in tables.items() if isinstance(t, SqlTable) or not t.empty}

    def report(file: str, row: int, column: str, msg: str) -> None:
        where = headers.get((file, column), column)
        problems.append(Problem(file, msg, row=int(row), column=where))

    # Unique keys (within this input).
    for name, t in tables.items():
        for file, row, msg in _repeated_keys(t, name):
            report(file, row, SCHEMAS[name].key[-1], msg)

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
    look = _lookups(ind, bounds)

    def rules(name: str) -> None:
        """The table's row rules (:data:`_RULES`), on whichever path holds it."""
        if name in tables:
            for rule, file, row, vals in _violations(tables[name], _RULES[name], look):
                report(file, row, rule.column, rule.message(vals))

    def check_units(t: pd.DataFrame | SqlTable, column: str) -> None:
        """A unit is referred to by its id or its Chinese name (replaced by the id)."""
        unknown = {v for v in _distinct(t, column) if v not in unit_ids}
        for file, row, v in _rows_in(t, column, [v for v in unknown if v not in names]):
            report(file, row, column, f"unknown unit {v!r}: not an id or name in the units table")
        renamed = {v: names[v] for v in unknown if v in names}
        if renamed:
            _replace(t, column, renamed)

    def check_indicators(t: pd.DataFrame | SqlTable, column: str) -> None:
        for file, row, v in _rows_in(t, column, _distinct(t, column) - ind_ids):
            report(file, row, column, f"unknown indicator {v!r}: not in the indicators table")

    def check_domains(t: pd.DataFrame | SqlTable) -> None:
        """Every domain a benchmark names is a domain of the indicators."""
        bad = [v for v in _distinct(t, "domains")
               if any(d not in domains for d in split_domains(v))]
        for file, row, text in _rows_in(t, "domains", bad):
            for dom in split_domains(text):
                if dom not in domains:
                    report(file, row, "domains", f"unknown domain {dom!r}: expected one of "
                                                 f"{', '.join(sorted(domains))}")

    if "units" in tables:
        check_units(tables["units"], "parent_id")
    rules("units")
    rules("indicators")
    for name in ("targets", "benchmarks", "observations", "ledger", "adjustments"):
        if name not in tables:
            continue
        check_units(tables[name], "unit_id")
        if name == "benchmarks":
            check_units(tables[name], "benchmark_unit_id")
            rules("benchmarks")
            check_domains(tables[name])
        if name in ("targets", "observations", "ledger"):
            check_indicators(tables[name], "indicator_id")
    for name in ("targets", "observations", "ledger"):
        rules(name)
    # The collection records name units and indicators the data tables must know.
    for name in RECORD_ORDER:
        if name in tables:
            check_units(tables[name], "unit_id")
            if "indicator_id" in RECORDS[name].column_names:
                check_indicators(tables[name], "indicator_id")
    return problems


def _distinct(t: pd.DataFrame | SqlTable, column: str) -> set:
    """The distinct values of a column, missing left out."""
    if isinstance(t, SqlTable):
        return t.distinct(column)
    return set(t[column].dropna().unique()) if column in t else set()


def _rows_in(t: pd.DataFrame | SqlTable, column: str, values: Iterable
             ) -> list[tuple[str, int, Any]]:
    """(file, row, value) of the rows whose ``column`` holds one of ``values``, in file
    order: a rule on distinct values (an unknown id) names its rows."""
    values = list(values)
    if not values:
        return []
    if isinstance(t, SqlTable):
        return [(t.parts[part].file, row, v) for part, row, v in t.rows(
            [column], f"{_q(column)} IN (SELECT unnest(?::VARCHAR[]))", [values])]
    hit = t[t[column].isin(values)]
    return list(zip(hit["_file"], hit["_row"], hit[column].astype(object)))


def _replace(t: pd.DataFrame | SqlTable, column: str, mapping: dict[str, str]) -> None:
    """Replace values of a text column in place (``old -> new``); a categorical column keeps
    sorted categories (it sorts as text)."""
    if isinstance(t, SqlTable):
        t.replace(column, mapping)
        return
    col = t[column]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        t[column] = col.replace(mapping)
        return
    renamed = [mapping.get(c, c) for c in col.cat.categories]
    uniques = pd.Index(sorted(set(renamed)), dtype="str")
    recode = np.r_[uniques.get_indexer(renamed), -1]
    t[column] = pd.Categorical.from_codes(recode[col.cat.codes.to_numpy()], uniques)


def _repeated_keys(t: pd.DataFrame | SqlTable, table: str) -> list[tuple[str, int, str]]:
    """The duplicate-key rule: (file, row, message) of every row whose key an earlier row has,
    the message naming the key's values and the row where it first appears. Counted in DuckDB
    (:func:`_sql_duplicates`) or on a frame's integer key codes (:func:`_duplicates`)."""
    key, kinds = list(SCHEMAS[table].key), {c.name: c.kind for c in SCHEMAS[table].columns}
    if isinstance(t, SqlTable):
        found = [(t.parts[part].file, row, vals, t.parts[fpart].file, frow)
                 for part, row, vals, (fpart, frow) in _sql_duplicates(t, key)]
    else:
        found = [(t.at[i, "_file"], t.at[i, "_row"], [t.at[i, k] for k in key],
                  t.at[first, "_file"], t.at[first, "_row"])
                 for i, first in (_duplicates(t, key) if set(key) <= set(t.columns) else [])]
    return [(file, row, "duplicate row for " + ", ".join(
        f"{k}={_shown(v, kinds[k])}" for k, v in zip(key, vals))
        + f" (first at {ffile}, row {frow})") for file, row, vals, ffile, frow in found]


def _shown(value: Any, kind: str) -> str:
    """A key value in a message, a frame's cell or DuckDB's value alike."""
    value = _py(value)
    if value is None:
        return "NaT" if kind == "date" else "nan"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


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
_PANDAS_TYPES = {"number": "float64", "date": "datetime64[ns]"}
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
        return SCHEMAS[self.name].column_names

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
        spec = SCHEMAS[self.name]
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
    spec = SCHEMAS[raw.table]
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
    spec = SCHEMAS[table]
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
                      bounds: dict | None = None) -> dict[str, pd.DataFrame | SqlTable]:
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
            for f in set(getattr(raw, "row_files", None) or ()):
                headers[(f, canon)] = written
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
            for name in (*TABLE_ORDER, *RECORD_ORDER) if name in tables}


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
