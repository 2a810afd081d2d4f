"""Rank robustness: the normalisations by hand, the Monte Carlo against cases whose answer is
known, reproducibility, the sample study, bad input, and the rank-interval chart."""
from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.text import Text

import evalkit
from evalkit.publish import charts
from evalkit.publish import i18n
from evalkit.analysis import sensitivity
from evalkit.config import load_config
from chart_checks import render_png as render
from evalkit.errors import EvalkitError, InputError, MethodError, ParseError
from conftest import no_progress_and_no_gaps

CYCLE = "2023Q4"
CJK = re.compile(r"[\u4e00-\u9fff]")


# --- a small study built by hand -------------------------------------------------------------

def make_study(values: dict[str, dict[str, float]], *, domains: dict[str, str],
               weights: dict[str, float] | None = None, levels: dict[str, str] | None = None,
               roles: dict[str, str] | None = None, directions: dict[str, str] | None = None,
               adjustments: list[dict] | None = None) -> dict[str, pd.DataFrame]:
    """units, indicators, observations (cycle 2023Q4), empty progress and gaps (so every score
    is min-max) and adjustments. ``values``: unit -> indicator -> value (NaN: no observation)."""
    unit_ids = list(values) + [u for u in (roles or {}) if u not in values]
    units = pd.DataFrame({
        "unit_id": unit_ids,
        "name_zh": [f"单位{u}" for u in unit_ids],
        "level": [(levels or {}).get(u, "county") for u in unit_ids],
        "role": [(roles or {}).get(u, "assessed") for u in unit_ids],
    })
    indicators = pd.DataFrame({
        "indicator_id": list(domains),
        "domain": list(domains.values()),
        "direction": [(directions or {}).get(i, "higher") for i in domains],
        "weight": [(weights or {}).get(i, 1.0) for i in domains],
    })
    rows = [{"unit_id": u, "indicator_id": i, "period": CYCLE, "value": float(v)}
            for u, per in values.items() for i, v in per.items() if not np.isnan(v)]
    observations = pd.DataFrame(rows, columns=["unit_id", "indicator_id", "period", "value"])
    progress, gaps = no_progress_and_no_gaps()
    adj = pd.DataFrame(adjustments or [], columns=["unit_id", "period", "points", "reason",
                                                   "veto"])
    return {"units": units, "indicators": indicators, "observations": observations,
            "progress": progress, "gaps": gaps, "adjustments": adj}


def config(**sens) -> dict:
    scores = sens.pop("scores", None)
    overrides = {"sensitivity": sens}
    if scores:
        overrides["scores"] = scores
    return load_config(overrides=overrides)


def variants_of(s: dict, cfg: dict) -> pd.DataFrame:
    return sensitivity.indicator_score_variants(s["units"], s["indicators"], s["observations"],
                                                s["progress"], s["gaps"], CYCLE, cfg)


def robust_of(s: dict, cfg: dict, **kw) -> pd.DataFrame:
    return sensitivity.rank_robustness(s["units"], s["indicators"], variants_of(s, cfg),
                                       s["adjustments"], CYCLE, cfg, **kw)


def row(table: pd.DataFrame, unit: str) -> pd.Series:
    found = table[table["unit_id"] == unit]
    assert len(found) == 1, f"expected one row for {unit}"
    return found.iloc[0]


NAN = float("nan")


# --- normalisations ----------------------------------------------------------------------------

