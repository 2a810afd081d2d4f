"""Review checks (审核): the values of a cycle a reviewer should look at before they count.

Each unit submits its figures for the quarter; a value that fails a plausibility check waits for
a reviewer, who accepts or returns it. :func:`review_flags` lists those values: one row per
value of the cycle and rule that flags it. Only the cycle's values are checked; the quarters
before it are their context. A missing value (NaN) is "not reported": it is never flagged and
never used as history. Thresholds come from ``config["review"]`` (``defaults.yaml``).

The rules, for a value ``x_t`` of unit ``u`` and indicator ``i`` at the cycle ``t``, where
``x_prev`` is the unit's previous value of ``i`` (the latest earlier quarter with a value):

* ``percent_range`` (``review.percent_range``): ``i`` has measure ``percent`` and
  ``x_t < 0`` or ``x_t > 100``. Expected range [0, 100].
* ``cumulative_decrease`` (``review.cumulative_decrease``): ``i`` is cumulative (a running
  total never falls) and ``x_t < x_prev``. Expected low ``x_prev``; equal is fine.
* ``jump``: with ``d = x_t - x_prev`` and ``D`` the unit's past changes of ``i`` (each earlier
  value minus its own previous value, quarters before ``t`` only), when ``D`` has at least
  ``n_min = review.min_history`` changes (fewer: the rule does not apply):

  - robust test: ``|d - median(D)| > k * 1.4826 * MAD(D)`` with ``k = review.jump_mad_k``
    and ``MAD(D) = median(|D - median(D)|)``; ``1.4826 MAD`` estimates the standard deviation
    of normal data. With ``MAD = 0`` (every past change the same) the test does not apply:
    there is no spread to measure against, and a steady series would flag every change. A MAD
    of at most ``1e-9 max(|x_prev|, |x_t|)`` counts as 0: it is the rounding of decimal figures
    in binary (4.6 - 4.5 and 4.5 - 4.4 differ by 1e-16), not a spread.
    Expected range ``x_prev + median(D) -+ k * 1.4826 * MAD``;
  - relative test: ``|d| / |x_prev| > review.jump_relative`` (not with ``x_prev = 0``).

  Either test flags the value.
* ``peer_outlier``: among the units of the same ``level`` that report ``i`` in the cycle, when
  there are at least ``review.min_peers`` of them: ``x_t < Q1 - f IQR`` or ``x_t > Q3 + f IQR``
  (Tukey's fences, ``f = review.peer_fence``, ``IQR = Q3 - Q1``). The quartiles are numpy's
  default ("linear") quantiles: with the ``n`` values sorted ``v_0 <= ... <= v_{n-1}``, the
  ``p`` quantile is ``v_j + (h - j)(v_{j+1} - v_j)`` with ``h = (n - 1) p``, ``j = floor(h)``.
  A unit that is not in the units table has no level and no peers.
* ``copied``: the same value (exactly equal floats) in each of the last
  ``n_c = review.copied_quarters`` consecutive quarters ending at ``t``, i.e. in
  ``t - n_c + 1, ..., t`` without a gap. Applied to every indicator.

An indicator not in the indicators table has no measure and is not cumulative: only the jump,
peer and copied rules apply to it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import default_config, review_problems
from ..errors import require_columns
from ..model import TABLES
from ..periods import Cycle, from_index
from ..values import parse_bool
from .tables import config_or_default, prepare, raise_problems, stripped

__all__ = ["review_flags", "review_settings", "RULES", "REVIEW_COLUMNS", "MAD_SCALE"]

PERCENT_RANGE, CUMULATIVE_DECREASE, JUMP = "percent_range", "cumulative_decrease", "jump"
PEER_OUTLIER, COPIED = "peer_outlier", "copied"
RULES = (PERCENT_RANGE, CUMULATIVE_DECREASE, JUMP, PEER_OUTLIER, COPIED)

REVIEW_COLUMNS = ["unit_id", "indicator_id", "period", "value", "rule", "expected_low",
                  "expected_high", "detail"]

# MAD * 1.4826 is a consistent estimate of the standard deviation of normally distributed data.
MAD_SCALE = 1.4826
PERCENT_LOW, PERCENT_HIGH = 0.0, 100.0
# A MAD at most this share of max(|x_prev|, |x_t|) counts as 0 (rounding, not spread).
ROUNDING = 1e-9


# ---------------------------------------------------------------------------------------------
# Inputs


def review_settings(config: dict | None) -> dict:
    """``config["review"]`` over the defaults, checked as :func:`evalkit.config.check` does,
    so a hand-built configuration fails as clearly as a loaded one."""
    config = config_or_default(config)
    section = config.get("review") if isinstance(config, dict) else None
    settings = {**default_config()["review"], **(section or {})}
    raise_problems(review_problems(settings))
    return settings


def _choice(values: pd.Series, table: str, column: str) -> pd.Series:
    """A choice column as its canonical English words (the data model's Chinese aliases
    accepted, any case), worked out once per distinct value."""
    aliases = TABLES[table].column(column).choice_aliases
    text = stripped(values)
    distinct = pd.unique(text.dropna())
    words = {w: aliases.get(w, w.lower()) for w in distinct}
    return text.map(words)


def _truth(values: pd.Series) -> np.ndarray:
    """A yes/no column as bools (是/否, true/false, 1/0, ...); missing is no."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=bool)
    distinct = pd.unique(values.dropna())
    known = {v: parse_bool(v) for v in distinct}
    return values.map(known).fillna(False).to_numpy(dtype=bool)


