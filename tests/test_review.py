"""Review checks (审核): each rule flags its case and not its neighbours, worked by hand."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from evalkit.config import default_config, load_config
from evalkit.errors import InputError, MethodError
from evalkit.method.review import REVIEW_COLUMNS, RULES, review_flags
from evalkit.periods import shift

CYCLE = "2023Q4"

INDICATORS = pd.DataFrame({
    "indicator_id": ["share", "total", "cases"],
    "measure": ["percent", "count", "count"],
    "direction": ["higher", "higher", "higher"],
    "cumulative": [False, True, False],
})


def units(levels: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"unit_id": list(levels), "level": list(levels.values())})


def series(unit: str, indicator: str, values: list, last: str = CYCLE) -> list[tuple]:
    """Rows of one unit and indicator, the last value at ``last``, one quarter apart."""
    n = len(values)
    return [(unit, indicator, shift(last, i - n + 1), v) for i, v in enumerate(values)]


def frame(*rows: list[tuple]) -> pd.DataFrame:
    flat = [r for part in rows for r in part]
    return pd.DataFrame(flat, columns=["unit_id", "indicator_id", "period", "value"])


def flags(obs, rule, *, levels=None, config=None, indicators=INDICATORS, cycle=CYCLE):
    """The rows of ``rule`` in the review of ``obs``, keyed by unit."""
    if levels is None:
        levels = {u: "county" for u in obs["unit_id"].unique()}
    out = review_flags(obs, indicators, units(levels), cycle, config)
    return out[out["rule"] == rule].set_index("unit_id")


def with_review(**changes) -> dict:
    config = default_config()
    config["review"].update(changes)
    return config


# ---------------------------------------------------------------------------------------------
# The table


def test_defaults_are_the_documented_ones():
    assert load_config()["review"] == {
        "percent_range": True, "cumulative_decrease": True, "jump_mad_k": 3.5,
        "jump_relative": 0.5, "min_history": 4, "peer_fence": 1.5, "min_peers": 5,
        "copied_quarters": 4, "counting": {"flagged": "accepted", "returned": "never"}}


def test_columns_rows_and_order():
    # u2's share 120 breaks percent_range and is the same as in three quarters before: copied.
    obs = frame(series("u2", "share", [120, 120, 120, 120]),
                series("u1", "total", [5, 4]), series("u1", "share", [101]))
    out = review_flags(obs, INDICATORS, units({"u1": "county", "u2": "county"}), CYCLE)
    assert list(out.columns) == REVIEW_COLUMNS
    assert set(out["rule"]) <= set(RULES)
    assert list(zip(out["unit_id"], out["indicator_id"], out["rule"])) == [
        ("u1", "share", "percent_range"), ("u1", "total", "cumulative_decrease"),
        ("u2", "share", "copied"), ("u2", "share", "percent_range")]
    assert (out["period"] == CYCLE).all()


def test_a_cycle_without_values_gives_an_empty_table():
    obs = frame(series("u1", "share", [50, 60]))
    out = review_flags(obs, INDICATORS, units({"u1": "county"}), "2030Q1")
    assert out.empty and list(out.columns) == REVIEW_COLUMNS


def test_only_the_cycle_is_checked():
    # 130 in 2023Q3 is outside [0, 100] but is history at 2023Q4; values after it are ignored.
    obs = frame(series("u1", "share", [130, 50, 140]))
    obs.loc[2, "period"] = "2024Q1"
    assert flags(obs, "percent_range").empty


# ---------------------------------------------------------------------------------------------
# percent_range


def test_percent_range_flags_values_outside_0_to_100():
    obs = frame(series("a", "share", [100]), series("b", "share", [100.1]),
                series("c", "share", [0]), series("d", "share", [-0.1]),
                series("e", "cases", [150]))           # a count may exceed 100
    got = flags(obs, "percent_range")
    assert sorted(got.index) == ["b", "d"]
    assert (got["expected_low"] == 0).all() and (got["expected_high"] == 100).all()
    assert got.loc["b", "detail"] == "value=100.1 outside [0, 100]"


def test_percent_range_can_be_switched_off():
    obs = frame(series("b", "share", [100.1]))
    assert flags(obs, "percent_range", config=with_review(percent_range=False)).empty


def test_measure_aliases_are_understood():
    ind = INDICATORS.assign(measure=["%", "个", "件"])
    obs = frame(series("b", "share", [100.1]))
    assert list(flags(obs, "percent_range", indicators=ind).index) == ["b"]


# ---------------------------------------------------------------------------------------------
# cumulative_decrease


def test_cumulative_decrease_flags_a_fall_below_the_previous_value():
    obs = frame(series("same", "total", [12, 12]),       # equal: fine
                series("fell", "total", [12, 11]),       # 11 < 12: flagged
                series("other", "cases", [12, 11]),      # not cumulative
                series("first", "total", [3]))           # no previous value
    got = flags(obs, "cumulative_decrease")
    assert list(got.index) == ["fell"]
    assert got.loc["fell", "expected_low"] == 12 and np.isnan(got.loc["fell", "expected_high"])
    assert got.loc["fell", "detail"] == "value=11 < prev=12 (2023Q3)"


def test_the_previous_value_skips_quarters_not_reported():
    # 2023Q3 is NaN (not reported): the previous value is 12 of 2023Q2.
    obs = frame(series("gap", "total", [12, np.nan, 11]))
    got = flags(obs, "cumulative_decrease")
    assert got.loc["gap", "expected_low"] == 12
    assert got.loc["gap", "detail"].endswith("(2023Q2)")


def test_cumulative_as_yes_no_words_and_switched_off():
    ind = INDICATORS.assign(cumulative=["否", "是", "否"])
    obs = frame(series("fell", "total", [12, 11]))
    assert list(flags(obs, "cumulative_decrease", indicators=ind).index) == ["fell"]
    assert flags(obs, "cumulative_decrease", indicators=ind,
                 config=with_review(cumulative_decrease=False)).empty


# ---------------------------------------------------------------------------------------------
# jump


def test_jump_exactly_at_the_robust_threshold_is_not_flagged():
    # History 0, 2, 0, 2, 0: changes D = 2, -2, 2, -2 (four: min_history), median 0,
    # |D - 0| = 2, 2, 2, 2, MAD = 2. Threshold 3.5 * 1.4826 * 2 = 10.3782. The previous value
    # is 0, so only the robust test applies.
    at = 3.5 * 1.4826 * 2
    beyond = np.nextafter(at, np.inf)
    obs = frame(series("at", "cases", [0, 2, 0, 2, 0, at]),
                series("beyond", "cases", [0, 2, 0, 2, 0, beyond]),
                series("below", "cases", [0, 2, 0, 2, 0, -beyond]))
    got = flags(obs, "jump", levels={"at": "a", "beyond": "b", "below": "c"})
    assert sorted(got.index) == ["below", "beyond"]
    assert got.loc["beyond", "expected_low"] == pytest.approx(-10.3782)
    assert got.loc["beyond", "expected_high"] == pytest.approx(10.3782)


def test_jump_expected_range_worked_by_hand():
    # History 10, 12, 13, 17, 18: D = 2, 1, 4, 1, sorted 1, 1, 2, 4: median 1.5;
    # |D - 1.5| = 0.5, 0.5, 2.5, 0.5: MAD 0.5; 3.5 * 1.4826 * 0.5 = 2.59455.
    # Expected 18 + 1.5 -+ 2.59455 = [16.90545, 22.09455]. 22 (d = 4, |4 - 1.5| = 2.5) is
    # inside, 22.2 (|4.2 - 1.5| = 2.7) outside; relative |4.2| / 18 = 0.23 <= 0.5.
    history = [10, 12, 13, 17, 18]
    obs = frame(series("in", "cases", history + [22]), series("out", "cases", history + [22.2]))
    got = flags(obs, "jump", levels={"in": "a", "out": "b"})
    assert list(got.index) == ["out"]
    assert got.loc["out", "expected_low"] == pytest.approx(16.90545)
    assert got.loc["out", "expected_high"] == pytest.approx(22.09455)
    assert got.loc["out", "detail"].startswith("d=4.2 prev=18 median=1.5 mad=0.5 ")
    # k = 4: 4 * 1.4826 * 0.5 = 2.9652 > 2.7, no longer flagged.
    assert flags(obs, "jump", levels={"in": "a", "out": "b"},
                 config=with_review(jump_mad_k=4)).empty


def test_jump_relative_threshold_and_a_mad_of_zero():
    # History 100, 101, 102, 103, 100: D = 1, 1, 1, -3, median 1, |D - 1| = 0, 0, 0, 4, MAD 0:
    # no robust test, no expected range. Relative to the previous 100: 150 and 50 change by
    # exactly 0.5 (not flagged), 150.5 and 49.5 by 0.505 (flagged).
    history = [100, 101, 102, 103, 100]
    obs = frame(*(series(u, "cases", history + [v]) for u, v in
                  (("up_at", 150), ("up_beyond", 150.5), ("down_at", 50),
                   ("down_beyond", 49.5))))
    levels = {u: u for u in obs["unit_id"].unique()}
    got = flags(obs, "jump", levels=levels)
    assert sorted(got.index) == ["down_beyond", "up_beyond"]
    assert got["expected_low"].isna().all() and got["expected_high"].isna().all()
    # jump_relative 0.6: 0.505 is within.
    assert flags(obs, "jump", levels=levels, config=with_review(jump_relative=0.6)).empty


def test_jump_needs_min_history_changes():
    # History 10, 12, 13, 17: three changes < 4, so 100 is not checked; with min_history 3
    # it is (relative 83 / 17 = 4.9 > 0.5).
    obs = frame(series("u", "cases", [10, 12, 13, 17, 100]))
    assert flags(obs, "jump").empty
    assert list(flags(obs, "jump", config=with_review(min_history=3)).index) == ["u"]


def test_decimal_rounding_is_no_spread():
    # 4.1 ... 4.5 rise by 0.1 each quarter; in binary the changes differ by ~1e-16, a MAD that
    # is rounding, not spread: 4.6 (the same step) and 4.8 are not flagged by the robust test.
    obs = frame(series("same", "cases", [4.1, 4.2, 4.3, 4.4, 4.5, 4.6]),
                series("more", "cases", [4.1, 4.2, 4.3, 4.4, 4.5, 4.8]))
    assert flags(obs, "jump", levels={"same": "a", "more": "b"}).empty


# ---------------------------------------------------------------------------------------------
# peer_outlier


PEERS = {"p1": 10, "p2": 12, "p3": 13, "p4": 15, "p5": 16, "p6": 40}


def test_peer_outlier_tukey_fences_on_six_peers():
    # Sorted 10, 12, 13, 15, 16, 40; numpy's linear quartiles: Q1 at h = 5 * 0.25 = 1.25:
    # 12 + 0.25 (13 - 12) = 12.25; Q3 at h = 3.75: 15 + 0.75 (16 - 15) = 15.75; IQR 3.5;
    # fences 12.25 - 5.25 = 7 and 15.75 + 5.25 = 21: only 40 is outside. The township's 40
    # has no peers (one unit of its level).
    obs = frame(*(series(u, "cases", [v]) for u, v in PEERS.items()),
                series("t1", "cases", [40]))
    levels = {**{u: "county" for u in PEERS}, "t1": "township"}
    got = flags(obs, "peer_outlier", levels=levels)
    assert list(got.index) == ["p6"]
    assert got.loc["p6", "expected_low"] == pytest.approx(7)
    assert got.loc["p6", "expected_high"] == pytest.approx(21)
    assert got.loc["p6", "detail"] == "value=40 q1=12.25 q3=15.75 peers=6"
    # f = 7: upper fence 15.75 + 24.5 = 40.25 > 40; f = 6.9: 15.75 + 24.15 = 39.9 < 40.
    assert flags(obs, "peer_outlier", levels=levels, config=with_review(peer_fence=7)).empty
    assert list(flags(obs, "peer_outlier", levels=levels,
                      config=with_review(peer_fence=6.9)).index) == ["p6"]


def test_peer_outlier_needs_min_peers():
    # Four units < 5: not checked. With min_peers 4: 10, 12, 13, 40: Q1 at h = 0.75:
    # 10 + 0.75 * 2 = 11.5; Q3 at h = 2.25: 13 + 0.25 * 27 = 19.75; IQR 8.25; upper fence
    # 19.75 + 12.375 = 32.125 < 40.
    four = {"p1": 10, "p2": 12, "p3": 13, "p6": 40}
    obs = frame(*(series(u, "cases", [v]) for u, v in four.items()))
    assert flags(obs, "peer_outlier").empty
    got = flags(obs, "peer_outlier", config=with_review(min_peers=4))
    assert list(got.index) == ["p6"] and got.loc["p6", "expected_high"] == 32.125


def test_peers_are_those_reporting_in_the_cycle():
    # p6 reported 40 only in 2023Q3, and the others' NaN of 2023Q4 is not a report: at 2023Q4
    # five units report 10, 12, 13, 15, 16, none outside.
    obs = frame(*(series(u, "cases", [v]) for u, v in PEERS.items() if u != "p6"),
                series("p6", "cases", [40, np.nan]), series("p7", "cases", [np.nan]))
    assert flags(obs, "peer_outlier").empty


# ---------------------------------------------------------------------------------------------
# copied


def test_copied_four_quarters_flagged_three_not():
    obs = frame(series("four", "cases", [5, 5, 5, 5]),
                series("three", "cases", [6, 7, 7, 7]),
                series("gap", "cases", [5, np.nan, 5, 5]),    # NaN breaks the run
                series("near", "cases", [5, 5, 5, 5.000001]))
    got = flags(obs, "copied")
    assert list(got.index) == ["four"]
    assert got.loc["four", "detail"] == "value=5 in 4 quarters 2023Q1-2023Q4"
    assert got["expected_low"].isna().all()
    # With copied_quarters 3, three in a row are enough.
    got = flags(obs, "copied", config=with_review(copied_quarters=3))
    assert sorted(got.index) == ["four", "three"]


def test_copied_needs_consecutive_quarters():
    # 2022Q4, 2023Q2, 2023Q3, 2023Q4 (no 2023Q1 row at all): three in a row only.
    obs = frame(series("u", "cases", [5], last="2022Q4"), series("u", "cases", [5, 5, 5]))
    assert flags(obs, "copied").empty


# ---------------------------------------------------------------------------------------------
# Missing values, bad input, settings


def test_not_reported_is_never_flagged():
    # NaN in the cycle for every rule's case: a percentage, a cumulative total after 12, a
    # series with history, a repeat, a peer group.
    obs = frame(series("u", "share", [50, 50, 50, np.nan]),
                series("u", "total", [12, np.nan]),
                series("u", "cases", [10, 12, 13, 17, 18, np.nan]),
                *(series(u, "cases", [v]) for u, v in PEERS.items() if u != "p6"),
                series("p6", "cases", [np.nan]))
    assert review_flags(obs, INDICATORS, units({"u": "county", **{p: "county" for p in PEERS}}),
                        CYCLE).query("unit_id in ['u', 'p6']").empty


@pytest.mark.parametrize("table, column", [
    ("observations", "value"), ("observations", "period"), ("indicators", "measure"),
    ("units", "level")])
def test_missing_columns_raise(table, column):
    tables = {"observations": frame(series("u", "share", [50])), "indicators": INDICATORS,
              "units": units({"u": "county"})}
    tables[table] = tables[table].drop(columns=column)
    with pytest.raises(MethodError, match=f"the {table} table lacks the column.* {column}"):
        review_flags(tables["observations"], tables["indicators"], tables["units"], CYCLE)


def test_a_key_given_twice_is_refused():
    obs = frame(series("u", "share", [50]), series("u", "share", [60]))
    with pytest.raises(InputError, match="duplicate key"):
        review_flags(obs, INDICATORS, units({"u": "county"}), CYCLE)


@pytest.mark.parametrize("text, column", [
    ("review:\n  percent_range: 1\n", "review.percent_range"),
    ("review:\n  cumulative_decrease: maybe\n", "review.cumulative_decrease"),
    ("review:\n  jump_mad_k: 0\n", "review.jump_mad_k"),
    ("review:\n  jump_mad_k: .nan\n", "review.jump_mad_k"),
    ("review:\n  jump_relative: -0.5\n", "review.jump_relative"),
    ("review:\n  min_history: 1\n", "review.min_history"),
    ("review:\n  min_history: 4.5\n", "review.min_history"),
    ("review:\n  peer_fence: -1\n", "review.peer_fence"),
    ("review:\n  peer_fence: wide\n", "review.peer_fence"),
    ("review:\n  peer_fence: .inf\n", "review.peer_fence"),
    ("review:\n  min_peers: 2\n", "review.min_peers"),
    ("review:\n  copied_quarters: yes\n", "review.copied_quarters"),
    ("review:\n  copied_quarters: 1\n", "review.copied_quarters"),
    ("review:\n  jump: 3\n", "review.jump"),
])
def test_bad_review_settings_are_named(tmp_path, text, column):
    (tmp_path / "evalkit.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_config(tmp_path)
    assert [p.column for p in err.value.problems] == [column]


def test_a_hand_built_bad_config_is_refused_too():
    obs = frame(series("u", "share", [50]))
    with pytest.raises(InputError, match="review.min_peers"):
        review_flags(obs, INDICATORS, units({"u": "county"}), CYCLE, with_review(min_peers=0))


# ---------------------------------------------------------------------------------------------
# A property


values = st.lists(st.integers(-1000, 1000), min_size=6, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=5, max_size=7), st.integers(-20, 20))
def test_scaling_an_indicator_keeps_jump_and_peer_flags(table, exponent):
    # Multiplying every value by 2**e (exact in binary) scales d, median, MAD, quartiles and
    # fences alike and leaves |d| / |x_prev| as it was: the same values are flagged.
    obs = frame(*(series(f"u{i}", "cases", row) for i, row in enumerate(table)))
    scaled = obs.assign(value=obs["value"] * 2.0 ** exponent)
    levels = {u: "county" for u in obs["unit_id"].unique()}

    def flagged(data):
        out = review_flags(data, INDICATORS, units(levels), CYCLE)
        out = out[out["rule"].isin(["jump", "peer_outlier"])]
        return set(zip(out["unit_id"], out["rule"]))

    assert flagged(scaled) == flagged(obs)