def test_variants_by_hand():
    s = make_study(
        {"a": {"up": 10, "down": 5}, "b": {"up": 20, "down": 3}, "c": {"up": 20, "down": NAN},
         "t": {"up": 7, "down": NAN}, "ref": {"up": 1000, "down": 0}},
        domains={"up": "d1", "down": "d2"}, directions={"down": "lower"},
        levels={"t": "township"}, roles={"ref": "reference"})
    table = variants_of(s, config())
    assert list(table.columns) == sensitivity.VARIANT_COLUMNS
    v = table.set_index(["unit_id", "indicator_id"])
    assert "ref" not in v.index.get_level_values(0)          # reference units: no rows
    # up (higher), county a=10, b=20, c=20; the reference unit's 1000 is not a bound:
    #   min-max: a (10-10)/(20-10) = 0, b = c = 100
    #   rank: ascending ranks 1, 2.5, 2.5 (ties average), n = 3: a 0, b = c = 100*1.5/2 = 75
    assert v.loc[("a", "up"), ["minmax", "rank"]].tolist() == [0.0, 0.0]
    assert v.loc[("b", "up"), ["minmax", "rank"]].tolist() == [100.0, 75.0]
    assert v.loc[("c", "up"), ["minmax", "rank"]].tolist() == [100.0, 75.0]
    # down (lower), a=5, b=3, c none: min-max (5-5)/2 = 0 and (5-3)/2 = 100; rank on -x:
    #   a (-5) is rank 1 of 2 -> 0, b (-3) rank 2 -> 100
    assert v.loc[("a", "down"), ["minmax", "rank"]].tolist() == [0.0, 0.0]
    assert v.loc[("b", "down"), ["minmax", "rank"]].tolist() == [100.0, 100.0]
    # no value -> NaN under every normalisation
    assert v.loc[("c", "down"), ["configured", "minmax", "rank"]].isna().all()
    # township t is alone at its level: n == 1 -> 100 under both
    assert v.loc[("t", "up"), ["minmax", "rank"]].tolist() == [100.0, 100.0]
    # without targets or benchmarks the configured basis is min-max
    both = v.dropna(subset=["configured"])
    assert both["configured"].tolist() == both["minmax"].tolist()


def test_all_equal_values_minmax_100_rank_50():
    s = make_study({"a": {"i": 4}, "b": {"i": 4}, "c": {"i": 4}}, domains={"i": "d"})
    v = variants_of(s, config())
    assert v["minmax"].tolist() == [100.0] * 3        # max == min -> 100
    assert v["rank"].tolist() == [50.0] * 3           # r = 2 for all, 100 * (2-1)/(3-1) = 50


@pytest.fixture(scope="module")
def sample():
    study = evalkit.load()
    return study, evalkit.score(study, "latest")


def test_configured_is_scorings_indicator_score(sample):
    study, result = sample
    v = sensitivity.indicator_score_variants(study.units, study.indicators, study.observations,
                                             result.progress, result.gaps, result.cycle,
                                             result.config)
    ind = result.indicator_scores
    assert v[["unit_id", "indicator_id"]].equals(ind[["unit_id", "indicator_id"]])
    np.testing.assert_array_equal(v["configured"].to_numpy(), ind["score"].to_numpy())
    # target-based scores differ from the relative ones somewhere
    assert (v["configured"] != v["minmax"]).any()
    for column in sensitivity.NORMALISATIONS:
        values = v[column].dropna()
        assert values.between(0, 100).all()
        assert (v[column].isna() == ind["actual_value"].isna()).all()


def test_variants_bad_input():
    s = make_study({"a": {"i": 1}, "b": {"i": 2}}, domains={"i": "d"})
    with pytest.raises(ParseError):
        sensitivity.indicator_score_variants(s["units"], s["indicators"], s["observations"],
                                             s["progress"], s["gaps"], "2023-13", config())
    obs = s["observations"].astype({"value": object})
    obs.loc[0, "value"] = "很多"
    with pytest.raises(InputError) as err:
        sensitivity.indicator_score_variants(s["units"], s["indicators"], obs, s["progress"],
                                             s["gaps"], CYCLE, config())
    assert err.value.problems[0].column == "value"
    with pytest.raises(MethodError):
        sensitivity.indicator_score_variants(s["units"].drop(columns="level"), s["indicators"],
                                             s["observations"], s["progress"], s["gaps"],
                                             CYCLE, config())


# --- the Monte Carlo: cases with a known answer -----------------------------------------------

DOMINATED = {"a": {"i1": 10, "i2": 9, "i3": 1}, "b": {"i1": 5, "i2": 4, "i3": 3},
             "c": {"i1": 1, "i2": 1, "i3": 5}}
DOMINATED_DOMAINS = {"i1": "d1", "i2": "d1", "i3": "d2"}


def test_a_unit_dominating_every_indicator_is_first_in_every_run():
    # i3 is lower-is-better: a's 1 is the best value there too.
    s = make_study(DOMINATED, domains=DOMINATED_DOMAINS, directions={"i3": "lower"})
    for seed in (1, 2, 3):
        a = row(robust_of(s, config(), seed=seed, runs=300), "a")
        # a scores 100 on every indicator under every normalisation -> total 100, rank 1
        assert (a["rank"], a["median_rank"], a["rank_p05"], a["rank_p95"]) == (1, 1, 1, 1)
        assert a["grade"] == "优秀" and a["grade_share"] == 1.0
        assert a["robust"] and a["runs"] == 300