def _indicator_facts(indicators: pd.DataFrame) -> pd.DataFrame:
    """indicator_id (trimmed) -> is_percent, cumulative."""
    require_columns(indicators, ["indicator_id", "measure"], "indicators")
    ind = pd.DataFrame({"indicator_id": stripped(indicators["indicator_id"]).to_numpy()})
    ind["is_percent"] = (_choice(indicators["measure"], "indicators", "measure")
                         == "percent").to_numpy()
    ind["cumulative"] = (_truth(indicators["cumulative"].reset_index(drop=True))
                         if "cumulative" in indicators.columns else False)
    return ind.drop_duplicates("indicator_id").set_index("indicator_id")


def _unit_levels(units: pd.DataFrame) -> pd.Series:
    """unit_id (trimmed) -> level (canonical)."""
    require_columns(units, ["unit_id", "level"], "units")
    levels = pd.Series(_choice(units["level"], "units", "level").to_numpy(),
                       index=stripped(units["unit_id"]).to_numpy())
    return levels[~levels.index.duplicated()]


def _history(observations: pd.DataFrame, cycle: Cycle) -> pd.DataFrame:
    """The reported values up to the cycle, one row per unit, indicator and quarter, sorted by
    unit, indicator and quarter, with ``pair`` (a code per unit-indicator), ``t`` (the quarter
    index) and each row's previous value ``prev`` and quarter ``prev_t`` (NaN for the first)."""
    require_columns(observations, ["unit_id", "indicator_id", "period", "value"],
                    "observations")
    obs = prepare(observations, "observations", ids=("unit_id", "indicator_id"),
                  period_cols=("period",), optional=("value",),
                  key=("unit_id", "indicator_id", "period"))
    value = pd.to_numeric(obs["value"], errors="coerce").to_numpy(dtype="float64")
    # Not reported (NaN, or anything that is no finite number) is no value: not checked, and
    # not history either.
    keep = np.isfinite(value) & (obs["period_idx"].to_numpy() <= cycle.index)
    n_ind = int(obs["indicator_id_code"].max()) + 1 if len(obs) else 1
    frame = pd.DataFrame({
        "unit_id": obs["unit_id"].to_numpy()[keep],
        "indicator_id": obs["indicator_id"].to_numpy()[keep],
        "pair": (obs["unit_id_code"].to_numpy(dtype="int64") * n_ind
                 + obs["indicator_id_code"].to_numpy(dtype="int64"))[keep],
        "t": obs["period_idx"].to_numpy().astype("int64")[keep],
        "value": value[keep],
    })
    frame = frame.sort_values(["pair", "t"], kind="mergesort", ignore_index=True)
    by_pair = frame.groupby("pair", sort=False)
    frame["prev"] = by_pair["value"].shift(1)
    frame["prev_t"] = by_pair["t"].shift(1)
    return frame


# ---------------------------------------------------------------------------------------------
# The rules: each takes the cycle's values (``current``) and returns the flagged rows of it with
# expected_low, expected_high and detail.


def _num(x: float) -> str:
    return f"{x:.6g}"


def _flags(current: pd.DataFrame, mask: np.ndarray, rule: str, low, high,
           detail: list[str] | None) -> pd.DataFrame:
    """The flagged rows of ``current`` with the rule's columns (``low``, ``high``: a number or an
    array over ``current``)."""
    mask = np.asarray(mask, dtype=bool)
    rows = current.loc[mask, ["unit_id", "indicator_id", "value"]].copy()
    rows["rule"] = rule
    rows["expected_low"] = np.broadcast_to(np.asarray(low, dtype="float64"), mask.shape)[mask]
    rows["expected_high"] = np.broadcast_to(np.asarray(high, dtype="float64"), mask.shape)[mask]
    rows["detail"] = detail if detail is not None else ""
    return rows


