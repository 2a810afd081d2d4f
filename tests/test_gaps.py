"""Benchmark gaps, closure and catch-up on a fixture small enough to check by hand.

Cycle 2021Q3 unless said otherwise; trends over the last 4 observed quarters, horizon 20.
Quarters are counted k from the cycle: 2020Q4 = -3, 2021Q1 = -2, 2021Q2 = -1, 2021Q3 = 0.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.config import load_config
from evalkit.errors import InputError, ParseError
from evalkit.method.gaps import benchmark_gaps, split_domains

CONFIG = load_config()

UNITS = pd.DataFrame({
    "unit_id": ["A", "B", "C", "D", "E", "R", "S"],
    "role": ["assessed"] * 5 + ["reference"] * 2,
})
INDICATORS = pd.DataFrame({
    "indicator_id": ["communities", "balance", "workers", "relief_days", "complaints"],
    "domain": ["community", "community", "social_work", "relief", "relief"],
    "direction": ["higher", "higher", "higher", "lower", "lower"],
})
BENCHMARKS = pd.DataFrame({
    "unit_id": ["A", "B", "C", "D"],
    "benchmark_unit_id": ["R", "R", "S", "R"],
    "domains": ["community;relief", None, "community、social_work", "community，"],
})
TARGETS = pd.DataFrame({
    "unit_id": ["A", "C"], "indicator_id": ["communities", "workers"],
    "baseline_period": ["2021Q2", "2021Q1"], "baseline_value": [8.0, 40.0],
    "deadline": pd.to_datetime(["2021-12-31", "2023-12-31"]), "target_value": [18.0, 80.0],
})
QUARTERS = ["2020Q4", "2021Q1", "2021Q2", "2021Q3"]


def _obs(unit, indicator, values):
    if isinstance(values, list):
        values = dict(zip(QUARTERS, values))
    return [{"unit_id": unit, "indicator_id": indicator, "period": p, "value": float(v)}
            for p, v in values.items()]


OBSERVATIONS = pd.DataFrame(
    _obs("A", "communities", [4, 6, 8, 10])
    + _obs("R", "communities", [20, 21, 22, 23])
    + _obs("A", "balance", {"2021Q2": -6, "2021Q3": -2})
    + _obs("R", "balance", {"2021Q2": -1, "2021Q3": -1})
    + _obs("A", "relief_days", [30, 28, 26, 24])
    + _obs("R", "relief_days", [15, 15, 15, 15])
    + _obs("A", "complaints", {"2021Q3": 3})
    + _obs("R", "complaints", {"2021Q1": 2, "2021Q2": 0})
    + _obs("B", "communities", {"2021Q2": 25, "2021Q3": 30})
    + _obs("B", "relief_days", {"2021Q1": 20, "2021Q2": 20, "2021Q3": 20})
    + _obs("B", "workers", {"2021Q3": 50})
    + _obs("B", "complaints", {"2021Q2": 4})
    + _obs("C", "workers", {"2020Q4": 35, "2021Q3": 50})
    + _obs("S", "workers", {"2020Q4": 60, "2021Q3": 66})
    + _obs("D", "communities", {"2021Q2": 0, "2021Q3": 1.5})
    + _obs("E", "communities", {"2021Q3": 1})
)


def gaps(cycle="2021Q3", config=CONFIG, **tables):
    t = {"units": UNITS, "benchmarks": BENCHMARKS, "indicators": INDICATORS,
         "observations": OBSERVATIONS, "targets": TARGETS} | tables
    return benchmark_gaps(t["units"], t["benchmarks"], t["indicators"], t["observations"],
                          t["targets"], cycle, config)


@pytest.fixture(scope="module")
def q3():
    return gaps()


def row(df, unit, indicator):
    sel = df[(df["unit_id"] == unit) & (df["indicator_id"] == indicator)]
    assert len(sel) == 1, (unit, indicator)
    return sel.iloc[0]


def test_rows_follow_benchmarks_and_domains(q3):
    pairs = set(zip(q3["unit_id"], q3["indicator_id"]))
    assert pairs == {
        # A: community;relief -> 4 indicators, no workers
        ("A", "communities"), ("A", "balance"), ("A", "relief_days"), ("A", "complaints"),
        # B: blank -> every indicator
        ("B", "communities"), ("B", "balance"), ("B", "workers"), ("B", "relief_days"),
        ("B", "complaints"),
        # C: community、social_work; D: "community，" (trailing full-width comma)
        ("C", "communities"), ("C", "balance"), ("C", "workers"),
        ("D", "communities"), ("D", "balance"),
    }
    assert "E" not in set(q3["unit_id"])           # no benchmark: no rows
    assert not {"R", "S"} & set(q3["unit_id"])     # reference units benchmark nobody
    assert list(zip(q3["unit_id"], q3["indicator_id"])) == sorted(pairs)
    assert (q3.loc[q3["unit_id"] == "C", "benchmark_unit_id"] == "S").all()


def test_projected_catch_up_and_closure(q3):
    r = row(q3, "A", "communities")
    # g = s (y - x) = 23 - 10 = 13; r = 13 / 23
    assert (r["actual_value"], r["benchmark_value"], r["benchmark_period"]) == (10, 23, "2021Q3")
    assert r["gap"] == 13 and r["relative_gap"] == pytest.approx(13 / 23)
    # baseline: A's target baseline 2021Q2: x_base = 8 (observed), y_base = 22 -> g_base = 14
    assert (r["baseline_period"], r["baseline_value"], r["baseline_benchmark_value"]) == (
        "2021Q2", 8, 22)
    assert r["closure"] == pytest.approx(1 - 13 / 14)
    # trends: A 4,6,8,10 -> slope 2, level 10; R 20..23 -> slope 1, level 23
    # G(k) = (23 - 10) + (1 - 2) k = 13 - k <= 0 first at k = 13: 2021Q3 + 13 = 2024Q4
    assert (r["unit_trend"], r["benchmark_trend"]) == (pytest.approx(2), pytest.approx(1))
    assert (r["catch_up_status"], r["catch_up_quarters"], r["catch_up_period"]) == (
        "projected", 13, "2024Q4")


def test_lower_is_better_gap(q3):
    r = row(q3, "A", "relief_days")
    # g = -1 (15 - 24) = 9; r = 9 / 15 = 0.6
    assert r["gap"] == 9 and r["relative_gap"] == pytest.approx(0.6)
    # no target: baseline = study's first cycle 2020Q4: g_base = -1 (15 - 30) = 15
    assert (r["baseline_period"], r["baseline_gap"]) == ("2020Q4", 15)
    assert r["closure"] == pytest.approx(1 - 9 / 15)   # = 0.4
    # G(k) = -1 ((15 - 24) + (0 - (-2)) k) = 9 - 2k <= 0 first at k = ceil(4.5) = 5: 2022Q4
    assert (r["catch_up_status"], r["catch_up_period"]) == ("projected", "2022Q4")


def test_negative_values_and_catch_up_next_quarter(q3):
    r = row(q3, "A", "balance")
    # x = -2, y = -1: g = 1, r = 1 / |-1| = 1
    assert r["gap"] == 1 and r["relative_gap"] == pytest.approx(1)
    # slopes 4 (A: -6 -> -2) and 0 (R): G(k) = 1 - 4k <= 0 at k = 1
    assert (r["catch_up_status"], r["catch_up_period"]) == ("projected", "2021Q4")
    # baseline 2020Q4 (first cycle): neither unit has a value there
    assert math.isnan(r["closure"]) and r["closure_note"] == "no_baseline_gap"


def test_zero_benchmark_and_insufficient_data(q3):
    r = row(q3, "A", "complaints")
    # y = R's latest at or before 2021Q3: 0 at 2021Q2; g = -1 (0 - 3) = 3; r undefined
    assert (r["benchmark_value"], r["benchmark_period"], r["gap"]) == (0, "2021Q2", 3)
    assert math.isnan(r["relative_gap"]) and r["gap_note"] == "zero_benchmark"
    assert r["catch_up_status"] == "insufficient_data"   # A has one point
    assert pd.isna(r["catch_up_period"])


def test_ahead_not_within_horizon_and_no_data(q3):
    assert row(q3, "B", "communities")["catch_up_status"] == "ahead"   # g = 23 - 30 = -7
    assert row(q3, "B", "communities")["gap"] == -7
    flat = row(q3, "B", "relief_days")   # g = -1 (15 - 20) = 5, both flat: never closes
    assert (flat["gap"], flat["catch_up_status"]) == (5, "not_within_horizon")
    assert pd.isna(flat["catch_up_period"]) and math.isnan(flat["catch_up_quarters"])
    slow = row(q3, "D", "communities")   # g = 21.5, slopes 1.5 vs 1: k = 21.5 / 0.5 = 43 > 20
    assert (slow["gap"], slow["catch_up_status"]) == (21.5, "not_within_horizon")
    no_bench = row(q3, "B", "workers")   # R has no workers data
    assert (no_bench["gap_note"], no_bench["catch_up_status"]) == ("no_benchmark_value",
                                                                   "no_data")
    assert math.isnan(no_bench["gap"]) and pd.isna(no_bench["benchmark_period"])
    stale = row(q3, "B", "complaints")   # B's value is from 2021Q2 only: not current
    assert (stale["gap_note"], stale["catch_up_status"]) == ("no_current_value", "no_data")
    assert stale["closure_note"] == "no_current_gap"


def test_closure_with_the_targets_baseline_value(q3):
    r = row(q3, "C", "workers")
    # baseline 2021Q1 from C's target; C has no 2021Q1 observation: x_base = 40 (target);
    # y_base = S's latest at or before 2021Q1 = 60 (2020Q4): g_base = 20; g = 66 - 50 = 16
    assert (r["baseline_period"], r["baseline_value"], r["baseline_benchmark_value"]) == (
        "2021Q1", 40, 60)
    assert r["closure"] == pytest.approx(1 - 16 / 20)   # = 0.2
    # trends: C 35 (k=-3), 50 (k=0): slope 5, level 50; S 60, 66: slope 2, level 66
    # G(k) = 16 - 3k <= 0 first at k = ceil(5.33) = 6: 2023Q1
    assert (r["catch_up_quarters"], r["catch_up_period"]) == (6, "2023Q1")


def test_closure_before_baseline_and_without_baseline_gap():
    early = gaps("2020Q4")
    r = row(early, "C", "workers")       # x = 35, y = 60: g = 25, but baseline is 2021Q1
    assert r["gap"] == 25
    assert math.isnan(r["closure"]) and r["closure_note"] == "cycle_before_baseline"
    # B ahead at the baseline too (24 against 20): a baseline gap <= 0 cannot close
    obs = pd.concat([OBSERVATIONS, pd.DataFrame(_obs("B", "communities", {"2020Q4": 24}))])
    b = row(gaps(observations=obs), "B", "communities")
    assert b["baseline_gap"] == 20 - 24
    assert math.isnan(b["closure"]) and b["closure_note"] == "no_gap_at_baseline"


def test_config_horizon_and_trend_cycles():
    shorter = load_config(overrides={"gaps": {"horizon": 12}})
    assert row(gaps(config=shorter), "A", "communities")["catch_up_status"] == \
        "not_within_horizon"                                         # needs 13 quarters
    exact = load_config(overrides={"gaps": {"horizon": 13}})
    assert row(gaps(config=exact), "A", "communities")["catch_up_period"] == "2024Q4"
    two = load_config(overrides={"gaps": {"trend_cycles": 2}})
    r = row(gaps(config=two), "A", "relief_days")     # still 26 -> 24: slope -2
    assert r["unit_trend"] == pytest.approx(-2)


def test_no_inf_and_types(q3):
    assert not np.isinf(q3.select_dtypes("number").to_numpy(dtype=float)).any()
    assert set(q3["catch_up_status"]) == {"ahead", "projected", "not_within_horizon",
                                          "insufficient_data", "no_data"}
    assert q3["gap"].dtype == "float64" and q3["unit_id"].dtype == "str"


def test_without_targets_the_first_cycle_is_the_baseline():
    r = row(gaps(targets=None), "A", "communities")
    assert r["baseline_period"] == "2020Q4"
    assert r["baseline_gap"] == 20 - 4
    assert r["closure"] == pytest.approx(1 - 13 / 16)


def test_empty_benchmarks():
    out = gaps(benchmarks=BENCHMARKS.iloc[0:0])
    assert out.empty and "catch_up_status" in out.columns


@pytest.mark.parametrize("text, expected", [
    ("a;b", ["a", "b"]), ("a、 b", ["a", "b"]), ("a,b，c；d", ["a", "b", "c", "d"]),
    ("", []), (None, []), (float("nan"), []), (" a ;", ["a"]),
])
def test_split_domains(text, expected):
    assert split_domains(text) == expected


# --- bad input ---------------------------------------------------------------------------


def test_unknown_domain():
    bm = BENCHMARKS.assign(domains=["community;养老", None, None, None])
    with pytest.raises(InputError) as exc:
        gaps(benchmarks=bm)
    p = exc.value.problems[0]
    assert (p.file, p.row, p.column) == ("benchmarks", 2, "domains")
    assert "养老" in p.message


def test_unknown_or_self_benchmark_and_duplicates():
    with pytest.raises(InputError, match="unknown unit"):
        gaps(benchmarks=BENCHMARKS.assign(benchmark_unit_id=["R", "R", "Z", "R"]))
    with pytest.raises(InputError, match="cannot benchmark itself"):
        gaps(benchmarks=BENCHMARKS.assign(benchmark_unit_id=["A", "R", "S", "R"]))
    with pytest.raises(InputError, match="duplicate key"):
        gaps(benchmarks=pd.concat([BENCHMARKS, BENCHMARKS.iloc[[0]]]))


def test_bad_tables():
    with pytest.raises(InputError, match="missing column 'benchmark_unit_id'"):
        gaps(benchmarks=BENCHMARKS.drop(columns="benchmark_unit_id"))
    with pytest.raises(InputError, match="missing column 'domain'"):
        gaps(indicators=INDICATORS.drop(columns="domain"))
    obs = OBSERVATIONS.copy()
    obs.loc[0, "value"] = np.inf
    with pytest.raises(InputError) as exc:
        gaps(observations=obs)
    assert (exc.value.problems[0].row, exc.value.problems[0].column) == (2, "value")
    with pytest.raises(ParseError):
        gaps("Q3 2021")


# --- properties --------------------------------------------------------------------------

SERIES = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=6)


@settings(max_examples=60, deadline=None)
@given(SERIES, SERIES, st.sampled_from(["higher", "lower"]), st.integers(1, 30))
def test_catch_up_matches_a_search(xs, ys, direction, horizon):
    """The closed form agrees with stepping through k = 1..horizon on the fitted lines."""
    quarters = [f"2020Q{q}" for q in range(1, 5)] + ["2021Q1", "2021Q2"]
    obs = pd.DataFrame(_obs("A", "i", dict(zip(quarters[-len(xs):], xs)) if xs else {})
                       + _obs("R", "i", dict(zip(quarters[-len(ys):], ys)) if ys else {}),
                       columns=["unit_id", "indicator_id", "period", "value"])
    ind = pd.DataFrame({"indicator_id": ["i"], "domain": ["d"], "direction": [direction]})
    bm = pd.DataFrame({"unit_id": ["A"], "benchmark_unit_id": ["R"], "domains": [None]})
    cfg = load_config(overrides={"gaps": {"horizon": horizon}})
    r = benchmark_gaps(UNITS, bm, ind, obs, None, "2021Q2", cfg).iloc[0]
    assert not np.isinf(r[["gap", "relative_gap", "closure", "catch_up_quarters"]]
                        .to_numpy(dtype=float)).any()
    if not xs or not ys:
        assert r["catch_up_status"] == "no_data"
        return
    s = 1 if direction == "higher" else -1
    assert r["gap"] == s * (ys[-1] - xs[-1])
    if r["gap"] <= 0:
        assert r["catch_up_status"] == "ahead"
    elif len(xs) < 2 or len(ys) < 2:
        assert r["catch_up_status"] == "insufficient_data"
    else:
        def line(values):   # least squares over the last 4 points, k counted from the cycle
            v = np.array(values[-4:])
            k = np.arange(-len(v) + 1, 1, dtype=float)
            slope = ((k - k.mean()) * (v - v.mean())).sum() / ((k - k.mean()) ** 2).sum()
            return v.mean() - slope * k.mean(), slope
        (ax, bx), (ay, by) = line(xs), line(ys)
        projected = [s * ((ay + by * k) - (ax + bx * k)) for k in range(1, horizon + 1)]
        scale = 1e-6 * max(1.0, *map(abs, xs), *map(abs, ys))
        if r["catch_up_status"] == "projected":
            k = int(r["catch_up_quarters"])
            assert 1 <= k <= horizon and projected[k - 1] <= scale
            assert all(g > -scale for g in projected[:k - 1])
        else:
            assert r["catch_up_status"] == "not_within_horizon"
            assert all(g > -scale for g in projected)
