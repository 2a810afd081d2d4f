"""Scores on a hand-worked study: every indicator-score basis, domain, overall and total scores,
adjustments, grades, ranks and changes. The expected numbers are worked out in the comments."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evalkit.method import scoring
from evalkit.config import load_config
from evalkit.errors import InputError, MethodError, ParseError

CYCLE = "2021Q4"

# Units: A, B, C, D assessed counties (D has no data in 2021Q4), E the only assessed township,
# R a county reference unit (a benchmark: never scored, never in anyone's min-max set).
# Indicators (domain, direction, weight within the domain):
#   svc: i1 higher w2, i2 lower w1;  org: i3 higher w1, i4 lower w1;  gov: i5 higher w1,
#   i6 higher w0 (weight 0: scored but counts nowhere).
# Domain weights: svc 2, org and gov 1 (not listed: 1).


def units():
    return pd.DataFrame({
        "unit_id": ["A", "B", "C", "D", "E", "R"],
        "level": ["county"] * 4 + ["township", "county"],
        "role": ["assessed"] * 5 + ["reference"],
    })


def indicators():
    return pd.DataFrame({
        "indicator_id": ["i1", "i2", "i3", "i4", "i5", "i6"],
        "domain": ["svc", "svc", "org", "org", "gov", "gov"],
        "direction": ["higher", "lower", "higher", "lower", "higher", "higher"],
        "weight": [2.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    })


def observations():
    current = [
        ("A", "i1", 18), ("A", "i2", 30), ("A", "i3", 8), ("A", "i4", 5), ("A", "i5", 10),
        ("A", "i6", 50),
        ("B", "i1", 15), ("B", "i2", 12), ("B", "i3", 0), ("B", "i4", 15), ("B", "i5", 30),
        ("C", "i1", 5), ("C", "i2", 0), ("C", "i5", 20),
        ("E", "i1", 9), ("E", "i3", 4), ("E", "i4", 6), ("E", "i5", 7),
        ("R", "i5", 40), ("R", "i3", 10),
    ]
    # Older values: shown elsewhere, never scored as current.
    older = [("C", "i3", 7), ("D", "i1", 3), ("A", "i5", 99)]
    frame = pd.concat([
        pd.DataFrame(current, columns=["unit_id", "indicator_id", "value"]).assign(period=CYCLE),
        pd.DataFrame(older, columns=["unit_id", "indicator_id", "value"]).assign(period="2021Q3"),
    ], ignore_index=True)
    return frame.astype({"value": "float64"})


def progress():
    rows = [
        # unit, indicator, applicable, status, progress_ratio, attainment
        ("A", "i1", True, "met", 1.2, 1.0),
        ("A", "i2", True, "overdue", 0.4, 0.4),
        ("A", "i5", False, "met", 1.0, 1.0),        # not applicable: ignored
        ("B", "i1", True, "green", 0.97, 0.5),
        ("B", "i4", True, "not_started", np.nan, np.nan),   # falls through to min-max
        ("B", "i2", True, "not_started", np.nan, np.nan),   # falls through to benchmark
        ("C", "i1", True, "red", -0.3, -0.1),
        ("C", "i4", True, "no_data", np.nan, np.nan),
        ("E", "i1", True, "green", 1.5, 0.9),        # ahead of pace: capped at 100
    ]
    return pd.DataFrame(rows, columns=["unit_id", "indicator_id", "applicable", "status",
                                       "progress_ratio", "attainment"])


def gaps():
    rows = [
        ("A", "i3", 8.0, 10.0), ("B", "i2", 12.0, 10.0), ("B", "i3", 0.0, 4.0),
        ("C", "i2", 0.0, 5.0), ("C", "i3", 7.0, 10.0), ("E", "i3", 4.0, -2.0),
        ("E", "i4", 6.0, 3.0),
        ("B", "i1", 15.0, 1000.0),   # a target applies: the benchmark is not used
        ("A", "i5", 10.0, np.nan),   # no benchmark value: min-max
    ]
    return pd.DataFrame(rows, columns=["unit_id", "indicator_id", "actual_value",
                                       "benchmark_value"])


def adjustments():
    rows = [
        ("A", CYCLE, 3.0, "表彰", False), ("A", CYCLE, 4.0, "创新", False),
        ("A", CYCLE, -2.0, "通报", False),
        ("B", CYCLE, -15.0, "整改不力", False), ("B", CYCLE, -10.0, "信访", False),
        ("E", CYCLE, -1.0, "安全事故", True),
        ("D", CYCLE, 2.0, "表彰", False),
        ("A", "2021Q3", 5.0, "上季度", False),     # another period: ignored
        ("R", CYCLE, 5.0, "参照", False),         # reference unit: ignored
    ]
    return pd.DataFrame(rows, columns=["unit_id", "period", "points", "reason", "veto"])


def config(**scores):
    return load_config(overrides={"scores": {"domain_weights": {"svc": 2}, **scores}})


@pytest.fixture
def ind_scores():
    return scoring.indicator_scores(units(), indicators(), observations(), progress(), gaps(),
                                    CYCLE, config())


@pytest.fixture
def unit_table(ind_scores):
    return scoring.unit_scores(units(), indicators(), ind_scores, adjustments(), CYCLE, config())


def row(table, unit, domain):
    found = table[(table["unit_id"] == unit) & (table["domain"] == domain)]
    assert len(found) == 1
    return found.iloc[0]


# --- indicator scores ---------------------------------------------------------------------

EXPECTED_INDICATOR = {
    ("A", "i1"): (100.0, "target"),       # met
    ("A", "i2"): (40.0, "target"),        # overdue: p = attainment 0.4 -> 40
    ("A", "i3"): (80.0, "benchmark"),     # higher: 100 * 8 / 10
    ("A", "i4"): (100.0, "minmax"),       # lower, county {A 5, B 15}: 100 (15 - 5) / 10
    ("A", "i5"): (0.0, "minmax"),         # higher, county {A 10, B 30, C 20}: (10 - 10) / 20
    ("A", "i6"): (100.0, "minmax"),       # A alone with i6: max == min -> 100
    ("B", "i1"): (97.0, "target"),        # green p 0.97 -> 97 (benchmark 1000 not used)
    ("B", "i2"): (100 * 10 / 12, "benchmark"),   # not_started; lower: 100 * y / x = 83.33
    ("B", "i3"): (0.0, "benchmark"),      # higher, x = 0 < y = 4: behind -> 0
    ("B", "i4"): (0.0, "minmax"),         # not_started falls through; lower (15 - 15) / 10
    ("B", "i5"): (100.0, "minmax"),       # (30 - 10) / 20 (R's 40 not in the set)
    ("B", "i6"): (None, "none"),
    ("C", "i1"): (0.0, "target"),         # red, p = -0.3 -> max(0, .) = 0
    ("C", "i2"): (100.0, "benchmark"),    # lower, x = 0 <= y = 5: level or ahead -> 100
    ("C", "i3"): (None, "none"),          # only an older value (2021Q3)
    ("C", "i4"): (None, "none"),          # no_data milestone, no value
    ("C", "i5"): (50.0, "minmax"),        # (20 - 10) / 20
    ("C", "i6"): (None, "none"),
    ("E", "i1"): (100.0, "target"),       # green p 1.5 -> min(1, 1.5) = 1
    ("E", "i2"): (None, "none"),
    ("E", "i3"): (100.0, "benchmark"),    # higher, benchmark -2 < 0: x = 4 >= -2 -> 100
    ("E", "i4"): (50.0, "benchmark"),     # lower: 100 * 3 / 6
    ("E", "i5"): (100.0, "minmax"),       # alone in its level: max == min -> 100
    ("E", "i6"): (None, "none"),
}


def test_indicator_scores_every_basis(ind_scores):
    assert set(ind_scores["unit_id"]) == {"A", "B", "C", "D", "E"}
    for (unit, ind), (score, basis) in EXPECTED_INDICATOR.items():
        got = ind_scores[(ind_scores["unit_id"] == unit) & (ind_scores["indicator_id"] == ind)]
        assert len(got) == 1, (unit, ind)
        assert got["basis"].iloc[0] == basis, (unit, ind)
        if score is None:
            assert math.isnan(got["score"].iloc[0]), (unit, ind)
        else:
            assert got["score"].iloc[0] == pytest.approx(score), (unit, ind)


def test_indicator_scores_table_shape(ind_scores):
    # Every assessed unit x indicator, the reference unit left out.
    assert len(ind_scores) == 5 * 6
    assert "R" not in set(ind_scores["unit_id"])
    assert list(ind_scores.columns[:9]) == scoring.INDICATOR_SCORE_COLUMNS
    assert ind_scores["score"].dtype == "float64"
    # Score NaN exactly where the basis is none; everything else finite and within 0-100.
    none = ind_scores["basis"] == "none"
    assert ind_scores.loc[none, "score"].isna().all()
    scored = ind_scores.loc[~none, "score"]
    assert np.isfinite(scored).all() and scored.between(0, 100).all()


def test_unit_with_no_current_value_is_none_everywhere(ind_scores):
    d = ind_scores[ind_scores["unit_id"] == "D"]
    assert (d["basis"] == "none").all() and d["score"].isna().all()


def test_overdue_without_ratio_uses_attainment_and_undefined_ratio_counts_zero():
    prog = pd.DataFrame([
        ("A", "i1", True, "overdue", np.nan, 0.7),   # tau = 1: p = attainment -> 70
        ("B", "i1", True, "red", np.nan, np.nan),    # behind with no ratio: no progress -> 0
        ("C", "i1", True, "overdue", np.inf, np.inf),  # clipped: 100
    ], columns=["unit_id", "indicator_id", "applicable", "status", "progress_ratio",
                "attainment"])
    out = scoring.indicator_scores(units(), indicators(), observations(), prog, gaps(), CYCLE,
                                   config())
    got = out[out["indicator_id"] == "i1"].set_index("unit_id")
    assert got.loc["A", "score"] == pytest.approx(70.0)
    assert got.loc["B", "score"] == 0.0
    assert got.loc["C", "score"] == 100.0
    assert set(got.loc[["A", "B", "C"], "basis"]) == {"target"}


@pytest.mark.parametrize("x, y, sign, expected", [
    (8, 10, 1, 80.0),        # higher, behind: x / y
    (12, 10, 1, 100.0),      # higher, ahead: capped
    (12, 10, -1, 100 * 10 / 12),   # lower, behind: y / x
    (8, 10, -1, 100.0),      # lower, ahead: capped
    (0, 0, 1, 100.0),        # both zero: level -> 100
    (0, 5, 1, 0.0),          # higher, zero actual behind a positive benchmark
    (5, 0, 1, 100.0),        # higher, ahead of a zero benchmark
    (0, 5, -1, 100.0),       # lower, zero actual ahead
    (5, 0, -1, 0.0),         # lower, behind a zero benchmark
    (-3, -1, 1, 0.0),        # negative values: all or nothing on s (x - y)
    (-1, -3, 1, 100.0),
    (-3, -1, -1, 100.0),
    (3, -1, -1, 0.0),
])
def test_benchmark_score_cases(x, y, sign, expected):
    assert scoring.benchmark_score([x], [y], [sign])[0] == pytest.approx(expected)


def test_benchmark_score_nan_only_from_nan_input():
    out = scoring.benchmark_score([np.nan, 1.0], [1.0, np.nan], [1, -1])
    assert np.isnan(out).all()


def test_minmax_score_directions_and_flat_spread():
    out = scoring.minmax_score([10, 20, 30, 20, 7], [10, 10, 10, 10, 7], [30, 30, 30, 30, 7],
                               [1, 1, 1, -1, 1])
    # higher (x - 10) / 20: 0, 50, 100; lower (30 - 20) / 20: 50; max == min: 100
    assert out.tolist() == pytest.approx([0.0, 50.0, 100.0, 50.0, 100.0])


# --- domain, overall, total ---------------------------------------------------------------

def test_domain_scores_and_coverage(unit_table):
    expected = {
        # svc: (2 * 100 + 1 * 40) / 3 = 80; org: (80 + 100) / 2 = 90;
        # gov: i5 0 (w1), i6 weight 0 counts nowhere -> 0 / 1 = 0
        ("A", "svc"): (80.0, 1.0), ("A", "org"): (90.0, 1.0), ("A", "gov"): (0.0, 1.0),
        # svc: (2 * 97 + 250 / 3) / 3 = 832 / 9 = 92.44; org: (0 + 0) / 2; gov: 100
        ("B", "svc"): (832 / 9, 1.0), ("B", "org"): (0.0, 1.0), ("B", "gov"): (100.0, 1.0),
        # svc: (2 * 0 + 100) / 3 = 33.33; org: no data; gov: 50 (i6 weight 0 not in coverage)
        ("C", "svc"): (100 / 3, 1.0), ("C", "org"): (None, 0.0), ("C", "gov"): (50.0, 1.0),
        # svc: only i1 (w2) of w3 scored: score 100, coverage 2 / 3; org (100 + 50) / 2
        ("E", "svc"): (100.0, 2 / 3), ("E", "org"): (75.0, 1.0), ("E", "gov"): (100.0, 1.0),
    }
    for (unit, domain), (score, coverage) in expected.items():
        r = row(unit_table, unit, domain)
        assert r["coverage"] == pytest.approx(coverage), (unit, domain)
        if score is None:
            assert math.isnan(r["score"])
        else:
            assert r["score"] == pytest.approx(score), (unit, domain)


def test_overall_arithmetic(unit_table):
    # A: (2 * 80 + 90 + 0) / 4 = 62.5; coverage (2 * 1 + 1 + 1) / 4 = 1
    assert row(unit_table, "A", "overall")["score"] == pytest.approx(62.5)
    # B: (2 * 832 / 9 + 0 + 100) / 4 = 641 / 9 = 71.22
    assert row(unit_table, "B", "overall")["score"] == pytest.approx(641 / 9)
    # C: org has no data and is left out: (2 * 100 / 3 + 50) / 3 = 350 / 9 = 38.89;
    # coverage counts org as 0: (2 * 1 + 0 + 1) / 4 = 0.75
    c = row(unit_table, "C", "overall")
    assert c["score"] == pytest.approx(350 / 9)
    assert c["coverage"] == pytest.approx(0.75)
    # E: (2 * 100 + 75 + 100) / 4 = 93.75; coverage (2 * 2 / 3 + 1 + 1) / 4 = 5 / 6
    e = row(unit_table, "E", "overall")
    assert e["score"] == pytest.approx(93.75)
    assert e["coverage"] == pytest.approx(5 / 6)


def test_overall_geometric(ind_scores):
    table = scoring.unit_scores(units(), indicators(), ind_scores, adjustments(), CYCLE,
                                config(aggregation="geometric", geometric_floor=1.0))
    # A: gov = 0 is raised to the floor 1 (ln 1 = 0): exp((2 ln 80 + ln 90 + 0) / 4)
    expected_a = math.exp((2 * math.log(80) + math.log(90)) / 4)
    assert row(table, "A", "overall")["score"] == pytest.approx(expected_a)   # 27.55
    # C: exp((2 ln(100 / 3) + ln 50) / 3), org left out
    expected_c = math.exp((2 * math.log(100 / 3) + math.log(50)) / 3)
    assert row(table, "C", "overall")["score"] == pytest.approx(expected_c)
    # geometric <= arithmetic, equal only when the domain scores are equal
    assert expected_a < 62.5


def test_zero_domain_weight_leaves_the_domain_out(ind_scores):
    cfg = config(domain_weights={"svc": 2, "gov": 0})
    table = scoring.unit_scores(units(), indicators(), ind_scores, adjustments(), CYCLE, cfg)
    a = row(table, "A", "overall")
    # (2 * 80 + 90) / 3 = 83.33; coverage (2 + 1) / 3 = 1
    assert a["score"] == pytest.approx(250 / 3)
    assert a["coverage"] == pytest.approx(1.0)
    # the gov domain row still has its own score
    assert row(table, "A", "gov")["score"] == 0.0


def test_weights_come_from_the_indicators_table(ind_scores):
    heavier = indicators().assign(weight=[1.0, 3.0, 1.0, 1.0, 1.0, 0.0])
    table = scoring.unit_scores(units(), heavier, ind_scores, adjustments(), CYCLE, config())
    # A svc with i1 w1, i2 w3: (100 + 3 * 40) / 4 = 55
    assert row(table, "A", "svc")["score"] == pytest.approx(55.0)


def test_adjustments_with_caps_and_veto(unit_table):
    a = row(unit_table, "A", "total")
    # bonus min(3 + 4, 5) = 5 (the 2021Q3 +5 ignored); deduction 2; 62.5 + 5 - 2 = 65.5
    assert (a["bonus"], a["deduction"]) == (5.0, 2.0)
    assert a["score"] == pytest.approx(65.5)
    assert a["grade"] == "合格" and not a["veto"]
    b = row(unit_table, "B", "total")
    # deduction min(15 + 10, 20) = 20; 641 / 9 - 20 = 51.22
    assert (b["bonus"], b["deduction"]) == (0.0, 20.0)
    assert b["score"] == pytest.approx(641 / 9 - 20)
    assert b["grade"] == "不合格"
    e = row(unit_table, "E", "total")
    # 93.75 - 1 = 92.75 would be 优秀, but the veto imposes 不合格
    assert e["score"] == pytest.approx(92.75)
    assert bool(e["veto"]) and e["grade"] == "不合格"
    # the total row carries the overall coverage
    assert row(unit_table, "C", "total")["coverage"] == pytest.approx(0.75)


def test_total_never_below_zero(ind_scores):
    adj = pd.DataFrame([("C", CYCLE, -20.0, "重大失误", False), ("C", CYCLE, -30.0, "x", False)],
                       columns=["unit_id", "period", "points", "reason", "veto"])
    cfg = config(deduction_cap=50.0)
    table = scoring.unit_scores(units(), indicators(), ind_scores, adj, CYCLE, cfg)
    # 38.89 - min(50, 50) < 0 -> 0
    assert row(table, "C", "total")["score"] == 0.0
    assert row(table, "C", "total")["grade"] == "不合格"


def test_grade_columns_only_on_total_rows(unit_table):
    others = unit_table[unit_table["domain"] != "total"]
    assert others["grade"].isna().all() and others["bonus"].isna().all()
    assert others["veto"].isna().all()


# --- grades -------------------------------------------------------------------------------

def test_grade_bands_at_their_edges():
    totals = pd.Series([100.0, 90.0, 89.99, 80.0, 79.99, 60.0, 59.99, 0.0, 105.0,
                        90 - 1e-12, np.nan], index=list("abcdefghijk"))
    got = scoring.grade(totals, config())
    assert got.tolist() == ["优秀", "优秀", "良好", "良好", "合格", "合格", "不合格", "不合格",
                            "优秀", "优秀", None]
    assert list(got.index) == list("abcdefghijk")


def test_grade_with_veto_and_custom_bands():
    cfg = config(grades=[["A", 85], ["B", 50], ["C", 20]], veto_grade="V")
    totals = pd.Series([85.0, 50.0, 10.0, 99.0, np.nan])
    veto = pd.Series([False, False, False, True, True])
    # below every bound: the lowest band; a NaN total has no grade even with a veto
    assert scoring.grade(totals, cfg, veto).tolist() == ["A", "B", "C", "V", None]


# --- ranks and changes --------------------------------------------------------------------

def test_ranks_per_level(unit_table):
    totals = unit_table[unit_table["domain"] == "total"].set_index("unit_id")
    # county totals A 65.5 > B 51.22 > C 38.89; D not scored; E alone among townships
    assert totals.loc[["A", "B", "C", "E"], "rank"].tolist() == [1.0, 2.0, 3.0, 1.0]
    assert math.isnan(totals.loc["D", "rank"])
    assert totals.loc[["A", "D", "E"], "n_ranked"].tolist() == [3, 3, 1]
    # overall ranks differ from total ranks: B 71.22 > A 62.5 > C 38.89
    overall = unit_table[unit_table["domain"] == "overall"].set_index("unit_id")
    assert overall.loc[["A", "B", "C"], "rank"].tolist() == [2.0, 1.0, 3.0]
    # org: only A (90) and B (0) have a score
    assert row(unit_table, "A", "org")["n_ranked"] == 2
    assert math.isnan(row(unit_table, "C", "org")["rank"])


def test_ranks_with_ties():
    u = pd.DataFrame({"unit_id": ["U1", "U2", "U3", "U4", "U5"], "level": "county",
                      "role": "assessed"})
    # weights 0.1 and 0.2 do not add up to 0.3 exactly in binary floating point
    ind = pd.DataFrame({"indicator_id": ["k1", "k2"], "domain": "d", "direction": "higher",
                        "weight": [0.1, 0.2]})
    s = pd.DataFrame([("U1", "k1", 70.0), ("U1", "k2", np.nan),    # 0.1 * 70 / 0.1 = 70
                      ("U2", "k1", 70.0), ("U2", "k2", 70.0),      # 70 (69.99999999999999)
                      ("U3", "k1", 80.0), ("U3", "k2", 80.0),      # 80
                      ("U4", "k1", 90.0), ("U4", "k2", 60.0),      # (9 + 12) / 0.3 = 70
                      ("U5", "k1", np.nan), ("U5", "k2", np.nan)],
                     columns=["unit_id", "indicator_id", "score"])
    empty_adj = pd.DataFrame(columns=["unit_id", "period", "points", "reason"])
    table = scoring.unit_scores(u, ind, s, empty_adj, CYCLE, config())
    d = table[table["domain"] == "d"].set_index("unit_id")
    # the tie below holds only because ranks compare rounded scores
    assert d.loc["U1", "score"] != d.loc["U2", "score"]
    # 80 first; the three 70s share rank 2 (method min); U5 not ranked; 4 ranked
    for domain in ("d", "overall", "total"):
        ranks = table[table["domain"] == domain].set_index("unit_id")
        assert ranks.loc[["U1", "U2", "U3", "U4"], "rank"].tolist() == [2.0, 2.0, 1.0, 2.0]
        assert math.isnan(ranks.loc["U5", "rank"])
        assert (ranks["n_ranked"] == 4).all()


def test_score_and_rank_change(ind_scores):
    previous = pd.DataFrame([
        ("A", "total", 60.0, 2.0), ("B", "total", 70.0, 1.0), ("C", "total", np.nan, np.nan),
        ("A", "svc", 80.0, 2.0),
    ], columns=["unit_id", "domain", "score", "rank"])
    table = scoring.unit_scores(units(), indicators(), ind_scores, adjustments(), CYCLE,
                                config(), previous=previous)
    a = row(table, "A", "total")
    assert a["score_change"] == pytest.approx(5.5)       # 65.5 - 60
    assert a["rank_change"] == 1.0                        # 2 -> 1: moved up one
    b = row(table, "B", "total")
    assert b["score_change"] == pytest.approx(641 / 9 - 20 - 70)
    assert b["rank_change"] == -1.0                       # 1 -> 2
    assert row(table, "A", "svc")["score_change"] == 0.0
    assert row(table, "A", "svc")["rank_change"] == 0.0
    # not scored before (C) or absent before (E, A overall): NaN
    for unit, domain in [("C", "total"), ("E", "total"), ("A", "overall")]:
        r = row(table, unit, domain)
        assert math.isnan(r["score_change"]) and math.isnan(r["rank_change"])


def test_without_previous_changes_are_nan(unit_table):
    assert unit_table["score_change"].isna().all() and unit_table["rank_change"].isna().all()


# --- the unit with no data, and no NaN leaking --------------------------------------------

def test_unit_with_no_data_still_has_rows(unit_table):
    d = unit_table[unit_table["unit_id"] == "D"]
    assert d["domain"].tolist() == ["svc", "org", "gov", "overall", "total"]
    assert d["score"].isna().all() and d["rank"].isna().all()
    assert (d["coverage"] == 0.0).all()
    total = row(unit_table, "D", "total")
    assert total["grade"] is None
    assert total["bonus"] == 2.0   # the adjustment is shown, but makes no total


def test_no_nan_or_inf_except_the_documented_cases(unit_table):
    assert "R" not in set(unit_table["unit_id"])
    assert np.isfinite(unit_table["coverage"]).all()
    assert unit_table["coverage"].between(0, 1).all()
    # the only NaN scores: D everywhere (not scored) and C's org domain (no data)
    nan_rows = unit_table.loc[unit_table["score"].isna(), ["unit_id", "domain"]]
    assert set(map(tuple, nan_rows.to_numpy())) == (
        {("D", d) for d in ("svc", "org", "gov", "overall", "total")} | {("C", "org")})
    scored = unit_table["score"].dropna()
    assert np.isfinite(scored).all()
    totals = unit_table[unit_table["domain"] == "total"]
    assert np.isfinite(totals["bonus"]).all() and np.isfinite(totals["deduction"]).all()
    ranked = unit_table["rank"].dropna()
    assert (ranked >= 1).all() and (ranked <= unit_table.loc[ranked.index, "n_ranked"]).all()


def test_no_assessed_units_gives_empty_tables():
    only_reference = units().assign(role="reference")
    s = scoring.indicator_scores(only_reference, indicators(), observations(), progress(),
                                 gaps(), CYCLE, config())
    assert s.empty and list(s.columns) == scoring.INDICATOR_SCORE_COLUMNS
    t = scoring.unit_scores(only_reference, indicators(), s, adjustments(), CYCLE, config())
    assert t.empty and list(t.columns) == scoring.UNIT_SCORE_COLUMNS
    assert s["unit_id"].dtype == "str" and t["unit_id"].dtype == "str"


# --- bad input ----------------------------------------------------------------------------

def _ind_scores(**tables):
    args = dict(units=units(), indicators=indicators(), observations=observations(),
                progress=progress(), gaps=gaps())
    args.update(tables)
    return scoring.indicator_scores(args["units"], args["indicators"], args["observations"],
                                    args["progress"], args["gaps"], CYCLE, config())


def test_bad_direction_is_an_input_error():
    bad = indicators().assign(direction=["higher", "up", "higher", "lower", "higher", "higher"])
    with pytest.raises(InputError) as err:
        _ind_scores(indicators=bad)
    assert err.value.problems[0].column == "direction"
    assert "i2" in str(err.value)


@pytest.mark.parametrize("weight", [-1.0, np.inf])
def test_bad_weight_is_an_input_error(weight):
    bad = indicators().assign(weight=[2.0, weight, 1.0, 1.0, 1.0, 0.0])
    with pytest.raises(InputError, match="weight"):
        _ind_scores(indicators=bad)


def test_reserved_domain_name_is_an_input_error():
    bad = indicators().assign(domain=["svc", "svc", "total", "org", "gov", "gov"])
    with pytest.raises(InputError, match="domain"):
        _ind_scores(indicators=bad)


def test_value_that_is_no_number_is_an_input_error():
    obs = observations().astype({"value": object})
    obs.loc[1, "value"] = "三十"
    with pytest.raises(InputError) as err:
        _ind_scores(observations=obs)
    assert err.value.problems[0].column == "value" and "三十" in str(err.value)
    bad_gaps = gaps()
    bad_gaps.loc[0, "benchmark_value"] = np.inf
    with pytest.raises(InputError, match="benchmark_value"):
        _ind_scores(gaps=bad_gaps)


def test_missing_observation_value_counts_as_no_value():
    obs = observations()
    obs.loc[(obs["unit_id"] == "A") & (obs["indicator_id"] == "i3"), "value"] = np.nan
    got = _ind_scores(observations=obs).set_index(["unit_id", "indicator_id"])
    assert got.loc[("A", "i3"), "basis"] == "none"
    assert math.isnan(got.loc[("A", "i3"), "score"])


def test_repeated_observation_is_a_method_error():
    obs = pd.concat([observations(), observations().iloc[[0]]], ignore_index=True)
    with pytest.raises(MethodError, match="observations"):
        _ind_scores(observations=obs)


def test_missing_column_is_a_method_error():
    with pytest.raises(MethodError, match="benchmark_value"):
        _ind_scores(gaps=gaps().drop(columns=["benchmark_value"]))
    with pytest.raises(MethodError, match="applicable"):
        _ind_scores(progress=progress().drop(columns=["applicable"]))


def test_two_applicable_milestones_are_a_method_error():
    prog = pd.concat([progress(), progress().iloc[[0]]], ignore_index=True)
    with pytest.raises(MethodError, match="progress"):
        _ind_scores(progress=prog)


def test_malformed_cycle_is_a_parse_error():
    with pytest.raises(ParseError):
        scoring.indicator_scores(units(), indicators(), observations(), progress(), gaps(),
                                 "2021-4", config())


def test_non_finite_points_are_an_input_error(ind_scores):
    adj = adjustments()
    adj.loc[0, "points"] = np.nan
    with pytest.raises(InputError) as err:
        scoring.unit_scores(units(), indicators(), ind_scores, adj, CYCLE, config())
    assert err.value.problems[0].column == "points"
    assert "表彰" in str(err.value)


def test_repeated_previous_row_is_a_method_error(ind_scores):
    previous = pd.DataFrame([("A", "total", 60.0, 2.0)] * 2,
                            columns=["unit_id", "domain", "score", "rank"])
    with pytest.raises(MethodError, match="previous"):
        scoring.unit_scores(units(), indicators(), ind_scores, adjustments(), CYCLE, config(),
                            previous=previous)
