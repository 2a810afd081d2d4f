"""The ledger's warning colours at their edges, and closure rates per unit and per owner."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evalkit.method import ledger as lg
from evalkit.config import load_config
from evalkit.errors import InputError, MethodError

CYCLE = "2021Q4"   # as-of 2021-12-31; end of the next quarter 2022-03-31
COMMUNITY, ORGS, OFFICE = "社区建设股负责人", "社会组织股负责人", "办公室负责人"


def items():
    rows = [
        # item, unit, owner, deadline, recorded status, closed_on
        ("L1", "daying", COMMUNITY, "2021-12-31", "open", None),     # due on the as-of day
        ("L2", "daying", COMMUNITY, "2021-12-30", "open", None),     # one day late
        ("L3", "daying", ORGS, "2022-03-31", "open", None),          # end of next quarter
        ("L4", "daying", ORGS, "2022-04-01", "open", None),          # a day after it
        ("L5", "daying", COMMUNITY, "2021-06-30", "closed", "2021-12-31"),   # closed on as-of
        ("L6", "daying", COMMUNITY, "2021-09-30", "closed", "2022-01-05"),   # closed after
        ("L7", "daying", ORGS, "2021-12-31", "closed", None),        # closed, date unknown
        ("L8", "daying", ORGS, "2022-06-30", "closed", "2021-11-01"),        # closed early
        ("L9", "daying", OFFICE, "2020-12-31", "open", None),        # a year late
        ("L10", "bazhou", OFFICE, "2023-12-31", None, None),         # no status: open
        ("L11", "bazhou", OFFICE, "2021-10-31", "closed", "2021-12-31 15:30"),
    ]
    frame = pd.DataFrame(rows, columns=["item_id", "unit_id", "owner", "deadline", "status",
                                        "closed_on"])
    frame["task"] = "对标任务 " + frame["item_id"]
    frame["deadline"] = pd.to_datetime(frame["deadline"]).astype("datetime64[ns]")
    closed_on = pd.to_datetime(frame["closed_on"], format="ISO8601")
    frame["closed_on"] = closed_on.astype("datetime64[ns]")
    return frame


def config(n=1):
    return load_config(overrides={"ledger": {"due_soon_quarters": n}})


@pytest.fixture
def status():
    return lg.ledger_status(items(), CYCLE, config())


def test_status_at_each_edge(status):
    got = status.set_index("item_id")
    expected = {
        "L1": ("yellow", 0, True),     # deadline == as-of: not late yet, due
        "L2": ("red", 1, True),        # 2021-12-31 - 2021-12-30
        "L3": ("yellow", 0, False),    # == end of the next quarter
        "L4": ("green", 0, False),     # after it
        "L5": ("closed", 0, True),     # closed on the as-of day
        "L6": ("red", 92, True),       # closed after as-of: open at as-of; 12-31 - 09-30
        "L7": ("closed", 0, True),     # closed with no date: closed
        "L8": ("closed", 0, False),    # closed before its deadline
        "L9": ("red", 365, True),
        "L10": ("green", 0, False),    # missing recorded status counts as open
        "L11": ("closed", 0, True),    # closed during the as-of day itself
    }
    for item, (colour, days, due) in expected.items():
        assert got.loc[item, "status"] == colour, item
        assert got.loc[item, "days_overdue"] == days, item
        assert bool(got.loc[item, "due"]) is due, item


def test_columns_types_and_order(status):
    assert list(status.columns[:9]) == lg.LEDGER_COLUMNS
    assert status["days_overdue"].dtype == "int64"
    assert status["due"].dtype == bool
    assert status["deadline"].dtype == "datetime64[ns]"
    assert (status["as_of"] == pd.Timestamp("2021-12-31")).all()
    assert status.loc[status["item_id"] == "L10", "recorded_status"].isna().all()
    # red by days overdue (most first), then yellow, green, closed, each by deadline
    assert status["item_id"].tolist() == ["L9", "L6", "L2", "L1", "L3", "L4", "L10", "L5",
                                          "L11", "L7", "L8"]


def test_a_past_cycle_re_runs_the_same():
    # At 2021Q3 (as-of 2021-09-30), items closed later were open: L6 is due that very day.
    got = lg.ledger_status(items(), "2021Q3", config()).set_index("item_id")
    assert got.loc["L6", "status"] == "yellow"    # deadline == as-of
    assert got.loc["L5", "status"] == "red"       # closed only on 2021-12-31
    assert got.loc["L5", "days_overdue"] == 92    # 09-30 - 06-30
    assert got.loc["L11", "status"] == "yellow"   # due 2021-10-31, within the next quarter
    # L8 was closed on 2021-11-01, after 2021-09-30: open then, due 2022-06-30 -> green
    assert got.loc["L8", "status"] == "green"
    assert got.loc["L7", "status"] == "closed"    # no closing date: taken as closed


@pytest.mark.parametrize("n, l1, l3, l4", [
    (0, "yellow", "green", "green"),     # soon == as-of: only items due that day
    (1, "yellow", "yellow", "green"),
    (2, "yellow", "yellow", "yellow"),   # soon = 2022-06-30
])
def test_due_soon_quarters_from_config(n, l1, l3, l4):
    got = lg.ledger_status(items(), CYCLE, config(n)).set_index("item_id")
    assert (got.loc["L1", "status"], got.loc["L3", "status"], got.loc["L4", "status"]) == (
        l1, l3, l4)


def test_closure_rates_per_unit(status):
    rates = lg.closure_rates(status).set_index("unit_id")
    assert list(rates.columns) == lg.RATE_COLUMNS
    daying = rates.loc["daying"]
    # due: L1 L2 L5 L6 L7 L9 = 6; closed among them: L5 L7 = 2; overdue L2 L6 L9;
    # closed at as-of L5 L7 L8 = 3 (L8 closed early, not due), open 9 - 3 = 6
    assert (daying["items"], daying["due"], daying["closed_due"]) == (9, 6, 2)
    assert daying["closure_rate"] == pytest.approx(2 / 6)
    assert (daying["overdue"], daying["open"], daying["closed"]) == (3, 6, 3)
    assert daying["note"] is None
    bazhou = rates.loc["bazhou"]
    # due: L11 only, closed: rate 1
    assert (bazhou["items"], bazhou["due"], bazhou["closed_due"]) == (2, 1, 1)
    assert bazhou["closure_rate"] == 1.0


def test_closure_rates_per_owner(status):
    rates = lg.closure_rates(status, by="owner").set_index("owner")
    expected = {
        # owner: items, due, closed_due, rate, overdue, open, closed
        COMMUNITY: (4, 4, 1, 0.25, 2, 3, 1),   # L1 L2 L5 L6
        ORGS: (4, 1, 1, 1.0, 0, 2, 2),         # L3 L4 L7 L8
        OFFICE: (3, 2, 1, 0.5, 1, 2, 1),       # L9 L10 L11
    }
    for owner, (n, due, closed_due, rate, overdue, open_, closed) in expected.items():
        r = rates.loc[owner]
        assert (r["items"], r["due"], r["closed_due"]) == (n, due, closed_due), owner
        assert r["closure_rate"] == pytest.approx(rate), owner
        assert (r["overdue"], r["open"], r["closed"]) == (overdue, open_, closed), owner


def test_closure_rates_by_several_keys_and_missing_owner(status):
    frame = status.copy()
    frame.loc[frame["item_id"] == "L9", "owner"] = None
    rates = lg.closure_rates(frame, by=("unit_id", "owner"))
    assert rates["items"].sum() == 11
    missing = rates[rates["owner"].isna()]
    assert len(missing) == 1 and missing["items"].iloc[0] == 1


def test_nothing_due():
    # At 2021Q1 (as-of 2021-03-31) nothing of bazhou's is due yet.
    status = lg.ledger_status(items(), "2021Q1", config())
    bazhou = lg.closure_rates(status).set_index("unit_id").loc["bazhou"]
    assert bazhou["due"] == 0
    assert math.isnan(bazhou["closure_rate"])
    assert bazhou["note"] == lg.NOTHING_DUE
    daying = lg.closure_rates(status).set_index("unit_id").loc["daying"]
    # only L9 (2020-12-31) was due, and it is open: rate 0, not NaN
    assert (daying["due"], daying["closure_rate"]) == (1, 0.0)


def test_item_without_deadline_is_green_and_never_due():
    frame = items()
    frame.loc[frame["item_id"] == "L2", "deadline"] = pd.NaT
    got = lg.ledger_status(frame, CYCLE, config()).set_index("item_id")
    assert got.loc["L2", "status"] == "green"
    assert not got.loc["L2", "due"] and got.loc["L2", "days_overdue"] == 0


def test_empty_ledger():
    status = lg.ledger_status(items().iloc[:0], CYCLE, config())
    assert status.empty and list(status.columns[:9]) == lg.LEDGER_COLUMNS
    assert lg.closure_rates(status).empty


def test_unknown_recorded_status_is_an_input_error():
    frame = items()
    frame.loc[2, "status"] = "pending"
    with pytest.raises(InputError) as err:
        lg.ledger_status(frame, CYCLE, config())
    assert err.value.problems[0].column == "status"
    assert "L3" in str(err.value) and "pending" in str(err.value)


def test_dates_as_iso_text_and_bad_dates():
    frame = items()
    frame["deadline"] = frame["deadline"].dt.strftime("%Y-%m-%d")
    got = lg.ledger_status(frame, CYCLE, config()).set_index("item_id")
    assert got.loc["L2", "status"] == "red" and got.loc["L2", "days_overdue"] == 1
    frame.loc[3, "deadline"] = "年底前"
    with pytest.raises(InputError) as err:
        lg.ledger_status(frame, CYCLE, config())
    assert err.value.problems[0].column == "deadline" and "L4" in str(err.value)


def test_bad_due_soon_quarters_is_an_input_error():
    cfg = config()
    cfg["ledger"]["due_soon_quarters"] = -1
    with pytest.raises(InputError, match="due_soon_quarters"):
        lg.ledger_status(items(), CYCLE, cfg)


def test_missing_column_and_repeated_item_are_method_errors():
    with pytest.raises(MethodError, match="deadline"):
        lg.ledger_status(items().drop(columns=["deadline"]), CYCLE, config())
    with pytest.raises(MethodError, match="L1"):
        lg.ledger_status(pd.concat([items(), items().iloc[[0]]]), CYCLE, config())
    with pytest.raises(MethodError, match="owner"):
        lg.closure_rates(lg.ledger_status(items(), CYCLE, config()), by="owners")


def test_no_nan_in_counts(status):
    for by in ("unit_id", "owner"):
        rates = lg.closure_rates(status, by=by)
        counts = rates[["items", "due", "closed_due", "overdue", "open", "closed"]]
        assert (counts.dtypes == "int64").all()
        assert np.isfinite(rates["closure_rate"]).all()