def test_two_units_swapping_get_the_interval_1_to_2():
    # a: (100, 0), b: (0, 100) in domains d1, d2 weighted 1.1 and 1; both normalisations agree
    # with two units (the better 100, the worse 0).
    # As configured a = 1.1*100/2.1 = 52.4, b = 100/2.1 = 47.6: a first.
    # A run ranks a first when 1.1 V1 > V2 with V ~ U(0.75, 1.25):
    #   P(V2 >= 1.1 V1) = int_0.75^1.1364 (1.25 - 1.1 v) dv / 0.25
    #                   = (0.48295 - 0.55 (1.29132 - 0.5625)) / 0.25 = 0.0821 / 0.25 = 0.328
    # so a is first in 67 % of runs (median 1), b second in 67 % (median 2); both reach
    # both places in more than 5 % of runs: p05 = 1, p95 = 2.
    s = make_study({"a": {"i1": 10, "i2": 0}, "b": {"i1": 0, "i2": 10}},
                   domains={"i1": "d1", "i2": "d2"})
    cfg = config(robust_width=0, runs=4000, scores={"domain_weights": {"d1": 1.1, "d2": 1}})
    out = robust_of(s, cfg)
    a, b = row(out, "a"), row(out, "b")
    assert (a["rank"], b["rank"]) == (1, 2)
    assert (a["rank_p05"], a["rank_p95"], a["median_rank"]) == (1, 2, 1)
    assert (b["rank_p05"], b["rank_p95"], b["median_rank"]) == (1, 2, 2)
    assert not a["robust"] and not b["robust"]         # width 1 > robust_width 0
    # Grades (不合格 for both as configured): a reaches 60 (合格) when
    #   110 V1 >= 60 (1.1 V1 + V2), i.e. V2 <= 0.7333 V1:
    #   P = int_1.0227^1.25 (0.7333 v - 0.75) dv / 0.25
    #     = (0.36667 (1.5625 - 1.04597) - 0.75 * 0.22727) / 0.25 = 0.01894 / 0.25 = 0.076,
    #   so a keeps 不合格 in 92.4 % of runs; b would need V2 >= 1.65 V1 (P = 0.0002).
    assert a["grade_share"] == pytest.approx(0.924, abs=0.015)   # sd 0.004
    assert b["grade_share"] >= 0.998


def test_grade_share_by_hand():
    # min-max scores (a: 100, 80; b: 0, 0; c: 50, 100), domains of equal weight, configured
    # normalisation only, weights U(0.75, 1.25):
    # - a = (100 W1 + 80 W2) / (W1 + W2) = 90 as configured (优秀); >= 90 iff W1 >= W2: half the
    #   runs -> grade_share 0.5.
    # - c = 75 as configured (合格); 良好 (>= 80) iff W2 >= 1.5 W1:
    #   P = int_0.75^0.8333 (1.25 - 1.5 v) dv / 0.25 = (0.104167 - 0.098958) / 0.25 = 0.0208
    #   -> grade_share 0.979.
    # - ranks never move: a - c = (50 W1 - 20 W2) / (W1 + W2) > 0 as W1 / W2 >= 0.6.
    s = make_study({"a": {"i1": 10, "i2": 8}, "b": {"i1": 0, "i2": 0},
                    "c": {"i1": 5, "i2": 10}}, domains={"i1": "d1", "i2": "d2"})
    out = robust_of(s, config(normalisations=["configured"], runs=4000))
    a, b, c = row(out, "a"), row(out, "b"), row(out, "c")
    assert (a["grade"], b["grade"], c["grade"]) == ("优秀", "不合格", "合格")
    assert a["grade_share"] == pytest.approx(0.5, abs=0.04)      # sd 0.008
    assert c["grade_share"] == pytest.approx(0.979, abs=0.01)    # sd 0.002
    assert b["grade_share"] == 1.0
    for unit, place in (("a", 1), ("c", 2), ("b", 3)):
        r = row(out, unit)
        assert (r["rank_p05"], r["median_rank"], r["rank_p95"]) == (place,) * 3


