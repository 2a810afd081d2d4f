"""Peer finding (遴选对标单位): similar units ahead in score, and DEA efficiency with peers."""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.analysis import peers
from evalkit.config import default_config
from evalkit.errors import InputError, MethodError

SQRT = math.sqrt


def cfg(**peers_settings) -> dict:
    config = default_config()
    config["peers"].update(peers_settings)
    return config


def units_table(rows, columns=("pop", "budget")) -> pd.DataFrame:
    """rows: (unit_id, level, role, *context values)."""
    return pd.DataFrame(rows, columns=["unit_id", "level", "role", *columns])


def totals(**scores) -> pd.DataFrame:
    return pd.DataFrame({"unit_id": list(scores), "domain": "total",
                         "score": [float(s) for s in scores.values()]})


def frame(ids, **columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=pd.Index(ids, dtype="str"))


def by_unit(table: pd.DataFrame, column: str) -> dict:
    return dict(zip(table["unit_id"], table[column]))


# =========================================================================================
# similar_units

@pytest.fixture
def three():
    # pop: mean 2, population sd sqrt(2/3) -> z = (-1.2247, 0, 1.2247) = (-sqrt(1.5), 0, sqrt(1.5))
    # budget: mean 20, deviations (-10, -10, 20), sd sqrt(600/3) = sqrt(200)
    #         -> z = (-1/sqrt(2), -1/sqrt(2), sqrt(2))
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "county", "assessed", 2, 10),
                         ("c", "county", "assessed", 3, 40)])
    scores = totals(a=50, b=70, c=90)
    return units, scores


def test_distances_hand_checked_on_three_units_and_two_columns(three):
    units, scores = three
    out = peers.similar_units(units, scores, cfg())
    got = {(u, c): d for u, c, d in zip(out["unit_id"], out["candidate_id"], out["distance"])}
    # d(a,b) = sqrt((0 + 1.2247)^2 + 0^2) = sqrt(1.5)
    # d(a,c) = sqrt((2 * 1.2247)^2 + (1.4142 + 0.7071)^2) = sqrt(6 + 4.5) = sqrt(10.5)
    # d(b,c) = sqrt(1.2247^2 + 2.1213^2) = sqrt(1.5 + 4.5) = sqrt(6)
    assert got == pytest.approx({("a", "b"): SQRT(1.5), ("a", "c"): SQRT(10.5),
                                 ("b", "c"): SQRT(6.0)})
    a = out[out["unit_id"] == "a"]
    assert list(a["candidate_id"]) == ["b", "c"] and list(a["rank"]) == [1, 2]
    assert a["similarity"].tolist() == pytest.approx([1 / (1 + SQRT(1.5)), 1 / (1 + SQRT(10.5))])
    assert a["score_ahead"].tolist() == [20.0, 40.0]          # 70 - 50, 90 - 50
    assert a["unit_score"].tolist() == [50.0, 50.0]
    assert a["candidate_score"].tolist() == [70.0, 90.0]
    assert set(out["n_context"]) == {2}
    assert "c" not in set(out["unit_id"])                     # the best unit has no one ahead
    assert list(out.columns) == peers.PEER_COLUMNS


def test_zero_spread_column_is_dropped(three):
    units, scores = three
    flat = units.assign(villages=[7.0, 7.0, 7.0])
    base = peers.similar_units(units, scores, cfg())
    out = peers.similar_units(flat, scores, cfg())
    pd.testing.assert_frame_equal(out, base)
    summary = peers.context_summary(flat, cfg())
    assert list(summary["column"]) == ["pop", "budget", "villages"]
    assert list(summary["used"]) == [True, True, False]
    assert list(summary["note"]) == [None, None, "zero_spread"]
    assert summary["std"].tolist() == pytest.approx([SQRT(2 / 3), SQRT(200), 0.0])
    assert summary["mean"].tolist() == pytest.approx([2.0, 20.0, 7.0])


def test_missing_value_drops_the_column_from_that_pair_and_rescales():
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "county", "assessed", 2, None),
                         ("c", "county", "assessed", 3, 40)])
    out = peers.similar_units(units, totals(a=1, b=2, c=3), cfg())
    got = {(u, c): (d, k) for u, c, d, k in
           zip(out["unit_id"], out["candidate_id"], out["distance"], out["n_context"])}
    # pop z = (-sqrt(1.5), 0, sqrt(1.5)); budget over a and c only: mean 25, sd 15 -> z = (-1, ., 1)
    # d(a,b): pop only, sqrt(1.5) * sqrt(k / k_used) = sqrt(1.5) * sqrt(2 / 1) = sqrt(3)
    # d(a,c): sqrt((2 sqrt(1.5))^2 + 2^2) = sqrt(6 + 4) = sqrt(10)
    # d(b,c): sqrt(1.5) * sqrt(2) = sqrt(3)
    assert got[("a", "b")] == (pytest.approx(SQRT(3)), 1)
    assert got[("a", "c")] == (pytest.approx(SQRT(10)), 2)
    assert got[("b", "c")] == (pytest.approx(SQRT(3)), 1)


def test_pair_without_shared_context_is_no_candidate():
    units = units_table([("a", "county", "assessed", 1, None),
                         ("b", "county", "assessed", None, 10),
                         ("c", "county", "assessed", 3, 40)])
    out = peers.similar_units(units, totals(a=1, b=2, c=3), cfg())
    pairs = set(zip(out["unit_id"], out["candidate_id"]))
    assert ("a", "b") not in pairs                  # a has only pop, b only budget
    assert {("a", "c"), ("b", "c")} <= pairs
    assert out["distance"].notna().all() and out["similarity"].notna().all()


def test_candidates_are_ahead_only_and_ties_are_not_ahead():
    units = units_table([(u, "county", "assessed", p, b) for u, p, b in
                         [("a", 1, 10), ("b", 2, 12), ("c", 3, 30), ("d", 4, 31), ("e", 5, 50)]])
    scores = totals(a=60, b=80, c=60, d=59.5, e=95)
    out = peers.similar_units(units, scores, cfg(candidates=10))
    merged = out.merge(scores.rename(columns={"unit_id": "candidate_id", "score": "s"}),
                       on="candidate_id")
    assert (merged["s"] > merged["unit_score"]).all()
    assert (out["score_ahead"] > 0).all()
    assert set(out.loc[out["unit_id"] == "a", "candidate_id"]) == {"b", "e"}   # c ties a at 60
    assert set(out.loc[out["unit_id"] == "d", "candidate_id"]) == {"a", "b", "c", "e"}
    assert "e" not in set(out["unit_id"])


