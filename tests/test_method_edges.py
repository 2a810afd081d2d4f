"""The method's edges, each pinned to a value worked by hand: the as-of date on a deadline, a
progress ratio exactly on a threshold, a projected gap of exactly zero, the look-back and the
other questions of the observations, the floor of the simulated totals, an earlier cycle's
scores against the cycle's own, and markup in the ledger and a unit name on the rendered pages.

Observations reach the method in four forms: plain frames, categorical frames as a large store
returns them (the panel is then built from the codes), and each of them made sparse by padding
units observed in 1800Q1 and 9999Q4 (a panel of pairs x 32800 quarters, nearly all empty, with
few pairs observed: 1800 and not earlier, since a scored cycle's dates are pandas timestamps,
which end before 1677 and cannot differ by 292 years or more). The same study must give the
same numbers in every form.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import copy_sample

from evalkit.method import gaps
from evalkit.method import lookback
from evalkit.analysis import sensitivity
from evalkit.method import trends
from evalkit.config import load_config
from evalkit.model import Study, empty_table
from evalkit.inputs import ingest as ingest_mod
from evalkit.method import panel
from evalkit.method import progress
from evalkit.publish import reports
from evalkit import study as study_mod
from conftest import no_progress_and_no_gaps

CONFIG = load_config()

INDICATORS = pd.DataFrame({
    "indicator_id": ["communities", "relief_days", "workers"],
    "domain": ["community", "relief", "social_work"],
    "direction": ["higher", "lower", "higher"],
    "weight": [1.0, 1.0, 1.0],
})


def _target(unit, indicator, b, T, deadline, baseline, phase=None):
    return {"unit_id": unit, "indicator_id": indicator, "baseline_period": baseline,
            "baseline_value": float(b), "deadline": pd.Timestamp(deadline),
            "target_value": float(T), "phase": phase}


def _obs(unit, indicator, values: dict[str, float]) -> list[dict]:
    return [{"unit_id": unit, "indicator_id": indicator, "period": p, "value": float(v)}
            for p, v in values.items()]


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["unit_id", "indicator_id", "period", "value"])


# --- the four forms of the observations ---------------------------------------------------------

PADDING_UNITS = 40


def _padded(obs: pd.DataFrame) -> pd.DataFrame:
    """``obs`` with 40 padding units observed once in 1800Q1, one of them also in 9999Q4: the
    quarters span 32800 columns, nearly all of them empty. The padding units have no targets
    and no benchmark, and their quarters lie before every baseline and after every cycle."""
    pad = [{"unit_id": f"pad{i:02d}", "indicator_id": "communities", "period": "1800Q1",
            "value": 1.0} for i in range(PADDING_UNITS)]
    pad.append({"unit_id": "pad00", "indicator_id": "communities", "period": "9999Q4",
                "value": 1.0})
    return pd.concat([obs, _frame(pad)], ignore_index=True)


def _categorical(obs: pd.DataFrame) -> pd.DataFrame:
    """Ids and periods as categoricals with sorted categories, as a large store returns them."""
    return obs.assign(**{c: obs[c].astype("category") for c in ("unit_id", "indicator_id",
                                                                "period")})


FORMS = {
    "plain": lambda obs: obs,
    "categorical": _categorical,
    "sparse": _padded,
    "sparse_categorical": lambda obs: _categorical(_padded(obs)),
}


def _form(name: str, obs: pd.DataFrame) -> pd.DataFrame:
    return FORMS[name](obs)


def _row(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column].astype("str") == value).to_numpy()
    found = table[mask]
    assert len(found) == 1, f"expected one row for {where}, got {len(found)}"
    return found.iloc[0]


# --- 1. the as-of date on the deadline day ----------------------------------------------------
#
# Baseline 6 at 2021Q2 (d0 = 2021-06-30), target 18, cycle 2021Q3 (d = 2021-09-30), value 10:
# not met. a = (10 - 6) / (18 - 6) = 1/3.

DEADLINE_DAY = pd.DataFrame([
    _target("on_day", "communities", 6, 18, "2021-09-30", "2021Q2"),
    _target("day_after", "communities", 6, 18, "2021-10-01", "2021Q2"),
    # two milestones: the first falls due on the as-of date itself, so it is the one that applies
    _target("two", "communities", 6, 18, "2021-09-30", "2021Q2", phase="first"),
    _target("two", "communities", 6, 29, "2023-12-31", "2021Q2", phase="second"),
])
DEADLINE_OBS = _frame(_obs("on_day", "communities", {"2021Q3": 10})
                      + _obs("day_after", "communities", {"2021Q3": 10})
                      + _obs("two", "communities", {"2021Q3": 10}))


def test_deadline_on_the_as_of_date_is_overdue():
    prog = progress.target_progress(DEADLINE_DAY, DEADLINE_OBS, INDICATORS, "2021Q3", CONFIG)
    on_day = _row(prog, unit_id="on_day")
    # d = d1: overdue (d >= d1), tau = 92 / 92 = 1, p = a / 1 = 1/3
    assert on_day["status"] == "overdue"
    assert on_day["time_elapsed"] == 1.0
    assert on_day["progress_ratio"] == pytest.approx(1 / 3)
    assert on_day["expected_value"] == 18.0


def test_deadline_one_day_after_the_as_of_date_is_not_overdue():
    prog = progress.target_progress(DEADLINE_DAY, DEADLINE_OBS, INDICATORS, "2021Q3", CONFIG)
    after = _row(prog, unit_id="day_after")
    # d1 = d + 1 day: tau = 92 / 93, p = (1/3) / (92/93) = 93 / 276 = 0.337 < 0.60: red
    assert after["status"] == "red"
    assert after["time_elapsed"] == pytest.approx(92 / 93)
    assert after["progress_ratio"] == pytest.approx(93 / 276)


def test_milestone_due_on_the_as_of_date_is_the_applicable_one():
    prog = progress.target_progress(DEADLINE_DAY, DEADLINE_OBS, INDICATORS, "2021Q3", CONFIG)
    first = _row(prog, unit_id="two", phase="first")
    second = _row(prog, unit_id="two", phase="second")
    # the earliest deadline >= d is 2021-09-30 = d itself
    assert bool(first["applicable"]) and not bool(second["applicable"])
    assert first["status"] == "overdue"
    # the second: tau = 92 / (2023-12-31 - 2021-06-30 = 914 days), a = 4 / 23
    assert second["time_elapsed"] == pytest.approx(92 / 914)
    assert second["progress_ratio"] == pytest.approx((4 / 23) / (92 / 914))


def test_what_it_takes_leaves_out_a_milestone_due_on_the_as_of_date():
    wit = progress.what_it_takes(DEADLINE_DAY, DEADLINE_OBS, INDICATORS, "2021Q3", CONFIG)
    # on_day is due today (no pace can help) and two's applicable milestone too; day_after is
    # open: its deadline 2021-10-01 is in 2021Q4, one quarter left, required (18 - 10) / 1 = 8
    assert list(wit["unit_id"]) == ["day_after"]
    assert wit["quarters_left"].iloc[0] == 1
    assert wit["required_pace"].iloc[0] == 8.0


# --- 2. a progress ratio exactly on a threshold ------------------------------------------------
#
# Baseline 0 at 2020Q4 (d0 = 2020-12-31), target 100 by 2022-12-31, cycle 2021Q4
# (d = 2021-12-31): tau = 365 / 730 = 0.5 exactly, so p = 2 a = 2 x / 100, and doubling is
# exact in floating point: x = 47.5 gives p = 0.95, x = 30 gives p = 0.60, the very doubles the
# configuration holds.

THRESHOLD_VALUES = {"green_edge": 47.5, "below_green": 47.4, "yellow_edge": 30.0,
                    "below_yellow": 29.9}
THRESHOLD_TARGETS = pd.DataFrame([_target(u, "communities", 0, 100, "2022-12-31", "2020Q4")
                                  for u in THRESHOLD_VALUES])
THRESHOLD_OBS = _frame([row for u, x in THRESHOLD_VALUES.items()
                        for row in _obs(u, "communities", {"2021Q4": x})])


def test_defaults_are_the_thresholds_these_tests_sit_on():
    assert CONFIG["progress"]["green"] == 0.95 and CONFIG["progress"]["yellow"] == 0.60


@pytest.mark.parametrize("unit, status, p", [
    ("green_edge", "green", 0.95),       # p = 2 x 0.475 = 0.95 >= 0.95
    ("below_green", "yellow", 0.948),    # p = 2 x 0.474 = 0.948 < 0.95
    ("yellow_edge", "yellow", 0.60),     # p = 2 x 0.30 = 0.60 >= 0.60
    ("below_yellow", "red", 0.598),      # p = 2 x 0.299 = 0.598 < 0.60
])
def test_progress_ratio_on_a_threshold_takes_the_upper_colour(unit, status, p):
    prog = progress.target_progress(THRESHOLD_TARGETS, THRESHOLD_OBS, INDICATORS, "2021Q4",
                                    CONFIG)
    row = _row(prog, unit_id=unit)
    assert row["time_elapsed"] == 0.5
    assert row["expected_value"] == 50.0
    assert row["progress_ratio"] == pytest.approx(p, abs=1e-12)
    assert row["status"] == status


def test_ratio_exactly_on_the_thresholds_is_exactly_the_configured_double():
    prog = progress.target_progress(THRESHOLD_TARGETS, THRESHOLD_OBS, INDICATORS, "2021Q4",
                                    CONFIG)
    assert _row(prog, unit_id="green_edge")["progress_ratio"] == 0.95
    assert _row(prog, unit_id="yellow_edge")["progress_ratio"] == 0.60


# --- 3. a projected gap of exactly zero ----------------------------------------------------------
#
# Cycle 2021Q3; the trends run through 2020Q4..2021Q3, k = -3, -2, -1, 0 from the cycle.
# G(k) = s (yhat(k) - xhat(k)) = A + B k, and the first k >= 1 with G(k) <= 0 is the catch-up:
# a projected gap of exactly zero counts as caught up.

GAP_UNITS = pd.DataFrame({"unit_id": ["flat", "steady", "level", "R"],
                          "role": ["assessed"] * 3 + ["reference"]})
GAP_BENCHMARKS = pd.DataFrame({"unit_id": ["flat", "steady", "level"],
                               "benchmark_unit_id": ["R", "R", "R"],
                               "domains": ["community", "relief", "social_work"]})
QUARTERS = ["2020Q4", "2021Q1", "2021Q2", "2021Q3"]


def _series(unit, indicator, values):
    return _obs(unit, indicator, dict(zip(QUARTERS, values)))


GAP_OBS = _frame(
    # flat: values 4, 6, 6, 4: kbar = -1.5, ybar = 5, sum dk dy = 1.5 - 0.5 + 0.5 - 1.5 = 0:
    # slope 0, level 5; the benchmark 5 throughout: slope 0, level 5. The current gap
    # g = 5 - 4 = 1 > 0, yet G(k) = 0 + 0 k = 0 for every k: A + B = 0 <= 0, k = 1.
    _series("flat", "communities", [4, 6, 6, 4])
    + _series("R", "communities", [5, 5, 5, 5])
    # steady (lower is better): days 13, 12, 11, 10 against the benchmark's 6 throughout:
    # g = -(6 - 10) = 4; G(k) = -(6 - (10 - k)) = 4 - k, zero at k = 4 exactly: 2022Q3.
    + _series("steady", "relief_days", [13, 12, 11, 10])
    + _series("R", "relief_days", [6, 6, 6, 6])
    # level: 50 against the benchmark's 50 now: g = 0, level with it: ahead.
    + _series("level", "workers", [44, 46, 48, 50])
    + _series("R", "workers", [50, 50, 50, 50])
)


@pytest.mark.parametrize("form", list(FORMS))
def test_zero_projected_gap_is_caught_up(form):
    obs = _form(form, GAP_OBS)
    out = gaps.benchmark_gaps(GAP_UNITS, GAP_BENCHMARKS, INDICATORS, obs, None, "2021Q3",
                              CONFIG)
    flat = _row(out, unit_id="flat")
    assert flat["gap"] == 1.0
    assert flat["unit_trend"] == 0.0 and flat["benchmark_trend"] == 0.0
    assert flat["catch_up_status"] == "projected"
    assert flat["catch_up_quarters"] == 1.0
    assert flat["catch_up_period"] == "2021Q4"

    steady = _row(out, unit_id="steady")
    assert steady["gap"] == 4.0
    assert steady["unit_trend"] == pytest.approx(-1.0)
    assert steady["catch_up_status"] == "projected"
    assert steady["catch_up_quarters"] == 4.0          # G(4) = 0, not the first k with G < 0 (5)
    assert steady["catch_up_period"] == "2022Q3"

    level = _row(out, unit_id="level")
    assert level["gap"] == 0.0 and level["relative_gap"] == 0.0
    assert level["catch_up_status"] == "ahead"
    assert math.isnan(level["catch_up_quarters"])


# --- 4. the look-back from the panel and from the rows ------------------------------------------
#
# Cycle 2022Q1 (d = 2022-03-31).

LOOKBACK_TARGETS = pd.DataFrame([
    _target("ontime", "communities", 4, 18, "2021-12-31", "2021Q2"),
    _target("late", "communities", 4, 18, "2021-12-31", "2021Q2"),
    _target("notmet", "relief_days", 20, 10, "2021-09-30", "2021Q1"),
    _target("nodata", "communities", 4, 18, "2021-12-31", "2021Q2"),
    _target("ontime", "communities", 4, 29, "2022-06-30", "2021Q2"),     # not due: no row
])
LOOKBACK_OBS = _frame(
    # 20 in 2021Q1 is before the baseline quarter 2021Q2: it says nothing about the plan
    _obs("ontime", "communities", {"2021Q1": 20, "2021Q3": 9, "2021Q4": 18, "2022Q1": 17})
    # 25 in 2022Q2 is after the cycle: not known at d
    + _obs("late", "communities", {"2021Q3": 10, "2021Q4": 12, "2022Q1": 19, "2022Q2": 25})
    + _obs("notmet", "relief_days", {"2021Q2": 15, "2022Q1": 11})
    + _obs("nodata", "communities", {"2020Q4": 30})
)


@pytest.mark.parametrize("form", list(FORMS))
def test_lookback_gives_the_same_worked_numbers_from_panel_and_rows(form):
    obs = _form(form, LOOKBACK_OBS)
    lb = lookback.target_lookback(LOOKBACK_TARGETS, obs, INDICATORS, "2022Q1", CONFIG)
    assert list(lb["unit_id"]) == ["late", "nodata", "notmet", "ontime"]

    # met 18 in 2021Q4 = the deadline quarter; 17 now < 18
    ontime = _row(lb, unit_id="ontime")
    assert (ontime["outcome"], ontime["met_period"], ontime["quarters_late"]) == \
        ("on_time", "2021Q4", 0)
    assert (ontime["value_at_deadline"], ontime["value_at_deadline_period"]) == (18.0, "2021Q4")
    assert (ontime["latest_value"], ontime["latest_period"]) == (17.0, "2022Q1")
    assert not ontime["still_met"]

    # first met 19 in 2022Q1, one quarter after 2021Q4; at the deadline 12
    late = _row(lb, unit_id="late")
    assert (late["outcome"], late["met_period"], late["quarters_late"]) == ("late", "2022Q1", 1)
    assert (late["value_at_deadline"], late["value_at_deadline_period"]) == (12.0, "2021Q4")
    assert (late["latest_value"], late["latest_period"]) == (19.0, "2022Q1")
    assert late["still_met"]

    # lower is better, 10 days by 2021Q3: 15, then 11, never <= 10; nothing in 2021Q3, so the
    # value at the deadline is 2021Q2's
    notmet = _row(lb, unit_id="notmet")
    assert notmet["outcome"] == "not_met" and pd.isna(notmet["met_period"])
    assert pd.isna(notmet["quarters_late"])
    assert (notmet["value_at_deadline"], notmet["value_at_deadline_period"]) == (15.0, "2021Q2")
    assert (notmet["latest_value"], notmet["latest_period"]) == (11.0, "2022Q1")
    assert not notmet["still_met"]

    # the only value, 2020Q4, lies before the baseline 2021Q2: an empty window
    nodata = _row(lb, unit_id="nodata")
    assert nodata["outcome"] == "no_data" and nodata["note"] == "no_observation"
    assert math.isnan(nodata["latest_value"]) and pd.isna(nodata["still_met"])

    summary = lookback.lookback_summary(lb, lookback.ledger_lookback(
        empty_table("ledger"), "2022Q1", CONFIG))
    ontime_rate = _row(summary, unit_id="ontime")["on_time_rate"]
    assert ontime_rate == 1.0 and _row(summary, unit_id="late")["on_time_rate"] == 0.0


# --- 5. the floor of the simulated totals ---------------------------------------------------------
#
# One indicator, one domain, the configured normalisation only: every run's domain score is
# the indicator score whatever weights are drawn. Min-max scores (no targets, no benchmark) of
# x = 100, 10, 5, 0 are 100, 10, 5, 0; A and B lose 20 points (the deduction cap):
# totals max(0, 10 - 20) = 0 and max(0, 5 - 20) = 0 tie with Z's 0 for rank 2 behind M.
# Without the floor they would be -10 and -15: ranks 3 and 4.

def _floor_study():
    units = pd.DataFrame({"unit_id": ["A", "B", "M", "Z"], "level": ["county"] * 4,
                          "role": ["assessed"] * 4})
    indicators = INDICATORS.iloc[[0]].reset_index(drop=True)
    obs = _frame([row for u, x in {"A": 10, "B": 5, "M": 100, "Z": 0}.items()
                  for row in _obs(u, "communities", {"2023Q4": x})])
    prog, bench = no_progress_and_no_gaps()
    adjustments = pd.DataFrame({"unit_id": ["A", "B"], "period": ["2023Q4", "2023Q4"],
                                "points": [-20.0, -20.0], "reason": ["扣分", "扣分"]})
    return units, indicators, obs, prog, bench, adjustments


def test_simulated_totals_are_floored_at_zero():
    units, indicators, obs, prog, bench, adjustments = _floor_study()
    cfg = load_config(overrides={"sensitivity": {"normalisations": ["configured"],
                                                 "runs": 50}})
    variants = sensitivity.indicator_score_variants(units, indicators, obs, prog, bench,
                                                    "2023Q4", cfg)
    assert dict(zip(variants["unit_id"], variants["configured"])) == \
        {"A": 10.0, "B": 5.0, "M": 100.0, "Z": 0.0}
    out = sensitivity.rank_robustness(units, indicators, variants, adjustments, "2023Q4", cfg)
    for unit, rank in {"A": 2.0, "B": 2.0, "M": 1.0, "Z": 2.0}.items():
        row = _row(out, unit_id=unit)
        assert row["rank"] == rank, unit                       # as configured
        assert (row["rank_p05"], row["median_rank"], row["rank_p95"]) == (rank, rank, rank), unit
        assert row["robust"] and row["runs"] == 50
    assert _row(out, unit_id="A")["grade_share"] == 1.0


# --- 6. the second paths: trends, the latest value, earlier cycles' scores ----------------------
#
# The worked example of docs/method.md: baseline 6 at 2021Q2 (d0 = 2021-06-30), target 18 by
# 2021-12-31, cycle 2021Q3 (d = 2021-09-30), tau = 92 / 184 = 0.5.

PATH_TARGETS = pd.DataFrame([
    _target("yellow", "communities", 6, 18, "2021-12-31", "2021Q2"),
    _target("stale", "communities", 6, 18, "2021-12-31", "2021Q2"),
])
PATH_OBS = _frame(
    # 4, 6, 10 at k = -2, -1, 0: kbar = -1, ybar = 20/3, slope = (-1 (4 - 20/3) + (10 - 20/3))
    # / 2 = 3 per quarter, level = 20/3 + 3 = 29/3
    _obs("yellow", "communities", {"2021Q1": 4, "2021Q2": 6, "2021Q3": 10})
    # nothing in 2021Q3: no_data, with 9 of 2021Q2 shown as the last value
    + _obs("stale", "communities", {"2021Q2": 9})
    # no target: 10, 11 at k = -1, 0: slope 1, mean 10.5, r = 1 / 10.5 = 0.095 >= 0.01
    + _obs("free", "workers", {"2021Q2": 10, "2021Q3": 11})
    # no target, lower is better: 30, 30, 30 days: slope 0, stagnating
    + _obs("still", "relief_days", {"2021Q1": 30, "2021Q2": 30, "2021Q3": 30})
    # a later value is not known at the cycle
    + _obs("free", "workers", {"2021Q4": 99})
)
MINE = ["free", "stale", "still", "yellow"]


@pytest.mark.parametrize("form", list(FORMS))
def test_progress_and_latest_value_in_every_form(form):
    obs = _form(form, PATH_OBS)
    prog = progress.target_progress(PATH_TARGETS, obs, INDICATORS, "2021Q3", CONFIG)
    yellow = _row(prog, unit_id="yellow")
    # a = (10 - 6) / 12 = 1/3, p = 2/3: 0.60 <= p < 0.95
    assert yellow["status"] == "yellow"
    assert (yellow["actual_value"], yellow["last_value"], yellow["last_period"]) == \
        (10.0, 10.0, "2021Q3")
    assert yellow["expected_value"] == 12.0
    assert yellow["attainment"] == pytest.approx(1 / 3)
    assert yellow["progress_ratio"] == pytest.approx(2 / 3)
    stale = _row(prog, unit_id="stale")
    assert stale["status"] == "no_data" and stale["note"] == "no_current_value"
    assert math.isnan(stale["actual_value"])
    assert (stale["last_value"], stale["last_period"]) == (9.0, "2021Q2")


@pytest.mark.parametrize("form", list(FORMS))
def test_linear_trends_in_every_form(form):
    obs = _form(form, PATH_OBS)
    tr = panel.linear_trends(obs, "2021Q3", 4)
    tr = tr[tr["unit_id"].astype("str").isin(MINE)]
    assert len(tr) == 4
    yellow = _row(tr, unit_id="yellow")
    assert yellow["n_points"] == 3
    assert yellow["slope"] == pytest.approx(3.0)
    assert yellow["level"] == pytest.approx(29 / 3)
    free = _row(tr, unit_id="free")                     # 2021Q4's 99 is after the cycle
    assert (free["n_points"], free["slope"], free["level"]) == (2, 1.0, 11.0)
    stale = _row(tr, unit_id="stale")
    assert stale["n_points"] == 1 and math.isnan(stale["slope"])
    # the last 2 points only: 6, 10 at k = -1, 0: slope 4, level 10
    two = panel.linear_trends(obs, "2021Q3", 2)
    yellow2 = _row(two, unit_id="yellow")
    assert (yellow2["n_points"], yellow2["slope"], yellow2["level"]) == (2, 4.0, 10.0)


@pytest.mark.parametrize("form", list(FORMS))
def test_what_it_takes_in_every_form(form):
    obs = _form(form, PATH_OBS)
    wit = progress.what_it_takes(PATH_TARGETS, obs, INDICATORS, "2021Q3", CONFIG)
    assert list(wit["unit_id"]) == ["stale", "yellow"]
    # one quarter left; required (18 - 10) / 1 = 8; recent 3; ratio 3 / 8 = 0.375
    yellow = _row(wit, unit_id="yellow")
    assert (yellow["value_basis"], yellow["value_period"]) == ("current", "2021Q3")
    assert (yellow["quarters_left"], yellow["required_pace"]) == (1, 8.0)
    assert yellow["recent_pace"] == pytest.approx(3.0)
    assert yellow["trend_points"] == 3
    assert yellow["pace_ratio"] == pytest.approx(0.375)
    assert not yellow["on_pace"]
    # the last value 9 of 2021Q2 stands in: required 18 - 9 = 9, one point: no recent pace
    stale = _row(wit, unit_id="stale")
    assert (stale["value_basis"], stale["value_period"], stale["actual_value"]) == \
        ("last", "2021Q2", 9.0)
    assert stale["required_pace"] == 9.0
    assert stale["pace_note"] == "insufficient_data" and pd.isna(stale["on_pace"])


@pytest.mark.parametrize("form", list(FORMS))
def test_trend_arrows_in_every_form(form):
    obs = _form(form, PATH_OBS)
    arrows = trends.trend_arrows(PATH_TARGETS, obs, INDICATORS, "2021Q3", CONFIG)
    arrows = arrows[arrows["unit_id"].astype("str").isin(MINE)]
    assert list(arrows["unit_id"]) == MINE

    # q = v / w = 3 / 8 = 0.375: 0 <= q < 0.60
    yellow = _row(arrows, unit_id="yellow")
    assert (yellow["basis"], yellow["arrow"], yellow["symbol"]) == ("target", "stagnating", "→")
    assert yellow["ratio"] == pytest.approx(0.375)
    assert yellow["mean_value"] == pytest.approx(20 / 3)
    assert (yellow["latest_value"], yellow["latest_period"]) == (10.0, "2021Q3")
    assert (yellow["quarters_left"], yellow["required_pace"]) == (1, 8.0)

    # r = s v / |m| = 1 / 10.5 = 0.0952 >= 0.01
    free = _row(arrows, unit_id="free")
    assert (free["basis"], free["arrow"], free["note"]) == \
        ("trend", "moderately_improving", "no_target")
    assert free["relative_pace"] == pytest.approx(1 / 10.5)
    assert (free["latest_value"], free["latest_period"]) == (11.0, "2021Q3")
    assert free["mean_value"] == 10.5

    still = _row(arrows, unit_id="still")
    assert (still["arrow"], still["recent_pace"], still["relative_pace"]) == \
        ("stagnating", 0.0, 0.0)

    # one point: insufficient data; the required pace from the last value, (18 - 9) / 1
    stale = _row(arrows, unit_id="stale")
    assert (stale["arrow"], stale["symbol"], stale["trend_points"]) == \
        ("insufficient_data", "·", 1)
    assert (stale["latest_value"], stale["latest_period"]) == (9.0, "2021Q2")
    assert stale["required_pace"] == 9.0


# --- earlier cycles' scores (the history) against a cycle's own ---------------------------------
#
# Two assessed units A and B, reference unit R (their benchmark). communities (target basis):
# baseline 6 at 2023Q2, 18 by 2023-12-31. workers (benchmark basis: no target; R has 50).
#
# 2023Q3 (tau = 92 / 184 = 0.5):
#   A: communities 10 -> p = (4 / 12) / 0.5 = 2/3 -> 66.667; workers 40 -> 100 x 40/50 = 80;
#      overall (66.667 + 80) / 2 = 73.333; bonus 2 -> total 75.333, rank 1 (合格)
#   B: communities 12 -> p = (6 / 12) / 0.5 = 1 -> 100; workers 25 -> 50;
#      overall 75 = total, rank 2 (合格)
# 2023Q4 (d = d1: tau = 1):
#   A: communities 18 met -> 100; workers 45 -> 90; overall 95, total 95, rank 1 (优秀)
#   B: communities 15 overdue -> p = 9 / 12 = 0.75 -> 75; workers 50 -> 100; overall 87.5
#      rank 2 (良好)

EXPECTED_SCORES = {
    "2023Q3": {"A": {"community": 200 / 3, "social_work": 80.0, "overall": 220 / 3,
                     "total": 220 / 3 + 2, "rank": 1.0, "grade": "合格"},
               "B": {"community": 100.0, "social_work": 50.0, "overall": 75.0,
                     "total": 75.0, "rank": 2.0, "grade": "合格"}},
    "2023Q4": {"A": {"community": 100.0, "social_work": 90.0, "overall": 95.0,
                     "total": 95.0, "rank": 1.0, "grade": "优秀"},
               "B": {"community": 75.0, "social_work": 100.0, "overall": 87.5,
                     "total": 87.5, "rank": 2.0, "grade": "良好"}},
}


def _history_study(form: str) -> Study:
    units = pd.DataFrame({"unit_id": ["A", "B", "R"], "name_zh": ["甲", "乙", "参"],
                          "level": ["county"] * 3, "parent_id": [None] * 3,
                          "role": ["assessed", "assessed", "reference"]})
    targets = pd.DataFrame([_target(u, "communities", 6, 18, "2023-12-31", "2023Q2")
                            for u in ("A", "B")])
    obs = _frame(_obs("A", "communities", {"2023Q3": 10, "2023Q4": 18})
                 + _obs("B", "communities", {"2023Q3": 12, "2023Q4": 15})
                 + _obs("A", "workers", {"2023Q3": 40, "2023Q4": 45})
                 + _obs("B", "workers", {"2023Q3": 25, "2023Q4": 50})
                 + _obs("R", "workers", {"2023Q3": 50, "2023Q4": 50}))
    obs = FORMS[form](obs)
    if form.startswith("sparse"):
        # the padding units are reference units: observed, never scored (1800Q1 becomes an
        # earlier cycle of the history, with no assessed unit scored)
        units = pd.concat([units, pd.DataFrame({
            "unit_id": [f"pad{i:02d}" for i in range(PADDING_UNITS)], "name_zh": "垫",
            "level": "county", "parent_id": None, "role": "reference"})], ignore_index=True)
    benchmarks = pd.DataFrame({"unit_id": ["A", "B"], "benchmark_unit_id": ["R", "R"],
                               "domains": [None, None]})
    adjustments = pd.DataFrame({"unit_id": ["A"], "period": ["2023Q3"], "points": [2.0],
                                "reason": ["加分"], "veto": [False]})
    cfg = load_config(overrides={"sensitivity": {"runs": 20}})
    return Study(units=units, indicators=INDICATORS.iloc[[0, 2]].reset_index(drop=True),
                 targets=targets, benchmarks=benchmarks, observations=obs,
                 ledger=empty_table("ledger"), adjustments=adjustments, config=cfg)


def _check_scores(table: pd.DataFrame, cycle: str) -> None:
    table = table[table["cycle"].astype("str") == cycle]
    for unit, expected in EXPECTED_SCORES[cycle].items():
        for domain in ("community", "social_work", "overall", "total"):
            row = _row(table, unit_id=unit, domain=domain)
            assert row["score"] == pytest.approx(expected[domain]), (cycle, unit, domain)
        total = _row(table, unit_id=unit, domain="total")
        assert total["rank"] == expected["rank"], (cycle, unit)
        assert str(total["grade"]) == expected["grade"], (cycle, unit)


@pytest.mark.parametrize("form", ["plain", "categorical", "sparse"])
def test_earlier_cycle_in_the_history_scores_as_the_cycle_itself(form):
    study = _history_study(form)
    q4 = study_mod.score(study, "2023Q4")
    q3 = study_mod.score(study, "2023Q3")
    # the cycle's own scores (from its progress table and indicator scores) ...
    _check_scores(q3.scores, "2023Q3")
    _check_scores(q4.scores, "2023Q4")
    # ... and 2023Q3 again as an earlier cycle of 2023Q4 (from the milestones' statuses)
    _check_scores(q4.history, "2023Q3")
    _check_scores(q4.history, "2023Q4")
    # the change since 2023Q3: A 95 - 75.333 = +19.667, B 87.5 - 75 = +12.5
    change = q4.scores[q4.scores["domain"].astype("str") == "total"].set_index(
        q4.scores["unit_id"].astype("str")[q4.scores["domain"].astype("str") == "total"])
    assert change.loc["A", "score_change"] == pytest.approx(95 - (220 / 3 + 2))
    assert change.loc["B", "score_change"] == pytest.approx(12.5)
    earlier = q4.history[q4.history["cycle"].astype("str") == "2023Q3"].reset_index(drop=True)
    own = q3.scores.reset_index(drop=True)
    for column in ("score", "coverage", "rank", "n_ranked"):
        np.testing.assert_allclose(earlier[column].to_numpy(dtype="float64"),
                                   own[column].to_numpy(dtype="float64"), err_msg=column)


# --- 7. markup in the ledger and in names comes out as text ---------------------------------------

SCRIPT, BOLD, ENTITY = "<script>alert(1)</script>", "<b>x</b>", "&amp;"


@pytest.fixture(scope="module")
def marked_up_pages(tmp_path_factory):
    """The sample study with markup in a ledger item of daying (task, content, owner), in a
    unit's name and in an indicator's name, rendered for daying and the overview."""
    root = tmp_path_factory.mktemp("markup")
    study = copy_sample(root / "study")
    ledger = study / "ledger.csv"
    text = ledger.read_text(encoding="utf-8-sig").rstrip("\n")
    ledger.write_text(text + "\n" + ",".join([
        "daying-markup", "daying", f"{SCRIPT}任务", f"{BOLD}内容", "问题", "措施",
        f"{ENTITY}股长", "2023年12月底前", "效果", "", "open", ""]) + "\n", encoding="utf-8")
    # a unit of the study named with markup (an id is looked up by id and name elsewhere, so
    # the unit is a new one, reported like the others)
    (study / "units_extra.csv").write_text(
        "unit_id,name_zh,level,role,parent_id\n"
        f"markup,射洪市{BOLD}{ENTITY},county,assessed,suining\n", encoding="utf-8")
    (study / "observations_extra.csv").write_text(
        "unit_id,indicator_id,period,value\n"
        "markup,policy_awareness,2023Q3,80\nmarkup,policy_awareness,2023Q4,85\n",
        encoding="utf-8")
    indicators = study / "indicators.csv"
    frame = pd.read_csv(indicators, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    frame.loc[frame["indicator_id"] == "community_renovated", "name_zh"] += f"{ENTITY}{SCRIPT}"
    frame.to_csv(indicators, index=False, encoding="utf-8")
    store = study / "evalkit.duckdb"
    ingest_mod.ingest([study], store)
    done = reports.report(store, "latest", out=root / "reports", units=["daying"], workers=2,
                           progress=False)
    assert not done["failed"], done["failed"]
    folder = done["folder"]
    return {name: (folder / f"{name}.html").read_text(encoding="utf-8")
            for name in ("daying", "overview")}


def test_ledger_markup_is_escaped_on_the_unit_page(marked_up_pages):
    page = marked_up_pages["daying"]
    assert SCRIPT not in page and BOLD not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;任务" in page
    assert "&lt;b&gt;x&lt;/b&gt;内容" in page
    # the owner's "&amp;" is text: its "&" is escaped once more
    assert "&amp;amp;股长" in page and ">&amp;股长<" not in page


def test_indicator_name_markup_is_escaped_on_the_unit_page(marked_up_pages):
    page = marked_up_pages["daying"]
    assert "亲民化改造社区数（累计）&amp;amp;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT not in page


def test_unit_name_markup_is_escaped_on_the_overview(marked_up_pages):
    page = marked_up_pages["overview"]
    assert SCRIPT not in page and BOLD not in page
    assert "射洪市&lt;b&gt;x&lt;/b&gt;&amp;amp;" in page