def test_spread_zero_keeps_a_total_on_a_grade_boundary():
    # a's total is exactly 90 (100 and 80, equal weights): every run must grade it 优秀
    s = make_study({"a": {"i1": 10, "i2": 8}, "b": {"i1": 0, "i2": 0},
                    "c": {"i1": 5, "i2": 10}}, domains={"i1": "d1", "i2": "d2"})
    out = robust_of(s, config(normalisations=["configured"], weight_spread=0.0, runs=20))
    assert (out["grade_share"] == 1.0).all()
    assert row(out, "a")["grade"] == "优秀"


def test_a_weight_of_zero_stays_zero():
    # b wins i2 only, whose weight is 0: i2 never counts, a is first in every run
    s = make_study({"a": {"i1": 10, "i2": 0}, "b": {"i1": 0, "i2": 10}},
                   domains={"i1": "d", "i2": "d"}, weights={"i2": 0.0})
    out = robust_of(s, config(weight_spread=0.9, runs=500))
    assert (row(out, "a")[["rank_p05", "rank_p95"]] == 1).all()
    assert (row(out, "b")[["rank_p05", "rank_p95"]] == 2).all()


def test_veto_keeps_its_grade_and_adjustments_count():
    s = make_study(DOMINATED, domains=DOMINATED_DOMAINS, directions={"i3": "lower"},
                   adjustments=[{"unit_id": "a", "period": CYCLE, "points": -3.0,
                                 "reason": "一票否决事项", "veto": True},
                                {"unit_id": "c", "period": CYCLE, "points": 50.0,
                                 "reason": "加分", "veto": False}])
    out = robust_of(s, config(runs=200))
    a = row(out, "a")
    assert a["grade"] == "不合格" and a["grade_share"] == 1.0   # veto grade in every run
    # a: 100 - 3 = 97; c: its score + 5 (bonus capped at 5) stays below 97: a still first
    assert (a["rank_p05"], a["rank_p95"]) == (1, 1)


def test_ranks_are_within_each_level():
    s = make_study({"a": {"i": 10}, "b": {"i": 5}, "t1": {"i": 1}, "t2": {"i": 0}},
                   domains={"i": "d"}, levels={"t1": "township", "t2": "township"})
    out = robust_of(s, config(runs=50))
    assert out.set_index("unit_id")["median_rank"].to_dict() == {"a": 1, "b": 2, "t1": 1,
                                                                 "t2": 2}
    assert out.set_index("unit_id")["n_ranked"].to_dict() == {"a": 2, "b": 2, "t1": 2, "t2": 2}


def test_no_data_no_row_and_reference_units_never_appear():
    s = make_study({"a": {"i": 10}, "b": {"i": 5}, "nodata": {"i": NAN},
                    "ref": {"i": 100}}, domains={"i": "d"}, roles={"ref": "reference"})
    out = robust_of(s, config(runs=20))
    assert sorted(out["unit_id"]) == ["a", "b"]


def test_nothing_to_rank_gives_an_empty_table_with_the_columns():
    s = make_study({"a": {"i": NAN}}, domains={"i": "d"})
    out = robust_of(s, config(runs=5))
    assert out.empty and list(out.columns) == sensitivity.ROBUSTNESS_COLUMNS


def test_one_run_works():
    s = make_study(DOMINATED, domains=DOMINATED_DOMAINS)
    out = robust_of(s, config(), runs=1)
    assert (out["runs"] == 1).all()
    assert (out["rank_p05"] == out["rank_p95"]).all()
    assert (out["median_rank"] == out["rank_p05"]).all()
    assert out["grade_share"].isin([0.0, 1.0]).all()


def test_relabelling_and_reordering_units_changes_nothing():
    values = {"a": {"i1": 10, "i2": 0, "i3": 4}, "b": {"i1": 0, "i2": 10, "i3": 5},
              "c": {"i1": 6, "i2": 5, "i3": 0}}
    domains = {"i1": "d1", "i2": "d2", "i3": "d3"}
    cfg = config(runs=400, weight_spread=0.5)
    before = robust_of(make_study(values, domains=domains), cfg)
    rename = {"a": "zz", "b": "aa", "c": "mm"}
    renamed = {rename[u]: values[u] for u in ("c", "a", "b")}
    after = robust_of(make_study(renamed, domains=domains), cfg)
    after["unit_id"] = after["unit_id"].map({v: k for k, v in rename.items()})
    after = after.sort_values("unit_id", ignore_index=True)
    pd.testing.assert_frame_equal(before, after)
    # the intervals really vary here, so the comparison has teeth
    assert (before["rank_p95"] > before["rank_p05"]).any()