def test_scores_equal_after_rounding_are_a_tie():
    units = units_table([("a", "county", "assessed", 1, 10), ("b", "county", "assessed", 2, 20)])
    scores = totals(a=90.0, b=89.99999999999999)          # 90 reached by float arithmetic
    assert peers.similar_units(units, scores, cfg()).empty


def test_at_most_the_configured_number_of_candidates_nearest_first():
    units = units_table([(u, "county", "assessed", p, b) for u, p, b in
                         [("a", 1, 10), ("b", 2, 12), ("c", 3, 30), ("d", 4, 31), ("e", 5, 50)]])
    scores = totals(a=10, b=20, c=30, d=40, e=50)
    for k in (1, 2, 3):
        out = peers.similar_units(units, scores, cfg(candidates=k))
        assert out.groupby("unit_id").size().max() == k
        assert (out.groupby("unit_id")["distance"].apply(lambda d: d.is_monotonic_increasing)
                ).all()
        assert out.groupby("unit_id")["rank"].apply(list).map(
            lambda r: r == list(range(1, len(r) + 1))).all()
    a = peers.similar_units(units, scores, cfg(candidates=1), unit_id="a")
    assert list(a["candidate_id"]) == ["b"]


def test_candidates_are_of_the_same_level():
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "township", "assessed", 1.1, 10.5),
                         ("c", "county", "assessed", 5, 60)])
    out = peers.similar_units(units, totals(a=10, b=99, c=20), cfg())
    assert list(zip(out["unit_id"], out["candidate_id"])) == [("a", "c")]


def test_reference_units_only_when_asked_ranked_by_distance_alone():
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "county", "assessed", 3, 30),
                         ("r", "county", "reference", 1.2, 11)])
    scores = totals(a=50, b=80)
    plain = peers.similar_units(units, scores, cfg())
    assert list(plain["candidate_id"]) == ["b"]
    out = peers.similar_units(units, scores, cfg(), include_reference=True)
    a = out[out["unit_id"] == "a"]
    assert list(a["candidate_id"]) == ["r", "b"]           # r is nearer; it has no score
    assert list(a["candidate_role"]) == ["reference", "assessed"]
    assert np.isnan(a["candidate_score"].iloc[0]) and np.isnan(a["score_ahead"].iloc[0])
    assert a["unit_score"].tolist() == [50.0, 50.0]
    # b is the best assessed unit: only the reference unit is offered.
    assert list(out.loc[out["unit_id"] == "b", "candidate_id"]) == ["r"]
    assert "r" not in set(out["unit_id"])                  # reference units get no candidates


def test_unit_without_score_gets_reference_candidates_only():
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "county", "assessed", 3, 30),
                         ("r", "county", "reference", 2, 20)])
    scores = pd.DataFrame({"unit_id": ["a", "b"], "domain": "total", "score": [np.nan, 80.0]})
    assert peers.similar_units(units, scores, cfg(), unit_id="a").empty
    out = peers.similar_units(units, scores, cfg(), unit_id="a", include_reference=True)
    assert list(out["candidate_id"]) == ["r"] and np.isnan(out["unit_score"].iloc[0])


def test_domains_compare_on_the_mean_of_those_domain_scores():
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "county", "assessed", 2, 20),
                         ("c", "county", "assessed", 3, 30)])
    rows = [("a", "total", 60), ("a", "x", 50), ("a", "y", 70),
            ("b", "total", 90), ("b", "x", 40), ("b", "y", 60),     # ahead in total only
            ("c", "total", 50), ("c", "x", 80), ("c", "y", np.nan)]
    scores = pd.DataFrame(rows, columns=["unit_id", "domain", "score"])
    assert list(peers.similar_units(units, scores, cfg(), unit_id="a")["candidate_id"]) == ["b"]
    # mean over x and y: a (50 + 70) / 2 = 60, b (40 + 60) / 2 = 50, c undefined (y missing)
    assert peers.similar_units(units, scores, cfg(), unit_id="a", domains=["x", "y"]).empty
    # over x alone: a 50, b 40, c 80 -> c is ahead of a
    out = peers.similar_units(units, scores, cfg(), unit_id="a", domains="x")
    assert list(out["candidate_id"]) == ["c"]
    assert out["unit_score"].tolist() == [50.0] and out["score_ahead"].tolist() == [30.0]
    b = peers.similar_units(units, scores, cfg(), unit_id="b", domains="x;y")
    assert list(b["candidate_id"]) == ["a"] and b["score_ahead"].tolist() == [10.0]


def test_current_benchmark_is_marked():
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "county", "assessed", 2, 20),
                         ("c", "county", "assessed", 3, 30)])
    benchmarks = pd.DataFrame({"unit_id": ["a"], "benchmark_unit_id": ["c"], "domains": [None]})
    out = peers.similar_units(units, totals(a=1, b=2, c=3), cfg(), benchmarks=benchmarks)
    marked = out[out["is_current_benchmark"]]
    assert list(zip(marked["unit_id"], marked["candidate_id"])) == [("a", "c")]
    assert out["is_current_benchmark"].dtype == bool
    assert not peers.similar_units(units, totals(a=1, b=2, c=3), cfg())[
        "is_current_benchmark"].any()


