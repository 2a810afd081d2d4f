"""The look-back (回头看): targets met on time, late or not at all; ledger items closed on time,
late or not at all; expected effects against the indicators; the per-unit summary.

Quarter indices (year * 4 + quarter - 1) used in the comments: 2021Q2 = 8085, 2021Q3 = 8086,
2021Q4 = 8087, 2022Q1 = 8088, 2022Q2 = 8089.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.method import lookback as lb
from evalkit.config import load_config
from evalkit.errors import InputError, MethodError, ParseError

CYCLE = "2022Q2"          # as-of 2022-06-30
CONFIG = load_config()


def indicators():
    return pd.DataFrame({
        "indicator_id": ["cnt", "pct", "days", "nodata"],
        "domain": ["d1", "d1", "d2", "d2"],
        "direction": ["higher", "higher", "lower", "正向"],
    })


def targets():
    rows = [
        # unit, indicator, baseline value, deadline, target
        ("A", "cnt", 4.0, "2021-12-31", 18.0),     # met exactly in the deadline quarter
        ("A", "cnt", 4.0, "2022-09-30", 30.0),     # due after the cycle: not in the table
        ("A", "pct", 40.0, "2021-09-30", 50.0),    # met one quarter after the deadline
        ("A", "days", 20.0, "2021-12-31", 10.0),   # lower is better, met early, then lost
        ("B", "cnt", 2.0, "2021-12-31", 10.0),     # never met by the cycle
        ("B", "nodata", 0.0, "2021-12-31", 5.0),   # no observation in the window
        ("B", "pct", 40.0, "2022-03-31", 60.0),    # first value after the deadline: late
        ("B", "days", 15.0, "2022-06-30", 8.0),    # due on the as-of day, met in that quarter
        ("C", "cnt", 0.0, "2021-12-31", 3.0),      # C: only a milestone without data
    ]
    frame = pd.DataFrame(rows, columns=["unit_id", "indicator_id", "baseline_value", "deadline",
                                        "target_value"])
    frame["baseline_period"] = "2021Q2"
    frame["deadline"] = pd.to_datetime(frame["deadline"]).astype("datetime64[ns]")
    frame["phase"] = "phase one"
    return frame


def observations():
    series = {
        ("A", "cnt"): {"2021Q2": 4, "2021Q3": 9, "2021Q4": 18, "2022Q1": 20, "2022Q2": 21},
        ("A", "pct"): {"2021Q2": 40, "2021Q3": 48, "2021Q4": 52, "2022Q1": 55, "2022Q2": 56},
        ("A", "days"): {"2021Q2": 20, "2021Q3": 9.5, "2021Q4": 10.5, "2022Q1": 11,
                        "2022Q2": 12},
        ("B", "cnt"): {"2021Q2": 2, "2021Q3": 4, "2021Q4": 6, "2022Q1": 7, "2022Q2": 9,
                       "2022Q3": 12},   # 2022Q3 is after the cycle: it must not count
        ("B", "pct"): {"2022Q2": 62},
        ("B", "days"): {"2021Q2": 15, "2021Q3": 14, "2022Q2": 7},
    }
    rows = [(u, i, p, float(v)) for (u, i), values in series.items() for p, v in values.items()]
    return pd.DataFrame(rows, columns=["unit_id", "indicator_id", "period", "value"])


def ledger():
    rows = [
        # item, unit, deadline, status, closed_on, indicator
        ("L1", "A", "2022-03-31", "closed", "2022-03-31", "cnt"),    # closed on the deadline
        ("L2", "A", "2022-03-31", "closed", "2022-04-10", "pct"),    # 10 days late
        ("L3", "A", "2022-03-31", "open", None, "days"),             # open, 91 days overdue
        ("L4", "A", "2022-06-30", "open", None, None),               # due on the as-of day
        ("L5", "B", "2021-12-31", "closed", "2022-07-15", "nodata"),  # closed after as-of
        ("L6", "B", "2021-12-31", "closed", None, "cnt"),            # closed, no date
        ("L7", "B", "2022-09-30", "open", None, "pct"),              # not due yet
        ("L8", "D", "2022-01-31", "closed", "2022-01-20", "cnt"),    # D has no targets
        ("L9", "B", "2022-03-31", "open", "2022-03-01", ""),         # a date, but open
        ("L10", "A", "2022-06-30", "已销号", "2022-06-30 15:30", None),  # time of day
    ]
    frame = pd.DataFrame(rows, columns=["item_id", "unit_id", "deadline", "status", "closed_on",
                                        "indicator_id"])
    frame["deadline"] = pd.to_datetime(frame["deadline"]).astype("datetime64[ns]")
    frame["closed_on"] = pd.to_datetime(frame["closed_on"],
                                        format="ISO8601").astype("datetime64[ns]")
    frame["owner"] = "社区建设股负责人"
    frame["task"] = "任务 " + frame["item_id"]
    frame["expected_effect"] = "预期效果 " + frame["item_id"]
    return frame


def target_lb(cycle=CYCLE, **tables):
    return lb.target_lookback(tables.get("targets", targets()),
                              tables.get("observations", observations()),
                              tables.get("indicators", indicators()), cycle, CONFIG)


@pytest.fixture(scope="module")
def tlb():
    return target_lb().set_index(["unit_id", "indicator_id"])


@pytest.fixture(scope="module")
def llb():
    return lb.ledger_lookback(ledger(), CYCLE, CONFIG).set_index("item_id")


@pytest.fixture(scope="module")
def eff():
    return lb.effect_check(ledger(), targets(), observations(), indicators(), CYCLE,
                           CONFIG).set_index("item_id")


# ---------------------------------------------------------------------------------------------
# Targets


def test_target_rows_are_the_milestones_due_by_the_as_of_date(tlb):
    assert list(target_lb().columns) == lb.TARGET_COLUMNS
    # 9 milestones, one due 2022-09-30 > 2022-06-30
    assert len(tlb) == 8
    assert not ((tlb.index.get_level_values(0) == "A")
                & (tlb["deadline"] == pd.Timestamp("2022-09-30"))).any()
    assert set(tlb["cycle"]) == {CYCLE}


def test_met_exactly_in_the_deadline_quarter_is_on_time(tlb):
    row = tlb.loc[("A", "cnt")]
    # 18 >= 18 first in 2021Q4, the quarter of 2021-12-31
    assert (row["met_period"], row["deadline_period"], row["outcome"]) == \
        ("2021Q4", "2021Q4", "on_time")
    assert row["quarters_late"] == 0
    assert row["value_at_deadline"] == 18.0 and row["value_at_deadline_period"] == "2021Q4"
    assert row["latest_value"] == 21.0 and row["latest_period"] == "2022Q2"
    assert bool(row["still_met"])
    assert row["note"] == ""


def test_met_in_the_next_quarter_is_late_by_one(tlb):
    row = tlb.loc[("A", "pct")]
    # deadline 2021-09-30 -> 2021Q3 (8086); 48 < 50 there, 52 >= 50 in 2021Q4 (8087): 1 late
    assert row["outcome"] == "late"
    assert row["met_period"] == "2021Q4"
    assert row["quarters_late"] == 8087 - 8086
    assert row["value_at_deadline"] == 48.0
    assert bool(row["still_met"])


def test_lower_is_better_met_early_then_lost(tlb):
    row = tlb.loc[("A", "days")]
    # s = -1: -(9.5 - 10) = 0.5 >= 0 in 2021Q3, before the deadline quarter 2021Q4
    assert (row["outcome"], row["met_period"], row["quarters_late"]) == \
        ("on_time", "2021Q3", 0)
    assert row["direction"] == "lower"
    assert row["value_at_deadline"] == 10.5      # -(10.5 - 10) < 0 at the deadline already
    # latest 12: -(12 - 10) = -2 < 0: the target is no longer met
    assert row["latest_value"] == 12.0
    assert not bool(row["still_met"])


def test_never_met_shows_the_value_at_deadline_and_the_latest(tlb):
    row = tlb.loc[("B", "cnt")]
    # 2, 4, 6, 7, 9 never reach 10 by 2022Q2; the 12 of 2022Q3 is after the cycle
    assert row["outcome"] == "not_met"
    assert pd.isna(row["met_period"]) and pd.isna(row["quarters_late"])
    assert (row["value_at_deadline"], row["value_at_deadline_period"]) == (6.0, "2021Q4")
    assert (row["latest_value"], row["latest_period"]) == (9.0, "2022Q2")
    assert not bool(row["still_met"])


def test_no_observation_in_the_window_is_no_data(tlb):
    row = tlb.loc[("B", "nodata")]
    assert row["outcome"] == "no_data"
    assert row["note"] == "no_observation"
    assert pd.isna(row["still_met"]) and pd.isna(row["quarters_late"])
    assert math.isnan(row["latest_value"]) and math.isnan(row["value_at_deadline"])


def test_first_value_after_the_deadline_is_late_without_a_value_at_deadline(tlb):
    row = tlb.loc[("B", "pct")]
    # deadline 2022-03-31 -> 2022Q1 (8088); the only value, 62 >= 60, is 2022Q2 (8089)
    assert (row["outcome"], row["quarters_late"]) == ("late", 1)
    assert math.isnan(row["value_at_deadline"]) and pd.isna(row["value_at_deadline_period"])
    assert row["note"] == "no_value_at_deadline"


def test_deadline_on_the_as_of_day_is_included(tlb):
    row = tlb.loc[("B", "days")]
    # due 2022-06-30 == as-of; -(7 - 8) = 1 >= 0 in 2022Q2, the deadline quarter
    assert (row["outcome"], row["met_period"], row["deadline_period"]) == \
        ("on_time", "2022Q2", "2022Q2")
    assert row["value_at_deadline"] == 7.0


def test_a_value_before_the_baseline_does_not_count():
    obs = pd.concat([observations(), pd.DataFrame(
        {"unit_id": ["B"], "indicator_id": ["nodata"], "period": ["2021Q1"], "value": [7.0]})])
    row = target_lb(observations=obs).set_index(["unit_id", "indicator_id"]).loc[("B", "nodata")]
    # 7 >= 5 but 2021Q1 is before the baseline quarter 2021Q2
    assert row["outcome"] == "no_data"


def test_the_same_milestone_at_an_earlier_cycle():
    out = target_lb("2021Q4").set_index(["unit_id", "indicator_id"])
    # as-of 2021-12-31: B/pct (due 2022-03-31) and B/days (due 2022-06-30) are not yet due
    assert ("B", "pct") not in out.index and ("B", "days") not in out.index
    # A/pct: due 2021Q3, met 2021Q4: late by 1 already
    assert out.loc[("A", "pct"), "outcome"] == "late"
    # A/days: latest is 2021Q4's 10.5 > 10: lost already
    assert not bool(out.loc[("A", "days"), "still_met"])


def test_a_cycle_before_every_deadline_gives_an_empty_table_with_the_columns():
    out = target_lb("2021Q2")   # as-of 2021-06-30, the earliest deadline is 2021-09-30
    assert out.empty
    assert list(out.columns) == lb.TARGET_COLUMNS
    assert out["deadline"].dtype == "datetime64[ns]"


def test_cycle_is_read_as_bureaus_write_it_and_bad_cycles_are_parse_errors():
    same = target_lb("2022年第二季度")
    pd.testing.assert_frame_equal(same, target_lb())
    with pytest.raises(ParseError):
        target_lb("2022Q5")
    with pytest.raises(ParseError):
        target_lb("last quarter")


def test_bad_target_input_names_the_row_and_column():
    bad = observations()
    bad.loc[3, "value"] = float("inf")
    with pytest.raises(InputError) as err:
        target_lb(observations=bad)
    problem = err.value.problems[0]
    assert (problem.table, problem.row, problem.column) == ("observations", 5, "value")

    dup = pd.concat([observations(), observations().iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicate key"):
        target_lb(observations=dup)

    unknown = targets()
    unknown.loc[0, "indicator_id"] = "nope"
    with pytest.raises(InputError, match="unknown indicator"):
        target_lb(targets=unknown)

    with pytest.raises(InputError, match="missing column 'target_value'"):
        target_lb(targets=targets().drop(columns="target_value"))

    ind = indicators()
    ind.loc[0, "direction"] = "sideways"
    with pytest.raises(InputError, match="direction"):
        target_lb(indicators=ind)


def test_target_lookback_matches_a_plain_loop_on_random_data():
    rng = np.random.default_rng(7)
    n_units, quarters = 30, [f"{y}Q{q}" for y in (2021, 2022, 2023) for q in (1, 2, 3, 4)]
    ind = pd.DataFrame({"indicator_id": ["up", "down"], "domain": "d",
                        "direction": ["higher", "lower"]})
    rows = []
    for u in range(n_units):
        for i in ("up", "down"):
            for p in quarters:
                if rng.random() < 0.8:
                    rows.append((f"u{u}", i, p, float(rng.integers(0, 20))))
    obs = pd.DataFrame(rows, columns=["unit_id", "indicator_id", "period", "value"])
    tg = pd.DataFrame([(f"u{u}", i, "2021Q3", 10.0, d, float(rng.integers(0, 20)))
                       for u in range(n_units) for i in ("up", "down")
                       for d in ("2022-03-31", "2022-08-15", "2023-12-31")],
                      columns=["unit_id", "indicator_id", "baseline_period", "baseline_value",
                               "deadline", "target_value"])
    tg["deadline"] = pd.to_datetime(tg["deadline"]).astype("datetime64[ns]")
    cycle = "2023Q2"
    got = lb.target_lookback(tg, obs, ind, cycle, CONFIG)
    assert len(got) == n_units * 2 * 2   # the 2023-12-31 milestones are not due

    q = {p: i for i, p in enumerate(quarters)}
    for row in got.itertuples():
        s = 1 if row.indicator_id == "up" else -1
        d_q = {"2022-03-31": q["2022Q1"], "2022-08-15": q["2022Q3"]}[str(row.deadline.date())]
        window = obs[(obs.unit_id == row.unit_id) & (obs.indicator_id == row.indicator_id)
                     & obs.period.between("2021Q3", cycle)].sort_values("period")
        met = [q[p] for p, v in zip(window.period, window.value) if s * (v - row.target_value)
               >= 0]
        if window.empty:
            expected = "no_data"
        elif not met:
            expected = "not_met"
        else:
            expected = "on_time" if met[0] <= d_q else "late"
        assert row.outcome == expected
        if met:
            assert row.met_period == quarters[met[0]]
            assert row.quarters_late == max(0, met[0] - d_q)
        if not window.empty:
            assert row.latest_value == window.value.iloc[-1]
            assert bool(row.still_met) == (s * (window.value.iloc[-1] - row.target_value) >= 0)
            before = window[window.period.map(q) <= d_q]
            if before.empty:
                assert math.isnan(row.value_at_deadline)
            else:
                assert row.value_at_deadline == before.value.iloc[-1]


# ---------------------------------------------------------------------------------------------
# Ledger


def test_ledger_rows_are_the_items_due_by_the_as_of_date(llb):
    assert list(lb.ledger_lookback(ledger(), CYCLE, CONFIG).columns) == lb.LEDGER_COLUMNS
    assert "L7" not in llb.index          # due 2022-09-30 > 2022-06-30
    assert len(llb) == 9


def test_ledger_outcomes_and_days(llb):
    expected = {
        # item: outcome, days_late, days_overdue, note
        "L1": ("closed_on_time", 0, 0, ""),         # closed on the deadline day itself
        "L2": ("closed_late", 10, 0, ""),           # 2022-04-10 - 2022-03-31
        "L3": ("open_overdue", 0, 91, ""),          # 2022-06-30 - 2022-03-31 = 30 + 31 + 30
        "L4": ("open_overdue", 0, 0, ""),           # due on the as-of day, still open
        "L5": ("open_overdue", 0, 181, ""),         # closed 2022-07-15, after as-of;
                                                    # 2022-06-30 - 2021-12-31 = 31+28+31+30+31+30
        "L6": ("closed_on_time", 0, 0, "no_closing_date"),
        "L8": ("closed_on_time", 0, 0, ""),
        "L9": ("open_overdue", 0, 91, "closing_date_but_open"),
        "L10": ("closed_on_time", 0, 0, ""),        # 15:30 on the deadline day is that day
    }
    for item, (outcome, late, overdue, note) in expected.items():
        row = llb.loc[item]
        assert (row["outcome"], row["days_late"], row["days_overdue"], row["note"]) == \
            (outcome, late, overdue, note), item


def test_a_closing_after_the_as_of_date_is_not_shown_at_that_cycle(llb):
    assert pd.isna(llb.loc["L5", "closed_on"])
    assert llb.loc["L2", "closed_on"] == pd.Timestamp("2022-04-10")
    # one cycle later the same item is closed late: 2022-07-15 - 2021-12-31 = 196 days
    later = lb.ledger_lookback(ledger(), "2022Q3", CONFIG).set_index("item_id")
    assert (later.loc["L5", "outcome"], later.loc["L5", "days_late"]) == ("closed_late", 196)


def test_a_cycle_before_every_ledger_deadline_gives_an_empty_table():
    out = lb.ledger_lookback(ledger(), "2021Q3", CONFIG)
    assert out.empty and list(out.columns) == lb.LEDGER_COLUMNS


def test_bad_ledger_input_names_the_row_and_column():
    bad = ledger()
    bad["status"] = bad["status"].astype(object)
    bad.loc[2, "status"] = "maybe"
    with pytest.raises(InputError) as err:
        lb.ledger_lookback(bad, CYCLE, CONFIG)
    problem = err.value.problems[0]
    assert (problem.row, problem.column) == (4, "status")

    text = ledger().astype({"closed_on": object})
    text.loc[0, "closed_on"] = "sometime"
    with pytest.raises(InputError, match="closed_on|expected a date"):
        lb.ledger_lookback(text, CYCLE, CONFIG)

    dup = ledger()
    dup.loc[1, "item_id"] = "L1"
    with pytest.raises(InputError, match="duplicate key"):
        lb.ledger_lookback(dup, CYCLE, CONFIG)

    no_deadline = ledger()
    no_deadline.loc[0, "deadline"] = pd.NaT
    with pytest.raises(InputError) as err:
        lb.ledger_lookback(no_deadline, CYCLE, CONFIG)
    assert (err.value.problems[0].row, err.value.problems[0].column) == (2, "deadline")

    with pytest.raises(InputError, match="missing column 'unit_id'"):
        lb.ledger_lookback(ledger().drop(columns="unit_id"), CYCLE, CONFIG)


def test_ledger_dates_given_as_text_are_read():
    text = ledger()
    text["deadline"] = text["deadline"].dt.strftime("%Y-%m-%d")
    text["closed_on"] = text["closed_on"].dt.strftime("%Y-%m-%d")
    pd.testing.assert_frame_equal(lb.ledger_lookback(text, CYCLE, CONFIG),
                                  lb.ledger_lookback(ledger(), CYCLE, CONFIG))


# ---------------------------------------------------------------------------------------------
# Expected effect


def test_effect_rows_are_the_items_naming_an_indicator(eff):
    assert list(lb.effect_check(ledger(), targets(), observations(), indicators(), CYCLE,
                                CONFIG).columns) == lb.EFFECT_COLUMNS
    # L4, L10 name none; L9's blank cell names none
    assert sorted(eff.index) == ["L1", "L2", "L3", "L5", "L6", "L7", "L8"]


def test_effect_verdicts(eff):
    expected = {
        # item: target deadline, T, value at deadline, met then, latest, verdict
        # L1 (due 2022-03-31): milestones 2021-12-31 (90 days away) and 2022-09-30 (183):
        # the first, T = 18; 2022Q1 value 20, latest 21 >= 18
        "L1": ("2021-12-31", 18.0, 20.0, True, 21.0, "achieved"),
        "L2": ("2021-09-30", 50.0, 55.0, True, 56.0, "achieved"),
        # lower is better: -(11 - 10) < 0 at the deadline, -(12 - 10) < 0 now
        "L3": ("2021-12-31", 10.0, 11.0, False, 12.0, "not_achieved"),
        # a milestone, but no value at all
        "L5": ("2021-12-31", 5.0, np.nan, pd.NA, np.nan, "no_data"),
        # 2021Q4 value 6, latest 9 < 10 (the 2022Q3 value 12 is after the cycle)
        "L6": ("2021-12-31", 10.0, 6.0, False, 9.0, "not_achieved"),
        # not due yet: no value at the deadline, but the verdict on the latest 62 >= 60
        "L7": ("2022-03-31", 60.0, np.nan, pd.NA, 62.0, "achieved"),
        # D has no milestone for cnt (and no data): no_target comes first
        "L8": (None, np.nan, np.nan, pd.NA, np.nan, "no_target"),
    }
    for item, (tdl, T, at_dl, met, latest, verdict) in expected.items():
        row = eff.loc[item]
        assert row["verdict"] == verdict, item
        if tdl is None:
            assert pd.isna(row["target_deadline"]) and math.isnan(row["target_value"])
        else:
            assert row["target_deadline"] == pd.Timestamp(tdl) and row["target_value"] == T
        assert (math.isnan(row["value_at_deadline"]) if math.isnan(at_dl)
                else row["value_at_deadline"] == at_dl), item
        assert (pd.isna(row["met_at_deadline"]) if met is pd.NA
                else bool(row["met_at_deadline"]) == met), item
        assert (math.isnan(row["latest_value"]) if math.isnan(latest)
                else row["latest_value"] == latest), item
    assert eff.loc["L7", "note"] == "not_due" and not eff.loc["L7", "due"]
    assert eff.loc["L5", "note"] == "no_value_at_deadline" and eff.loc["L5", "due"]
    assert eff.loc["L1", "note"] == "" and eff.loc["L1", "value_at_deadline_period"] == "2022Q1"


def test_effect_of_an_item_halfway_between_two_milestones_uses_the_later_one():
    tg = pd.DataFrame({"unit_id": "A", "indicator_id": "cnt", "baseline_period": "2021Q2",
                       "baseline_value": 4.0, "target_value": [20.0, 25.0],
                       "deadline": pd.to_datetime(["2022-06-30", "2022-12-31"])})
    item = ledger().iloc[[0]].assign(deadline=pd.Timestamp("2022-09-30"))
    # 2022-09-30 - 2022-06-30 = 92 days = 2022-12-31 - 2022-09-30: a tie, the later wins
    out = lb.effect_check(item, tg, observations(), indicators(), "2022Q4", CONFIG)
    assert out.loc[0, "target_value"] == 25.0
    # latest at or before 2022Q4 is 2022Q2's 21 < 25
    assert out.loc[0, "verdict"] == "not_achieved"


def test_effect_of_an_unknown_indicator_is_an_input_error():
    bad = ledger()
    bad.loc[5, "indicator_id"] = "nope"
    with pytest.raises(InputError) as err:
        lb.effect_check(bad, targets(), observations(), indicators(), CYCLE, CONFIG)
    problem = err.value.problems[0]
    assert (problem.row, problem.column) == (7, "indicator_id")
    assert "nope" in problem.message


def test_effect_without_an_indicator_column_is_empty():
    out = lb.effect_check(ledger().drop(columns="indicator_id"), targets(), observations(),
                          indicators(), CYCLE, CONFIG)
    assert out.empty and list(out.columns) == lb.EFFECT_COLUMNS


# ---------------------------------------------------------------------------------------------
# Summary


def test_summary_counts_and_rates():
    summary = lb.lookback_summary(target_lb(), lb.ledger_lookback(ledger(), CYCLE, CONFIG))
    assert list(summary.columns) == lb.SUMMARY_COLUMNS
    s = summary.set_index("unit_id")
    assert list(s.index) == ["A", "B", "C", "D"]
    # A: cnt on time, pct late, days on time -> 2 / (3 - 0)
    assert tuple(s.loc["A", ["targets_due", "on_time", "late", "not_met", "no_data"]]) == \
        (3, 2, 1, 0, 0)
    assert s.loc["A", "on_time_rate"] == pytest.approx(2 / 3)
    # B: cnt not met, nodata no data, pct late, days on time -> 1 / (4 - 1)
    assert tuple(s.loc["B", ["targets_due", "on_time", "late", "not_met", "no_data"]]) == \
        (4, 1, 1, 1, 1)
    assert s.loc["B", "on_time_rate"] == pytest.approx(1 / 3)
    # C: its only milestone has no data -> 0 / 0: undefined, with the reason
    assert math.isnan(s.loc["C", "on_time_rate"])
    assert s.loc["C", "rate_note"] == "no_data_for_any_target"
    # D: no targets at all
    assert s.loc["D", "targets_due"] == 0 and s.loc["D", "rate_note"] == "no_target_due"
    # ledger: A has L1, L10 on time, L2 late, L3, L4 open -> 2 / 5
    assert tuple(s.loc["A", ["items_due", "closed_on_time", "closed_late", "open_overdue"]]) \
        == (5, 2, 1, 2)
    assert s.loc["A", "item_on_time_rate"] == pytest.approx(0.4)
    # B: L6 on time, L5 and L9 open -> 1 / 3
    assert s.loc["B", "item_on_time_rate"] == pytest.approx(1 / 3)
    assert s.loc["D", "item_on_time_rate"] == 1.0
    # C has no ledger item
    assert s.loc["C", "items_due"] == 0 and math.isnan(s.loc["C", "item_on_time_rate"])
    assert s.loc["C", "item_rate_note"] == "no_item_due"
    assert s.loc["A", "rate_note"] == "" and s.loc["A", "item_rate_note"] == ""
    assert s["targets_due"].dtype == "int64" and s["items_due"].dtype == "int64"


def test_summary_of_empty_tables_is_empty():
    out = lb.lookback_summary(target_lb("2021Q2"), lb.ledger_lookback(ledger(), "2021Q3",
                                                                       CONFIG))
    assert out.empty and list(out.columns) == lb.SUMMARY_COLUMNS


def test_summary_rejects_what_is_not_a_look_back():
    ledger_lb = lb.ledger_lookback(ledger(), CYCLE, CONFIG)
    wrong = target_lb().assign(outcome="met")
    with pytest.raises(MethodError, match="'met'"):
        lb.lookback_summary(wrong, ledger_lb)
    with pytest.raises(MethodError, match="outcome"):
        lb.lookback_summary(target_lb().drop(columns="outcome"), ledger_lb)


# ---------------------------------------------------------------------------------------------
# The sample study


@pytest.fixture(scope="module")
def study():
    return evalkit.load()


def _first_met(study, unit, indicator, baseline, target, upto):
    """The first quarter from the baseline up to ``upto`` whose value reaches the target
    (both 2021 milestones are higher-is-better counts)."""
    obs = study.observations
    mine = obs[(obs["unit_id"] == unit) & (obs["indicator_id"] == indicator)]
    for period, value in sorted(zip(mine["period"], mine["value"])):
        if baseline <= period <= upto and value >= target:
            return period
    return None


@pytest.mark.parametrize("cycle", ["2021Q4", "2023Q4"])
def test_daying_2021_milestones_get_the_outcomes_its_data_shows(study, cycle):
    out = lb.target_lookback(study.targets, study.observations, study.indicators, cycle,
                             study.config)
    got = out[(out["unit_id"] == "daying") & (out["deadline"] == pd.Timestamp("2021-12-31"))]
    got = got.set_index("indicator_id")
    assert set(got.index) == {"community_renovated", "social_orgs_incubated"}
    t = study.targets.set_index(["unit_id", "indicator_id", "deadline"])
    for indicator, target in (("community_renovated", 18.0), ("social_orgs_incubated", 10.0)):
        assert t.loc[("daying", indicator, pd.Timestamp("2021-12-31")), "target_value"] == target
        met = _first_met(study, "daying", indicator, "2021Q2", target, cycle)
        expected = ("not_met" if met is None else "on_time" if met <= "2021Q4" else "late")
        assert got.loc[indicator, "outcome"] == expected
        assert got.loc[indicator, "met_period"] == met
    # what the sample's data shows: 18 communities exactly in 2021Q4, 15 organisations in
    # 2021Q3 (the independent computation above must agree with this reading)
    assert got.loc["community_renovated", "met_period"] == "2021Q4"
    assert got.loc["social_orgs_incubated", "met_period"] == "2021Q3"
    assert set(got["outcome"]) == {"on_time"}


def test_sample_ledger_item_closed_after_the_cycle(study):
    # 大英县-3.1 is due 2021-12-31 and closed 2022-01-14
    at_q4 = lb.ledger_lookback(study.ledger, "2021Q4", study.config).set_index("item_id")
    at_q1 = lb.ledger_lookback(study.ledger, "2022Q1", study.config).set_index("item_id")
    assert at_q4.loc["大英县-3.1", "outcome"] == "open_overdue"
    assert (at_q1.loc["大英县-3.1", "outcome"], at_q1.loc["大英县-3.1", "days_late"]) == \
        ("closed_late", 14)
    assert at_q4.loc["大英县-1.1", "outcome"] == "closed_on_time"


def test_sample_effect_reached_at_the_deadline_and_lost_since(study):
    out = lb.effect_check(study.ledger, study.targets, study.observations, study.indicators,
                          "2023Q4", study.config).set_index("item_id")
    row = out.loc["chuanshan-05"]   # marriage satisfaction 98% by 2023-06-30
    assert bool(row["met_at_deadline"]) and row["verdict"] == "not_achieved"
    obs = study.observations.set_index(["unit_id", "indicator_id", "period"])["value"]
    at_deadline = obs[("chuanshan", "marriage_satisfaction", "2023Q2")]
    latest = obs[("chuanshan", "marriage_satisfaction", "2023Q4")]
    assert row["value_at_deadline"] == at_deadline and row["latest_value"] == latest
    assert bool(row["met_at_deadline"]) == (at_deadline >= row["target_value"])
    assert row["verdict"] == ("achieved" if latest >= row["target_value"] else "not_achieved")
    summary = lb.lookback_summary(
        lb.target_lookback(study.targets, study.observations, study.indicators, "2023Q4",
                           study.config),
        lb.ledger_lookback(study.ledger, "2023Q4", study.config))
    assert summary["on_time_rate"].between(0, 1).all()
    assert (summary["targets_due"] == summary[["on_time", "late", "not_met", "no_data"]]
            .sum(axis=1)).all()


def test_a_deadline_with_a_time_of_day_is_due_on_that_day():
    items = ledger().iloc[[3]].assign(deadline=pd.Timestamp("2022-06-30 18:00"))
    out = lb.ledger_lookback(items, CYCLE, CONFIG)
    # due on the as-of day 2022-06-30 whatever the hour: open, 0 days overdue
    assert list(out["outcome"]) == ["open_overdue"] and list(out["days_overdue"]) == [0]
    tg = targets().iloc[[7]].assign(deadline=pd.Timestamp("2022-06-30 18:00"))
    assert list(target_lb(targets=tg)["outcome"]) == ["on_time"]