def test_same_seed_same_table_and_the_configured_seed_by_default():
    s = make_study({"a": {"i1": 10, "i2": 0, "i3": 4}, "b": {"i1": 0, "i2": 10, "i3": 5},
                    "c": {"i1": 6, "i2": 5, "i3": 0}}, domains={"i1": "d1", "i2": "d2",
                                                                 "i3": "d3"})
    cfg = config(runs=300, seed=7)
    first = robust_of(s, cfg)
    pd.testing.assert_frame_equal(first, robust_of(s, cfg))
    pd.testing.assert_frame_equal(first, robust_of(s, config(runs=300, seed=99), seed=7))
    pd.testing.assert_frame_equal(first, robust_of(s, cfg, seed=None))   # None: config's seed


def test_draws_do_not_depend_on_the_batch_size(monkeypatch):
    s = make_study({"a": {"i1": 10, "i2": 0, "i3": 4}, "b": {"i1": 0, "i2": 10, "i3": 5},
                    "c": {"i1": 6, "i2": 5, "i3": 0}}, domains={"i1": "d1", "i2": "d2",
                                                                 "i3": "d3"})
    cfg = config(runs=250, weight_spread=0.5)
    whole = robust_of(s, cfg)
    monkeypatch.setattr(sensitivity, "BATCH_CELLS", 10)   # one run per batch
    pd.testing.assert_frame_equal(whole, robust_of(s, cfg))


values_strategy = st.one_of(st.just(NAN), st.integers(0, 5).map(float))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(values_strategy, values_strategy, values_strategy), min_size=1,
                max_size=5), st.sampled_from(["higher", "lower"]))
def test_intervals_are_ordered_ranks_and_spread_zero_is_the_configured_rank(table, direction):
    values = {f"u{n}": dict(zip(("i1", "i2", "i3"), row)) for n, row in enumerate(table)}
    s = make_study(values, domains={"i1": "d1", "i2": "d1", "i3": "d2"},
                   directions={"i2": direction})
    out = robust_of(s, config(runs=30, weight_spread=0.6))
    with_data = [u for u, per in values.items() if not all(np.isnan(list(per.values())))]
    assert sorted(out["unit_id"]) == sorted(with_data)
    assert (1 <= out["rank_p05"]).all() and (out["rank_p95"] <= out["n_ranked"]).all()
    assert ((out["rank_p05"] <= out["median_rank"])
            & (out["median_rank"] <= out["rank_p95"])).all()
    assert out["grade_share"].between(0, 1).all()
    fixed = robust_of(s, config(runs=3, weight_spread=0.0, normalisations=["configured"]))
    assert (fixed["rank_p05"] == fixed["rank"]).all()
    assert (fixed["rank_p95"] == fixed["rank"]).all()
    assert (fixed["grade_share"] == 1.0).all()


# --- the sample study --------------------------------------------------------------------------

def test_sample_study_intervals(sample):
    study, result = sample
    started = time.perf_counter()
    out = sensitivity.robustness(study, result)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"1000 runs took {elapsed:.1f} s"
    assessed = set(study.units.loc[study.units["role"] == "assessed", "unit_id"])
    assert set(out["unit_id"]) == assessed                  # reference units never appear
    total = result.scores[result.scores["domain"] == "total"].set_index("unit_id")
    assert out.set_index("unit_id")["rank"].to_dict() == total["rank"].to_dict()
    assert out.set_index("unit_id")["grade"].to_dict() == total["grade"].to_dict()
    assert (out["runs"] == result.config["sensitivity"]["runs"]).all()
    inside = (out["rank_p05"] <= out["rank"]) & (out["rank"] <= out["rank_p95"])
    assert inside.sum() >= len(out) - 1
    numbers = out[["median_rank", "rank_p05", "rank_p95", "grade_share"]].to_numpy()
    assert np.isfinite(numbers).all()
    assert (out["rank_p05"] <= out["median_rank"]).all()
    assert (out["median_rank"] <= out["rank_p95"]).all()
    assert out["grade_share"].between(0, 1).all()
    assert out["robust"].dtype == bool