def test_relabelling_and_reordering_units_changes_nothing():
    rng = np.random.default_rng(7)
    ids = [f"u{i}" for i in range(9)]
    units = units_table([(u, "county", "assessed", *rng.uniform(1, 100, 2)) for u in ids])
    units["villages"] = rng.uniform(0, 300, len(ids))
    scores = totals(**{u: s for u, s in zip(ids, rng.uniform(40, 100, len(ids)))})
    base = peers.similar_units(units, scores, cfg(candidates=4))

    rename = {u: f"z{8 - i}" for i, u in enumerate(ids)}
    order = rng.permutation(len(ids))
    units2 = units.iloc[order].assign(unit_id=lambda d: d["unit_id"].map(rename))
    units2 = units2[["unit_id", "level", "role", "villages", "budget", "pop"]]  # column order too
    scores2 = scores.iloc[rng.permutation(len(ids))].assign(
        unit_id=lambda d: d["unit_id"].map(rename))
    back = {v: k for k, v in rename.items()}
    out = peers.similar_units(units2, scores2, cfg(candidates=4))
    out = out.assign(unit_id=out["unit_id"].map(back), candidate_id=out["candidate_id"].map(back))
    out = out.sort_values(["unit_id", "rank"], ignore_index=True)
    pd.testing.assert_frame_equal(out, base, check_exact=False, rtol=1e-12)


def test_no_context_column_gives_no_candidates():
    units = pd.DataFrame({"unit_id": ["a", "b"], "level": "county", "role": "assessed"})
    out = peers.similar_units(units, totals(a=1, b=2), cfg())
    assert out.empty and list(out.columns) == peers.PEER_COLUMNS
    assert peers.context_summary(units, cfg()).empty


def test_configured_context_columns_only():
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("b", "county", "assessed", 2, 10),
                         ("c", "county", "assessed", 3, 40)])
    out = peers.similar_units(units, totals(a=1, b=2, c=3), cfg(context=["pop"]))
    d = {(u, c): x for u, c, x in zip(out["unit_id"], out["candidate_id"], out["distance"])}
    # pop alone: z = (-sqrt(1.5), 0, sqrt(1.5)); d(a,b) = sqrt(1.5), d(a,c) = 2 sqrt(1.5)
    assert d[("a", "b")] == pytest.approx(SQRT(1.5))
    assert d[("a", "c")] == pytest.approx(2 * SQRT(1.5))
    assert set(out["n_context"]) == {1}


@pytest.mark.parametrize("kwargs, fragment", [
    ({"unit_id": "nobody"}, "unknown unit"),
    ({"unit_id": "r"}, "reference unit"),
    ({"domains": ["nowhere"]}, "unknown domain"),
    ({"domains": [3]}, "expected domain ids"),
])
def test_bad_arguments_are_input_errors(kwargs, fragment):
    units = units_table([("a", "county", "assessed", 1, 10),
                         ("r", "county", "reference", 2, 20)])
    with pytest.raises(InputError) as exc:
        peers.similar_units(units, totals(a=1), cfg(), **kwargs)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("settings, column", [
    ({"candidates": 0}, "peers.candidates"),
    ({"candidates": "3"}, "peers.candidates"),
    ({"candidates": True}, "peers.candidates"),
    ({"context": ["area"]}, "peers.context"),
    ({"context": "pop;budget;area"}, "peers.context"),
    ({"context": [1]}, "peers.context"),
    ({"returns": "increasing"}, "peers.returns"),
])
def test_bad_settings_name_the_setting(settings, column):
    units = units_table([("a", "county", "assessed", 1, 10), ("b", "county", "assessed", 2, 9)])
    with pytest.raises(InputError) as exc:
        peers.similar_units(units, totals(a=1, b=2), cfg(**settings))
    assert [p.column for p in exc.value.problems] == [column]


def test_bad_tables():
    units = units_table([("a", "county", "assessed", 1, 10), ("b", "county", "assessed", 2, 9)])
    text = units.astype({"pop": object})
    text.loc[1, "pop"] = "many"
    with pytest.raises(InputError) as exc:
        peers.similar_units(text, totals(a=1, b=2), cfg(context=["pop"]))
    assert exc.value.problems[0].column == "pop" and "'many'" in str(exc.value)
    infinite = units.assign(budget=[1.0, np.inf])
    with pytest.raises(InputError, match="finite"):
        peers.similar_units(infinite, totals(a=1, b=2), cfg())
    with pytest.raises(InputError, match="empty cell"):
        peers.similar_units(units.assign(unit_id=["a", None]), totals(a=1, b=2), cfg())
    with pytest.raises(MethodError, match="more than one row"):
        peers.similar_units(units.assign(unit_id=["a", "a"]), totals(a=1), cfg())
    with pytest.raises(MethodError, match="lacks the column"):
        peers.similar_units(units.drop(columns="unit_id"), totals(a=1, b=2), cfg())
    domain_rows = totals(a=1, b=2).assign(domain="x")
    with pytest.raises(MethodError, match="no 'total' rows"):
        peers.similar_units(units, domain_rows, cfg())
    with pytest.raises(MethodError, match="more than one row"):
        peers.similar_units(units, pd.concat([totals(a=1, b=2), totals(a=3)]), cfg())
    with pytest.raises(InputError, match="finite number"):
        peers.similar_units(units, totals(a=1, b=2).assign(score=["1", "x"]), cfg())


# =========================================================================================
# DEA: published examples

# Cooper, Seiford & Tone, "Data Envelopment Analysis: A Comprehensive Text with Models,
# Applications, References and DEA-Solver Software", 2nd ed. (Springer 2007), chapter 1,
# "Single input and single output": eight branch stores A-H, input employees, output sales.
STORES = list("ABCDEFGH")
EMPLOYEES = [2, 3, 3, 4, 5, 5, 6, 8]
SALES = [1, 3, 2, 3, 4, 2, 3, 5]


def test_ccr_on_the_stores_of_cooper_seiford_tone_chapter_1():
    scores, weights = peers.dea(frame(STORES, employee=EMPLOYEES), frame(STORES, sales=SALES))
    # Published: sales per employee relative to the best store B (3 / 3 = 1):
    # A 0.5, B 1, C 0.667, D 0.75, E 0.8, F 0.4, G 0.5, H 0.625.
    assert by_unit(scores, "efficiency") == pytest.approx(
        {"A": 0.5, "B": 1.0, "C": 2 / 3, "D": 0.75, "E": 0.8, "F": 0.4, "G": 0.5, "H": 0.625},
        abs=1e-9)
    assert by_unit(scores, "status")["B"] == "efficient"
    assert set(scores["peers"]) == {"B"}                     # every store is measured against B
    # Store A: the frontier point is lambda_B * (3, 3) producing A's sales 1 -> lambda_B = 1/3.
    a = weights[weights["unit_id"] == "A"]
    assert list(a["peer_id"]) == ["B"] and a["lambda"].tolist() == pytest.approx([1 / 3])
    assert list(scores.columns) == peers.DEA_COLUMNS and scores["note"].isna().all()


