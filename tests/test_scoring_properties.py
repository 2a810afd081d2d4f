"""Properties of the scores over generated studies: bounds, monotonicity in the actual value,
invariance to the scale of the weights and to the units' labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evalkit.method import scoring
from evalkit.config import load_config

CYCLE = "2021Q4"
STATUSES = ["met", "green", "yellow", "red", "overdue", "not_started", "no_data"]
DOMAINS = ["d1", "d2", "d3"]
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Values are whole numbers (possibly zero or negative), ratios multiples of 0.05: the scores are
# then rationals with small denominators, so equal scores compare equal after rounding whatever
# the order of the arithmetic.
values = st.one_of(st.none(), st.integers(-20, 200).map(float))
ratios = st.one_of(st.just(np.nan), st.integers(-40, 40).map(lambda k: k * 0.05))


@st.composite
def studies(draw):
    n_units = draw(st.integers(1, 6))
    n_ind = draw(st.integers(1, 5))
    unit_ids = [f"u{i}" for i in range(n_units)]
    units = pd.DataFrame({
        "unit_id": unit_ids,
        "level": draw(st.lists(st.sampled_from(["county", "township"]), min_size=n_units,
                               max_size=n_units)),
        "role": draw(st.lists(st.sampled_from(["assessed", "assessed", "reference"]),
                              min_size=n_units, max_size=n_units)),
    })
    ind_ids = [f"k{j}" for j in range(n_ind)]
    indicators = pd.DataFrame({
        "indicator_id": ind_ids,
        "domain": draw(st.lists(st.sampled_from(DOMAINS), min_size=n_ind, max_size=n_ind)),
        "direction": draw(st.lists(st.sampled_from(["higher", "lower"]), min_size=n_ind,
                                   max_size=n_ind)),
        "weight": draw(st.lists(st.integers(0, 5).map(float), min_size=n_ind, max_size=n_ind)),
    })
    obs, prog, gap = [], [], []
    for u in unit_ids:
        for k in ind_ids:
            x = draw(values)
            if x is not None:
                obs.append((u, k, CYCLE, x))
            if draw(st.booleans()):
                status = "no_data" if x is None else draw(st.sampled_from(STATUSES))
                prog.append((u, k, draw(st.booleans()), status, draw(ratios), draw(ratios)))
            if draw(st.booleans()):
                y = draw(values)
                gap.append((u, k, x, np.nan if y is None else y))
    adj = [(u, CYCLE, float(draw(st.integers(-30, 10))), f"r{i}", draw(st.booleans()))
           for i, u in enumerate(draw(st.lists(st.sampled_from(unit_ids), max_size=4)))]
    return {
        "units": units,
        "indicators": indicators,
        "observations": pd.DataFrame(obs, columns=["unit_id", "indicator_id", "period",
                                                   "value"]).astype({"value": "float64"}),
        "progress": pd.DataFrame(prog, columns=["unit_id", "indicator_id", "applicable",
                                                "status", "progress_ratio", "attainment"]),
        "gaps": pd.DataFrame(gap, columns=["unit_id", "indicator_id", "actual_value",
                                           "benchmark_value"]).astype(
            {"actual_value": "float64", "benchmark_value": "float64"}),
        "adjustments": pd.DataFrame(adj, columns=["unit_id", "period", "points", "reason",
                                                  "veto"]),
    }


def configs(aggregation="arithmetic", domain_weights=None):
    return load_config(overrides={"scores": {"aggregation": aggregation,
                                             "domain_weights": domain_weights or {}}})


def score_indicators(s, config):
    return scoring.indicator_scores(s["units"], s["indicators"], s["observations"],
                                    s["progress"], s["gaps"], CYCLE, config)


def score_units(s, config, ind=None, indicators=None):
    ind = score_indicators(s, config) if ind is None else ind
    return scoring.unit_scores(s["units"], s["indicators"] if indicators is None else indicators,
                               ind, s["adjustments"], CYCLE, config)


@SETTINGS
@given(studies(), st.sampled_from(["arithmetic", "geometric"]))
def test_scores_stay_within_0_and_100_before_adjustments(s, aggregation):
    config = configs(aggregation)
    ind = score_indicators(s, config)
    none = ind["basis"] == "none"
    assert ind.loc[none, "score"].isna().all()
    assert ind.loc[~none, "score"].between(0, 100).all()
    table = score_units(s, config, ind)
    before = table[table["domain"] != "total"]
    scored = before["score"].dropna()
    assert scored.between(-1e-9, 100 + 1e-9).all()
    assert table["coverage"].between(0, 1 + 1e-12).all()
    totals = table[table["domain"] == "total"]["score"].dropna()
    assert totals.between(0, 100 + config["scores"]["bonus_cap"] + 1e-9).all()
    # a unit is not scored exactly when it has no domain with a score
    dom = table[~table["domain"].isin(["overall", "total"])]
    has_domain = dom.groupby("unit_id")["score"].count().gt(0).reindex(
        table["unit_id"].unique(), fill_value=False)
    overall = table[table["domain"] == "overall"].set_index("unit_id")["score"]
    assert (overall.notna() == has_domain.reindex(overall.index)).all()


@SETTINGS
@given(studies(), st.data())
def test_a_better_actual_never_lowers_its_indicator_score(s, data):
    obs = s["observations"]
    assume(len(obs) > 0)
    i = data.draw(st.integers(0, len(obs) - 1))
    delta = float(data.draw(st.integers(1, 100)))
    unit, ind_id = obs.loc[i, "unit_id"], obs.loc[i, "indicator_id"]
    direction = s["indicators"].set_index("indicator_id").loc[ind_id, "direction"]
    better = obs.copy()
    # higher is better: raise the value; lower is better: the mirror, lower it
    better.loc[i, "value"] += delta if direction == "higher" else -delta
    config = configs()
    before = score_indicators(s, config).set_index(["unit_id", "indicator_id"])
    after = score_indicators({**s, "observations": better}, config).set_index(
        ["unit_id", "indicator_id"])
    if (unit, ind_id) in before.index:      # assessed units only
        old, new = before.loc[(unit, ind_id), "score"], after.loc[(unit, ind_id), "score"]
        assert before.loc[(unit, ind_id), "basis"] == after.loc[(unit, ind_id), "basis"]
        assert new >= old - 1e-9


@SETTINGS
@given(studies(), st.floats(0.01, 100.0), st.floats(0.01, 100.0),
       st.lists(st.integers(0, 4).map(float), min_size=3, max_size=3),
       st.sampled_from(["arithmetic", "geometric"]))
def test_scaling_all_weights_changes_no_score(s, c, k, domain_w, aggregation):
    weights = dict(zip(DOMAINS, domain_w))
    config = configs(aggregation, weights)
    ind = score_indicators(s, config)
    base = score_units(s, config, ind)
    scaled_config = configs(aggregation, {d: w * k for d, w in weights.items()})
    scaled_ind = s["indicators"].assign(weight=s["indicators"]["weight"] * c)
    scaled = score_units(s, scaled_config, ind, indicators=scaled_ind)
    assert base[["unit_id", "domain"]].equals(scaled[["unit_id", "domain"]])
    for col in ("score", "coverage"):
        np.testing.assert_allclose(scaled[col], base[col], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(scaled["rank"], base["rank"])
    assert scaled["grade"].tolist() == base["grade"].tolist()


@SETTINGS
@given(studies(), st.data())
def test_relabelling_units_changes_no_ones_numbers(s, data):
    ids = s["units"]["unit_id"].tolist()
    new_ids = data.draw(st.permutations(ids))
    relabel = dict(zip(ids, new_ids))
    back = {v: k for k, v in relabel.items()}
    moved = {name: (frame.assign(unit_id=frame["unit_id"].map(relabel))
                    if "unit_id" in frame else frame)
             for name, frame in s.items()}
    config = configs()
    cols = ["unit_id", "domain", "score", "coverage", "rank", "n_ranked", "grade", "bonus",
            "deduction", "veto"]
    base = score_units(s, config)[cols]
    other = score_units(moved, config)[cols]
    other = other.assign(unit_id=other["unit_id"].map(back).astype("str"))
    key = ["unit_id", "domain"]
    pd.testing.assert_frame_equal(
        base.sort_values(key).reset_index(drop=True),
        other.sort_values(key).reset_index(drop=True), check_exact=False, rtol=1e-12)
    ind_base = score_indicators(s, config)
    ind_other = score_indicators(moved, config)
    ind_other = ind_other.assign(unit_id=ind_other["unit_id"].map(back).astype("str"))
    key = ["unit_id", "indicator_id"]
    pd.testing.assert_frame_equal(
        ind_base.sort_values(key).reset_index(drop=True),
        ind_other.sort_values(key).reset_index(drop=True), check_exact=False, rtol=1e-12)


def test_generated_studies_reach_every_basis():
    # The generator is able to produce each basis (a guard against a silently narrow strategy).
    seen = set()

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(studies())
    def collect(s):
        seen.update(score_indicators(s, configs())["basis"])

    collect()
    assert seen == {"none", "target", "benchmark", "minmax"}