def _percent_range(current: pd.DataFrame) -> pd.DataFrame:
    """``percent_range``: a percentage outside [0, 100]."""
    v = current["value"].to_numpy()
    mask = current["is_percent"].to_numpy() & ((v < PERCENT_LOW) | (v > PERCENT_HIGH))
    detail = [f"value={_num(x)} outside [0, 100]" for x in v[mask]]
    return _flags(current, mask, PERCENT_RANGE, PERCENT_LOW, PERCENT_HIGH, detail)


def _cumulative_decrease(current: pd.DataFrame) -> pd.DataFrame:
    """``cumulative_decrease``: a running total below the unit's previous value."""
    v, prev = current["value"].to_numpy(), current["prev"].to_numpy()
    with np.errstate(invalid="ignore"):
        mask = current["cumulative"].to_numpy() & (v < prev)   # no previous value: NaN, False
    detail = [f"value={_num(x)} < prev={_num(p)} ({from_index(int(t))})"
              for x, p, t in zip(v[mask], prev[mask], current["prev_t"].to_numpy()[mask])]
    return _flags(current, mask, CUMULATIVE_DECREASE, np.where(mask, prev, np.nan), np.nan,
                  detail)


def _change_stats(history: pd.DataFrame, cycle: Cycle) -> pd.DataFrame:
    """Per unit-indicator pair, over its changes ``D`` before the cycle: ``n`` (how many),
    ``median`` and ``mad`` = median(|D - median(D)|)."""
    past = history[(history["t"].to_numpy() < cycle.index) & history["prev"].notna().to_numpy()]
    change = past["value"] - past["prev"]
    by_pair = change.groupby(past["pair"].to_numpy())
    stats = pd.DataFrame({"n": by_pair.size(), "median": by_pair.median()})
    deviation = (change - past["pair"].map(stats["median"])).abs()
    stats["mad"] = deviation.groupby(past["pair"].to_numpy()).median()
    return stats


def _jump(current: pd.DataFrame, history: pd.DataFrame, cycle: Cycle,
          settings: dict) -> pd.DataFrame:
    """``jump``: a change beyond ``k`` robust deviations of the unit's past changes, or beyond
    ``jump_relative`` of the previous value (with at least ``min_history`` past changes)."""
    k, relative = float(settings["jump_mad_k"]), float(settings["jump_relative"])
    stats = _change_stats(history, cycle).reindex(current["pair"].to_numpy())
    v, prev = current["value"].to_numpy(), current["prev"].to_numpy()
    n = stats["n"].fillna(0).to_numpy()
    med, mad = stats["median"].to_numpy(), stats["mad"].to_numpy()
    d = v - prev
    applies = (n >= settings["min_history"]) & np.isfinite(d)
    # A MAD within rounding of the values is no spread: 4.6 - 4.5 and 4.5 - 4.4 differ in
    # binary by 1e-16, which would make any other change look like thousands of deviations.
    robust = applies & (mad > ROUNDING * np.fmax(np.abs(prev), np.abs(v)))
    with np.errstate(invalid="ignore", divide="ignore"):
        # The same product as the expected range below, so the range and the flag agree.
        allowed = k * MAD_SCALE * mad
        too_far = robust & (np.abs(d - med) > allowed)
        ratio = np.where(prev != 0, np.abs(d) / np.abs(prev), np.nan)
        too_big = applies & (prev != 0) & (ratio > relative)
        z = np.where(robust, np.abs(d - med) / (MAD_SCALE * mad), np.nan)
    mask = too_far | too_big
    low = np.where(robust, prev + med - allowed, np.nan)
    high = np.where(robust, prev + med + allowed, np.nan)
    detail = [f"d={_num(a)} prev={_num(p)} median={_num(m)} mad={_num(s)} z={_num(zz)} "
              f"rel={_num(r)}"
              for a, p, m, s, zz, r in zip(d[mask], prev[mask], med[mask], mad[mask], z[mask],
                                          ratio[mask])]
    return _flags(current, mask, JUMP, low, high, detail)