def test_bcc_on_the_same_stores_worked_on_the_vrs_frontier():
    # The variable-returns frontier through the same data joins A(2,1), B(3,3), E(5,4), H(8,5)
    # (slopes 2, 1/2, 1/3: concave). Input needed at the store's sales on that frontier:
    # C (3,2): between A and B, x = 2 + (2 - 1) / 2 = 2.5 -> 2.5 / 3 = 5/6
    # D (4,3): B's input 3 -> 3 / 4;  F (5,2): 2.5 / 5 = 1/2;  G (6,3): 3 / 6 = 1/2
    scores, weights = peers.dea(frame(STORES, employee=EMPLOYEES), frame(STORES, sales=SALES),
                                returns="variable")
    assert by_unit(scores, "efficiency") == pytest.approx(
        {"A": 1.0, "B": 1.0, "C": 5 / 6, "D": 0.75, "E": 1.0, "F": 0.5, "G": 0.5, "H": 1.0},
        abs=1e-9)
    # C's frontier point (2.5, 2) = 0.5 A + 0.5 B.
    c = weights[weights["unit_id"] == "C"].set_index("peer_id")["lambda"]
    assert c.to_dict() == pytest.approx({"A": 0.5, "B": 0.5})
    assert by_unit(scores, "peers")["D"] == "B" and by_unit(scores, "peers")["H"] == "H"


# The same book, chapter 3 (the CCR model), the worked example with six DMUs A-F, two inputs
# and one output (all outputs 1). Published: theta A 0.8571 with reference set {D, E},
# B 0.6316 with {C, D}, C, D, E 1, and F theta 1 with an input slack of 2 against C (so F is
# not CCR-efficient).
TWO_INPUTS = {"x1": [4, 7, 8, 4, 2, 10], "x2": [3, 3, 1, 2, 4, 1]}
SIX = list("ABCDEF")


def test_ccr_two_inputs_one_output_of_cooper_seiford_tone_chapter_3():
    scores, weights = peers.dea(frame(SIX, **TWO_INPUTS), frame(SIX, y=[1] * 6))
    eff = by_unit(scores, "efficiency")
    # A (4,3): the ray t(4,3) meets the facet D-E (x1 + x2 = 6) at t = 6/7 = 0.8571
    # B (7,3): the ray meets the facet C-D (x1 + 4 x2 = 12) at t = 12/19 = 0.6316
    assert eff == pytest.approx({"A": 6 / 7, "B": 12 / 19, "C": 1, "D": 1, "E": 1, "F": 1},
                                abs=1e-9)
    assert round(eff["A"], 4) == 0.8571 and round(eff["B"], 4) == 0.6316
    status = by_unit(scores, "status")
    assert status == {"A": "inefficient", "B": "inefficient", "C": "efficient",
                      "D": "efficient", "E": "efficient", "F": "weakly_efficient"}
    lam = {(u, p): v for u, p, v in weights.itertuples(index=False)}
    # A's target (24/7, 18/7) = 5/7 D + 2/7 E; B's (84/19, 36/19) = 2/19 C + 17/19 D.
    assert lam[("A", "D")] == pytest.approx(5 / 7) and lam[("A", "E")] == pytest.approx(2 / 7)
    assert lam[("B", "C")] == pytest.approx(2 / 19) and lam[("B", "D")] == pytest.approx(17 / 19)
    assert lam[("F", "C")] == pytest.approx(1.0)
    assert by_unit(scores, "peers") == {"A": "D;E", "B": "D;C", "C": "C", "D": "D", "E": "E",
                                        "F": "C"}


# Zeros in the data (the standard model of Charnes, Cooper & Rhodes, as R's Benchmarking
# ``dea(X, Y, RTS="crs", ORIENTATION="in")`` and deaR's ``model_basic`` solve it): a unit with a
# zero input or output stays in everyone's reference set. One input x, two outputs y:
# A (1; 2, 0) produces none of output 2, B (2; 2, 1), C (4; 3, 4).
ABC = list("ABC")
ABC_X = [1.0, 2.0, 4.0]
ABC_Y = {"y1": [2.0, 2.0, 3.0], "y2": [0.0, 1.0, 4.0]}


def test_a_unit_with_a_zero_output_stays_in_the_ccr_reference_set():
    scores, weights = peers.dea(frame(ABC, x=ABC_X), frame(ABC, **ABC_Y))
    # B: min theta s.t. lA + 2 lB + 4 lC <= 2 theta, 2 lA + 2 lB + 3 lC >= 2, lB + 4 lC >= 1.
    # Multiplier form (v x_B = 1, so v = 1/2): max 2 u1 + u2 s.t. A: 2 u1 <= 1/2,
    # B: 2 u1 + u2 <= 1, C: 3 u1 + 4 u2 <= 2. A and C bind: u1 = 1/4, u2 = 5/16, and
    # 2/4 + 5/16 = 13/16 (B's own constraint, 13/16 < 1, is slack: lB = 0).
    # Envelopment: both outputs bind, 4 lC = 1 -> lC = 1/4; 2 lA + 3/4 = 2 -> lA = 5/8;
    # input 5/8 + 4/4 = 13/8 = 2 theta -> theta = 13/16 = 0.8125, with no slack left.
    # Without A in the reference set B would be rated 1 (C alone needs lC >= 2/3, input 8/3 > 2).
    eff = by_unit(scores, "efficiency")
    assert eff == pytest.approx({"A": 1.0, "B": 13 / 16, "C": 1.0}, abs=1e-9)
    assert eff["B"] == pytest.approx(0.8125, abs=1e-12)
    assert by_unit(scores, "status") == {"A": "efficient", "B": "inefficient", "C": "efficient"}
    b = weights[weights["unit_id"] == "B"].set_index("peer_id")["lambda"].to_dict()
    assert b == pytest.approx({"A": 5 / 8, "C": 1 / 4}, abs=1e-9)
    assert by_unit(scores, "peers") == {"A": "A", "B": "A;C", "C": "C"}
    assert scores["note"].isna().all()


