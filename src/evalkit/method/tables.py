"""Checking and typing the method's input tables, and the text columns of its output tables.

Input tables are checked first: a missing column, an empty id, a number that is not finite, a
period that is not a quarter, a date that is not a date, a duplicate key or an unknown indicator
raises :class:`~evalkit.errors.InputError` listing each problem, its row counted as in the
table's CSV form (the header is row 1).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .. import periods
from ..config import load_config
from ..errors import InputError, ParseError, Problem
from ..model import TABLES
from .run import Prepared


KEY = ["unit_id", "indicator_id"]


MAX_LISTED = 20


def row_problems(mask: Iterable[bool], table: str, column: str, message: str) -> list[Problem]:
    """One problem per flagged row (the first few, then a count), rows as in the CSV form."""
    pos = np.flatnonzero(np.asarray(mask, dtype=bool))
    out = [Problem(table, message, row=int(p) + 2, column=column, table=table)
           for p in pos[:MAX_LISTED]]
    if len(pos) > MAX_LISTED:
        out.append(Problem(table, f"{len(pos) - MAX_LISTED} more rows with the same problem: "
                                  f"{message}", column=column, table=table))
    return out


def raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise InputError(problems)


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


def strip_text(values) -> pd.Index:
    """Text with surrounding whitespace removed (``str.strip``), missing kept missing: one
    Python call per value (pandas' ``.str.strip`` costs several)."""
    text = np.asarray(pd.Index(values, dtype=object).astype("str"), dtype=object)
    return pd.Index([v.strip() if isinstance(v, str) else v for v in text], dtype="str")


def stripped(values: pd.Series) -> pd.Series:
    """``values.astype("str").str.strip()``, worked out once per distinct value: ids and
    labels repeat, and pandas strips millions of strings one at a time."""
    codes, uniques = pd.factorize(values)
    text = strip_text(uniques)
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
    trimmed = strip_text(uniques)
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
        lambda: prepare_with_ids(df, table, ids, numbers, period_cols, dates, optional, key)[0])


def prepare_with_ids(df, table, ids, numbers, period_cols, dates, optional, key
             ) -> tuple[pd.DataFrame, dict[str, pd.Index], bool]:
    """:func:`prepare`, with the id of each code of every id column and whether trimming
    changed any id."""
    if df is None:
        raise InputError([Problem(table, f"the {table} table is missing", table=table)])
    needed = [*ids, *numbers, *period_cols, *dates]
    missing = [c for c in needed if c not in df.columns]
    raise_problems([Problem(table, f"missing column {c!r}", column=c, table=table)
                    for c in missing])
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
        problems += row_problems(out[c + "_code"].to_numpy() < 0, table, c,
                                  "expected an id, found an empty cell")
    for c in numbers:
        values = pd.to_numeric(out[c], errors="coerce").astype("float64")
        problems += row_problems(~np.isfinite(values.to_numpy()), table, c,
                                  "expected a finite number")
        out[c] = values
    for c in period_cols:
        idx, bad = period_indices(out[c])
        problems += row_problems(bad, table, c, "expected a quarter like 2021Q3")
        out[c + "_idx"] = idx
    for c in dates:
        values = pd.to_datetime(out[c], errors="coerce", format="mixed")
        problems += row_problems(values.isna().to_numpy(), table, c,
                                  "expected a date like 2021-12-31")
        out[c] = values.astype("datetime64[ns]")
    out = pd.DataFrame({c: v.reset_index(drop=True) if isinstance(v, pd.Series) else v
                        for c, v in out.items()})
    if key and not problems:
        coded = {c: out[c + "_code"] if c in ids else out[c + "_idx"] if c in period_cols
                 else out[c] for c in key}
        dup = pd.DataFrame(coded).duplicated().to_numpy()
        problems += row_problems(dup, table, ", ".join(key),
                                  f"duplicate key: each ({', '.join(key)}) may appear once")
    raise_problems(problems)
    return out, known_ids, trimmed


def prepare_indicators(indicators: pd.DataFrame | None, *, domain: bool = False,
                       run: Prepared | None = None) -> pd.DataFrame:
    """indicator_id, direction (``higher``/``lower``; the Chinese aliases of the data model
    are accepted), sign ``s`` (+1 / -1) and, when asked, domain."""
    return (run or Prepared()).once("indicators", (indicators, domain),
                                    lambda: _prepare_indicators(indicators, domain), fresh=False)


def _prepare_indicators(indicators: pd.DataFrame | None, domain: bool) -> pd.DataFrame:
    ids = ("indicator_id", "domain") if domain else ("indicator_id",)
    ind = prepare_with_ids(indicators, "indicators", ids, (), (), (), (), ("indicator_id",))[0]
    if "direction" not in indicators.columns:
        raise_problems([Problem("indicators", "missing column 'direction'", column="direction",
                        table="indicators")])
    aliases = TABLES["indicators"].column("direction").choice_aliases
    words = indicators["direction"].reset_index(drop=True).astype("str").str.strip()
    direction = words.map(lambda w: aliases.get(w, w.lower()) if isinstance(w, str) else w)
    sign = direction.map({"higher": 1.0, "lower": -1.0})
    raise_problems(row_problems(sign.isna().to_numpy(), "indicators", "direction",
                         "expected a direction: higher or lower (正向 / 逆向)"))
    ind["direction"] = direction.astype("str")
    ind["sign"] = sign.astype("float64")
    return ind


def prepare_targets(targets: pd.DataFrame | None, indicators: pd.DataFrame, *,
                    run: Prepared | None = None) -> pd.DataFrame:
    """Targets checked against the prepared indicators, with direction, sign and the baseline
    date ``d0``; a deadline before its baseline date is an error."""
    return (run or Prepared()).once("targets", (targets, indicators),
                                    lambda: _prepare_targets(targets, indicators), fresh=False)


def _prepare_targets(targets: pd.DataFrame | None, indicators: pd.DataFrame) -> pd.DataFrame:
    t = prepare_with_ids(targets, "targets", tuple(KEY), ("baseline_value", "target_value"),
                 ("baseline_period",), ("deadline",), ("phase",),
                 ("unit_id", "indicator_id", "deadline"))[0]
    t = t.merge(indicators[["indicator_id", "direction", "sign"]], on="indicator_id",
                how="left", validate="many_to_one")
    problems = row_problems(t["sign"].isna().to_numpy(), "targets", "indicator_id",
                             "unknown indicator: not in the indicators table")
    ends = {p: pd.Timestamp(periods.end_date(p)) for p in pd.unique(t["baseline_period"])}
    t["baseline_date"] = t["baseline_period"].map(ends).astype("datetime64[ns]")
    problems += row_problems((t["deadline"] < t["baseline_date"]).to_numpy(), "targets",
                              "deadline", "deadline is before the end of the baseline period")
    raise_problems(problems)
    return t


def config_or_default(config: dict | None) -> dict:
    return load_config() if config is None else config


def positions(index: pd.Index, wanted) -> np.ndarray:
    """Position of each wanted value in ``index`` (-1: absent); a categorical is looked up by
    its categories, then its codes, instead of value by value."""
    wanted = wanted if isinstance(wanted, pd.Series) else pd.Series(wanted)
    if isinstance(wanted.dtype, pd.CategoricalDtype):
        at = np.r_[index.get_indexer(wanted.cat.categories), -1]
        return at[wanted.cat.codes.to_numpy()]
    return index.get_indexer(wanted)