@pytest.mark.parametrize("aggregation", ["arithmetic", "geometric"])
def test_spread_zero_one_normalisation_reproduces_the_configured_ranks(sample, aggregation):
    study, result = sample
    cfg = load_config(overrides={
        "scores": {**result.config["scores"], "aggregation": aggregation},
        "sensitivity": {"weight_spread": 0.0, "normalisations": ["configured"]}})
    out = sensitivity.robustness(study, evalkit.score(study, result.cycle, cfg), cfg, runs=50)
    for column in ("median_rank", "rank_p05", "rank_p95"):
        assert (out[column] == out["rank"]).all(), column
    assert (out["grade_share"] == 1.0).all()
    assert out["robust"].all()


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("runs", 0), ("runs", 2.5), ("runs", True), ("weight_spread", 1.0),
    ("weight_spread", -0.1), ("weight_spread", "一半"), ("normalisations", []),
    ("normalisations", ["zscore"]), ("normalisations", ["rank", "rank"]), ("seed", -1),
    ("seed", 1.5), ("robust_width", -1), ("robust_width", None)])
def test_bad_settings_name_the_setting(key, value):
    cfg = load_config()
    cfg["sensitivity"][key] = value
    s = make_study({"a": {"i": 1}}, domains={"i": "d"})
    with pytest.raises(InputError) as err:
        robust_of(s, cfg)
    assert [p.column for p in err.value.problems] == [f"sensitivity.{key}"]
    assert err.value.problems[0].file == "config"


def test_bad_arguments_and_a_missing_section():
    s = make_study({"a": {"i": 1}}, domains={"i": "d"})
    with pytest.raises(InputError) as err:
        robust_of(s, config(), runs=0, seed=-5)
    assert {(p.file, p.column) for p in err.value.problems} == {
        ("arguments", "sensitivity.runs"), ("arguments", "sensitivity.seed")}
    cfg = load_config()
    del cfg["sensitivity"]
    with pytest.raises(InputError):
        sensitivity.settings(cfg)


def test_bad_variants():
    s = make_study({"a": {"i1": 1, "i2": 2}, "b": {"i1": 2, "i2": 1}},
                   domains={"i1": "d", "i2": "d"})
    cfg = config(runs=5)
    v = variants_of(s, cfg)

    def run(table):
        return sensitivity.rank_robustness(s["units"], s["indicators"], table,
                                           s["adjustments"], CYCLE, cfg)

    with pytest.raises(MethodError, match="rank"):
        run(v.drop(columns="rank"))
    with pytest.raises(MethodError, match="more than one row"):
        run(pd.concat([v, v.iloc[:1]]))
    text = v.astype({"minmax": object})
    text.loc[0, "minmax"] = "高"
    with pytest.raises(InputError) as err:
        run(text)
    assert err.value.problems[0].column == "minmax"
    outside = v.copy()
    outside.loc[1, "rank"] = 140.0
    with pytest.raises(InputError, match="0 to 100"):
        run(outside)
    mixed = v.copy()
    mixed.loc[2, "minmax"] = np.nan
    with pytest.raises(InputError, match="every normalisation or under none"):
        run(mixed)
    with pytest.raises(ParseError):
        sensitivity.rank_robustness(s["units"], s["indicators"], v, s["adjustments"], "Q4",
                                    cfg)


def test_only_the_drawn_normalisations_are_required():
    s = make_study({"a": {"i1": 1, "i2": 2}, "b": {"i1": 2, "i2": 1}},
                   domains={"i1": "d", "i2": "d"})
    cfg = config(runs=5, normalisations=["configured"])
    v = variants_of(s, cfg).drop(columns=["minmax", "rank"])
    out = sensitivity.rank_robustness(s["units"], s["indicators"], v, s["adjustments"], CYCLE,
                                      cfg)
    assert len(out) == 2


# --- the rank-interval chart ------------------------------------------------------------------



def joined(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text) if t.get_text())


