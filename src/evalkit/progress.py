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

from typing import Iterable

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


def period_indices(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Quarter index (``periods.to_index``) of each period string, and a mask of the bad ones.

    Parsed over the distinct strings only, which are few even in a large table."""
    codes, uniques = pd.factorize(values)
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
    lookup = {i: periods.from_index(int(i)) for i in pd.unique(indices.dropna())}
    return indices.map(lookup).astype("str")


def _ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ids as trimmed ``str`` and an integer code per distinct id (-1: empty or missing).

    Trimming works on the distinct values only, so a large table costs one factorisation."""
    codes, uniques = pd.factorize(values)
    trimmed = pd.Index(uniques).astype("str").str.strip()
    canon_codes, canon = pd.factorize(trimmed)
    canon_codes[np.asarray(trimmed == "")] = -1
    final = np.r_[canon_codes, -1][codes]          # the extra last slot serves code -1 (missing)
    if values.dtype == "str" and (trimmed == pd.Index(uniques)).all():
        text = values
    else:
        text = pd.Series(np.r_[np.asarray(canon, dtype=object), None][final],
                         index=values.index, dtype="str")
    return text, pd.Series(final.astype("int64"), index=values.index)


def prepare(df: pd.DataFrame | None, table: str, *, ids: tuple[str, ...] = (),
            numbers: tuple[str, ...] = (), period_cols: tuple[str, ...] = (),
            dates: tuple[str, ...] = (), optional: tuple[str, ...] = (),
            key: tuple[str, ...] = ()) -> pd.DataFrame:
    """A checked copy of ``df`` with only the named columns, typed: ids ``str``, numbers finite
    ``float64``, dates ``datetime64[ns]``, and for each period column ``c`` its quarter index in
    ``c + "_idx"``. Optional columns are kept when present, else added empty. Raises
    :class:`InputError` listing every problem found."""
    if df is None:
        raise InputError([Problem(table, f"the {table} table is missing", table=table)])
    needed = [*ids, *numbers, *period_cols, *dates]
    missing = [c for c in needed if c not in df.columns]
    _raise([Problem(table, f"missing column {c!r}", column=c, table=table) for c in missing])
    out = df[needed].reset_index(drop=True)
    for c in optional:
        out[c] = df[c].to_numpy() if c in df.columns else np.nan
    problems: list[Problem] = []
    for c in ids:
        out[c], out[c + "_code"] = _ids(out[c])
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
    if key and not problems:
        coded = {c: out[c + "_code"] if c in ids else out[c + "_idx"] if c in period_cols
                 else out[c] for c in key}
        dup = pd.DataFrame(coded).duplicated().to_numpy()
        problems += _row_problems(dup, table, ", ".join(key),
                                  f"duplicate key: each ({', '.join(key)}) may appear once")
    _raise(problems)
    return out


def prepare_indicators(indicators: pd.DataFrame | None, *, domain: bool = False) -> pd.DataFrame:
    """indicator_id, direction (``higher``/``lower``; the Chinese aliases of the data model
    are accepted), sign ``s`` (+1 / -1) and, when asked, domain."""
    ids = ("indicator_id", "domain") if domain else ("indicator_id",)
    ind = prepare(indicators, "indicators", ids=ids, key=("indicator_id",))
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


def prepare_observations(observations: pd.DataFrame | None) -> pd.DataFrame:
    """unit_id, indicator_id, period, period_idx, value and ``pair`` (an integer per unit and
    indicator): checked, one row per key."""
    obs = prepare(observations, "observations", ids=tuple(KEY), numbers=("value",),
                  period_cols=("period",), key=("unit_id", "indicator_id", "period"))
    # One integer per unit-indicator pair: grouping on it is far cheaper than on two strings.
    obs["pair"] = obs["unit_id_code"] * _pair_width(obs) + obs["indicator_id_code"]
    return obs


def _pair_width(obs: pd.DataFrame) -> int:
    return int(obs["indicator_id_code"].max()) + 1 if len(obs) else 1


def pair_codes(obs: pd.DataFrame, unit: pd.Series, indicator: pd.Series) -> np.ndarray:
    """The ``pair`` code of prepared observations for each (unit, indicator); -1 when the
    observations have no such unit or indicator."""
    def codes(column: str, wanted: pd.Series) -> np.ndarray:
        known = obs.drop_duplicates(column + "_code")
        at = pd.Index(known[column]).get_indexer(wanted)
        code = np.r_[known[column + "_code"].to_numpy(), -1]   # the last slot serves at == -1
        return code[at]

    u, i = codes("unit_id", unit), codes("indicator_id", indicator)
    return np.where((u >= 0) & (i >= 0), u * _pair_width(obs) + i, -1)


# Quarter indices stay far below this (year 16383), so pair * _SPAN + quarter sorts by pair first.
_SPAN = 1 << 16


def latest_upto(obs: pd.DataFrame, pair: np.ndarray, cutoff: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Value and quarter index of the latest observation of each ``pair`` at or before the
    quarter ``cutoff`` (NaN: none, an unknown pair, or no cutoff). A binary search on the
    sorted ``pair * _SPAN + quarter`` keys, so no merge is needed."""
    pair = np.asarray(pair, dtype="int64")
    cutoff = np.asarray(cutoff, dtype="float64")
    value, index = np.full(len(pair), np.nan), np.full(len(pair), np.nan)
    if obs.empty:
        return value, index
    keys = obs["pair"].to_numpy() * _SPAN + obs["period_idx"].to_numpy().astype("int64")
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    valid = (pair >= 0) & ~np.isnan(cutoff)
    wanted = pair * _SPAN + np.where(valid, cutoff, 0).astype("int64")
    pos = np.searchsorted(keys, wanted, side="right") - 1
    found = valid & (pos >= 0)
    pos = order[np.maximum(pos, 0)]
    found &= obs["pair"].to_numpy()[pos] == pair
    value[found] = obs["value"].to_numpy()[pos][found]
    index[found] = obs["period_idx"].to_numpy()[pos][found]
    return value, index


def prepare_targets(targets: pd.DataFrame | None, indicators: pd.DataFrame) -> pd.DataFrame:
    """Targets checked against the prepared indicators, with direction, sign and the baseline
    date ``d0``; a deadline before its baseline date is an error."""
    t = prepare(targets, "targets", ids=tuple(KEY), numbers=("baseline_value", "target_value"),
                period_cols=("baseline_period",), dates=("deadline",), optional=("phase",),
                key=("unit_id", "indicator_id", "deadline"))
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


def cycle_index(cycle: str) -> int:
    """Quarter index of the cycle; a cycle that is not ``YYYYQn`` raises ParseError."""
    return periods.to_index(cycle)


def _config(config: dict | None) -> dict:
    return load_config() if config is None else config


def _bounded(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -RATIO_BOUND, RATIO_BOUND)


# ---------------------------------------------------------------------------------------------
# Observations: current, latest, trend


def _upto_sorted(obs: pd.DataFrame, cycle_idx: int) -> pd.DataFrame:
    """Observations at or before the cycle, sorted by unit-indicator pair, then quarter."""
    upto = obs[obs["period_idx"] <= cycle_idx]
    order = np.lexsort((upto["period_idx"].to_numpy(), upto["pair"].to_numpy()))
    return upto.iloc[order]


def _group_starts(pair: np.ndarray) -> np.ndarray:
    """True where a run of equal (sorted) pair codes begins."""
    return np.r_[True, pair[1:] != pair[:-1]] if len(pair) else np.zeros(0, dtype=bool)


def current_and_last(obs: pd.DataFrame, cycle_idx: int) -> pd.DataFrame:
    """Per unit and indicator: ``actual_value`` (the cycle's own observation, else NaN),
    ``last_value`` and ``last_period`` (the latest observation at or before the cycle)."""
    upto = _upto_sorted(obs, cycle_idx)
    is_last = np.r_[_group_starts(upto["pair"].to_numpy())[1:], True][:len(upto)]
    last = upto[is_last]
    return pd.DataFrame({
        "unit_id": last["unit_id"], "indicator_id": last["indicator_id"],
        "actual_value": last["value"].where(last["period_idx"] == cycle_idx),
        "last_value": last["value"], "last_period": last["period"],
    }).reset_index(drop=True)


def trends(obs: pd.DataFrame, cycle_idx: int, n: int) -> pd.DataFrame:
    """Least-squares line per unit and indicator through its last ``n`` observed quarters at or
    before the cycle, with time ``k`` in quarters counted from the cycle (``k <= 0``).

    ``slope = sum (k - kbar)(y - ybar) / sum (k - kbar)^2`` (per quarter) and ``level = ybar -
    slope * kbar`` (the line's value at the cycle). Both are NaN with fewer than two points;
    ``n_points`` counts the points used."""
    upto = _upto_sorted(obs, cycle_idx)
    starts = _group_starts(upto["pair"].to_numpy())
    group = np.cumsum(starts) - 1
    first_rows = np.flatnonzero(starts)
    last_rows = np.r_[first_rows[1:], len(upto)] - 1
    from_end = last_rows[group] - np.arange(len(upto))
    keep = from_end < max(int(n), 1)
    group = group[keep]
    k = upto["period_idx"].to_numpy()[keep] - cycle_idx
    y = upto["value"].to_numpy()[keep]
    size = len(first_rows)
    count = np.bincount(group, minlength=size).astype("float64")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        kbar = np.bincount(group, k, minlength=size) / count
        ybar = np.bincount(group, y, minlength=size) / count
        dk, dy = k - kbar[group], y - ybar[group]
        skk = np.bincount(group, dk * dk, minlength=size)
        sky = np.bincount(group, dk * dy, minlength=size)
        ok = (count >= 2) & (skk > 0)
        slope = np.where(ok, sky / skk, np.nan)
        level = np.where(ok, ybar - slope * kbar, np.nan)
    heads = upto.iloc[first_rows]
    return pd.DataFrame({
        "unit_id": heads["unit_id"].to_numpy(), "indicator_id": heads["indicator_id"].to_numpy(),
        "pair": heads["pair"].to_numpy(),
        "n_points": count.astype("int64"), "slope": slope, "level": level,
    }).astype({"unit_id": "str", "indicator_id": "str"})


def linear_trends(observations: pd.DataFrame, cycle: str, n: int) -> pd.DataFrame:
    """Public form of :func:`trends` on a raw observations table: per unit and indicator,
    ``n_points``, ``slope`` (change per quarter) and ``level`` (the fitted value at the cycle)
    from the last ``n`` observed quarters at or before ``cycle``."""
    out = trends(prepare_observations(observations), cycle_index(cycle), n)
    return out.drop(columns="pair")


# ---------------------------------------------------------------------------------------------
# Target progress


def _applicable(t: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """True for the milestone that applies at ``as_of``: the earliest whose deadline is
    >= as_of, else the last one."""
    groups = [t["unit_id"], t["indicator_id"]]
    upcoming = t["deadline"].where(t["deadline"] >= as_of)
    first_upcoming = upcoming.groupby(groups).transform("min")
    last = t["deadline"].groupby(groups).transform("max")
    return t["deadline"] == first_upcoming.fillna(last)


def _measure(t: pd.DataFrame, as_of: pd.Timestamp, green: float, yellow: float) -> pd.DataFrame:
    """tau, e, a, p, status and note for prepared targets already joined with ``actual_value``."""
    b = t["baseline_value"].to_numpy()
    T = t["target_value"].to_numpy()
    s = t["sign"].to_numpy()
    x = t["actual_value"].to_numpy(dtype="float64")
    span = (t["deadline"] - t["baseline_date"]).dt.days.to_numpy(dtype="float64")
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
        [MET, NO_DATA, OVERDUE, NOT_STARTED, GREEN, YELLOW], RED)
    note = np.select(
        [~has_x, tau == 0, ~asks_progress],
        ["no_current_value", "time_not_started", "no_change_required"], "")
    return pd.DataFrame({
        "time_elapsed": tau, "expected_value": b + tau * (T - b), "attainment": a,
        "progress_ratio": p, "status": pd.array(status, dtype="str"),
        "note": pd.array(note, dtype="str"),
    }, index=t.index)


def target_progress(targets: pd.DataFrame, observations: pd.DataFrame,
                    indicators: pd.DataFrame, cycle: str, config: dict | None = None
                    ) -> pd.DataFrame:
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
    cycle_index(cycle)
    t = prepare_targets(targets, prepare_indicators(indicators))
    return _progress(t, prepare_observations(observations), cycle, config)


def _progress(t: pd.DataFrame, obs: pd.DataFrame, cycle: str, config: dict) -> pd.DataFrame:
    """:func:`target_progress` on prepared tables."""
    cycle_idx = cycle_index(cycle)
    as_of = pd.Timestamp(periods.end_date(cycle))
    t = t.merge(current_and_last(obs, cycle_idx), on=KEY, how="left")
    measured = _measure(t, as_of, config["progress"]["green"], config["progress"]["yellow"])
    t = pd.concat([t, measured], axis=1)
    t["cycle"] = pd.Series(cycle, index=t.index, dtype="str")
    t["as_of"] = pd.Series(as_of, index=t.index).astype("datetime64[ns]")
    t["applicable"] = _applicable(t, as_of).astype("bool")
    t["last_period"] = t["last_period"].astype("str")
    t["phase"] = t["phase"].astype("str")
    t = t.sort_values([*KEY, "deadline"], ignore_index=True)
    return t[PROGRESS_COLUMNS]


# ---------------------------------------------------------------------------------------------
# What it takes


def what_it_takes(targets: pd.DataFrame, observations: pd.DataFrame,
                  indicators: pd.DataFrame, cycle: str, config: dict | None = None
                  ) -> pd.DataFrame:
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
    cycle_idx = cycle_index(cycle)
    t = prepare_targets(targets, prepare_indicators(indicators))
    obs = prepare_observations(observations)
    prog = _progress(t, obs, cycle, config)
    open_ = prog[prog["applicable"] & (prog["status"] != MET)
                 & (prog["deadline"] > prog["as_of"])].reset_index(drop=True)
    current = open_["actual_value"].notna()
    x = open_["actual_value"].where(current, open_["last_value"])
    open_ = open_.assign(
        x=x, value_basis=np.where(current, "current", "last"),
        value_period=np.where(current, cycle, open_["last_period"].astype("object")))
    open_ = open_[open_["x"].notna()].reset_index(drop=True)

    deadline = open_["deadline"].dt
    quarters_left = (deadline.year * 4 + (deadline.month - 1) // 3 - cycle_idx).astype("int64")
    required = (open_["target_value"] - open_["x"]) / quarters_left

    trend = trends(obs, cycle_idx, int(config["scores"]["trend_cycles"]))
    open_ = open_.merge(trend, on=KEY, how="left")
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
