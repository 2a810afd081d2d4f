"""Tests that kill mutants of the method's formula modules that the other tests let live
(mutmut over src/evalkit/method; the configuration is the [tool.mutmut] table of
pyproject.toml). Every expected value is worked by hand in the comment beside it."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.method import gaps, progress, scoring

# --- gaps._catch_up: the closed form of the first k >= 1 with A + B k <= 0 ---------------------

def test_catch_up_closed_form_by_hand():
    A = np.array([3 + 2e-9, 1 + 1.5e-9, -1.0, 1.5, 0.5, 8.0, 10.0])
    B = np.array([-1.0, -1.0, -2.0, -1.0, 0.25, -1.0, -1.0])
    k = gaps._catch_up(A, B, 8)
    assert k.dtype == np.float64
    # 1. A / -B = 3.000000002, 2e-9 above 3: within the relative tolerance 1e-9 * 3 = 3e-9,
    #    so k = 3 (not 4);
    # 2. A / -B = 1.0000000015: above 1 by more than the tolerance 1e-9 * max(1, 1.0..) ~ 1e-9,
    #    so k = ceil(1.0000000005) = 2 (not 1);
    # 3. A + B = -3 <= 0: k = 1 (A / -B = -0.5 would give ceil(-0.5) = 0, never an answer);
    # 4. A + B = 0.5 > 0 (not caught up after one quarter), A / -B = 1.5: k = 2;
    # 5. B > 0 and A + B = 0.75 > 0: the projected gap never shrinks: NaN;
    # 6. A / -B = 8 = horizon: k = 8; 7. A / -B = 10 > horizon 8: NaN.
    np.testing.assert_array_equal(k, [3.0, 2.0, 1.0, 2.0, np.nan, 8.0, np.nan])


def test_catch_up_warns_about_nothing():
    # B = 0 divides by zero, 0 / 0 is invalid, 1e308 / 1e-308 overflows: none may warn.
    A = np.array([1.0, 0.0, 1e308])
    B = np.array([0.0, 0.0, -1e-308])
    with np.errstate(divide="warn", invalid="warn", over="warn"), warnings.catch_warnings():
        warnings.simplefilter("error")
        k = gaps._catch_up(A, B, 8)
    # A + B = 1 > 0 with B = 0: never; A + B = 0 <= 0: k = 1; A / -B = inf > horizon: NaN.
    np.testing.assert_array_equal(k, [np.nan, 1.0, np.nan])


# --- progress: target progress on a few milestones worked by hand ------------------------------

INDICATORS = pd.DataFrame({"indicator_id": ["communities", "relief_days"],
                           "domain": ["community", "relief"],
                           "direction": ["higher", "lower"]})


def _target(unit, b, T, deadline="2021-12-31", baseline="2021Q2", indicator="communities"):
    return {"unit_id": unit, "indicator_id": indicator, "baseline_period": baseline,
            "baseline_value": float(b), "deadline": pd.Timestamp(deadline),
            "target_value": float(T), "phase": None}


def _obs(unit, values, indicator="communities"):
    return [{"unit_id": unit, "indicator_id": indicator, "period": p, "value": float(v)}
            for p, v in values.items()]


def _progress(targets, observations, cycle="2021Q3"):
    return progress.target_progress(pd.DataFrame(targets), pd.DataFrame(observations),
                                    INDICATORS, cycle)


def test_a_lone_milestone_past_its_deadline_applies():
    # One milestone (so the last row of the last unit and indicator), deadline 2021-06-30
    # before the as-of date 2021-09-30: none is upcoming, so the last one applies.
    p = _progress([_target("z", 2, 10, deadline="2021-06-30", baseline="2020Q4")],
                  _obs("z", {"2021Q3": 8}))
    assert p["status"].tolist() == ["overdue"]
    assert p["applicable"].tolist() == [True]


def test_no_targets_give_a_boolean_applicable_column():
    p = _progress([_target("z", 2, 10)], _obs("z", {"2021Q3": 8}))
    empty = progress.target_progress(pd.DataFrame([_target("z", 2, 10)]).iloc[0:0],
                                     pd.DataFrame(_obs("z", {"2021Q3": 8})), INDICATORS,
                                     "2021Q3")
    assert empty.empty
    assert empty["applicable"].dtype == p["applicable"].dtype == bool


DENORMAL = 5e-324          # the smallest positive double: T - b = 5e-324 for b = 0


def test_ratios_are_bounded_on_both_sides():
    # b = 0, T = 5e-324 (a target asking for progress), tau = 92 / 184 = 0.5.
    # up: x = 1: a = 1 / 5e-324 overflows to +inf, bounded to +1e12; p = a / 0.5 bounded too;
    #     met, as 1 >= T. down: x = -1: a = -inf bounded to -1e12, p the same; red.
    p = _progress([_target("down", 0, DENORMAL), _target("up", 0, DENORMAL)],
                  _obs("down", {"2021Q3": -1}) + _obs("up", {"2021Q3": 1}))
    assert p["unit_id"].tolist() == ["down", "up"]
    assert p["attainment"].tolist() == [-progress.RATIO_BOUND, progress.RATIO_BOUND]
    assert p["progress_ratio"].tolist() == [-progress.RATIO_BOUND, progress.RATIO_BOUND]
    assert p["status"].tolist() == ["red", "met"]


def test_progress_warns_about_nothing():
    # T == b with x != b divides by zero, with x == b is 0 / 0; a cycle at the baseline has
    # tau = 0 (a / 0); 1 / 5e-324 overflows: none may warn.
    targets = [_target("slip", 30, 30), _target("hold", 30, 30),
               _target("start", 6, 18, baseline="2021Q3"), _target("tiny", 0, DENORMAL)]
    obs = (_obs("slip", {"2021Q3": 28}) + _obs("hold", {"2021Q3": 30})
           + _obs("start", {"2021Q3": 7}) + _obs("tiny", {"2021Q3": 1}))
    with np.errstate(divide="warn", invalid="warn", over="warn"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        p = _progress(targets, obs)
    by_unit = p.set_index("unit_id")
    # hold: met (30 >= 30), attainment 1; slip: T == b not met: attainment 0, tau = 0.5, p = 0,
    # red; start: baseline 2021Q3, tau = 0: a = (7 - 6) / 12, p NaN, not_started.
    assert by_unit.loc["hold", "status"] == "met" and by_unit.loc["hold", "attainment"] == 1
    assert by_unit.loc["slip", "attainment"] == 0 and by_unit.loc["slip", "status"] == "red"
    assert by_unit.loc["start", "status"] == "not_started"
    assert by_unit.loc["start", "attainment"] == pytest.approx(1 / 12)
    assert np.isnan(by_unit.loc["start", "progress_ratio"])


def test_milestone_due_on_its_baseline_date():
    # d1 == d0: fully elapsed once d >= d1, else not at all. b = 6, T = 18, x = 10 at 2021Q3
    # (d = 2021-09-30). due: d0 = d1 = 2021-06-30 <= d: tau = 1, e = T = 18,
    # a = (10 - 6) / 12 = 1/3 = p, overdue. later: d0 = d1 = 2021-12-31 > d: tau = 0, e = b = 6,
    # p NaN, not_started.
    p = _progress([_target("due", 6, 18, deadline="2021-06-30", baseline="2021Q2"),
                   _target("later", 6, 18, deadline="2021-12-31", baseline="2021Q4")],
                  _obs("due", {"2021Q3": 10}) + _obs("later", {"2021Q3": 10}))
    due, later = p.iloc[0], p.iloc[1]
    assert (due["unit_id"], later["unit_id"]) == ("due", "later")
    assert due["time_elapsed"] == 1.0 and due["expected_value"] == 18.0
    assert due["progress_ratio"] == pytest.approx(1 / 3) and due["status"] == "overdue"
    assert later["time_elapsed"] == 0.0 and later["expected_value"] == 6.0
    assert np.isnan(later["progress_ratio"]) and later["status"] == "not_started"
    # the reason of the NaN ratio: time not started at tau = 0; none at tau = 1
    assert (due["note"], later["note"]) == ("", "time_not_started")


# --- scoring: the benchmark, min-max and grade formulas ----------------------------------------

def test_benchmark_score_ratios_below_one():
    # x and y both positive, below 1: still the ratio. higher: 100 min(1, 0.5 / 1) = 50;
    # 100 min(1, 0.25 / 0.5) = 50; lower: 100 min(1, y / x) = 100 * 0.25 / 0.5 = 50.
    s = scoring.benchmark_score([0.5, 0.25, 0.5], [1.0, 0.5, 0.25], [1, 1, -1])
    np.testing.assert_allclose(s, [50.0, 50.0, 50.0])


def test_benchmark_score_level_with_the_benchmark_off_the_ratio():
    # x == y <= 0 (no ratio): sign (x - y) = 0 >= 0, level with the benchmark: 100 for
    # either direction; x = -4 below y = -3, higher: 0; lower: 100.
    s = scoring.benchmark_score([-3.0, 0.0, -3.0, -4.0, -4.0], [-3.0, 0.0, -3.0, -3.0, -3.0],
                                [-1, -1, 1, 1, -1])
    np.testing.assert_array_equal(s, [100.0, 100.0, 100.0, 0.0, 100.0])


def test_benchmark_score_warns_about_nothing_at_zero():
    # x = 0 < y (lower: y / x would divide by zero), y = 0 < x (higher: x / 0), both 0:
    # all-or-nothing. lower, x = 0 below y = 5: -(0 - 5) = 5 >= 0: 100; higher, x = 5 above
    # y = 0: 100; lower, x = 5 above y = 0: 0; higher, both 0: level: 100.
    with np.errstate(divide="warn", invalid="warn", over="warn"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s = scoring.benchmark_score([0.0, 5.0, 5.0, 0.0], [5.0, 0.0, 0.0, 0.0], [-1, 1, -1, 1])
    np.testing.assert_array_equal(s, [100.0, 100.0, 0.0, 100.0])


def test_minmax_score_narrow_spread_and_missing_value():
    # hi - lo = 1 - 0 = 1 > 0: higher 100 (0.5 - 0) / 1 = 50, lower 100 (1 - 0.25) / 1 = 75;
    # x NaN: NaN, also where hi == lo (which would give everyone else 100).
    s = scoring.minmax_score([0.5, 0.25, np.nan, np.nan, 5.0], [0.0, 0.0, 0.0, 5.0, 5.0],
                             [1.0, 1.0, 1.0, 5.0, 5.0], [1, -1, 1, 1, 1])
    assert s.dtype == np.float64
    np.testing.assert_allclose(s, [50.0, 75.0, np.nan, np.nan, 100.0])


CONFIG = {"scores": {"grades": [["优秀", 90], ["良好", 80], ["合格", 60], ["不合格", 0]],
                     "veto_grade": "不合格"}}


def test_grade_of_text_totals_and_its_name():
    # "95" >= 90: 优秀; "61.5" >= 60: 合格; a blank or a dash is no number: None.
    g = scoring.grade(pd.Series(["95", "", "61.5", "—"]), CONFIG)
    assert g.tolist() == ["优秀", None, "合格", None]
    assert g.name == "grade"


def test_grade_veto_is_matched_on_the_index():
    # veto given in another order: unit 20 is vetoed (不合格 whatever its 95), unit 10 not (85
    # -> 良好); matched by position it would be the other way round.
    total = pd.Series([85.0, 95.0], index=[10, 20])
    veto = pd.Series([True, False], index=[20, 10])
    assert scoring.grade(total, CONFIG, veto).tolist() == ["良好", "不合格"]


def test_target_score_of_a_milestone_met_before_its_time_starts():
    # met at tau = 0 (its ratio undefined): 100 all the same; yellow p = 0.75: 75;
    # red p = -0.5: 0; overdue without a ratio: its attainment 0.4: 40.
    prog = pd.DataFrame({
        "unit_id": ["a", "b", "c", "d"], "indicator_id": ["i", "i", "i", "i"],
        "applicable": [True, True, True, True],
        "status": ["met", "yellow", "red", "overdue"],
        "progress_ratio": [np.nan, 0.75, -0.5, np.nan],
        "attainment": [1.0 / 12, 0.375, -0.25, 0.4]})
    s = scoring._target_scores(prog)
    assert s["unit_id"].tolist() == ["a", "b", "c", "d"]
    np.testing.assert_allclose(s["target_score"], [100.0, 75.0, 0.0, 40.0])


def test_what_it_takes_when_no_change_or_exactly_the_pace_is_required():
    # Cycle 2021Q3, deadline 2021-12-31: quarters_left = 1; T = 18 unless said.
    # level: no current value, last 18 at 2021Q2 = T: required (18 - 18) / 1 = 0, trend
    #   14, 18: slope 4: ratio NaN (no change required), on pace (4 >= 0);
    # flat: last 18, 18: slope 0, required 0: ratio NaN, on pace (0 >= 0);
    # even: x = 10, trend 2, 10: slope 8 = required (18 - 10) / 1: ratio 1, on pace (8 >= 8);
    # tiny: T = 5e-324, x = 0, trend -1, 0: slope 1, required 5e-324: ratio 1 / 5e-324
    #   overflows, bounded at 1e12; on pace.
    targets = [_target("level", 10, 18), _target("flat", 10, 18), _target("even", 2, 18),
               _target("tiny", 0, DENORMAL)]
    obs = (_obs("level", {"2021Q1": 14, "2021Q2": 18}) + _obs("flat", {"2021Q1": 18, "2021Q2": 18})
           + _obs("even", {"2021Q2": 2, "2021Q3": 10}) + _obs("tiny", {"2021Q2": -1, "2021Q3": 0}))
    with np.errstate(divide="warn", invalid="warn", over="warn"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        w = progress.what_it_takes(pd.DataFrame(targets), pd.DataFrame(obs), INDICATORS, "2021Q3")
    w = w.set_index("unit_id").loc[["level", "flat", "even", "tiny"]]
    assert w["quarters_left"].dtype == np.int64 and w["quarters_left"].tolist() == [1, 1, 1, 1]
    assert w["value_basis"].tolist() == ["last", "last", "current", "current"]
    assert w["trend_points"].dtype == np.int64 and w["trend_points"].tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(w["required_pace"], [0.0, 0.0, 8.0, DENORMAL])
    np.testing.assert_allclose(w["recent_pace"], [4.0, 0.0, 8.0, 1.0])
    np.testing.assert_allclose(w["pace_ratio"], [np.nan, np.nan, 1.0, progress.RATIO_BOUND])
    assert w["on_pace"].tolist() == [True, True, True, True]
    assert w["pace_note"].tolist() == ["no_change_required", "no_change_required", "", ""]


def test_lower_is_better_target_reached_exactly_is_met():
    # relief_days, lower: b = 20, T = 10, x = 10: s (x - T) = -1 * 0 = 0 >= 0: met,
    # attainment (10 - 20) / (10 - 20) = 1.
    p = _progress([_target("low", 20, 10, indicator="relief_days")],
                  _obs("low", {"2021Q3": 10}, indicator="relief_days"))
    assert p["status"].tolist() == ["met"] and p["attainment"].tolist() == [1.0]


# --- gaps.benchmark_gaps: closure at its edges, the clip bounds, no warnings ------------------

GAP_UNITS = pd.DataFrame({"unit_id": ["A", "B", "R"],
                          "role": ["assessed", "assessed", "reference"]})
GAP_INDICATORS = pd.DataFrame({"indicator_id": ["x"], "domain": ["d"],
                               "direction": ["higher"]})
GAP_BENCHMARKS = pd.DataFrame({"unit_id": ["A", "B"], "benchmark_unit_id": ["R", "R"],
                               "domains": [None, None]})


def _gaps(values: dict, targets=None, cycle="2021Q3"):
    rows = [{"unit_id": u, "indicator_id": "x", "period": p, "value": float(v)}
            for u, per in values.items() for p, v in per.items()]
    out = gaps.benchmark_gaps(GAP_UNITS, GAP_BENCHMARKS, GAP_INDICATORS, pd.DataFrame(rows),
                              targets, cycle)
    return out.set_index(out["unit_id"].astype("str"))


def test_closure_needs_a_positive_baseline_gap():
    # Baseline: the first observed quarter, 2021Q2 (no targets). A: baseline gap 10 - 9.5 =
    # 0.5 > 0, gap now 10 - 9.75 = 0.25: closure 1 - 0.25 / 0.5 = 0.5, no note. B: level with
    # R at the baseline (gap 0): nothing to close, closure NaN, "no_gap_at_baseline".
    g = _gaps({"A": {"2021Q2": 9.5, "2021Q3": 9.75}, "B": {"2021Q2": 10, "2021Q3": 9},
               "R": {"2021Q2": 10, "2021Q3": 10}})
    assert g.loc["A", "baseline_gap"] == 0.5 and g.loc["A", "closure"] == 0.5
    assert g.loc["A", "closure_note"] == "" and g.loc["A", "gap_note"] == ""
    assert g.loc["B", "baseline_gap"] == 0 and np.isnan(g.loc["B", "closure"])
    assert g.loc["B", "closure_note"] == "no_gap_at_baseline"


def test_closure_at_a_baseline_in_the_cycle_itself_is_zero():
    # A's target has its baseline in the cycle, 2021Q3: the baseline gap is today's gap,
    # 10 - 8 = 2, so closure 1 - 2 / 2 = 0 (not "cycle_before_baseline"). B's baseline is
    # 2021Q4, after the cycle: closure NaN, "cycle_before_baseline".
    targets = pd.DataFrame({"unit_id": ["A", "B"], "indicator_id": ["x", "x"],
                            "baseline_period": ["2021Q3", "2021Q4"],
                            "baseline_value": [8.0, 9.0], "target_value": [12.0, 12.0],
                            "deadline": pd.to_datetime(["2022-12-31", "2022-12-31"])})
    g = _gaps({"A": {"2021Q2": 7, "2021Q3": 8}, "B": {"2021Q2": 7, "2021Q3": 9},
               "R": {"2021Q2": 10, "2021Q3": 10}}, targets)
    assert g.loc["A", "baseline_period"] == "2021Q3" and g.loc["A", "closure"] == 0.0
    assert g.loc["A", "closure_note"] == ""
    assert np.isnan(g.loc["B", "closure"]) and g.loc["B", "closure_note"] == "cycle_before_baseline"


def test_relative_gap_and_closure_are_bounded_on_both_sides_without_warnings():
    bound = progress.RATIO_BOUND
    # A: benchmark 1e-300, A at 1e300 far ahead: gap -1e300, relative -1e300 / 1e-300 = -inf
    # -> -1e12; baseline gap 1e-300 - 0 > 0 (A at 0 then), closure 1 - (-1e300 / 1e-300)
    # = +inf -> +1e12. B: at -1e300 now, 0 at the baseline: gap 1e300, relative +inf -> 1e12,
    # closure 1 - 1e300 / 1e-300 = -inf -> -1e12.
    values = {"A": {"2021Q2": 0, "2021Q3": 1e300}, "B": {"2021Q2": 0, "2021Q3": -1e300},
              "R": {"2021Q2": 1e-300, "2021Q3": 1e-300}}
    with np.errstate(all="warn"), warnings.catch_warnings():
        warnings.simplefilter("error")
        g = _gaps(values)
    assert g.loc["A", "relative_gap"] == -bound and g.loc["A", "closure"] == bound
    assert g.loc["B", "relative_gap"] == bound and g.loc["B", "closure"] == -bound
