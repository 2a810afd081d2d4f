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

Input tables are checked first: a missing column, an empty id, a number that is not finite, a
period that is not a quarter, a date that is not a date, a duplicate key or an unknown indicator
raises :class:`~evalkit.errors.InputError` listing each problem, its row counted as in the
table's CSV form (the header is row 1).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from . import periods
from .config import load_config
from .errors import InputError, ParseError, Problem
from .model import TABLES

__all__ = ["target_progress", "what_it_takes", "linear_trends", "STATUSES", "RATIO_BOUND"]

MET, NO_DATA, OVERDUE, NOT_STARTED = "met", "no_data", "overdue", "not_started"
GREEN, YELLOW, RED = "green", "yellow", "red"
STATUSES = (MET, OVERDUE, NOT_STARTED, GREEN, YELLOW, RED, NO_DATA)

# Far beyond any meaningful ratio; only reached through a denormal denominator.
RATIO_BOUND = 1e12

KEY = ["unit_id", "indicator_id"]
_MAX_LISTED = 20

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


# ---------------------------------------------------------------------------------------------
# Checking and preparing the input tables


def _row_problems(mask: Iterable[bool], table: str, column: str, message: str) -> list[Problem]:
    """One problem per flagged row (the first few, then a count), rows as in the CSV form."""
    pos = np.flatnonzero(np.asarray(mask, dtype=bool))
    out = [Problem(table, message, row=int(p) + 2, column=column, table=table)
           for p in pos[:_MAX_LISTED]]
    if len(pos) > _MAX_LISTED:
        out.append(Problem(table, f"{len(pos) - _MAX_LISTED} more rows with the same problem: "
                                  f"{message}", column=column, table=table))
    return out


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise InputError(problems)


# ---------------------------------------------------------------------------------------------
# Preparing once per scoring run


class Prepared:
    """What one scoring run works out once and hands from step to step: the checked and
    indexed input tables (the prepared observations with their :class:`Panel`, the targets,
    the indicators) and a few intermediate arrays that several steps, or several cycles, use.

    ``pipeline.score`` makes one and passes it to each step as the ``run`` argument; a step
    called without one makes its own, so a public function gives the same answer whatever ran
    before it. Tables are recognised by identity and kept referenced while their results are
    kept, so the tables handed to a run must not change during it."""

    def __init__(self) -> None:
        self._kept: dict[tuple, tuple] = {}
        # A run may hand work to a second thread: the dict changes under this lock (a value
        # is built outside it; the first one kept wins).
        self._lock = threading.Lock()

    def once(self, name: str, args: tuple, build: Callable[[], Any], *, fresh: bool = True,
             keep: int | None = None) -> Any:
        """``build()``, worked out once per ``(name, args)`` in this run. ``fresh=False``
        hands out the kept object itself (prepared tables whose identity later lookups rely
        on; none of their users changes them), else a shallow copy of a table. ``keep``: at
        most this many results of ``name`` are kept, the latest (results per cycle: a run's
        earlier cycles are not asked for again)."""
        key = _key(name, args)
        with self._lock:
            hit = self._kept.get(key)
            if hit is None:
                self._drop_older(name, keep)           # before building: memory comes back
        if hit is None:
            value = build()
            with self._lock:
                hit = self._kept.setdefault(key, (args, value))
        return _fresh(hit[1]) if fresh else hit[1]

    def keep(self, name: str, args: tuple, value: Any, *, keep: int | None = None) -> None:
        """Keep ``value`` under ``(name, args)`` for :meth:`recall`."""
        key = _key(name, args)
        with self._lock:
            if key not in self._kept:
                self._drop_older(name, keep)
            self._kept[key] = (args, value)

    def recall(self, name: str, args: tuple) -> Any:
        """What :meth:`keep` or :meth:`once` kept under ``(name, args)``, else None."""
        with self._lock:
            hit = self._kept.get(_key(name, args))
        return hit[1] if hit is not None else None

    def forget(self, name: str, args: tuple) -> None:
        with self._lock:
            self._kept.pop(_key(name, args), None)

    def forget_all(self, names: Iterable[str]) -> None:
        """Let go of everything kept under these names (no later step asks for it)."""
        names = set(names)
        with self._lock:
            for key in [k for k in self._kept if k[0] in names]:
                del self._kept[key]

    def _drop_older(self, name: str, keep: int | None) -> None:
        if keep is not None:
            same = [k for k in self._kept if k[0] == name]
            for old in same[:max(0, len(same) - keep + 1)]:
                del self._kept[old]


def _by_identity(value: object) -> bool:
    return isinstance(value, (pd.DataFrame, pd.Series, pd.Index, np.ndarray, dict, list,
                              Observations))


def _fresh(value: Any) -> Any:
    """A kept value as handed out: a shallow copy of a table (copy-on-write keeps the kept one
    safe from the caller's changes), tuples element-wise, anything else as it is."""
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return value.copy(deep=False)
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    return value