def test_a_unit_with_a_zero_output_stays_in_the_bcc_reference_set():
    scores, weights = peers.dea(frame(ABC, x=ABC_X), frame(ABC, **ABC_Y), returns="variable")
    # B with lA + lB + lC = 1: input 1 + lB + 3 lC (lA = 1 - lB - lC) <= 2 theta;
    # output 2: lB + 4 lC >= 1, and output 1 holds for every convex mix (each unit has >= 2).
    # Output 2 costs 1 input per unit from B but 3/4 from C, so lB = 0, lC = 1/4, lA = 3/4:
    # input 1 + 3/4 = 7/4 = 2 theta -> theta = 7/8 = 0.875; output 1 is 2.25, a slack of 1/4.
    # The mix is the only one at theta = 7/8 (lB + 3 lC <= 3/4 and lB + 4 lC >= 1 force
    # lC >= 1/4 and lB <= 0). A has the least input and C is CCR-efficient: both efficient.
    # Without A the mixes of B and C need input >= 2: B would be rated 1.
    eff = by_unit(scores, "efficiency")
    assert eff == pytest.approx({"A": 1.0, "B": 7 / 8, "C": 1.0}, abs=1e-9)
    assert by_unit(scores, "status") == {"A": "efficient", "B": "inefficient", "C": "efficient"}
    b = weights[weights["unit_id"] == "B"].set_index("peer_id")["lambda"].to_dict()
    assert b == pytest.approx({"A": 3 / 4, "C": 1 / 4}, abs=1e-9)
    assert by_unit(scores, "peers")["B"] == "A;C"


def test_a_unit_with_one_zero_input_stays_in_the_reference_set():
    # Two inputs, one output 1 each: P (0, 2) uses none of input 1, Q (1, 1), R (2, 4).
    # R: a mix t P + (1 - t) Q needs (1 - t, 1 + t) <= theta (2, 4), so
    # theta = max((1 - t)/2, (1 + t)/4), least where 2 - 2t = 1 + t: t = 1/3, theta = 1/3.
    # (Multiplier form: 2 v1 + 4 v2 = 1, u <= 2 v2 and u <= v1 + v2 -> v1 = v2 = 1/6, u = 1/3.)
    # Without P, Q alone: theta = max(1/2, 1/4) = 1/2.
    ids = list("PQR")
    scores, weights = peers.dea(frame(ids, x1=[0.0, 1.0, 2.0], x2=[2.0, 1.0, 4.0]),
                                frame(ids, y=[1.0, 1.0, 1.0]))
    assert by_unit(scores, "efficiency") == pytest.approx({"P": 1.0, "Q": 1.0, "R": 1 / 3},
                                                          abs=1e-9)
    assert by_unit(scores, "status") == {"P": "efficient", "Q": "efficient", "R": "inefficient"}
    r = weights[weights["unit_id"] == "R"].set_index("peer_id")["lambda"].to_dict()
    assert r == pytest.approx({"P": 1 / 3, "Q": 2 / 3}, abs=1e-9)


def test_a_unit_with_no_output_is_inefficient_and_a_harmless_reference():
    ids = ABC + ["D"]
    inputs, outputs = frame(ids, x=ABC_X + [2.0]), frame(ids, y1=[2.0, 2.0, 3.0, 0.0],
                                                         y2=[0.0, 1.0, 4.0, 0.0])
    ccr, ccr_w = peers.dea(inputs, outputs)
    # D produces nothing: lambda = 0 meets its outputs with no input, so theta = 0 (the
    # multiplier form agrees: u y_D = 0 for every weight). Its target is the origin: no peers.
    d = ccr.set_index("unit_id").loc["D"]
    assert (d["efficiency"], d["status"], d["peers"]) == (0.0, "inefficient", "")
    assert d["note"] is None and "D" not in set(ccr_w["unit_id"])
    # As a reference D adds input and no output: the others are scored as without it.
    assert by_unit(ccr, "efficiency") == pytest.approx({"A": 1, "B": 13 / 16, "C": 1, "D": 0},
                                                       abs=1e-9)
    assert "D" not in set(ccr_w["peer_id"])
    # Variable returns: D's outputs are met by any one unit; the least input is A's 1 = 2 theta.
    bcc, bcc_w = peers.dea(inputs, outputs, returns="variable")
    assert by_unit(bcc, "efficiency") == pytest.approx({"A": 1, "B": 7 / 8, "C": 1, "D": 1 / 2},
                                                       abs=1e-9)
    assert by_unit(bcc, "peers")["D"] == "A"


def test_a_unit_with_no_input_is_undefined_but_stays_a_reference():
    # Z uses nothing and produces 1 of output 1: its own input-oriented problem is degenerate
    # (theta multiplies only zeros; the multiplier form's v x_Z = 1 has no solution), so it
    # has no efficiency. As a reference it gives output 1 for free under constant returns:
    # A needs only output 1 -> theta 0; B needs y2 >= 1 from C at 1 per 4 of input
    # (lC = 1/4, input 1 = 2 theta -> 1/2), output 1 from Z; C needs y2 = 4 from itself -> 1,
    # and Z adds output 1 without limit: a slack, so C is weakly efficient.
    ids = ABC + ["Z"]
    scores, weights = peers.dea(frame(ids, x=ABC_X + [0.0]),
                                frame(ids, y1=[2.0, 2.0, 3.0, 1.0], y2=[0.0, 1.0, 4.0, 0.0]))
    z = scores.set_index("unit_id").loc["Z"]
    assert np.isnan(z["efficiency"]) and (z["status"], z["note"], z["peers"]) == (
        "undefined", "zero_inputs", "")
    eff = by_unit(scores, "efficiency")
    assert {k: eff[k] for k in ABC} == pytest.approx({"A": 0.0, "B": 0.5, "C": 1.0}, abs=1e-9)
    assert by_unit(scores, "status") == {"A": "inefficient", "B": "inefficient",
                                         "C": "weakly_efficient", "Z": "undefined"}
    lam = {(u, p): v for u, p, v in weights.itertuples(index=False)}
    assert lam[("B", "C")] == pytest.approx(1 / 4, abs=1e-9)
    assert lam[("A", "Z")] >= 2 - 1e-9 and lam[("B", "Z")] >= 1.25 - 1e-9
    assert "Z" not in set(weights["unit_id"])
    # Variable returns bound the lambdas (they sum to 1): Z is an ordinary reference.
    bcc, _ = peers.dea(frame(ids, x=ABC_X + [0.0]),
                       frame(ids, y1=[2.0, 2.0, 3.0, 1.0], y2=[0.0, 1.0, 4.0, 0.0]),
                       returns="variable")
    assert np.isnan(by_unit(bcc, "efficiency")["Z"])
    # A (1; 2, 0) against Z (0; 1, 0): t Z + (1 - t) A needs y1 = 2 - t >= 2, so t = 0: A is 1.
    assert by_unit(bcc, "status")["A"] == "efficient"