@pytest.fixture
def intervals() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_id": ["daying", "shehong", "pengxi", "anju", "hedong"],
        "level": ["county", "county", "county", "county", "township"],
        "cycle": CYCLE,
        "rank": [3.0, 1.0, 4.0, 2.0, 1.0],
        "n_ranked": [4, 4, 4, 4, 1],
        "grade": ["优秀", "优秀", "合格", "良好", "不合格"],
        "median_rank": [3.0, 1.0, 4.0, 2.0, 1.0],
        "rank_p05": [2.0, 1.0, 3.0, 1.0, 1.0],
        "rank_p95": [3.0, 1.0, 4.0, 4.0, 1.0],
        "grade_share": [0.8, 1.0, 0.9, 0.5, 1.0],
        "robust": [True, True, True, False, True],
        "runs": 1000,
    })


@pytest.fixture
def unit_names() -> pd.DataFrame:
    return pd.DataFrame({"unit_id": ["daying", "shehong", "pengxi", "anju", "hedong"],
                         "name_zh": ["大英县", "射洪市", "蓬溪县", "安居区", "河东新区"],
                         "name_en": ["Daying County", "Shehong City", "Pengxi County",
                                     "Anju District", None]})


def test_rank_interval_chart_chinese(intervals, unit_names, font):
    fig = charts.rank_interval_chart(intervals, unit_names, highlight="daying")
    render(fig)
    county, township = fig.axes
    labels = [t.get_text() for t in county.get_yticklabels()]
    assert labels == ["射洪市", "安居区", "大英县", "蓬溪县"]      # by median rank, best on top
    assert [t.get_text() for t in county.get_yticklabels()
            if t.get_fontweight() == "bold"] == ["大英县"]
    text = joined(fig)
    for expected in ("2023年第四季度排名稳健性", "始终第1名", "第2–3名", "第1–4名（不稳健）",
                     "排名（第1名为最好）", "基于1000次模拟评分", "实际排名", "县", "乡镇"):
        assert expected in text, expected
    # one interval line, one median and one actual-rank marker per unit
    assert len(county.lines) == 3 * 4 and len(township.lines) == 3


def test_rank_interval_chart_english_and_names_mapping(intervals, unit_names, font):
    fig = charts.rank_interval_chart(intervals[intervals.level == "county"],
                                     dict(zip(unit_names.unit_id, unit_names.name_en)), "en")
    render(fig)
    assert len(fig.axes) == 1
    text = joined(fig)
    assert f"Robustness of the ranks, {i18n.period_label('2023Q4', 'en')}" in text
    assert "ranks 1–4 (not robust)" in text
    assert "always rank 1" in text and "Anju District" in text
    assert not CJK.search(text)


def test_rank_interval_chart_from_the_sample(sample, font):
    study, result = sample
    out = sensitivity.robustness(study, result, runs=200)
    fig = charts.rank_interval_chart(out, study.units)
    render(fig)
    assert "大英县" in joined(fig)


def test_rank_interval_chart_empty_and_bad(intervals, unit_names, font):
    fig = charts.rank_interval_chart(intervals.iloc[0:0], unit_names)
    render(fig)
    assert "暂无数据" in joined(fig) and "排名稳健性" in joined(fig)
    with pytest.raises(InputError) as err:
        charts.rank_interval_chart(intervals.drop(columns="rank_p95"), unit_names)
    assert err.value.problems[0].column == "rank_p95"
    text = intervals.astype({"median_rank": object})
    text.loc[0, "median_rank"] = "第三"
    with pytest.raises(InputError):
        charts.rank_interval_chart(text, unit_names)
    backwards = intervals.copy()
    backwards.loc[0, ["rank_p05", "rank_p95"]] = [4.0, 2.0]
    with pytest.raises(InputError, match="daying"):
        charts.rank_interval_chart(backwards, unit_names)
    with pytest.raises(EvalkitError):
        charts.rank_interval_chart(intervals, unit_names, "fr")


def test_chart_labels_have_both_languages_and_the_same_placeholders():
    labels = {k: v for k, v in i18n.LABELS.items() if k.startswith("sensitivity.")}
    assert len(labels) >= 10
    for key, texts in labels.items():
        assert set(texts) == set(i18n.LANGS) and all(texts.values())
        assert i18n.placeholders(texts["zh"]) == i18n.placeholders(texts["en"]), key