def _key(name: str, args: tuple) -> tuple:
    """Tables, arrays and dicts count by identity, anything else by value."""
    return (name, *(("id", id(a)) if _by_identity(a) else a for a in args))


# What scoring one cycle after another keeps (pair codes and their panel rows, benchmark
# pairs and baselines, milestone arrays): needed by no step after the cycles' scores.
CYCLE_SCORING = ("benchmark_pairs", "gap_baselines", "grid_pairs", "target_cells",
                 "unit_score_arrays", "progress_arrays", "panel_rows")


# The trends and what only the trend arrows and what-it-takes use of them.
TRENDS = ("trends", "trend_rows")
# A method table with at least this many rows holds its text columns as categoricals: millions
# of Python strings cost seconds to make, to compare and to write; categories cost their codes.
LARGE_ROWS = 500_000


def categorical_column(codes: np.ndarray, names: Iterable) -> pd.Series:
    """A categorical text column of integer ``codes`` into ``names`` (-1 or a missing name:
    missing), whatever its length."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        codes = codes.astype("int64")
    names = pd.Series(np.asarray(names if isinstance(names, (pd.Index, pd.Series, np.ndarray))
                                 else list(names), dtype=object), dtype=object)
    code_of_name, distinct = pd.factorize(names.astype("str"))   # missing: -1
    return pd.Series(pd.Categorical.from_codes(np.r_[code_of_name, -1][codes],
                                               pd.Index(distinct, dtype="str")))


def text_column(codes: np.ndarray, names: Iterable) -> pd.Series:
    """The text column of integer ``codes`` into ``names`` (-1 or a missing name: missing):
    ``str``, or a categorical of those names when there are ``LARGE_ROWS`` codes or more."""
    if len(codes) >= LARGE_ROWS:
        return categorical_column(codes, names)
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        codes = codes.astype("int64")
    names = pd.Series(np.asarray(names if isinstance(names, (pd.Index, pd.Series, np.ndarray))
                                 else list(names), dtype=object), dtype=object)
    missing = names.isna().to_numpy()
    values = np.r_[names.to_numpy(), [None]]
    values[:-1][missing] = None
    return pd.Series(values[codes], dtype="str")


def _strip(values) -> pd.Index:
    """Text with surrounding whitespace removed (``str.strip``), missing kept missing: one
    Python call per value (pandas' ``.str.strip`` costs several)."""
    text = np.asarray(pd.Index(values, dtype=object).astype("str"), dtype=object)
    return pd.Index([v.strip() if isinstance(v, str) else v for v in text], dtype="str")


def stripped(values: pd.Series) -> pd.Series:
    """``values.astype("str").str.strip()``, worked out once per distinct value: ids and
    labels repeat, and pandas strips millions of strings one at a time."""
    codes, uniques = pd.factorize(values)
    text = _strip(uniques)
    return pd.Series(np.r_[np.asarray(text, dtype=object), [None]][codes], index=values.index,
                     dtype="str")


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """An integer code per row (-1: missing) and the distinct values they stand for: a
    categorical column's own codes and categories (no hashing of millions of strings), else
    pandas' factorisation."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), pd.Index(values.cat.categories)
    codes, uniques = pd.factorize(values)
    return codes, pd.Index(uniques)


def period_indices(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Quarter index (``periods.to_index``) of each period string, and a mask of the bad ones.

    Parsed over the distinct strings only, which are few even in a large table."""
    codes, uniques = _codes(values)
    parsed = np.full(len(uniques) + 1, np.nan)   # the extra last slot serves code -1 (missing)
    for i, v in enumerate(uniques):
        try:
            parsed[i] = periods.to_index(str(v))
        except ParseError:
            pass
    idx = pd.Series(parsed[codes], index=values.index, dtype="float64")
    return idx, idx.isna().to_numpy()


def period_strings(indices: pd.Series) -> pd.Series:
    """Inverse of :func:`period_indices`; NaN stays missing."""
    values = np.asarray(indices, dtype="float64")
    present = ~np.isnan(values)
    if not present.any():
        return pd.Series(np.full(len(values), np.nan, dtype=object), index=indices.index,
                         dtype="str")
    # Quarters span a short range: a lookup array indexed by quarter beats a hash map.
    low, high = int(values[present].min()), int(values[present].max())
    table = np.array([periods.from_index(i) for i in range(low, high + 1)] + [np.nan],
                     dtype=object)
    slot = np.where(present, values - low, high - low + 1).astype("int64")
    return pd.Series(table[slot], index=indices.index, dtype="str")


def period_column(indices) -> pd.Series:
    """Quarter indices as a text column (as :func:`text_column`: ``str``, or a categorical for a
    large table); NaN stays missing."""
    values = np.asarray(indices, dtype="float64")
    present = ~np.isnan(values)
    if not present.any():
        return text_column(np.full(len(values), -1), [])
    low, high = int(values[present].min()), int(values[present].max())
    names = [periods.from_index(i) for i in range(low, high + 1)]
    return text_column(np.where(present, np.nan_to_num(values) - low, -1), names)


def _ids(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Index, bool]:
    """Ids as trimmed text, an integer code per distinct id (-1: empty or missing), the id of
    each code, and whether trimming changed any id.

    Trimming works on the distinct values only, so a large table costs one factorisation. The
    text keeps the column's kind: ``str``, or a categorical for a categorical column (a large
    table loaded from the store), whose categories are then the trimmed ids."""
    codes, uniques = _codes(values)
    trimmed = _strip(uniques)
    canon_codes, canon = pd.factorize(trimmed)
    canon_codes[np.asarray(trimmed == "")] = -1
    final = np.r_[canon_codes, -1][codes]          # the extra last slot serves code -1 (missing)
    canon = pd.Index(canon, dtype="str")
    changed = not bool((trimmed == pd.Index(uniques).astype("str")).all())
    if isinstance(values.dtype, pd.CategoricalDtype):
        text = pd.Series(pd.Categorical.from_codes(final, canon), index=values.index)
    elif values.dtype == "str" and (trimmed == pd.Index(uniques)).all():
        text = values
    else:
        text = pd.Series(np.r_[np.asarray(canon, dtype=object), None][final],
                         index=values.index, dtype="str")
    return text, pd.Series(final.astype("int64"), index=values.index), canon, changed


def prepare(df: pd.DataFrame | None, table: str, *, ids: tuple[str, ...] = (),
            numbers: tuple[str, ...] = (), period_cols: tuple[str, ...] = (),
            dates: tuple[str, ...] = (), optional: tuple[str, ...] = (),
            key: tuple[str, ...] = (), run: Prepared | None = None) -> pd.DataFrame:
    """A checked copy of ``df`` with only the named columns, typed: ids ``str`` (a categorical
    column stays categorical, its categories trimmed), numbers finite ``float64``, dates
    ``datetime64[ns]``, and for each period column ``c`` its quarter index in ``c + "_idx"``;
    ``c + "_code"`` numbers each id column's distinct ids. Optional columns are kept when
    present, else added empty. Raises :class:`InputError` listing every problem found."""
    return (run or Prepared()).once(
        "prepare", (df, table, ids, numbers, period_cols, dates, optional, key),
        lambda: _prepare(df, table, ids, numbers, period_cols, dates, optional, key)[0])


def _prepare(df, table, ids, numbers, period_cols, dates, optional, key
             ) -> tuple[pd.DataFrame, dict[str, pd.Index], bool]:
    """:func:`prepare`, with the id of each code of every id column and whether trimming
    changed any id."""
    if df is None:
        raise InputError([Problem(table, f"the {table} table is missing", table=table)])
    needed = [*ids, *numbers, *period_cols, *dates]
    missing = [c for c in needed if c not in df.columns]
    _raise([Problem(table, f"missing column {c!r}", column=c, table=table) for c in missing])
    # Columns are gathered in a dict and made into a frame once: setting them one by one on a
    # frame of millions of rows would copy it again and again.
    out = {c: pd.Series(df[c].to_numpy(), copy=False) if not isinstance(
        df[c].dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(df[c].dtype)
        else df[c].reset_index(drop=True) for c in needed}
    for c in optional:
        out[c] = pd.Series(df[c].to_numpy() if c in df.columns else np.full(len(df), np.nan))
    problems: list[Problem] = []
    known_ids, trimmed = {}, False
    for c in ids:
        out[c], codes, known_ids[c], changed = _ids(out[c])
        out[c + "_code"] = codes.astype("int32") if len(known_ids[c]) < 2**31 else codes
        trimmed |= changed
        problems += _row_problems(out[c + "_code"].to_numpy() < 0, table, c,
                                  "expected an id, found an empty cell")
    for c in numbers:
        values = pd.to_numeric(out[c], errors="coerce").astype("float64")
        problems += _row_problems(~np.isfinite(values.to_numpy()), table, c,
                                  "expected a finite number")
        out[c] = values
    for c in period_cols:
        idx, bad = period_indices(out[c])
        problems += _row_problems(bad, table, c, "expected a quarter like 2021Q3")
        out[c + "_idx"] = idx
    for c in dates:
        values = pd.to_datetime(out[c], errors="coerce", format="mixed")
        problems += _row_problems(values.isna().to_numpy(), table, c,
                                  "expected a date like 2021-12-31")
        out[c] = values.astype("datetime64[ns]")
    out = pd.DataFrame({c: v.reset_index(drop=True) if isinstance(v, pd.Series) else v
                        for c, v in out.items()})
    if key and not problems:
        coded = {c: out[c + "_code"] if c in ids else out[c + "_idx"] if c in period_cols
                 else out[c] for c in key}
        dup = pd.DataFrame(coded).duplicated().to_numpy()
        problems += _row_problems(dup, table, ", ".join(key),
                                  f"duplicate key: each ({', '.join(key)}) may appear once")
    _raise(problems)
    return out, known_ids, trimmed


def prepare_indicators(indicators: pd.DataFrame | None, *, domain: bool = False,
                       run: Prepared | None = None) -> pd.DataFrame:
    """indicator_id, direction (``higher``/``lower``; the Chinese aliases of the data model
    are accepted), sign ``s`` (+1 / -1) and, when asked, domain."""
    return (run or Prepared()).once("indicators", (indicators, domain),
                                    lambda: _prepare_indicators(indicators, domain), fresh=False)


def _prepare_indicators(indicators: pd.DataFrame | None, domain: bool) -> pd.DataFrame:
    ids = ("indicator_id", "domain") if domain else ("indicator_id",)
    ind = _prepare(indicators, "indicators", ids, (), (), (), (), ("indicator_id",))[0]
    if "direction" not in indicators.columns:
        _raise([Problem("indicators", "missing column 'direction'", column="direction",
                        table="indicators")])
    aliases = TABLES["indicators"].column("direction").choice_aliases
    words = indicators["direction"].reset_index(drop=True).astype("str").str.strip()
    direction = words.map(lambda w: aliases.get(w, w.lower()) if isinstance(w, str) else w)
    sign = direction.map({"higher": 1.0, "lower": -1.0})
    _raise(_row_problems(sign.isna().to_numpy(), "indicators", "direction",
                         "expected a direction: higher or lower (正向 / 逆向)"))
    ind["direction"] = direction.astype("str")
    ind["sign"] = sign.astype("float64")
    return ind


# A panel with room for every pair code (rows indexed by the code itself) while it holds at
# most this many cells per observation, plus a constant; else rows only for the pairs observed.
_PANEL_CELLS_PER_ROW = 4
_PANEL_SLACK = 1_000_000


@dataclass(frozen=True, eq=False)
class Panel:
    """Observations as an array: one row per unit-indicator pair observed, one column per
    quarter from the first to the last observed quarter.

    ``values[r, j]`` is the observation of pair ``pairs[r]`` in quarter ``first + j`` (NaN:
    none); ``last[r, j]`` is the column of the latest observation at or before column ``j``
    (-1: none yet); ``row_of[pair]`` is the row of a pair code (-1: never observed).
    ``duplicates`` flags the observation rows whose (pair, quarter) an earlier row already has
    (empty when no key repeats).
    Every question the method asks of the observations (the value at a quarter, the latest one
    up to a quarter, the last n points of a trend) is a lookup, with no sorting. Campaign data
    are quarterly and dense, so the array holds few cells more than there are observations.
    """

    first: int
    values: np.ndarray
    last: np.ndarray
    pairs: np.ndarray
    row_of: np.ndarray
    duplicates: np.ndarray

    @property
    def width(self) -> int:
        return self.values.shape[1]

    @classmethod
    def from_arrays(cls, pair: np.ndarray, period: np.ndarray, value: np.ndarray) -> "Panel":
        """The panel of observations given as pair codes (>= 0), quarter indices and values."""
        if len(pair) == 0:
            empty = np.zeros((0, 0))
            return cls(0, empty, empty.astype(np.int8), np.zeros(0, np.int32),
                       np.zeros(0, np.int32), np.zeros(0, dtype=bool))
        first, final = int(period.min()), int(period.max())
        width = final - first + 1
        top = int(pair.max()) + 1
        code_type = np.int32 if top < 2**31 else np.int64
        if top * width <= _PANEL_CELLS_PER_ROW * len(pair) + _PANEL_SLACK:
            # Room for every pair code (the usual case: nearly all are observed): a pair's
            # row is the code itself, and the rows of pairs never observed are dropped after.
            cell = pair * width
            cell += period - first
            values = np.full(top * width, np.nan)
            values[cell] = value
            hit = np.zeros(top * width, dtype=bool)
            hit[cell] = True
            present = hit.reshape(top, width).any(axis=1)
            pairs = np.flatnonzero(present).astype(code_type)
            row_of = np.full(top, -1, dtype=code_type)
            row_of[pairs] = np.arange(len(pairs))
            if len(pairs) < top:
                cell = row_of[pair] * width + (period - first)
                values = values.reshape(top, width)[pairs].ravel()
                hit = hit.reshape(top, width)[pairs].ravel()
        else:
            present = np.zeros(top, dtype=bool)
            present[pair] = True
            pairs = np.flatnonzero(present).astype(code_type)
            row_of = np.full(top, -1, dtype=code_type)
            row_of[pairs] = np.arange(len(pairs))
            cell = row_of[pair] * width
            cell += period - first
            values = np.full(len(pairs) * width, np.nan)
            values[cell] = value
            hit = np.zeros(len(pairs) * width, dtype=bool)
            hit[cell] = True
        # Only a table with repeated keys gets a flag per row (as pandas marks the repeats).
        duplicates = np.zeros(0, dtype=bool)
        if int(np.count_nonzero(hit)) < len(pair):
            duplicates = np.zeros(len(pair), dtype=bool)
            counts = np.bincount(cell, minlength=len(hit))
            repeated = np.flatnonzero(np.isin(cell, np.flatnonzero(counts > 1)))
            duplicates[repeated] = pd.Series(cell[repeated]).duplicated().to_numpy()
        del cell
        values = values.reshape(len(pairs), width)
        # Column numbers in the narrowest type that holds them (a few quarters: one byte).
        kind = np.int8 if width <= 127 else np.int16 if width <= 32767 else np.int32
        columns = np.arange(width, dtype=kind)
        last = np.maximum.accumulate(
            np.where(hit.reshape(len(pairs), width), columns, kind(-1)), axis=1)
        for array in (values, last, pairs, row_of):
            array.flags.writeable = False
        return cls(first, values, last, pairs, row_of, duplicates)

    def rows(self, pair: np.ndarray) -> np.ndarray:
        """The panel row of each pair code (-1: a pair never observed, or -1 itself)."""
        pair = np.asarray(pair, dtype="int64")
        inside = (pair >= 0) & (pair < len(self.row_of))
        return np.where(inside, self.row_of[np.where(inside, pair, 0)], -1)

    def column(self, quarter: float) -> int:
        """The column holding everything at or before ``quarter`` (-1: before the first)."""
        return int(min(quarter - self.first, self.width - 1)) if quarter >= self.first else -1


@dataclass(frozen=True, eq=False)
class Observations:
    """Prepared observations: checked (one finite value per unit, indicator and quarter) and
    held as a :class:`Panel` of pair codes, ``pair = unit code * width + indicator code``.

    ``ids[c]`` is the id of each code of ``c`` (unit_id, indicator_id); ``trimmed`` says
    whether trimming whitespace changed any id; ``frame`` keeps the rows' unit_id,
    indicator_id and period as given (a categorical column stays one, and tables made from
    these observations write their ids and quarters the same way)."""

    panel: Panel
    ids: dict[str, pd.Index]
    trimmed: bool
    frame: pd.DataFrame

    @property
    def width(self) -> int:
        return max(len(self.ids["indicator_id"]), 1)

    def code_ids(self, column: str) -> tuple[pd.Index, np.ndarray]:
        """The ids of ``column`` and the code of each."""
        ids = self.ids[column]
        return ids, np.arange(len(ids))

    def pairs_sorted(self) -> bool:
        """Whether pair codes sort as (unit_id, indicator_id) text does: true when the ids of
        the codes are in sorted order (a table loaded from the store has sorted categories)."""
        units, indicators = self.ids["unit_id"], self.ids["indicator_id"]
        return (units.is_monotonic_increasing and indicators.is_monotonic_increasing
                and units.is_unique and indicators.is_unique)

    def pair_codes(self, unit: pd.Series, indicator: pd.Series) -> np.ndarray:
        """The pair code of each (unit, indicator); -1 when there is no such unit or
        indicator."""
        u = _positions(self.ids["unit_id"], unit)
        i = _positions(self.ids["indicator_id"], indicator)
        width = self.width
        # The narrowest type that holds every code of the table.
        kind = np.int32 if (len(self.ids["unit_id"]) + 1) * width < 2**31 else np.int64
        return np.where((u >= 0) & (i >= 0), u.astype(kind) * width + i, -1).astype(
            kind, copy=False)

    def labels(self, pairs: np.ndarray) -> tuple[pd.Series, pd.Series]:
        """unit_id and indicator_id of pair codes, as the rows hold them (``str``, or
        categorical for a categorical column)."""
        out = []
        for column, code in (("unit_id", pairs // self.width),
                             ("indicator_id", pairs % self.width)):
            ids = self.ids[column]
            if isinstance(self.frame[column].dtype, pd.CategoricalDtype):
                out.append(pd.Series(pd.Categorical.from_codes(code, ids)))
            else:
                out.append(pd.Series(np.asarray(ids, dtype=object)[code], dtype="str"))
        return out[0], out[1]

    def quarter_labels(self, quarters: np.ndarray) -> pd.Series:
        """Quarters as the rows write their periods (checked, so canonical)."""
        text = period_strings(pd.Series(quarters, dtype="float64"))
        if isinstance(self.frame["period"].dtype, pd.CategoricalDtype):
            return text.astype("category")
        return text


def prepare_observations(observations: pd.DataFrame | None, *, run: Prepared | None = None
                         ) -> Observations:
    """The observations checked, one value per unit, indicator and quarter, as
    :class:`Observations`."""
    return (run or Prepared()).once("observations", (observations,),
                                    lambda: _prepare_observations(observations), fresh=False)


_DUPLICATE_OBSERVATION = ("unit_id, indicator_id, period",
                          "duplicate key: each (unit_id, indicator_id, period) may appear once")


def _prepare_observations(observations: pd.DataFrame | None) -> Observations:
    coded = _prepare_coded(observations)
    if coded is not None:
        return coded
    obs, ids, trimmed = _prepare(observations, "observations", tuple(KEY), ("value",),
                                 ("period",), (), (), ())
    width = max(len(ids["indicator_id"]), 1)
    # One integer per unit-indicator pair: grouping on it is far cheaper than on two strings.
    pair = (obs["unit_id_code"].to_numpy().astype("int64") * width
            + obs["indicator_id_code"].to_numpy())
    grid = Panel.from_arrays(pair, obs["period_idx"].to_numpy().astype("int64"),
                             obs["value"].to_numpy(dtype="float64"))
    _raise(_row_problems(grid.duplicates, "observations", *_DUPLICATE_OBSERVATION))
    # The panel answers every question about the values: the rows keep only their ids and
    # periods (categoricals for a large table), and the per-row numbers are let go.
    return Observations(grid, ids, trimmed,
                        obs[["unit_id", "indicator_id", "period"]].copy(deep=False))


def _canonical(values: pd.Series) -> tuple[np.ndarray, pd.Index, bool]:
    """For a categorical id column: the code of each row among the trimmed ids (-1: empty or
    missing), the trimmed ids, and whether trimming changed any (as :func:`_ids`, from the
    categories: no string of the rows is touched)."""
    categories = pd.Index(values.cat.categories).astype("str")
    trimmed = _strip(categories)
    canon_codes, canon = pd.factorize(trimmed)
    canon_codes[np.asarray(trimmed == "")] = -1
    codes = values.cat.codes.to_numpy()
    if (canon_codes == np.arange(len(canon_codes))).all():
        mapped = codes
    else:
        mapped = np.r_[canon_codes, -1].astype(codes.dtype)[codes]
    return mapped, pd.Index(canon, dtype="str"), not bool((trimmed == categories).all())


def _prepare_coded(observations: pd.DataFrame | None) -> Observations | None:
    """:func:`prepare_observations` of a large table whose ids and periods are categoricals
    (as read from the store), worked on the codes: the ids and quarters of the categories are
    checked once each, and the values go straight into the panel. None when the table is not
    such a table or has any problem (the general path then names every bad row)."""
    if observations is None or "value" not in observations.columns or not all(
            c in observations.columns and isinstance(observations[c].dtype, pd.CategoricalDtype)
            for c in (*KEY, "period")):
        return None
    value = observations["value"].to_numpy()
    if value.dtype != np.float64 or not np.isfinite(value).all():
        return None
    codes, ids, trimmed = {}, {}, False
    for c in KEY:
        codes[c], ids[c], changed = _canonical(observations[c])
        trimmed |= changed
        if (codes[c] < 0).any():
            return None
    quarters, bad = period_indices(pd.Series(observations["period"].cat.categories))
    period_codes = observations["period"].cat.codes.to_numpy()
    if (period_codes < 0).any() or bad[np.unique(period_codes)].any():
        return None
    width = max(len(ids["indicator_id"]), 1)
    pair = codes["unit_id"].astype("int64")
    pair *= width
    pair += codes["indicator_id"]
    # Quarter indices are small numbers: a narrow type per row.
    grid = Panel.from_arrays(pair, quarters.to_numpy().astype("int32")[period_codes], value)
    del pair
    if grid.duplicates.any():
        return None
    columns = {}
    for c in KEY:
        column = observations[c]
        if codes[c] is column.cat.codes.to_numpy() or (
                pd.Index(column.cat.categories).equals(ids[c])
                and column.cat.categories.dtype == ids[c].dtype):
            columns[c] = column.reset_index(drop=True)
        else:
            columns[c] = pd.Series(pd.Categorical.from_codes(codes[c], ids[c]))
    columns["period"] = observations["period"].reset_index(drop=True)
    return Observations(grid, ids, trimmed, pd.DataFrame(columns, copy=False))


def _positions(index: pd.Index, wanted) -> np.ndarray:
    """Position of each wanted value in ``index`` (-1: absent); a categorical is looked up by
    its categories, then its codes, instead of value by value."""
    wanted = wanted if isinstance(wanted, pd.Series) else pd.Series(wanted)
    if isinstance(wanted.dtype, pd.CategoricalDtype):
        at = np.r_[index.get_indexer(wanted.cat.categories), -1]
        return at[wanted.cat.codes.to_numpy()]
    return index.get_indexer(wanted)


def latest_upto(obs: Observations, pair: np.ndarray, cutoff: np.ndarray, *,
                run: Prepared | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Value and quarter index of the latest observation of each ``pair`` at or before the
    quarter ``cutoff`` (NaN: none, an unknown pair, or no cutoff): a lookup in the panel."""
    pair = np.asarray(pair)
    if pair.dtype.kind not in "iu":
        pair = pair.astype("int64")
    cutoff = np.asarray(cutoff, dtype="float64")
    value, index = np.full(len(pair), np.nan), np.full(len(pair), np.nan)
    grid = obs.panel
    if not len(grid.pairs):
        return value, index
    # The rows of the same pairs are asked for again at every cycle of a run.
    row = (run or Prepared()).once(
        "panel_rows", (obs, pair),
        lambda: grid.rows(pair).astype("int32") if len(grid.pairs) < 2**31 else grid.rows(pair),
        keep=4)
    if len(cutoff) and not np.isnan(cutoff[0]) and (cutoff == cutoff[0]).all():
        # One quarter for all (a cycle): one column of the panel.
        col = grid.column(cutoff[0])
        if col < 0:
            return value, index
        at = np.where(row >= 0, grid.last[np.maximum(row, 0), col], -1).astype("int64")
        found = at >= 0
        value[found] = grid.values[row[found], at[found]]
        index[found] = grid.first + at[found]
        return value, index
    valid = (row >= 0) & ~np.isnan(cutoff)
    col = np.where(valid, cutoff, grid.first) - grid.first
    valid &= col >= 0
    col = np.clip(col, 0, grid.width - 1).astype("int64")
    at = grid.last[np.where(valid, row, 0), col].astype("int64")
    found = valid & (at >= 0)
    at = np.where(found, at, 0)
    value[found] = grid.values[row[found], at[found]]
    index[found] = grid.first + at[found]
    return value, index


def prepare_targets(targets: pd.DataFrame | None, indicators: pd.DataFrame, *,
                    run: Prepared | None = None) -> pd.DataFrame:
    """Targets checked against the prepared indicators, with direction, sign and the baseline
    date ``d0``; a deadline before its baseline date is an error."""
    return (run or Prepared()).once("targets", (targets, indicators),
                                    lambda: _prepare_targets(targets, indicators), fresh=False)


def _prepare_targets(targets: pd.DataFrame | None, indicators: pd.DataFrame) -> pd.DataFrame:
    t = _prepare(targets, "targets", tuple(KEY), ("baseline_value", "target_value"),
                 ("baseline_period",), ("deadline",), ("phase",),
                 ("unit_id", "indicator_id", "deadline"))[0]
    t = t.merge(indicators[["indicator_id", "direction", "sign"]], on="indicator_id",
                how="left", validate="many_to_one")
    problems = _row_problems(t["sign"].isna().to_numpy(), "targets", "indicator_id",
                             "unknown indicator: not in the indicators table")
    ends = {p: pd.Timestamp(periods.end_date(p)) for p in pd.unique(t["baseline_period"])}
    t["baseline_date"] = t["baseline_period"].map(ends).astype("datetime64[ns]")
    problems += _row_problems((t["deadline"] < t["baseline_date"]).to_numpy(), "targets",
                              "deadline", "deadline is before the end of the baseline period")
    _raise(problems)
    return t


def _config(config: dict | None) -> dict:
    return load_config() if config is None else config


def _bounded(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -RATIO_BOUND, RATIO_BOUND)


# ---------------------------------------------------------------------------------------------
# Observations: current, latest, trend


def current_and_last(obs: Observations, cycle_idx: int) -> pd.DataFrame:
    """Per unit and indicator: ``actual_value`` (the cycle's own observation, else NaN),
    ``last_value`` and ``last_period`` (the latest observation at or before the cycle)."""
    grid = obs.panel
    col = grid.column(cycle_idx)
    if col < 0:
        rows, at = np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    else:
        at = grid.last[:, col]
        rows = np.flatnonzero(at >= 0)
        at = at[rows].astype("int64")
    unit, indicator = obs.labels(grid.pairs[rows])
    value = grid.values[rows, at]
    current = (grid.first + at) == cycle_idx
    return pd.DataFrame({
        "unit_id": unit, "indicator_id": indicator,
        "actual_value": np.where(current, value, np.nan),
        "last_value": value,
        "last_period": obs.quarter_labels(grid.first + at),
    })


def trends(obs: Observations, cycle_idx: int, n: int, *, run: Prepared | None = None
           ) -> pd.DataFrame:
    """Least-squares line per unit and indicator (``pair``, in pair order) through its last
    ``n`` observed quarters at or before the cycle, with time ``k`` in quarters counted from
    the cycle (``k <= 0``).

    ``slope = sum (k - kbar)(y - ybar) / sum (k - kbar)^2`` (per quarter) and ``level = ybar -
    slope * kbar`` (the line's value at the cycle). Both are NaN with fewer than two points;
    ``mean = ybar`` (NaN with no point); ``n_points`` counts the points used. Sums run over the
    points in quarter order."""
    return (run or Prepared()).once("trends", (obs, cycle_idx, int(n)),
                                    lambda: _trends(obs, cycle_idx, n))


def last_points(grid: Panel, rows: np.ndarray, col: int, cycle_idx: int, n: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points of the trends at the cycle of the panel ``rows`` (each with an observation
    at or before column ``col``), quarter by quarter (one array row per quarter, so that each
    is contiguous): the values (quarters x rows), which of them are used (the last ``n``
    observed up to the cycle) and the quarters ``k`` counted from the cycle. Leading quarters
    that no row uses are left out: they add nothing to any sum."""
    values = np.ascontiguousarray(grid.values[rows, :col + 1].T)
    observed = ~np.isnan(values)
    # Points counted from the latest back: the last n observed quarters are used.
    count_type = np.int16 if col < 2**15 else np.int32
    seen = np.cumsum(observed, axis=0, dtype=count_type)
    from_end = seen[-1:] - seen + observed              # points from here to the end
    used = observed & (from_end <= max(int(n), 1))
    first = int(np.argmax(used.any(axis=1))) if used.size else 0
    k = (grid.first + np.arange(first, col + 1) - cycle_idx).astype("float64")
    return values[first:], used[first:], k


# Trends are worked out this many panel rows at a time: the arrays of a block stay small.
_TREND_BLOCK = 500_000


def trend_rows(obs: Observations, cycle_idx: int, n: int, pair: np.ndarray, *,
               run: Prepared | None = None) -> np.ndarray:
    """The row of :func:`trends` (same arguments) of each pair code (-1: no trend): a lookup
    in an array indexed by pair code, made once per trend table."""
    run = run or Prepared()

    def build():
        codes = trends(obs, cycle_idx, n, run=run)["pair"].to_numpy()
        at = np.full(int(codes.max()) + 1 if len(codes) else 0, -1,
                     dtype=np.int32 if len(codes) < 2**31 else np.int64)
        at[codes] = np.arange(len(codes))
        return at
    at = run.once("trend_rows", (obs, cycle_idx, int(n)), build)
    pair = np.asarray(pair, dtype="int64")
    inside = (pair >= 0) & (pair < len(at))
    out = np.full(len(pair), -1, dtype="int64")
    out[inside] = at[pair[inside]]
    return out


def take_or(values: np.ndarray, rows: np.ndarray, missing: float = np.nan) -> np.ndarray:
    """``values[rows]``, ``missing`` where a row is -1."""
    found = rows >= 0
    out = np.full(len(rows), missing, dtype="float64")
    out[found] = values[rows[found]]
    return out


def _trends(obs: Observations, cycle_idx: int, n: int) -> pd.DataFrame:
    grid = obs.panel
    col = grid.column(cycle_idx)
    rows = np.flatnonzero(grid.last[:, col] >= 0) if col >= 0 else np.zeros(0, "int64")
    count = np.zeros(len(rows))
    slope, level, mean = np.empty(len(rows)), np.empty(len(rows)), np.empty(len(rows))
    for start in range(0, len(rows), _TREND_BLOCK):
        block = slice(start, start + _TREND_BLOCK)
        count[block], slope[block], level[block], mean[block] = _fit(
            *last_points(grid, rows[block], col, cycle_idx, n))
    return pd.DataFrame({
        "pair": grid.pairs[rows],
        "n_points": count.astype(np.int16), "slope": slope, "level": level, "mean": mean,
    })


def _fit(values: np.ndarray, used: np.ndarray, k: np.ndarray):
    """count, slope, level and mean of the points of :func:`last_points`."""
    size = values.shape[1]
    # Quarter by quarter, in order: the same additions, in the same order, as summing the
    # points one by one (a quarter not used adds 0).
    count = np.zeros(size)
    sum_k, sum_y = np.zeros(size), np.zeros(size)
    y = np.where(used, values, 0.0)
    for j in range(len(k)):
        count += used[j]
        sum_k += np.where(used[j], k[j], 0.0)
        sum_y += y[j]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        kbar, ybar = sum_k / count, sum_y / count
        skk, sky = np.zeros(size), np.zeros(size)
        for j in range(len(k)):
            dk = k[j] - kbar
            skk += np.where(used[j], dk * dk, 0.0)
            sky += np.where(used[j], dk * (y[j] - ybar), 0.0)
        ok = (count >= 2) & (skk > 0)
        slope = np.where(ok, sky / skk, np.nan)
        level = np.where(ok, ybar - slope * kbar, np.nan)
    # The mean of the points (the trend arrows' m), as pandas' group mean over them gives it:
    # np.add.reduceat over each pair's points, one pair after the other, by their count.
    points = values.T[used.T]
    sizes = used.sum(axis=0)
    mean = (np.add.reduceat(points, np.r_[0, np.cumsum(sizes)[:-1]]) / sizes.astype("float64")
            if len(points) else np.zeros(size))
    return count, slope, level, mean


def linear_trends(observations: pd.DataFrame, cycle: str, n: int) -> pd.DataFrame:
    """Public form of :func:`trends` on a raw observations table: per unit and indicator,
    ``n_points``, ``slope`` (change per quarter) and ``level`` (the fitted value at the cycle)
    from the last ``n`` observed quarters at or before ``cycle``."""
    obs = prepare_observations(observations)
    out = trends(obs, periods.Cycle(cycle).index, n)
    unit, indicator = obs.labels(out["pair"].to_numpy())
    return pd.DataFrame({"unit_id": unit.astype("str"), "indicator_id": indicator.astype("str"),
                         "n_points": out["n_points"].astype("int64"), "slope": out["slope"],
                         "level": out["level"]})


# ---------------------------------------------------------------------------------------------
# Target progress


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
    config = _config(config)
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
    if len(order) >= LARGE_ROWS:
        codes, names = pd.factorize(values.astype("str"))
        return text_column(codes[order], names)
    return values.astype("str").iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# What it takes


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
    config = _config(config)
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
