"""Trend arrows on a fixture small enough to check by hand.

Cycle 2021Q4. Most targets have their deadline at 2022-12-31: quarters_left = 2022Q4 - 2021Q4
= 4, and T is chosen so that the required pace w = (T - x) / 4 is a round number. Two points
at 2021Q3 and 2021Q4 (k = -1, 0) give the least-squares slope v = y(2021Q4) - y(2021Q3) and the
mean m = (y1 + y2) / 2; ratios are built from integers (19 / 20 is exactly the double 0.95).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.config import load_config
from evalkit.errors import InputError, ParseError
from evalkit.method.progress import RATIO_BOUND, target_progress
from evalkit.method.panel import linear_trends
from evalkit.method.trends import ARROWS, SYMBOLS, TREND_COLUMNS, trend_arrows

CYCLE = "2021Q4"
CONFIG = load_config()

INDICATORS = pd.DataFrame({
    "indicator_id": ["up", "down"],
    "domain": ["d", "d"],
    "direction": ["higher", "lower"],
})


def _target(unit, indicator, b, T, deadline="2022-12-31"):
    return {"unit_id": unit, "indicator_id": indicator, "baseline_period": "2020Q4",
            "baseline_value": float(b), "deadline": pd.Timestamp(deadline),
            "target_value": float(T)}


def _obs(unit, indicator, values: dict[str, float]):
    return [{"unit_id": unit, "indicator_id": indicator, "period": p, "value": float(v)}
            for p, v in values.items()]


def _two(unit, indicator, y1, y2):
    return _obs(unit, indicator, {"2021Q3": y1, "2021Q4": y2})


TARGETS = pd.DataFrame([
    _target("r95", "up", 0, 99),        # x = 19, w = (99 - 19) / 4 = 20, v = 19: q = 0.95
    _target("r94", "up", 0, 98.8),      # x = 18.8, w = 20, v = 18.8: q = 0.94
    _target("r60", "up", 0, 92),        # x = 12, w = 20, v = 12: q = 0.60
    _target("r59", "up", 0, 91.8),      # x = 11.8, w = 20, v = 11.8: q = 0.59
    _target("r0", "up", 0, 85),         # x = 5, w = 20, v = 0: q = 0
    _target("rneg", "up", 0, 84),       # x = 4, w = 20, v = -1: q = -0.05
    _target("l95", "down", 100, 1),     # x = 81, w = (1 - 81) / 4 = -20, v = -19: q = 0.95
    _target("l60", "down", 100, 8),     # x = 88, w = -20, v = -12: q = 0.60
    _target("lneg", "down", 100, -29),  # x = 51, w = -20, v = +1: q = -0.05
    _target("met", "up", 0, 10),        # x = 12 >= 10: met
    _target("met_falling", "up", 0, 10),  # x = 12 >= 10 but falling (v = -3): still met
    _target("met_one", "up", 0, 10),      # met with a single point
    _target("met_before", "up", 0, 10),   # no 2021Q4 value; the 2021Q3 value 12 meets T
    _target("one", "up", 0, 85),          # a single point: no pace
    _target("late", "up", 0, 50, deadline="2021-06-30"),  # overdue: trend basis
])

OBSERVATIONS = pd.DataFrame(
    _two("r95", "up", 0, 19) + _two("r94", "up", 0, 18.8) + _two("r60", "up", 0, 12)
    + _two("r59", "up", 0, 11.8) + _two("r0", "up", 5, 5) + _two("rneg", "up", 5, 4)
    + _two("l95", "down", 100, 81) + _two("l60", "down", 100, 88)
    + _two("lneg", "down", 50, 51)
    + _two("met", "up", 8, 12) + _two("met_falling", "up", 15, 12)
    + _obs("met_one", "up", {"2021Q4": 12})
    + _obs("met_before", "up", {"2021Q2": 8, "2021Q3": 12})
    + _obs("one", "up", {"2021Q4": 5})
    + _two("late", "up", 10, 20)
    # no targets below: trend basis, r = s v / |m|
    + _two("t_up", "up", 99.5, 100.5)        # v = 1, m = 100: r = 0.01
    + _two("t_flat", "up", 99.75, 100.25)    # v = 0.5, m = 100: r = 0.005
    + _two("t_down", "up", 100.5, 99.5)      # v = -1, m = 100: r = -0.01
    + _two("t_low", "down", 100.5, 99.5)     # s = -1, v = -1, m = 100: r = 0.01
    + _two("t_lowbad", "down", 99.5, 100.5)  # s = -1, v = 1: r = -0.01
    + _two("t_zero", "up", -1, 1)            # m = 0: r = 2 / TINY, clipped to RATIO_BOUND
    + _two("t_still", "up", 0, 0)            # v = 0, m = 0: r = 0
    + _obs("t_one", "up", {"2021Q4": 3})     # a single point
    # five points; the default trend_cycles = 4 uses the last four (k = -3..0, y = 2, 4, 8, 16):
    # kbar = -1.5, ybar = 7.5, sum dk dy = 1.5*5.5 + 0.5*3.5 + 0.5*0.5 + 1.5*8.5 = 23,
    # sum dk^2 = 5, v = 4.6; r = 4.6 / 7.5
    + _obs("t_long", "up", {"2020Q4": 1, "2021Q1": 2, "2021Q2": 4, "2021Q3": 8, "2021Q4": 16})
    # a missing quarter: k = -3, -2, 0, y = 0, 1, 3: kbar = -5/3, ybar = 4/3, dk = dy, v = 1
    + _obs("t_gap", "up", {"2021Q1": 0, "2021Q2": 1, "2021Q4": 3})
    + _obs("t_later", "up", {"2021Q4": 1, "2022Q1": 50})   # 2022Q1 is after the cycle
)


@pytest.fixture(scope="module")
def arrows():
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    return out.set_index("unit_id")


def _row(arrows, unit):
    return arrows.loc[unit]


# ---------------------------------------------------------------------------------------------
# Target basis: the ratio of paces at each boundary


@pytest.mark.parametrize("unit, ratio, arrow", [
    ("r95", 0.95, "on_track"),                # exactly on_track
    ("r94", 0.94, "moderately_improving"),    # just below
    ("r60", 0.60, "moderately_improving"),    # exactly moderate
    ("r59", 0.59, "stagnating"),              # just below
    ("r0", 0.0, "stagnating"),                # exactly 0
    ("rneg", -0.05, "moving_away"),           # below 0
])
def test_ratio_boundaries_higher_is_better(arrows, unit, ratio, arrow):
    row = _row(arrows, unit)
    assert row["basis"] == "target"
    assert row["required_pace"] == pytest.approx(20.0)
    assert row["quarters_left"] == 4
    assert row["ratio"] == pytest.approx(ratio, abs=1e-12)
    assert row["arrow"] == arrow
    assert row["symbol"] == SYMBOLS[arrow]
    assert row["note"] == ""


def test_exact_boundaries_are_exact(arrows):
    # The boundaries must be hit exactly, not within rounding, for the test to mean anything.
    assert _row(arrows, "r95")["ratio"] == 0.95
    assert _row(arrows, "r60")["ratio"] == 0.60
    assert _row(arrows, "r0")["ratio"] == 0.0


@pytest.mark.parametrize("unit, ratio, arrow", [
    ("l95", 0.95, "on_track"),              # v = -19, w = -20
    ("l60", 0.60, "moderately_improving"),  # v = -12, w = -20
    ("lneg", -0.05, "moving_away"),         # v = +1 (worse), w = -20
])
def test_ratio_boundaries_lower_is_better(arrows, unit, ratio, arrow):
    row = _row(arrows, unit)
    assert row["direction"] == "lower"
    assert row["required_pace"] == pytest.approx(-20.0)
    assert row["ratio"] == ratio
    assert row["arrow"] == arrow


def test_met_target_is_on_track_even_when_falling(arrows):
    for unit, pace in [("met", 4.0), ("met_falling", -3.0)]:
        row = _row(arrows, unit)
        assert row["basis"] == "target"
        assert row["arrow"] == "on_track" and row["symbol"] == "↑"
        assert row["note"] == "target_met"
        assert row["required_pace"] == 0.0
        assert np.isnan(row["ratio"])
        assert row["recent_pace"] == pytest.approx(pace)      # 12 - 8; 12 - 15


def test_met_target_with_a_single_point_is_on_track(arrows):
    row = _row(arrows, "met_one")
    assert row["arrow"] == "on_track" and row["note"] == "target_met"
    assert row["trend_points"] == 1 and np.isnan(row["recent_pace"])


def test_target_met_by_the_latest_older_value(arrows):
    # No 2021Q4 value: progress says no_data; the latest value 12 (2021Q3) already meets T = 10.
    row = _row(arrows, "met_before")
    assert row["latest_period"] == "2021Q3" and row["latest_value"] == 12.0
    assert row["basis"] == "target" and row["arrow"] == "on_track"
    assert row["note"] == "target_met"
    assert row["required_pace"] == 0.0      # what_it_takes says (10 - 12) / 4: nothing needed
    assert row["quarters_left"] == 4
    assert np.isnan(row["ratio"])


def test_single_point_with_a_target_is_insufficient(arrows):
    row = _row(arrows, "one")
    assert row["basis"] == "target"
    assert row["required_pace"] == pytest.approx((85 - 5) / 4)
    assert row["arrow"] == "insufficient_data" and row["symbol"] == "·"
    assert row["note"] == "insufficient_data"
    assert np.isnan(row["ratio"]) and np.isnan(row["recent_pace"])
    assert np.isnan(row["relative_pace"])


def test_overdue_target_falls_back_to_the_trend(arrows):
    # Deadline 2021-06-30 passed unmet: no required pace. v = 10, m = 15: r = 0.667.
    row = _row(arrows, "late")
    assert row["basis"] == "trend" and row["note"] == "deadline_passed"
    assert row["deadline"] == pd.Timestamp("2021-06-30") and row["target_value"] == 50.0
    assert np.isnan(row["required_pace"]) and pd.isna(row["quarters_left"])
    assert np.isnan(row["ratio"])
    assert row["relative_pace"] == pytest.approx(10 / 15)
    assert row["arrow"] == "moderately_improving"


# ---------------------------------------------------------------------------------------------
# Trend basis


@pytest.mark.parametrize("unit, rel, arrow", [
    ("t_up", 0.01, "moderately_improving"),   # exactly flat
    ("t_flat", 0.005, "stagnating"),
    ("t_down", -0.01, "moving_away"),         # exactly -flat
    ("t_low", 0.01, "moderately_improving"),  # lower is better, falling
    ("t_lowbad", -0.01, "moving_away"),       # lower is better, rising
    ("t_still", 0.0, "stagnating"),
    ("t_zero", RATIO_BOUND, "moderately_improving"),
])
def test_trend_basis(arrows, unit, rel, arrow):
    row = _row(arrows, unit)
    assert row["basis"] == "trend" and row["note"] == "no_target"
    assert row["relative_pace"] == rel
    assert row["arrow"] == arrow and row["symbol"] == SYMBOLS[arrow]
    assert np.isnan(row["ratio"]) and np.isnan(row["required_pace"])
    assert pd.isna(row["deadline"]) and np.isnan(row["target_value"])


def test_trend_basis_single_point(arrows):
    row = _row(arrows, "t_one")
    assert row["arrow"] == "insufficient_data" and row["note"] == "insufficient_data"
    assert row["mean_value"] == 3.0


def test_least_squares_over_the_last_trend_cycles(arrows):
    row = _row(arrows, "t_long")
    assert row["trend_points"] == 4
    assert row["recent_pace"] == pytest.approx(4.6)
    assert row["mean_value"] == pytest.approx(7.5)
    assert row["relative_pace"] == pytest.approx(4.6 / 7.5)
    gap = _row(arrows, "t_gap")
    assert gap["trend_points"] == 3 and gap["recent_pace"] == pytest.approx(1.0)
    assert gap["mean_value"] == pytest.approx(4 / 3)


def test_recent_pace_is_that_of_linear_trends():
    got = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    lt = linear_trends(OBSERVATIONS, CYCLE, CONFIG["scores"]["trend_cycles"])
    both = got.merge(lt, on=["unit_id", "indicator_id"], validate="one_to_one")
    assert len(both) == len(got) == len(lt)
    np.testing.assert_array_equal(both["recent_pace"], both["slope"])


def test_later_quarters_are_ignored(arrows):
    row = _row(arrows, "t_later")
    assert row["trend_points"] == 1 and row["latest_value"] == 1.0
    assert row["arrow"] == "insufficient_data"


# ---------------------------------------------------------------------------------------------
# Configuration


def test_thresholds_come_from_config():
    cfg = load_config(overrides={"trends": {"on_track": 0.9, "moderate": 0.5, "flat": 0.006}})
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, cfg).set_index("unit_id")
    assert out.loc["r94", "arrow"] == "on_track"               # 0.94 >= 0.9
    assert out.loc["r59", "arrow"] == "moderately_improving"   # 0.59 >= 0.5
    assert out.loc["t_flat", "arrow"] == "stagnating"          # 0.005 < 0.006
    cfg = load_config(overrides={"trends": {"flat": 0.004}})
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, cfg).set_index("unit_id")
    assert out.loc["t_flat", "arrow"] == "moderately_improving"   # 0.005 >= 0.004
    cfg = load_config(overrides={"trends": {"flat": 0.02}})
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, cfg).set_index("unit_id")
    assert out.loc["t_up", "arrow"] == "stagnating"               # 0.01 < 0.02
    assert out.loc["t_down", "arrow"] == "stagnating"


def test_zero_flat_keeps_zero_stagnating():
    cfg = load_config(overrides={"trends": {"flat": 0}})
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, cfg).set_index("unit_id")
    assert out.loc["t_still", "arrow"] == "stagnating"
    assert out.loc["t_flat", "arrow"] == "moderately_improving"


def test_trend_cycles_from_config():
    # With two cycles t_long uses 8, 16 only: v = 8, m = 12.
    cfg = load_config(overrides={"scores": {"trend_cycles": 2}})
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, cfg).set_index("unit_id")
    assert out.loc["t_long", "trend_points"] == 2
    assert out.loc["t_long", "recent_pace"] == pytest.approx(8.0)
    assert out.loc["t_long", "mean_value"] == pytest.approx(12.0)


@pytest.mark.parametrize("overrides, column", [
    ({"moderate": 0.99}, "trends"),
    ({"moderate": -0.1}, "trends"),
    ({"flat": -0.01}, "trends.flat"),
    ({"on_track": "high"}, "trends.on_track"),
])
def test_config_check_rejects_bad_trend_settings(overrides, column):
    with pytest.raises(InputError) as err:
        load_config(overrides={"trends": overrides})
    assert [p.column for p in err.value.problems] == [column]


@pytest.mark.parametrize("trends, column", [
    ({"on_track": 0.5, "moderate": 0.6, "flat": 0.01}, "trends"),
    ({"on_track": 0.95, "moderate": 0.6, "flat": float("nan")}, "trends.flat"),
    ({"on_track": 0.95, "moderate": 0.6}, "trends.flat"),
])
def test_hand_built_config_is_checked(trends, column):
    cfg = {**CONFIG, "trends": trends}
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, cfg)
    assert [p.column for p in err.value.problems] == [column]


def test_config_without_trends_section():
    cfg = {k: v for k, v in CONFIG.items() if k != "trends"}
    with pytest.raises(InputError, match="trends"):
        trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, cfg)


# ---------------------------------------------------------------------------------------------
# Shape, precomputed progress, invariance


def test_one_row_per_observed_pair_with_defined_arrows():
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    assert list(out.columns) == TREND_COLUMNS
    upto = OBSERVATIONS[OBSERVATIONS["period"] <= CYCLE]
    assert len(out) == len(upto.drop_duplicates(["unit_id", "indicator_id"]))
    assert not out.duplicated(["unit_id", "indicator_id"]).any()
    assert out["arrow"].isin(ARROWS).all() and out["arrow"].notna().all()
    assert (out["symbol"] == out["arrow"].map(SYMBOLS)).all()
    assert out["basis"].isin(["target", "trend"]).all()
    assert (out["cycle"] == CYCLE).all()
    for col in ("ratio", "relative_pace", "recent_pace", "required_pace"):
        assert not np.isinf(out[col]).any()
    # A number is empty only with a reason.
    assert (out.loc[out["ratio"].isna() & (out["basis"] == "target"), "note"]
            .isin(["target_met", "insufficient_data"]).all())
    few = out["trend_points"] < 2
    assert (out["relative_pace"].isna() == few).all()
    assert (out.loc[few, "note"].isin(["insufficient_data", "target_met"])).all()
    assert list(out["unit_id"]) == sorted(out["unit_id"])
    assert str(out["quarters_left"].dtype) == "Int64"


def test_precomputed_progress_gives_the_same_table():
    prog = target_progress(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    a = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG, progress=prog)
    b = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    pd.testing.assert_frame_equal(a, b)


def test_relabelling_units_and_indicators_changes_nothing_else():
    units = {u: f"单位{i:03d}" for i, u in enumerate(reversed(OBSERVATIONS["unit_id"].unique()))}
    inds = {"up": "zz_up", "down": "aa_down"}

    def relabel(df):
        return df.assign(unit_id=df["unit_id"].map(units),
                         indicator_id=df["indicator_id"].map(inds))

    ind = INDICATORS.assign(indicator_id=INDICATORS["indicator_id"].map(inds))
    base = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    other = trend_arrows(relabel(TARGETS), relabel(OBSERVATIONS), ind, CYCLE, CONFIG)
    back = {v: k for k, v in units.items()}
    other = other.assign(unit_id=other["unit_id"].map(back),
                         indicator_id=other["indicator_id"].map({v: k for k, v in inds.items()}))
    other = other.sort_values(["unit_id", "indicator_id"], ignore_index=True)
    pd.testing.assert_frame_equal(base, other)


def test_row_order_of_inputs_does_not_matter():
    shuffled = OBSERVATIONS.sample(frac=1.0, random_state=7)
    a = trend_arrows(TARGETS.iloc[::-1], shuffled, INDICATORS.iloc[::-1], CYCLE, CONFIG)
    b = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    pd.testing.assert_frame_equal(a, b)


def test_cycle_before_any_observation_gives_an_empty_table():
    out = trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, "2019Q1", CONFIG)
    assert out.empty and list(out.columns) == TREND_COLUMNS


def test_sample_study():
    study = evalkit.load()
    result = evalkit.score(study, "2023Q4")
    out = trend_arrows(study.targets, study.observations, study.indicators, "2023Q4",
                       result.config,
                       progress=result.progress)
    assert out["arrow"].nunique() >= 3
    assert out["arrow"].notna().all() and out["symbol"].notna().all()
    assert out["arrow"].isin(ARROWS).all()
    # Every open milestone of what-it-takes has a target-basis arrow with its pace ratio.
    wit = result.what_it_takes.merge(out, on=["unit_id", "indicator_id"],
                                     suffixes=("_wit", ""))
    assert len(wit) == len(result.what_it_takes)
    assert (wit["basis"] == "target").all()
    open_ = wit[wit["note"] != "target_met"]
    np.testing.assert_allclose(open_["required_pace_wit"], open_["required_pace"])
    open_ = wit[wit["note"] == ""]
    np.testing.assert_allclose(open_["pace_ratio"], open_["ratio"])
    # Worked row: anju certified_social_workers, v = 2.0, w = (84 - 64) / 4 = 5: q = 0.4.
    row = out.set_index(["unit_id", "indicator_id"]).loc[("anju", "certified_social_workers")]
    assert row["ratio"] == pytest.approx(0.4) and row["arrow"] == "stagnating"


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_cycle_is_a_parse_error():
    with pytest.raises(ParseError):
        trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, "2021-13", CONFIG)


def test_observation_of_an_unknown_indicator():
    obs = pd.concat([OBSERVATIONS, pd.DataFrame(_obs("x", "nope", {"2021Q4": 1}))],
                    ignore_index=True)
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, obs, INDICATORS, CYCLE, CONFIG)
    (p,) = err.value.problems
    assert p.column == "indicator_id" and p.row == len(obs) + 1 and "unknown" in p.message


@pytest.mark.parametrize("value", [np.nan, np.inf, "abc"])
def test_value_that_is_not_a_finite_number(value):
    obs = OBSERVATIONS.astype({"value": "object"})
    obs.loc[3, "value"] = value
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, obs, INDICATORS, CYCLE, CONFIG)
    assert [(p.row, p.column) for p in err.value.problems] == [(5, "value")]


def test_missing_column_and_bad_direction():
    with pytest.raises(InputError, match="period"):
        trend_arrows(TARGETS, OBSERVATIONS.drop(columns="period"), INDICATORS, CYCLE, CONFIG)
    ind = INDICATORS.assign(direction=["higher", "sideways"])
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, OBSERVATIONS, ind, CYCLE, CONFIG)
    assert err.value.problems[0].column == "direction"


def test_missing_targets_table():
    with pytest.raises(InputError, match="targets"):
        trend_arrows(None, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)


def test_progress_of_another_cycle_is_refused():
    prog = target_progress(TARGETS, OBSERVATIONS, INDICATORS, "2021Q3", CONFIG)
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG, progress=prog)
    assert {p.column for p in err.value.problems} == {"cycle"}


def test_progress_with_missing_columns_or_two_applicable_milestones():
    prog = target_progress(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG)
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG,
                     progress=prog.drop(columns=["status", "applicable"]))
    assert {p.column for p in err.value.problems} == {"status", "applicable"}
    doubled = pd.concat([prog, prog.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG, progress=doubled)
    assert [p.row for p in err.value.problems] == [2, len(doubled) + 1]
    bad = prog.assign(status=prog["status"].where(prog.index != 1, "purple"))
    with pytest.raises(InputError) as err:
        trend_arrows(TARGETS, OBSERVATIONS, INDICATORS, CYCLE, CONFIG, progress=bad)
    assert [(p.row, p.column) for p in err.value.problems] == [(3, "status")]