def _peer_outlier(current: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """``peer_outlier``: outside Tukey's fences among the units of the same level reporting the
    indicator in the cycle (at least ``min_peers`` of them)."""
    f = float(settings["peer_fence"])
    level = current["level"]
    peers = current[level.notna().to_numpy()]
    group = [peers["level"].to_numpy(), peers["indicator_id"].to_numpy()]
    values = peers["value"].groupby(group)
    # Quartiles as numpy's default ("linear") method: pandas' groupby quantile interpolates the
    # same way.
    n = values.transform("size").reindex(current.index)
    q1 = values.transform("quantile", 0.25).reindex(current.index).to_numpy()
    q3 = values.transform("quantile", 0.75).reindex(current.index).to_numpy()
    iqr = q3 - q1
    low, high = q1 - f * iqr, q3 + f * iqr
    v = current["value"].to_numpy()
    applies = n.fillna(0).to_numpy() >= settings["min_peers"]
    with np.errstate(invalid="ignore"):
        mask = applies & ((v < low) | (v > high))
    detail = [f"value={_num(x)} q1={_num(a)} q3={_num(b)} peers={int(m)}"
              for x, a, b, m in zip(v[mask], q1[mask], q3[mask], n.to_numpy()[mask])]
    return _flags(current, mask, PEER_OUTLIER, np.where(applies, low, np.nan),
                  np.where(applies, high, np.nan), detail)


def _copied(current: pd.DataFrame, history: pd.DataFrame, cycle: Cycle,
            settings: dict) -> pd.DataFrame:
    """``copied``: the same value in ``copied_quarters`` consecutive quarters ending at the
    cycle."""
    # A run of equal values in consecutive quarters continues where a row repeats its previous
    # value one quarter later; a run's length at a row counts the rows of the run up to it.
    same = ((history["value"] == history["prev"]) & (history["t"] == history["prev_t"] + 1))
    run = (~same).cumsum()
    length = run.groupby(run.to_numpy()).cumcount() + 1
    at_cycle = pd.Series(length.to_numpy(), index=history["pair"].to_numpy())[
        history["t"].to_numpy() == cycle.index]
    run_length = at_cycle.reindex(current["pair"].to_numpy()).to_numpy()
    mask = run_length >= settings["copied_quarters"]
    detail = [f"value={_num(x)} in {int(m)} quarters {from_index(cycle.index - int(m) + 1)}"
              f"-{cycle}" for x, m in zip(current["value"].to_numpy()[mask], run_length[mask])]
    return _flags(current, mask, COPIED, np.nan, np.nan, detail)


# ---------------------------------------------------------------------------------------------
# The checks


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in (
        "value", "expected_low", "expected_high") else "str") for c in REVIEW_COLUMNS})


def review_flags(observations: pd.DataFrame, indicators: pd.DataFrame, units: pd.DataFrame,
                 cycle: str, config: dict | None = None) -> pd.DataFrame:
    """The values of ``cycle`` that the review rules flag (module docstring: the formulas).

    One row per flagged value and rule: unit_id, indicator_id, period (the cycle), value, rule
    (one of :data:`RULES`), expected_low, expected_high (the range the rule expected; NaN where
    it has none) and detail (the numbers that triggered it), sorted by unit_id, indicator_id
    and rule. A cycle without values gives an empty table. A table lacking a column raises
    :class:`~evalkit.errors.MethodError`; a bad row (empty id, a period that is no quarter, a
    key given twice) raises :class:`~evalkit.errors.InputError`."""
    cycle = Cycle(cycle)
    settings = review_settings(config)
    facts = _indicator_facts(indicators)
    levels = _unit_levels(units)
    history = _history(observations, cycle)
    current = history[history["t"].to_numpy() == cycle.index].reset_index(drop=True)
    if current.empty:
        return _empty()
    known = facts.reindex(current["indicator_id"].to_numpy())
    current["is_percent"] = known["is_percent"].fillna(False).to_numpy(dtype=bool)
    current["cumulative"] = known["cumulative"].fillna(False).to_numpy(dtype=bool)
    current["level"] = levels.reindex(current["unit_id"].to_numpy()).to_numpy()

    found = [_jump(current, history, cycle, settings), _peer_outlier(current, settings),
             _copied(current, history, cycle, settings)]
    if settings["percent_range"]:
        found.append(_percent_range(current))
    if settings["cumulative_decrease"]:
        found.append(_cumulative_decrease(current))
    out = pd.concat(found, ignore_index=True)
    if out.empty:
        return _empty()
    out.insert(2, "period", str(cycle))
    out = out.sort_values(["unit_id", "indicator_id", "rule"], kind="mergesort",
                          ignore_index=True)
    out["detail"] = out["detail"].astype("str")
    return out[REVIEW_COLUMNS]
