"""Target progress, warnings and what-it-takes on a fixture small enough to check by hand.

Most milestones share one shape: baseline b at 2021Q2 (d0 = 2021-06-30), deadline 2021-12-31
(d1), cycle 2021Q3 (d = 2021-09-30), so tau = 92 / 184 = 0.5 and p = 2 a.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit import periods
from evalkit.config import load_config
from evalkit.errors import InputError, ParseError
from evalkit.method.panel import linear_trends
from evalkit.method.progress import target_progress, what_it_takes

CONFIG = load_config()

INDICATORS = pd.DataFrame({
    "indicator_id": ["communities", "workers", "relief_days", "balance"],
    "domain": ["community", "social_work", "relief", "community"],
    "direction": ["higher", "higher", "lower", "higher"],
})


def _target(unit, indicator, b, T, deadline="2021-12-31", baseline="2021Q2", phase=None):
    return {"unit_id": unit, "indicator_id": indicator, "baseline_period": baseline,
            "baseline_value": float(b), "deadline": pd.Timestamp(deadline),
            "target_value": float(T), "phase": phase}


TARGETS = pd.DataFrame([
    _target("yellow", "communities", 6, 18),
    _target("green", "communities", 6, 18),
    _target("red", "communities", 6, 18),
    _target("met", "communities", 6, 18),
    _target("nodata", "communities", 6, 18),
    _target("empty", "communities", 6, 18),
    _target("overdue", "communities", 2, 10, deadline="2021-06-30", baseline="2020Q4"),
    _target("notstarted", "communities", 6, 18, baseline="2021Q3"),
    _target("lost", "communities", 6, 18, deadline="2022-06-30"),
    _target("two", "communities", 6, 18, phase="first"),
    _target("two", "communities", 6, 29, deadline="2023-12-31", phase="second"),
    _target("low_yellow", "relief_days", 20, 10),
    _target("low_green", "relief_days", 20, 10),
    _target("low_red", "relief_days", 20, 10),
    _target("low_met", "relief_days", 20, 10),
    _target("hold_met", "workers", 30, 30),
    _target("hold_slip", "workers", 30, 30),
    _target("negative", "balance", -4, 0),
    _target("zero_met", "balance", -4, 0),
])


def _obs(unit, indicator, values: dict[str, float]):
    return [{"unit_id": unit, "indicator_id": indicator, "period": p, "value": float(v)}
            for p, v in values.items()]


OBSERVATIONS = pd.DataFrame(
    _obs("yellow", "communities", {"2021Q1": 4, "2021Q2": 6, "2021Q3": 10})
    + _obs("green", "communities", {"2021Q3": 12})
    + _obs("red", "communities", {"2021Q3": 5})
    + _obs("met", "communities", {"2021Q3": 18})
    + _obs("nodata", "communities", {"2021Q2": 9})
    + _obs("overdue", "communities", {"2021Q3": 8})
    + _obs("notstarted", "communities", {"2021Q3": 7})
    + _obs("lost", "communities", {"2021Q3": 18, "2021Q4": 15})
    + _obs("two", "communities", {"2021Q3": 10, "2022Q1": 19, "2024Q1": 25})
    + _obs("low_yellow", "relief_days", {"2021Q2": 20, "2021Q3": 16})
    + _obs("low_green", "relief_days", {"2021Q1": 24, "2021Q2": 20, "2021Q3": 14})
    + _obs("low_red", "relief_days", {"2021Q3": 22})
    + _obs("low_met", "relief_days", {"2021Q3": 9})
    + _obs("hold_met", "workers", {"2021Q3": 30})
    + _obs("hold_slip", "workers", {"2021Q3": 28, "2022Q1": 28})
    + _obs("negative", "balance", {"2021Q3": -2})
    + _obs("zero_met", "balance", {"2021Q3": 0})
)


def progress(cycle="2021Q3", config=CONFIG, targets=TARGETS, observations=OBSERVATIONS,
             indicators=INDICATORS):
    return target_progress(targets, observations, indicators, cycle, config)


def row(df, unit, deadline=None):
    sel = df[df["unit_id"] == unit]
    if deadline is not None:
        sel = sel[sel["deadline"] == pd.Timestamp(deadline)]
    assert len(sel) == 1, (unit, deadline, sel)
    return sel.iloc[0]


@pytest.fixture(scope="module")
def q3():
    return progress()


# --- the hand-worked numbers -------------------------------------------------------------


def test_yellow_worked_example(q3):
    r = row(q3, "yellow")
    assert r["as_of"] == pd.Timestamp("2021-09-30")
    assert r["time_elapsed"] == pytest.approx(92 / 184)            # = 0.5
    assert r["expected_value"] == pytest.approx(6 + 0.5 * (18 - 6))  # = 12
    assert r["actual_value"] == 10
    assert r["attainment"] == pytest.approx((10 - 6) / (18 - 6))   # = 1/3
    assert r["progress_ratio"] == pytest.approx((1 / 3) / 0.5)     # = 0.6667: 0.60 <= p < 0.95
    assert r["status"] == "yellow"
    assert r["note"] == ""
    assert r["applicable"]


def test_green_and_red(q3):
    g = row(q3, "green")                  # x = 12: a = 6/12 = 0.5, p = 1.0 >= 0.95
    assert (g["attainment"], g["progress_ratio"], g["status"]) == (
        pytest.approx(0.5), pytest.approx(1.0), "green")
    r = row(q3, "red")                    # x = 5 < b: a = -1/12, p = -1/6 (moving away)
    assert r["attainment"] == pytest.approx(-1 / 12)
    assert r["progress_ratio"] == pytest.approx(-1 / 6)
    assert r["status"] == "red"


def test_met_comes_first(q3):
    r = row(q3, "met")                    # x = 18 = T: s (x - T) = 0 >= 0
    assert r["status"] == "met"
    assert r["attainment"] == pytest.approx(1.0)


def test_no_current_value_is_no_data_and_older_value_is_shown(q3):
    r = row(q3, "nodata")                 # only 2021Q2 = 9: shown, not scored
    assert r["status"] == "no_data"
    assert math.isnan(r["actual_value"]) and math.isnan(r["attainment"])
    assert math.isnan(r["progress_ratio"])
    assert (r["last_value"], r["last_period"]) == (9.0, "2021Q2")
    assert r["note"] == "no_current_value"
    assert r["expected_value"] == pytest.approx(12)   # the trajectory needs no observation
    e = row(q3, "empty")                  # no observation at all
    assert e["status"] == "no_data" and pd.isna(e["last_period"])


def test_overdue(q3):
    r = row(q3, "overdue")                # d1 = 2021-06-30 <= d, x = 8 < T = 10
    assert r["time_elapsed"] == 1.0
    assert r["attainment"] == pytest.approx((8 - 2) / (10 - 2))  # = 0.75
    assert r["status"] == "overdue"


def test_not_started(q3):
    r = row(q3, "notstarted")             # baseline 2021Q3: d0 = d, tau = 0
    assert r["time_elapsed"] == 0.0
    assert r["expected_value"] == pytest.approx(6)
    assert r["attainment"] == pytest.approx(1 / 12)
    assert math.isnan(r["progress_ratio"])
    assert (r["status"], r["note"]) == ("not_started", "time_not_started")


def test_lower_is_better(q3):
    # b = 20, T = 10, tau = 0.5, e = 20 + 0.5 * (10 - 20) = 15
    y = row(q3, "low_yellow")             # x = 16: a = (16-20)/(10-20) = 0.4, p = 0.8
    assert y["expected_value"] == pytest.approx(15)
    assert (y["attainment"], y["progress_ratio"], y["status"]) == (
        pytest.approx(0.4), pytest.approx(0.8), "yellow")
    g = row(q3, "low_green")              # x = 14: a = 0.6, p = 1.2
    assert (g["progress_ratio"], g["status"]) == (pytest.approx(1.2), "green")
    r = row(q3, "low_red")                # x = 22 (worse than b): a = -0.2, p = -0.4
    assert (r["progress_ratio"], r["status"]) == (pytest.approx(-0.4), "red")
    m = row(q3, "low_met")                # x = 9 <= 10: s (x - T) = -1 * (9 - 10) = 1 >= 0
    assert m["status"] == "met"


def test_target_equal_to_baseline(q3):
    m = row(q3, "hold_met")               # T = b = 30, x = 30: met, a = 1, p = 1 / 0.5 = 2
    assert (m["status"], m["attainment"], m["progress_ratio"]) == ("met", 1.0, 2.0)
    assert m["note"] == "no_change_required"
    s = row(q3, "hold_slip")              # x = 28 < 30: a = 0, p = 0 -> red
    assert (s["status"], s["attainment"], s["progress_ratio"]) == ("red", 0.0, 0.0)
    later = row(progress("2022Q1"), "hold_slip")   # past the deadline, still 28
    assert later["status"] == "overdue"


def test_zero_and_negative_values(q3):
    n = row(q3, "negative")               # b = -4, T = 0, x = -2: a = 2/4 = 0.5, p = 1.0
    assert n["expected_value"] == pytest.approx(-2)
    assert (n["attainment"], n["progress_ratio"], n["status"]) == (
        pytest.approx(0.5), pytest.approx(1.0), "green")
    assert row(q3, "zero_met")["status"] == "met"   # x = 0 = T


def test_met_early_then_lost_is_judged_on_the_current_value():
    assert row(progress("2021Q3"), "lost")["status"] == "met"   # 18 at 2021Q3
    r = row(progress("2021Q4"), "lost")   # 15 at 2021Q4, deadline 2022-06-30
    # tau = (2021-12-31 - 2021-06-30) / (2022-06-30 - 2021-06-30) = 184 / 365
    # a = (15 - 6) / 12 = 0.75, p = 0.75 * 365 / 184 = 1.4878 -> green, but not met
    assert r["time_elapsed"] == pytest.approx(184 / 365)
    assert r["attainment"] == pytest.approx(0.75)
    assert r["progress_ratio"] == pytest.approx(0.75 * 365 / 184)
    assert r["status"] == "green"


@pytest.mark.parametrize("cycle, applicable_deadline", [
    ("2021Q3", "2021-12-31"),   # before both deadlines: the first
    ("2021Q4", "2021-12-31"),   # as-of equals the first deadline: still the first
    ("2022Q1", "2023-12-31"),   # between: the second
    ("2024Q1", "2023-12-31"),   # after both: the last one
])
def test_applicable_milestone(cycle, applicable_deadline):
    two = progress(cycle)
    two = two[two["unit_id"] == "two"]
    assert len(two) == 2
    assert two.loc[two["applicable"], "deadline"].tolist() == [pd.Timestamp(applicable_deadline)]


def test_two_milestones_between_and_after():
    p = progress("2022Q1")               # x = 19
    assert row(p, "two", "2021-12-31")["status"] == "met"
    second = row(p, "two", "2023-12-31")
    # tau = 274 / 914; a = (19 - 6) / (29 - 6) = 13/23; p = a / tau = 1.8855 -> green
    assert second["time_elapsed"] == pytest.approx(274 / 914)
    assert second["attainment"] == pytest.approx(13 / 23)
    assert second["progress_ratio"] == pytest.approx((13 / 23) / (274 / 914))
    assert second["status"] == "green" and second["phase"] == "second"
    after = progress("2024Q1")           # x = 25 < 29, past 2023-12-31
    assert row(after, "two", "2023-12-31")["status"] == "overdue"
    assert row(after, "two", "2021-12-31")["status"] == "met"


def test_cycle_before_any_baseline():
    p = progress("2020Q3")                # every baseline is 2020Q4 or later
    assert set(p["status"]) <= {"not_started", "no_data", "met"}
    assert (p["time_elapsed"] == 0).all()
    assert p["progress_ratio"].isna().all()
    early = OBSERVATIONS.assign(period="2020Q3").drop_duplicates(["unit_id", "indicator_id"])
    p = progress("2020Q3", observations=early)
    assert set(p["status"]) == {"not_started", "no_data", "met"}


def test_output_shape_and_types(q3):
    assert len(q3) == len(TARGETS)
    assert list(q3[["unit_id", "indicator_id", "deadline"]].itertuples(index=False)) == sorted(
        q3[["unit_id", "indicator_id", "deadline"]].itertuples(index=False))
    assert q3["deadline"].dtype == "datetime64[ns]" and q3["as_of"].dtype == "datetime64[ns]"
    assert q3["applicable"].dtype == bool
    assert set(q3["status"]) == {"met", "overdue", "not_started", "green", "yellow", "red",
                                 "no_data"}
    numeric = q3.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numeric).any()


def test_thresholds_come_from_config():
    looser = load_config(overrides={"progress": {"green": 0.6, "yellow": 0.3}})
    p = progress(config=looser)
    assert row(p, "yellow")["status"] == "green"     # p = 0.667 >= 0.6
    assert row(p, "low_yellow")["status"] == "green"  # p = 0.8


def test_empty_targets_give_an_empty_table():
    p = progress(targets=TARGETS.iloc[0:0])
    assert p.empty and "status" in p.columns


def test_chinese_direction_aliases_are_accepted(q3):
    zh = INDICATORS.assign(direction=["正向", "正向", "逆向", "越高越好"])
    pd.testing.assert_frame_equal(progress(indicators=zh), q3)


# --- bad input ---------------------------------------------------------------------------


def _problem(exc_info):
    return exc_info.value.problems[0]


def test_bad_cycle_is_a_parse_error():
    with pytest.raises(ParseError):
        progress("2021-09")


def test_bad_period_in_observations():
    obs = OBSERVATIONS.copy()
    obs.loc[3, "period"] = "2021Q5"
    with pytest.raises(InputError) as exc:
        progress(observations=obs)
    p = _problem(exc)
    assert (p.file, p.row, p.column) == ("observations", 5, "period")
    assert "quarter" in p.message


@pytest.mark.parametrize("bad", [np.inf, np.nan, "many"])
def test_value_that_is_not_a_finite_number(bad):
    obs = OBSERVATIONS.astype({"value": object})
    obs.loc[0, "value"] = bad
    with pytest.raises(InputError) as exc:
        progress(observations=obs)
    assert (_problem(exc).row, _problem(exc).column) == (2, "value")


def test_duplicate_observation_key():
    obs = pd.concat([OBSERVATIONS, OBSERVATIONS.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicate key"):
        progress(observations=obs)


def test_unknown_indicator_in_targets():
    t = pd.concat([TARGETS, pd.DataFrame([_target("x", "nosuch", 1, 2)])], ignore_index=True)
    with pytest.raises(InputError) as exc:
        progress(targets=t)
    assert (_problem(exc).row, _problem(exc).column) == (len(t) + 1, "indicator_id")


def test_deadline_before_baseline():
    t = pd.DataFrame([_target("x", "communities", 1, 2, deadline="2021-03-31")])
    with pytest.raises(InputError, match="before the end of the baseline"):
        progress(targets=t)


def test_bad_date_and_empty_id():
    t = pd.DataFrame([_target("x", "communities", 1, 2), _target(" ", "communities", 1, 2)])
    t["deadline"] = t["deadline"].astype(object)
    t.loc[0, "deadline"] = "sometime"
    with pytest.raises(InputError) as exc:
        progress(targets=t)
    where = {(p.row, p.column) for p in exc.value.problems}
    assert where == {(2, "deadline"), (3, "unit_id")}


def test_bad_direction_and_missing_column():
    with pytest.raises(InputError, match="higher or lower"):
        progress(indicators=INDICATORS.assign(direction=["up", "higher", "lower", "higher"]))
    with pytest.raises(InputError, match="missing column 'target_value'"):
        progress(targets=TARGETS.drop(columns="target_value"))


def test_many_bad_rows_are_summarised():
    obs = OBSERVATIONS.assign(period="soon")
    with pytest.raises(InputError) as exc:
        progress(observations=obs)
    problems = exc.value.problems
    assert len(problems) == 21 and "more rows" in problems[-1].message


# --- what it takes -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wit():
    return what_it_takes(TARGETS, OBSERVATIONS, INDICATORS, "2021Q3", CONFIG)


def test_what_it_takes_rows(wit):
    # open applicable milestones only: not met, deadline after 2021-09-30, some value known
    # left out: met, lost, low_met, hold_met, zero_met (met), overdue (deadline passed),
    # empty (no value at all); "two" has one row, its applicable first milestone
    assert sorted(wit["unit_id"]) == sorted([
        "yellow", "green", "red", "nodata", "notstarted", "two", "low_yellow", "low_green",
        "low_red", "hold_slip", "negative"])
    assert row(wit, "two")["deadline"] == pd.Timestamp("2021-12-31")
    assert (wit["quarters_left"] >= 1).all()


def test_what_it_takes_higher(wit):
    r = row(wit, "yellow")
    # quarters_left = index(2021Q4) - index(2021Q3) = 1; required = (18 - 10) / 1 = 8
    # trend over 2021Q1..Q3 = 4, 6, 10 at k = -2, -1, 0: kbar = -1, ybar = 20/3,
    # slope = sum dk dy / sum dk^2 = ((-1)(-8/3) + (1)(10/3)) / 2 = 3
    assert r["quarters_left"] == 1
    assert r["required_pace"] == pytest.approx(8)
    assert r["recent_pace"] == pytest.approx(3)
    assert r["trend_points"] == 3
    assert r["pace_ratio"] == pytest.approx(3 / 8)
    assert not r["on_pace"]
    assert r["value_basis"] == "current"


def test_what_it_takes_lower(wit):
    g = row(wit, "low_green")
    # required = (10 - 14) / 1 = -4; trend 24, 20, 14: slope = ((-1)(14/3) + (1)(-16/3)) / 2 = -5
    # on pace: s * recent = 5 >= s * required = 4
    assert g["required_pace"] == pytest.approx(-4)
    assert g["recent_pace"] == pytest.approx(-5)
    assert g["pace_ratio"] == pytest.approx(1.25)
    assert g["on_pace"]
    y = row(wit, "low_yellow")           # required -6, slope 16 - 20 = -4: 4 < 6, not on pace
    assert (y["recent_pace"], y["required_pace"]) == (pytest.approx(-4), pytest.approx(-6))
    assert not y["on_pace"]


def test_what_it_takes_without_current_value_uses_last(wit):
    r = row(wit, "nodata")               # last value 9 at 2021Q2: required = (18 - 9) / 1 = 9
    assert (r["value_basis"], r["value_period"], r["actual_value"]) == ("last", "2021Q2", 9.0)
    assert r["required_pace"] == pytest.approx(9)
    assert math.isnan(r["recent_pace"]) and pd.isna(r["on_pace"])   # one point only
    assert r["pace_note"] == "insufficient_data"
    assert "empty" not in set(wit["unit_id"])   # no value at all: no row


def test_what_it_takes_several_quarters_left():
    w = what_it_takes(TARGETS, OBSERVATIONS, INDICATORS, "2022Q1", CONFIG)
    r = row(w, "two")
    # deadline 2023-12-31 is 2023Q4: 2023*4+3 - (2022*4+0) = 7 quarters; x = 19
    # required = (29 - 19) / 7; trend through 10 (k=-2) and 19 (k=0): slope 4.5
    assert r["deadline"] == pd.Timestamp("2023-12-31")
    assert r["quarters_left"] == 7
    assert r["required_pace"] == pytest.approx(10 / 7)
    assert r["recent_pace"] == pytest.approx(4.5)
    assert r["on_pace"]


def test_what_it_takes_trend_cycles_from_config():
    two = load_config(overrides={"scores": {"trend_cycles": 2}})
    w = what_it_takes(TARGETS, OBSERVATIONS, INDICATORS, "2021Q3", two)
    assert row(w, "yellow")["recent_pace"] == pytest.approx(10 - 6)   # 2021Q2..Q3 only
    assert row(w, "yellow")["trend_points"] == 2


def test_linear_trends_ignores_later_quarters():
    t = linear_trends(OBSERVATIONS, "2021Q3", 4)
    two = t[t["unit_id"] == "two"].iloc[0]
    assert two["n_points"] == 1 and math.isnan(two["slope"])   # 2022Q1 and 2024Q1 are later
    lost = t[t["unit_id"] == "lost"].iloc[0]
    assert lost["n_points"] == 1


# --- properties --------------------------------------------------------------------------

QUARTERS = st.integers(periods.to_index("2019Q1"), periods.to_index("2025Q4"))
VALUES = st.floats(-1e6, 1e6, allow_nan=False)
CASE = st.tuples(VALUES, VALUES, VALUES, st.floats(0, 1e6, allow_nan=False),
                 QUARTERS, st.integers(0, 1500), st.sampled_from(["higher", "lower"]))


def _property_frames(cases, cycle_idx):
    """Each case becomes two units, the second with x moved by delta in the good direction."""
    targets, obs = [], []
    cycle = periods.from_index(cycle_idx)
    for i, (b, T, x, delta, base_idx, days, direction) in enumerate(cases):
        base = periods.from_index(base_idx)
        deadline = pd.Timestamp(periods.end_date(base)) + pd.Timedelta(days=days)
        s = 1 if direction == "higher" else -1
        for j, value in enumerate((x, x + s * delta)):
            unit = f"u{i}_{j}"
            targets.append({"unit_id": unit, "indicator_id": direction, "baseline_period": base,
                            "baseline_value": b, "deadline": deadline, "target_value": T})
            obs.append({"unit_id": unit, "indicator_id": direction, "period": cycle,
                        "value": value})
    indicators = pd.DataFrame({"indicator_id": ["higher", "lower"],
                               "direction": ["higher", "lower"]})
    return pd.DataFrame(targets), pd.DataFrame(obs), indicators


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CASE, min_size=1, max_size=12), QUARTERS)
def test_properties(cases, cycle_idx):
    targets, obs, indicators = _property_frames(cases, cycle_idx)
    p = target_progress(targets, obs, indicators, periods.from_index(cycle_idx), CONFIG)
    assert p["time_elapsed"].between(0, 1).all()
    assert not np.isinf(p.select_dtypes("number").to_numpy(dtype=float)).any()
    s = np.where(p["direction"] == "higher", 1.0, -1.0)
    met = s * (p["actual_value"] - p["target_value"]) >= 0
    assert ((p["status"] == "met") == met).all()
    by_unit = p.set_index("unit_id")
    for i in range(len(cases)):
        before, after = by_unit.loc[f"u{i}_0"], by_unit.loc[f"u{i}_1"]
        assert after["attainment"] >= before["attainment"]
        if math.isnan(before["progress_ratio"]):
            assert math.isnan(after["progress_ratio"])          # both while tau == 0
        else:
            assert after["progress_ratio"] >= before["progress_ratio"]


@settings(max_examples=40, deadline=None)
@given(st.lists(CASE, min_size=1, max_size=8), QUARTERS)
def test_what_it_takes_properties(cases, cycle_idx):
    targets, obs, indicators = _property_frames(cases, cycle_idx)
    w = what_it_takes(targets, obs, indicators, periods.from_index(cycle_idx), CONFIG)
    assert (w["quarters_left"] >= 1).all()
    assert not np.isinf(w.select_dtypes("number").to_numpy(dtype=float)).any()
    assert w["on_pace"].isna().all()          # one observation each: no recent pace


# --- helpers -----------------------------------------------------------------------------


def test_ids_are_trimmed_and_numbers_read(q3):
    obs = OBSERVATIONS.assign(unit_id=" " + OBSERVATIONS["unit_id"] + "  ",
                              value=OBSERVATIONS["value"].astype(str))
    pd.testing.assert_frame_equal(progress(observations=obs), q3)


def test_latest_upto():
    from evalkit.method.panel import latest_upto, prepare_observations
    obs = prepare_observations(OBSERVATIONS)
    pair = obs.pair_codes(pd.Series(["two", "two", "two", "nosuch", "yellow"]),
                          pd.Series(["communities"] * 3 + ["communities", "workers"]))
    assert pair[3] == -1                        # unknown unit
    cut = np.array([periods.to_index(q) for q in ("2021Q2", "2022Q3", "2030Q1", "2021Q3",
                                                  "2021Q3")], dtype=float)
    value, at = latest_upto(obs, pair, cut)
    # "two": 10 at 2021Q3, 19 at 2022Q1, 25 at 2024Q1; yellow has no workers
    assert np.isnan(value[0]) and value[1] == 19 and value[2] == 25
    assert at[1] == periods.to_index("2022Q1")
    assert np.isnan(value[3]) and np.isnan(value[4])