def test_a_unit_with_nothing_in_or_out_is_the_origin():
    # O (0; 0, 0) is unscored (no input). Under constant returns it adds nothing to a mix and
    # is no peer. Under variable returns it is the origin of the convex mixes: with it, any
    # mix of A and C whose lambdas sum to at most 1 is allowed, so B's constant-returns mix
    # (5/8 A + 1/4 C, sum 7/8) plus 1/8 O gives B 13/16 there too.
    ids = ABC + ["O"]
    inputs = frame(ids, x=ABC_X + [0.0])
    outputs = frame(ids, y1=ABC_Y["y1"] + [0.0], y2=ABC_Y["y2"] + [0.0])
    ccr, ccr_w = peers.dea(inputs, outputs)
    assert by_unit(ccr, "note")["O"] == "zero_inputs" and "O" not in set(ccr_w["peer_id"])
    assert by_unit(ccr, "efficiency")["B"] == pytest.approx(13 / 16, abs=1e-9)
    bcc, bcc_w = peers.dea(inputs, outputs, returns="variable")
    assert by_unit(bcc, "efficiency")["B"] == pytest.approx(13 / 16, abs=1e-9)
    b = bcc_w[bcc_w["unit_id"] == "B"].set_index("peer_id")["lambda"].to_dict()
    assert b == pytest.approx({"A": 5 / 8, "C": 1 / 4, "O": 1 / 8}, abs=1e-9)


# =========================================================================================
# DEA: properties

def test_ccr_with_one_input_and_one_output_is_the_ratio_to_the_best_ratio():
    rng = np.random.default_rng(11)
    ids = [f"u{i:02d}" for i in range(15)]
    x, y = rng.uniform(1, 50, 15), rng.uniform(1, 80, 15)
    scores, _ = peers.dea(frame(ids, x=x), frame(ids, y=y))
    ratio = y / x
    assert scores["efficiency"].to_numpy() == pytest.approx(ratio / ratio.max(), abs=1e-9)
    best = ids[int(np.argmax(ratio))]
    assert by_unit(scores, "status")[best] == "efficient"
    assert set(scores["peers"]) == {best}


