"""The observations as one dense panel (unit-indicator pairs x quarters), and every question the
method asks of them: the latest value up to a quarter, and the least-squares trend through the
last n points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import periods
from .run import Prepared
from .tables import (KEY, period_indices, period_strings, positions, prepare_with_ids,
                     raise_problems, row_problems, strip_text)


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
        u = positions(self.ids["unit_id"], unit)
        i = positions(self.ids["indicator_id"], indicator)
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
    obs, ids, trimmed = prepare_with_ids(observations, "observations", tuple(KEY), ("value",),
                                 ("period",), (), (), ())
    width = max(len(ids["indicator_id"]), 1)
    # One integer per unit-indicator pair: grouping on it is far cheaper than on two strings.
    pair = (obs["unit_id_code"].to_numpy().astype("int64") * width
            + obs["indicator_id_code"].to_numpy())
    grid = Panel.from_arrays(pair, obs["period_idx"].to_numpy().astype("int64"),
                             obs["value"].to_numpy(dtype="float64"))
    raise_problems(row_problems(grid.duplicates, "observations", *_DUPLICATE_OBSERVATION))
    # The panel answers every question about the values: the rows keep only their ids and
    # periods (categoricals for a large table), and the per-row numbers are let go.
    return Observations(grid, ids, trimmed,
                        obs[["unit_id", "indicator_id", "period"]].copy(deep=False))


def _canonical(values: pd.Series) -> tuple[np.ndarray, pd.Index, bool]:
    """For a categorical id column: the code of each row among the trimmed ids (-1: empty or
    missing), the trimmed ids, and whether trimming changed any (as :func:`_ids`, from the
    categories: no string of the rows is touched)."""
    categories = pd.Index(values.cat.categories).astype("str")
    trimmed = strip_text(categories)
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