def random_data(seed: int, n: int = 12):
    rng = np.random.default_rng(seed)
    ids = [f"d{i}" for i in range(n)]
    return (frame(ids, a=rng.uniform(1, 20, n), b=rng.uniform(5, 60, n)),
            frame(ids, p=rng.uniform(1, 30, n), q=rng.uniform(10, 90, n)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bcc_efficiency_is_at_least_ccr_efficiency(seed):
    inputs, outputs = random_data(seed)
    ccr, _ = peers.dea(inputs, outputs)
    bcc, _ = peers.dea(inputs, outputs, returns="variable")
    assert (bcc["efficiency"].to_numpy() >= ccr["efficiency"].to_numpy() - 1e-9).all()
    assert (ccr["efficiency"] > 0).all() and (bcc["efficiency"] <= 1).all()
    # Efficient in CCR implies efficient in BCC (the CCR frontier lies outside the BCC one).
    assert set(ccr.loc[ccr["efficiency"] == 1, "unit_id"]) <= set(
        bcc.loc[bcc["efficiency"] == 1, "unit_id"])


@pytest.mark.parametrize("seed", [4, 5])
def test_scaling_inputs_changes_no_ccr_score(seed):
    inputs, outputs = random_data(seed)
    base, base_w = peers.dea(inputs, outputs)
    scaled, scaled_w = peers.dea(inputs * 1000.0, outputs)
    assert scaled["efficiency"].to_numpy() == pytest.approx(base["efficiency"].to_numpy(),
                                                            abs=1e-9)
    assert list(scaled["status"]) == list(base["status"])
    one_column, _ = peers.dea(inputs.assign(a=inputs["a"] * 0.01), outputs)
    assert one_column["efficiency"].to_numpy() == pytest.approx(base["efficiency"].to_numpy(),
                                                                abs=1e-9)
    # Constant returns: a unit twice as big in everything is exactly as efficient.
    twice_in, twice_out = inputs.copy(), outputs.copy()
    twice_in.loc["d0"] *= 2
    twice_out.loc["d0"] *= 2
    doubled, _ = peers.dea(twice_in, twice_out)
    assert doubled["efficiency"].to_numpy() == pytest.approx(base["efficiency"].to_numpy(),
                                                             abs=1e-9)


def test_efficient_units_are_their_own_peer_and_weights_match_peers():
    inputs, outputs = random_data(6)
    for returns in peers.RETURNS:
        scores, weights = peers.dea(inputs, outputs, returns=returns)
        efficient = scores[scores["status"] == "efficient"]
        assert len(efficient) >= 1
        assert (efficient["efficiency"] == 1.0).all()
        assert (efficient["peers"] == efficient["unit_id"]).all()
        own = weights[weights["unit_id"].isin(efficient["unit_id"])]
        assert (own["unit_id"] == own["peer_id"]).all() and (own["lambda"] == 1.0).all()
        listed = weights.groupby("unit_id")["peer_id"].apply(set).to_dict()
        assert {u: set(p.split(";")) for u, p in zip(scores["unit_id"], scores["peers"])} \
            == listed
        inefficient = scores[scores["status"] == "inefficient"]
        assert (inefficient["efficiency"] < 1).all()
        # An inefficient unit's peers are efficient units.
        eff_ids = set(efficient["unit_id"])
        assert all(set(p.split(";")) <= eff_ids for p in inefficient["peers"])
        if returns == "variable":
            assert weights.groupby("unit_id")["lambda"].sum().to_numpy() == pytest.approx(1.0)


def test_missing_or_negative_values_are_noted_and_left_out_of_every_reference_set():
    ids = list("ABCDEFGH") + ["Zn", "Zm", "Zy"]
    inputs = frame(ids, employee=EMPLOYEES + [-1.0, np.nan, 1.0])
    outputs = frame(ids, sales=SALES + [9.0, 9.0, -2.0])
    # Zn has a negative input, Zm a missing one, Zy a negative output; Zx is absent from the
    # outputs altogether (missing there).
    inputs.loc["Zx"] = 1.0
    scores, weights = peers.dea(inputs, outputs)
    bad = scores[scores["unit_id"].str.startswith("Z")]
    assert list(bad["unit_id"]) == ["Zm", "Zn", "Zx", "Zy"]
    assert bad["efficiency"].isna().all()
    assert set(bad["status"]) == {"undefined"} and set(bad["note"]) == {"missing_or_negative"}
    assert (bad["peers"] == "").all()
    assert not weights["unit_id"].str.startswith("Z").any()
    assert not weights["peer_id"].str.startswith("Z").any()
    # The others are scored exactly as without the bad units (Zn would otherwise dominate).
    good = scores[~scores["unit_id"].str.startswith("Z")]
    assert by_unit(good, "efficiency")["A"] == pytest.approx(0.5)
    assert good["note"].isna().all()


def test_every_unit_excluded_and_single_unit():
    scores, weights = peers.dea(frame(["a", "b", "c"], x=[-1.0, 1.0, 0.0]),
                                frame(["a", "b", "c"], y=[1.0, np.nan, 2.0]))
    assert scores["efficiency"].isna().all() and weights.empty
    assert list(scores["note"]) == ["missing_or_negative", "missing_or_negative",
                                    "zero_inputs"]
    assert list(weights.columns) == peers.DEA_WEIGHT_COLUMNS
    scores, weights = peers.dea(frame(["only"], x=[3.0]), frame(["only"], y=[2.0]),
                                returns="variable")
    assert scores.iloc[0][["efficiency", "status", "peers"]].tolist() == [1.0, "efficient",
                                                                            "only"]


def test_dea_relabelling_changes_nothing():
    inputs, outputs = random_data(8)
    base, base_w = peers.dea(inputs, outputs, returns="variable")
    rename = {u: f"k{11 - i:02d}" for i, u in enumerate(inputs.index)}
    order = np.random.default_rng(0).permutation(len(inputs))
    out, out_w = peers.dea(inputs.iloc[order].rename(index=rename),
                           outputs.iloc[order[::-1]].rename(index=rename), returns="variable")
    back = {v: k for k, v in rename.items()}
    out = out.assign(unit_id=out["unit_id"].map(back)).set_index("unit_id").loc[base["unit_id"]]
    assert out["efficiency"].to_numpy() == pytest.approx(base["efficiency"].to_numpy(), abs=1e-9)
    assert list(out["status"]) == list(base["status"])
    assert len(out_w) == len(base_w)


def test_dea_bad_input():
    ids = ["a", "b"]
    with pytest.raises(InputError) as exc:
        peers.dea(frame(ids, x=["1", "lots"]), frame(ids, y=[1, 2]))
    assert exc.value.problems[0].column == "x" and "'lots'" in str(exc.value)
    with pytest.raises(InputError, match="finite"):
        peers.dea(frame(ids, x=[1, np.inf]), frame(ids, y=[1, 2]))
    with pytest.raises(MethodError, match="at least one input"):
        peers.dea(pd.DataFrame(index=ids), frame(ids, y=[1, 2]))
    with pytest.raises(MethodError, match="at least one output"):
        peers.dea(frame(ids, x=[1, 2]), pd.DataFrame(index=ids))
    with pytest.raises(MethodError, match="twice"):
        peers.dea(frame(["a", "a"], x=[1, 2]), frame(ids, y=[1, 2]))
    with pytest.raises(MethodError, match="repeat a column"):
        peers.dea(pd.DataFrame([[1, 2], [3, 4]], index=ids, columns=["x", "x"]),
                  frame(ids, y=[1, 2]))
    with pytest.raises(MethodError, match="returns"):
        peers.dea(frame(ids, x=[1, 2]), frame(ids, y=[1, 2]), returns="CCR")
    with pytest.raises(MethodError, match="DataFrame"):
        peers.dea([[1], [2]], frame(ids, y=[1, 2]))
    with pytest.raises(InputError, match="empty cell"):
        peers.dea(frame(["a", ""], x=[1, 2]), frame(ids, y=[1, 2]))


# =========================================================================================
# The sample study

@pytest.fixture(scope="module")
def sample():
    study = evalkit.load()
    return study, evalkit.score(study, "latest")


def test_sample_gives_three_candidates_for_daying(sample):
    study, result = sample
    out = peers.similar_units(study.units, result.scores, study.config, unit_id="daying",
                              benchmarks=study.benchmarks, include_reference=True)
    assert len(out) == 3 and list(out["rank"]) == [1, 2, 3]
    # 大英县's own benchmark, 绵阳市游仙区, is the nearest in context.
    first = out.iloc[0]
    assert (first["candidate_id"], first["candidate_role"], bool(first["is_current_benchmark"])) \
        == ("youxian", "reference", True)
    assessed = out[out["candidate_role"] == "assessed"]
    assert (assessed["score_ahead"] > 0).all()
    assert set(assessed["candidate_id"]) <= {"shehong", "chuanshan"}  # ranked 1st and 2nd
    total = result.scores[result.scores["domain"] == "total"].set_index("unit_id")["score"]
    assert assessed["unit_score"].tolist() == pytest.approx([total["daying"]] * len(assessed))
    # Without reference units, only the two units ahead of 大英县 remain.
    plain = peers.similar_units(study.units, result.scores, study.config, unit_id="daying")
    assert sorted(plain["candidate_id"]) == ["chuanshan", "shehong"]
    # Reference units of another level (遂宁市 is a city) are never candidates.
    every = peers.similar_units(study.units, result.scores, study.config,
                                include_reference=True)
    assert "suining" not in set(every["candidate_id"])
    assert every.groupby("unit_id").size().max() == study.config["peers"]["candidates"]


def test_sample_dea_as_configured(sample):
    study, result = sample
    peers_cfg = study.config["peers"]
    assert peers_cfg["dea_inputs"] == ["民政预算（万元）"] and len(peers_cfg["dea_outputs"]) == 4
    scores, weights = peers.dea_for_study(study, result)
    assessed = sorted(study.units.loc[study.units["role"] == "assessed", "unit_id"])
    assert list(scores["unit_id"]) == assessed
    assert (scores["cycle"] == result.cycle).all() and (weights["cycle"] == result.cycle).all()
    assert scores["efficiency"].between(0, 1).all() and scores["note"].isna().all()
    assert (scores["status"] == "efficient").sum() >= 1
    assert list(scores.columns) == ["unit_id", "cycle"] + peers.DEA_COLUMNS[1:]
    assert list(weights.columns) == ["unit_id", "cycle", "peer_id", "lambda"]
    # BCC as configured is at least the CCR efficiency for every bureau.
    ccr_cfg = copy.deepcopy(study.config)
    ccr_cfg["peers"]["returns"] = "constant"
    ccr, _ = peers.dea_for_study(study, result, ccr_cfg)
    assert (scores["efficiency"].to_numpy() >= ccr["efficiency"].to_numpy() - 1e-9).all()


def test_sample_dea_with_one_output_is_the_ratio_to_the_best_ratio(sample):
    study, result = sample
    config = copy.deepcopy(study.config)
    config["peers"].update(dea_outputs=["certified_social_workers"], returns="constant")
    scores, _ = peers.dea_for_study(study, result, config)
    units = study.units.set_index("unit_id")
    obs = study.observations
    y = obs[(obs["period"] == result.cycle)
            & (obs["indicator_id"] == "certified_social_workers")].set_index("unit_id")["value"]
    ratio = (y / units["民政预算（万元）"]).reindex(scores["unit_id"])
    assert scores["efficiency"].to_numpy() == pytest.approx((ratio / ratio.max()).to_numpy(),
                                                            abs=1e-9)


def test_sample_dea_keeps_a_zero_output(sample):
    study, result = sample
    config = copy.deepcopy(study.config)
    # Some bureaus have no provincial model community yet (value 0): they are scored and stay
    # in the others' reference sets.
    config["peers"].update(dea_outputs=["community_renovated", "provincial_demo_communities"])
    scores, weights = peers.dea_for_study(study, result, config)
    obs = study.observations
    zero = set(obs.loc[(obs["period"] == result.cycle)
                       & (obs["indicator_id"] == "provincial_demo_communities")
                       & (obs["value"] == 0), "unit_id"]) & set(scores["unit_id"])
    assert zero == {"anju", "hedong"}
    assert scores["note"].isna().all() and scores["efficiency"].notna().all()
    # 河东新区 has the least budget (3000) and renovated more communities (10) than 安居区
    # (8, budget 24600), both with no model community: under variable returns it is
    # efficient and 安居区's only peer, theta = 3000 / 24600 = 5/41.
    eff = by_unit(scores, "efficiency")
    assert eff["hedong"] == 1.0 and eff["anju"] == pytest.approx(3000 / 24600, abs=1e-9)
    assert by_unit(scores, "peers")["anju"] == "hedong"
    assert "hedong" in set(weights["peer_id"])
    # Constant returns: the zero output constrains nothing, 河东新区's renovated per budget
    # (10 / 3000) against 遂宁经开区's (16 / 3400) is 212.5 / 300 = 17/24, lambda 10/16.
    config["peers"]["returns"] = "constant"
    ccr, ccr_w = peers.dea_for_study(study, result, config)
    assert by_unit(ccr, "efficiency")["hedong"] == pytest.approx(17 / 24, abs=1e-9)
    hedong = ccr_w[ccr_w["unit_id"] == "hedong"]
    assert list(hedong["peer_id"]) == ["jingkai"]
    assert hedong["lambda"].tolist() == pytest.approx([10 / 16])


def test_dea_for_study_without_configuration_is_empty(sample):
    study, result = sample
    for settings in ({"dea_inputs": [], "dea_outputs": []},
                     {"dea_inputs": ["民政预算（万元）"], "dea_outputs": []}):
        scores, weights = peers.dea_for_study(study, result, cfg(**settings))
        assert scores.empty and weights.empty
        assert list(scores.columns) == ["unit_id", "cycle"] + peers.DEA_COLUMNS[1:]
        assert list(weights.columns) == ["unit_id", "cycle", "peer_id", "lambda"]


@pytest.mark.parametrize("settings, column, fragment", [
    ({"dea_inputs": ["budget"]}, "peers.dea_inputs", "not a numeric context column"),
    ({"dea_inputs": ["name_zh"]}, "peers.dea_inputs", "not a numeric context column"),
    ({"dea_outputs": ["temp_relief_days"]}, "peers.dea_outputs", "lower-is-better"),
    ({"dea_outputs": ["no_such_indicator"]}, "peers.dea_outputs", "not an indicator"),
    ({"returns": "both"}, "peers.returns", "constant or variable"),
])
def test_dea_for_study_bad_configuration(sample, settings, column, fragment):
    study, result = sample
    config = copy.deepcopy(study.config)
    config["peers"].update(settings)
    with pytest.raises(InputError) as exc:
        peers.dea_for_study(study, result, config)
    assert [p.column for p in exc.value.problems] == [column]
    assert fragment in str(exc.value)
